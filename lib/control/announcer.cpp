#include "control/announcer.hpp"

namespace drfwd::control {

std::vector<Announcer::Due> Announcer::due(double now) {
  std::vector<Due> out;
  for (Pending& a : pending_) {
    if (a.when > now || a.left == 0) continue;
    out.push_back({a.port, a.vip});
    --a.left;
    a.when = now + interval_;
  }
  std::erase_if(pending_, [](const Pending& a) { return a.left == 0; });
  return out;
}

}  // namespace drfwd::control
