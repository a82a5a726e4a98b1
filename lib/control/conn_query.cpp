#include "control/conn_query.hpp"

#include <cstring>
#include <unordered_map>
#include <utility>

namespace drfwd::control {

namespace {

net::IpAddr address(const uint8_t (&bytes)[16]) {
  net::Ipv6 a;
  std::memcpy(a.bytes.data(), bytes, sizeof bytes);
  return net::IpAddr(a);  // an IPv4 record's addresses are IPv4-mapped: IPv4 again
}

// The real servers of a snapshot by slot: the address of the server a connection is
// bound to if the slot still holds it (the slot may have gone to another server since:
// its generation decides). An IPv4 server's address is in its RsView; the workers read
// no IPv6 server's, so those are taken from the services' specs, once per listing.
class RsNames {
 public:
  explicit RsNames(const lb::Snapshot* snap) : snap_(snap) {}
  std::optional<net::IpAddr> find(uint32_t slot, uint32_t gen) {
    if (!snap_ || slot >= snap_->rs_count || snap_->rs_view[slot].gen != gen) return std::nullopt;
    if (const uint32_t be = snap_->rs_view[slot].ip_be) return net::IpAddr(net::Ipv4::from_be(be));
    if (!v6_) {
      v6_.emplace();
      for (const auto& svc : snap_->services)
        for (const lb::RsSpec& r : svc->spec.rs)
          if (r.ip.is_v6()) v6_->emplace(r.slot, std::pair(r.gen, r.ip));
    }
    const auto it = v6_->find(slot);
    if (it == v6_->end() || it->second.first != gen) return std::nullopt;
    return it->second.second;
  }

 private:
  const lb::Snapshot* snap_;
  std::optional<std::unordered_map<uint32_t, std::pair<uint32_t, net::IpAddr>>> v6_;  // slot: gen, address
};

}  // namespace

void ConnQuery::start(std::optional<net::IpAddr> vip, uint32_t limit, double now, Done done) {
  Request r{vip, limit, std::move(done)};
  if (current_)
    queue_.push_back(std::move(r));
  else
    begin(std::move(r), now);
}

void ConnQuery::begin(Request r, double now) {
  current_ = Running{std::move(r), now + kTimeout, std::vector<std::optional<uint64_t>>(dumps_.size())};
  ask_idle();
}

// Posts the running request to every worker not asked yet whose mailbox is free: a
// worker still busy with an abandoned request is asked once it has answered that one.
void ConnQuery::ask_idle() {
  for (size_t w = 0; w < dumps_.size(); ++w)
    if (!current_->seq[w] && dumps_[w]->idle())
      current_->seq[w] = dumps_[w]->post(current_->req.vip.value_or(lb::ConnDump::kAnyVip), current_->req.limit);
}

void ConnQuery::poll(double now) {
  while (current_) {
    if (now < current_->deadline) ask_idle();  // not at the end: nobody would read the answer
    bool all = true;
    for (size_t w = 0; w < dumps_.size(); ++w)
      if (!current_->seq[w] || !dumps_[w]->answered(*current_->seq[w])) all = false;
    if (!all && now < current_->deadline) return;
    finish();
    if (queue_.empty()) return;
    Request next = std::move(queue_.front());
    queue_.pop_front();
    begin(std::move(next), now);
  }
}

void ConnQuery::finish() {
  Running run = std::move(*current_);
  current_.reset();
  ConnListing out;
  RsNames servers(sink_.current());
  for (size_t w = 0; w < dumps_.size(); ++w) {
    if (!run.seq[w] || !dumps_[w]->answered(*run.seq[w])) {
      out.missing.push_back(static_cast<uint32_t>(w));
      continue;
    }
    out.in_use += dumps_[w]->in_use();
    for (const lb::ConnDump::Record& r : dumps_[w]->records()) {
      if (out.conns.size() >= run.req.limit) break;
      ConnStatus c;
      c.proto = r.key.proto;
      c.client = address(r.key.src);
      c.cport = net::ntoh16(r.key.sport);
      c.vip = address(r.key.dst);
      c.vport = net::ntoh16(r.key.dport);
      // No server named: the unspecified address of the connection's family.
      c.rs = servers.find(r.rs_slot, r.rs_gen).value_or(c.vip.is_v4() ? net::IpAddr() : net::IpAddr(net::Ipv6{}));
      c.rport = c.vport;  // direct routing: the same port
      c.state = r.key.is_template() ? lb::ConnState::kTemplate : r.state;
      c.expires = r.expires;
      out.conns.push_back(c);
    }
  }
  run.req.done(std::move(out));
}

}  // namespace drfwd::control
