#include "control/conn_query.hpp"

namespace drfwd::control {

namespace {
// The workers' filter: an IPv4 VIP in network order, 0 for any; an IPv6 VIP (whose
// connections are not in the IPv4 table) as 255.255.255.255, which no VIP can be.
uint32_t vip_filter(const std::optional<net::IpAddr>& vip) {
  if (!vip) return 0;
  return vip->is_v4() ? vip->v4().be() : 0xffffffffu;
}
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
      current_->seq[w] = dumps_[w]->post(vip_filter(current_->req.vip), current_->req.limit);
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
  const lb::Snapshot* snap = sink_.current();
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
      c.client = net::IpAddr(net::Ipv4::from_be(r.key.src));
      c.cport = net::ntoh16(r.key.sport);
      c.vip = net::IpAddr(net::Ipv4::from_be(r.key.dst));
      c.vport = net::ntoh16(r.key.dport);
      // The slot's server only if it is still the one the connection was bound to (the
      // slot may have gone to another server since): otherwise none is named.
      if (snap && r.rs_slot < snap->rs_count && snap->rs_view[r.rs_slot].gen == r.rs_gen)
        c.rs = net::IpAddr(net::Ipv4::from_be(snap->rs_view[r.rs_slot].ip_be));
      c.rport = c.vport;  // direct routing: the same port
      c.state = r.key.is_template() ? lb::ConnState::kTemplate : r.state;
      c.expires = r.expires;
      out.conns.push_back(c);
    }
  }
  run.req.done(std::move(out));
}

}  // namespace drfwd::control
