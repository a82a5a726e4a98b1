#include "control/announcer.hpp"

namespace drfwd::control {

void Announcer::set_claims(const std::set<Claim>& claims, double now) {
  for (const Claim& c : claims)
    if (!claims_.count(c)) pending_.push_back({now, c, count_});
  std::erase_if(pending_, [&](const Pending& p) { return !claims.count(p.claim); });
  claims_ = claims;
}

std::vector<Announcer::Due> Announcer::due(double now) {
  std::vector<Due> out;
  for (Pending& p : pending_) {
    if (p.when > now || p.left == 0) continue;
    out.push_back({p.claim.first, p.claim.second});
    --p.left;
    p.when = now + interval_;
  }
  std::erase_if(pending_, [](const Pending& p) { return p.left == 0; });
  return out;
}

}  // namespace drfwd::control
