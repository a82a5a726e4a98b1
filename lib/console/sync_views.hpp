// Connection sync as the operator reads it: show sync and ipvsadm -L --daemon.
#pragma once

#include <string>

#include "config/model.hpp"
#include "control/sync.hpp"
#include "lb/counters.hpp"

namespace drfwd::console {

// The daemons (settings, socket state) and every sync counter: the control core's and
// the workers' (summed), each with its meaning.
std::string format_sync(const control::SyncDaemon& d, const config::SyncSettings& s, const lb::WorkerScalars& w);
// ipvsadm -L --daemon: one line per running daemon, as ipvsadm prints them.
std::string ipvsadm_daemons(const control::SyncDaemon& d);

}  // namespace drfwd::console
