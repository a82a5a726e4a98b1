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
  std::map<net::IpAddr, Entry> next;
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

// Sends a request (unicast to the known MAC, or broadcast: for IPv6 to the target's
// solicited-node group) and waits `wait` for it.
void NeighbourTable::ask(Entry& e, double now, bool unicast, double wait, TickResult& r) {
  const NeighTarget& t = e.target;
  if (t.ip.is_v4())
    r.send.push_back({t.port, net::arp_request(t.port_mac, t.src.v4(), t.ip.v4(), unicast && e.mac ? *e.mac : net::Mac::broadcast()),
                      t.vlan});
  else
    r.send6.push_back({t.port, net::ndp_solicit(t.port_mac, t.src.v6(), t.ip.v6(), unicast ? e.mac : std::nullopt), t.vlan});
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
  const NeighTarget& t = it->second.target;
  // Shaped as an answer to our request: a reply, on the RS's interface, to us.
  const bool shaped = a.op == net::kArpReply && at == lb::Iface{t.port, t.vlan} && !a.gratuitous() &&
                      a.eth_dst == t.port_mac && (t.src.is_unspecified() || net::IpAddr(a.tpa) == t.src);
  return on_answer({a.spa, a.sha, shaped}, now);
}

bool NeighbourTable::on_ndp(lb::Iface at, const net::Ndp& n, double now) {
  // An IPv4-mapped target is no IPv6 neighbour: as an IpAddr it would be the IPv4 one,
  // and an advertisement must not teach an ARP neighbour's MAC.
  if (n.type != net::kNdpNeighborAdvert || n.target.is_v4_mapped()) return false;
  auto it = entries_.find(net::IpAddr(n.target));
  if (it == entries_.end()) return false;
  const Entry& e = it->second;
  const NeighTarget& t = e.target;
  // The MAC it speaks for: its target link-layer option. An answer to a unicast
  // solicitation (drfwd's refresh of a known MAC) may leave the option out (RFC 4861
  // 7.2.4; Linux does unless force_tllao): it confirms the MAC it was sent to, so it
  // counts only when it comes from that MAC. Otherwise an NA without the MAC teaches nothing.
  net::Mac mac;
  if (n.lladdr)
    mac = *n.lladdr;
  else if (e.mac && n.eth_src == *e.mac)
    mac = *e.mac;
  else
    return false;
  // A solicited advertisement, on the RS's interface, to us (our MAC and our address).
  const bool shaped = n.solicited && at == lb::Iface{t.port, t.vlan} && n.eth_dst == t.port_mac &&
                      net::IpAddr(n.dst) == t.src;
  return on_answer({it->first, mac, shaped}, now);
}

bool NeighbourTable::on_answer(const Answer& a, double now) {
  Entry& e = entries_.find(a.ip)->second;
  const bool answer = a.shaped;
  if (answer && e.mac && *e.mac != a.mac) {
    if (now < e.guard_until) {
      // Two hosts answered the requests that first resolved it: trust neither.
      events_.push_back({NeighEvent::Kind::kConflictDropped, e.target.ip, *e.mac, a.mac});
      ++counters_.neigh_conflicts;
      fail(e, now);
      return true;
    }
    if (e.outstanding) {
      // Probing the known MAC and another answers: remembered, used only if the known
      // MAC stays silent for the whole round (end_round).
      if (!e.candidate)
        e.candidate = a.mac;
      else if (*e.candidate != a.mac)
        e.candidates = true;
      return false;
    }
  }
  if (!(answer && e.outstanding)) {
    // Our own resolution decides; a matching announcement is harmless, a different MAC
    // is a possible redirection attempt.
    if (!e.mac || *e.mac != a.mac) ++counters_.arp_ignored;
    return false;
  }
  // The known MAC confirmed, or a first resolution.
  if (e.candidate) {
    events_.push_back({NeighEvent::Kind::kConflictKept, e.target.ip, a.mac, *e.candidate});
    ++counters_.neigh_conflicts;
    e.candidate.reset();
    e.candidates = false;
  }
  const bool first = !e.mac;
  e.mac = a.mac;
  e.state = NeighState::kReachable;
  e.confirmed = now;
  e.next = now + cfg_.reachable_time;
  e.probes = 0;
  e.outstanding = false;
  e.guard_until = first ? now + cfg_.retrans_time : 0;
  return first;
}

std::optional<net::Mac> NeighbourTable::mac(const net::IpAddr& ip) const {
  auto it = entries_.find(ip);
  if (it == entries_.end()) return std::nullopt;
  return it->second.mac;
}

}  // namespace drfwd::control
