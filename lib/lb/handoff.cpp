#include "lb/handoff.hpp"

#include <algorithm>

namespace drfwd::lb {

void ConnDump::step(const FlowTable& t, uint32_t now) {
  const uint64_t req = request_.load(std::memory_order_acquire);
  if (req != working_) {  // a new request: start from the top
    working_ = req;
    cursor_ = 0;
    count_ = 0;
  }
  const uint32_t room = std::min<uint32_t>(limit_, static_cast<uint32_t>(records_.size()));
  const uint32_t end = std::min(t.capacity(), cursor_ + kStep);
  for (uint32_t i = cursor_; i < end && count_ < room; ++i) {
    const FlowEntry& e = t.at(i);
    if (!e.in_use || FlowTable::expired(e, now)) continue;
    if (vip_be_ && e.key.dst != vip_be_) continue;
    records_[count_++] = {e.key, e.rs_slot, e.rs_gen, e.state, e.timeout - (now - e.last_seen)};
  }
  cursor_ = end;
  if (end == t.capacity() || count_ >= room) {
    in_use_ = t.size();
    done_.store(req, std::memory_order_release);
  }
}

}  // namespace drfwd::lb
