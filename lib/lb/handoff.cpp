#include "lb/handoff.hpp"

#include <algorithm>

namespace drfwd::lb {

namespace {

// An IPv4 key as a record's: the addresses IPv4-mapped, as net::IpAddr holds them.
net::FlowKey6 record_key(const net::FlowKey& k) {
  net::FlowKey6 m{};
  m.src[10] = m.src[11] = m.dst[10] = m.dst[11] = 0xff;
  std::memcpy(m.src + 12, &k.src, 4);  // network order in both
  std::memcpy(m.dst + 12, &k.dst, 4);
  m.sport = k.sport;
  m.dport = k.dport;
  m.proto = k.proto;
  m.kind = k.kind;
  return m;
}
const net::FlowKey6& record_key(const net::FlowKey6& k) { return k; }

// Whether an entry's VIP is the filter's (the filter is of the table's family).
bool same_vip(const net::FlowKey& k, const net::IpAddr& vip) { return k.dst == vip.v4().be(); }
bool same_vip(const net::FlowKey6& k, const net::IpAddr& vip) {
  return std::memcmp(k.dst, vip.v6().bytes.data(), sizeof k.dst) == 0;
}

}  // namespace

template <class Table>
void ConnDump::walk(const Table& t, uint32_t from, uint32_t to, uint32_t now, uint32_t room) {
  const bool any = vip_ == kAnyVip;
  for (uint32_t i = from; i < to && count_ < room; ++i) {
    const typename Table::Entry& e = t.at(i);
    if (!e.in_use || Table::expired(e, now)) continue;
    if (!any && !same_vip(e.key, vip_)) continue;
    records_[count_++] = {record_key(e.key), e.rs_slot, e.rs_gen, e.timeout - (now - e.last_seen), e.state, {}};
  }
}

void ConnDump::step(const FlowTable& t4, const FlowTable6& t6, uint32_t now) {
  const uint64_t req = request_.load(std::memory_order_acquire);
  if (req != working_) {  // a new request: start from the top
    working_ = req;
    cursor_ = 0;
    count_ = 0;
  }
  const uint32_t room = std::min<uint32_t>(limit_, static_cast<uint32_t>(records_.size()));
  const bool any = vip_ == kAnyVip;
  const bool walk4 = t4.size() != 0 && (any || vip_.is_v4());
  const bool walk6 = t6.size() != 0 && (any || vip_.is_v6());
  const uint64_t end4 = t4.capacity(), end = end4 + t6.capacity();
  // Positions 0 .. end4-1 are the IPv4 table's entries, end4 .. end-1 the IPv6 table's;
  // a table not walked costs no part of the slice.
  uint64_t pos = cursor_;
  if (pos < end4 && !walk4) pos = end4;
  if (pos >= end4 && !walk6) pos = end;
  const uint64_t stop = std::min(end, pos + kStep);
  if (pos < end4) {
    const uint64_t to = std::min(stop, end4);
    walk(t4, static_cast<uint32_t>(pos), static_cast<uint32_t>(to), now, room);
    pos = to == end4 && !walk6 ? end : to;
  }
  if (pos < stop) {
    walk(t6, static_cast<uint32_t>(pos - end4), static_cast<uint32_t>(stop - end4), now, room);
    pos = stop;
  }
  cursor_ = pos;
  if (pos == end || count_ >= room) {
    in_use_ = uint64_t{t4.size()} + t6.size();
    done_.store(req, std::memory_order_release);
  }
}

}  // namespace drfwd::lb
