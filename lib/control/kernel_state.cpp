#include "control/kernel_state.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace drfwd::control {

KernelState::KernelState(std::map<int, lb::Iface> ifindex) : ifindex_(std::move(ifindex)) { dump(); }

void KernelState::set_interfaces(std::map<int, lb::Iface> ifindex) {
  if (ifindex == ifindex_) return;
  ifindex_ = std::move(ifindex);
  // A new device's addresses, and the director told what each holds: a dump now, or
  // another once the one under way is done (netlink takes one at a time).
  redump_ = true;  // poll() starts it once no dump is under way
}

void KernelState::dump() {
  const uint32_t seq = sock_.next_seq();
  if (sock_.send(netlink::addr_dump(seq))) {
    dump_seq_ = seq;
    dumped_.clear();
  } else {
    redump_ = true;  // tried again next round
  }
}

void KernelState::apply(const netlink::AddrEvent& ev, std::map<int, std::set<net::IpAddr>>& into) const {
  if (ev.added)
    into[ev.ifindex].insert(ev.address);
  else
    into[ev.ifindex].erase(ev.address);
}

void KernelState::poll(Director& d, double now) {
  bool changed = false;
  for (const netlink::Event& e : sock_.receive()) {
    if (const auto* a = std::get_if<netlink::AddrEvent>(&e)) {
      if (dump_seq_ && a->seq == *dump_seq_) {
        apply(*a, dumped_);
      } else {  // a notification: now, and in a dump under way
        apply(*a, addrs_);
        if (dump_seq_) apply(*a, dumped_);
        changed = true;
      }
    } else if (const auto* done = std::get_if<netlink::DumpDone>(&e)) {
      if (dump_seq_ && done->seq == *dump_seq_) {
        addrs_ = std::move(dumped_);
        dumped_.clear();
        dump_seq_.reset();
        changed = true;
      }
    } else if (const auto* ack = std::get_if<netlink::Ack>(&e)) {
      if (dump_seq_ && ack->seq == *dump_seq_) {  // the dump refused (EBUSY, ...): asked again below
        if (ack->error != 0) {
          dump_seq_.reset();
          dumped_.clear();
          redump_ = true;
        }
        continue;
      }
      const auto it = pending_.find(ack->seq);
      if (it == pending_.end()) continue;
      const auto [add, r] = it->second;
      pending_.erase(it);
      // A route gone already (its interface went, or someone removed it) is what a
      // delete wants; a refused add is forgotten and tried again later.
      if (ack->error != 0 && add) {
        installed_.erase(r);
        if (!refused_) spdlog::warn("route {}/{} table {}: {}", net::to_string(r.vip), r.vip.max_len(), r.table, std::strerror(-ack->error));
        refused_ = true;
        retry_at_ = now + 1;
      } else {
        spdlog::info("route {}/{} table {} {}", net::to_string(r.vip), r.vip.max_len(), r.table, add ? "published" : "withdrawn");
      }
    }
  }
  if (sock_.lost()) redump_ = true;  // notifications were lost: ask for everything again
  if (redump_ && !dump_seq_) {         // one dump at a time
    redump_ = false;
    dump();
  }
  if (!changed) return;
  for (const auto& [index, at] : ifindex_) {
    const auto it = addrs_.find(index);
    d.set_kernel_addresses(at, it == addrs_.end() ? std::set<net::IpAddr>{} : it->second, now);
  }
}

void KernelState::send(bool add, const Route& r) {
  const uint32_t seq = sock_.next_seq();
  if (!sock_.send(netlink::route(add, seq, r.vip, r.ifindex, r.table))) {
    spdlog::warn("route {}/{} table {}: netlink: {}", net::to_string(r.vip), r.vip.max_len(), r.table, std::strerror(errno));
    return;
  }
  pending_[seq] = {add, r};
  if (add)
    installed_.insert(r);
  else
    installed_.erase(r);
}

void KernelState::sync(const std::vector<Director::VipRoute>& routes, std::optional<uint32_t> table, double now) {
  std::set<Route> want;
  if (table)
    for (const Director::VipRoute& v : routes)
      for (const auto& [index, at] : ifindex_)
        if (at == v.at) want.insert({v.vip, index, *table});
  if (want == installed_) return;
  for (const Route& r : std::vector<Route>(installed_.begin(), installed_.end()))
    if (!want.count(r)) send(false, r);
  if (now < retry_at_) return;
  refused_ = false;
  for (const Route& r : want)
    if (!installed_.count(r)) send(true, r);
}

void KernelState::forget_routes(lb::Iface at) {
  std::erase_if(installed_, [&](const Route& r) {
    const auto it = ifindex_.find(r.ifindex);
    return it != ifindex_.end() && it->second == at;
  });
}

void KernelState::withdraw_all() {
  for (const Route& r : std::vector<Route>(installed_.begin(), installed_.end())) send(false, r);
}

}  // namespace drfwd::control
