#include "control/neighbours.hpp"

namespace drfwd::control {

std::string_view neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::kIncomplete: return "incomplete";
    case NeighState::kReachable: return "reachable";
    case NeighState::kProbe: return "probe";
    case NeighState::kFailed: return "failed";
  }
  return "?";
}

bool NeighbourTable::set_targets(const std::vector<NeighTarget>& targets, double now) {
  std::map<net::Ipv4, Entry> next;
  bool lost = false;
  for (const NeighTarget& t : targets) {
    auto it = entries_.find(t.ip);
    if (it != entries_.end() && it->second.target == t) {
      next.emplace(t.ip, it->second);
      continue;
    }
    Entry e;
    e.target = t;
    e.next = now;  // resolve right away
    if (it != entries_.end() && it->second.mac) lost = true;  // moved port: resolve again
    next.emplace(t.ip, e);
  }
  for (auto& [ip, e] : entries_)
    if (!next.count(ip) && e.mac) lost = true;
  entries_ = std::move(next);
  return lost;
}

net::Arp NeighbourTable::request(const Entry& e, bool unicast) const {
  return net::arp_request(e.target.port_mac, e.target.src, e.target.ip,
                          unicast && e.mac ? *e.mac : net::Mac::broadcast());
}

// Sends a request (unicast to the known MAC, or broadcast) and waits `wait` for it.
void NeighbourTable::ask(Entry& e, double now, bool unicast, double wait, TickResult& r) {
  r.send.push_back({e.target.port, request(e, unicast), e.target.vlan});
  e.outstanding = true;
  e.next = now + wait;
}

NeighbourTable::TickResult NeighbourTable::tick(double now) {
  TickResult r;
  for (auto& [ip, e] : entries_) {
    if (e.next > now) continue;
    switch (e.state) {
      case NeighState::kIncomplete:
        if (e.probes < cfg_.max_probes) {
          ++e.probes;
          ask(e, now, false, cfg_.retrans_time, r);
        } else {
          e.state = NeighState::kFailed;
          e.next = now;  // the slow retry starts now
        }
        break;
      case NeighState::kReachable:
        // Time to confirm: ask the known MAC directly first.
        e.state = NeighState::kProbe;
        e.probes = 1;
        ask(e, now, true, cfg_.retrans_time, r);
        break;
      case NeighState::kProbe:
        if (e.probes < cfg_.max_probes) {
          ++e.probes;
          ask(e, now, false, cfg_.retrans_time, r);
        } else if (end_round(e, now)) {
          r.changed = true;  // replaced by the one MAC that answered in its place
        } else {
          fail(e, now);
          e.next = now;  // the slow retry starts now
          r.changed = true;
          r.lost.push_back(e.target.ip);
        }
        break;
      case NeighState::kFailed:
        ask(e, now, false, cfg_.failed_retry, r);
        break;
    }
  }
  return r;
}

void NeighbourTable::fail(Entry& e, double now) {
  e.state = NeighState::kFailed;
  e.mac.reset();
  e.probes = 0;
  e.outstanding = false;
  e.guard_until = 0;
  e.candidate.reset();
  e.candidates = false;
  e.next = now + cfg_.failed_retry;
}

bool NeighbourTable::end_round(Entry& e, double now) {
  if (!e.mac || !e.candidate || e.candidates) {
    if (e.mac && e.candidate) ++counters_.neigh_conflicts;  // several others answered: none is believed
    return false;
  }
  events_.push_back({NeighEvent::Kind::kMoved, e.target.ip, *e.mac, *e.candidate});
  e.mac = *e.candidate;
  e.candidate.reset();
  e.state = NeighState::kReachable;
  e.confirmed = now;
  e.next = now + cfg_.reachable_time;
  e.probes = 0;
  e.outstanding = false;
  return true;
}

bool NeighbourTable::on_arp(lb::Iface at, const net::Arp& a, double now) {
  auto it = entries_.find(a.spa);
  if (it == entries_.end()) return false;  // not a neighbour we resolve: nothing to learn
  Entry& e = it->second;
  // Shaped as an answer to our request: a reply, on the RS's interface, to us.
  const bool answer = a.op == net::kArpReply && at == lb::Iface{e.target.port, e.target.vlan} && !a.gratuitous() &&
                      a.eth_dst == e.target.port_mac &&
                      (e.target.src.is_unspecified() || a.tpa == e.target.src);
  if (answer && e.mac && *e.mac != a.sha) {
    if (now < e.guard_until) {
      // Two hosts answered the requests that first resolved it: trust neither.
      events_.push_back({NeighEvent::Kind::kConflictDropped, e.target.ip, *e.mac, a.sha});
      ++counters_.neigh_conflicts;
      fail(e, now);
      return true;
    }
    if (e.outstanding) {
      // Probing the known MAC and another answers: remembered, used only if the known
      // MAC stays silent for the whole round (end_round).
      if (!e.candidate)
        e.candidate = a.sha;
      else if (*e.candidate != a.sha)
        e.candidates = true;
      return false;
    }
  }
  if (!(answer && e.outstanding)) {
    // Our own resolution decides; a matching announcement is harmless, a different MAC
    // is a possible redirection attempt.
    if (!e.mac || *e.mac != a.sha) ++counters_.arp_ignored;
    return false;
  }
  // The known MAC confirmed, or a first resolution.
  if (e.candidate) {
    events_.push_back({NeighEvent::Kind::kConflictKept, e.target.ip, a.sha, *e.candidate});
    ++counters_.neigh_conflicts;
    e.candidate.reset();
    e.candidates = false;
  }
  const bool first = !e.mac;
  e.mac = a.sha;
  e.state = NeighState::kReachable;
  e.confirmed = now;
  e.next = now + cfg_.reachable_time;
  e.probes = 0;
  e.outstanding = false;
  e.guard_until = first ? now + cfg_.retrans_time : 0;
  return first;
}

std::optional<net::Mac> NeighbourTable::mac(net::Ipv4 ip) const {
  auto it = entries_.find(ip);
  if (it == entries_.end()) return std::nullopt;
  return it->second.mac;
}

}  // namespace drfwd::control
