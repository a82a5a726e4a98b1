// A reload (SIGHUP): the commands that turn the running configuration into the one the
// files now describe, touching nothing that did not change. Applied as one batch, they
// keep every unchanged service and real server as it is (same slots: connections,
// counters, health and neighbour state stay), change changed ones in place (vip set, rs
// set), and add or delete only what appeared or went.
#pragma once

#include <vector>

#include "config/model.hpp"

namespace drfwd::config {

// The commands, in an order the model accepts: deletions first (real servers, services,
// neighbours, sync daemons that change), then interface addresses, settings, neighbours,
// services and real servers, sync daemons. A real server whose `sorry` role changed is
// deleted and added again (rs set cannot change the role). Empty: nothing differs.
std::vector<Command> reconcile(const Model& running, const Model& wanted);

}  // namespace drfwd::config
