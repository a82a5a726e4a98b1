#include "lb/flow_table.hpp"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <vector>

namespace drfwd::lb {

namespace {

// The no-entry's key kind: no FlowKind, so no key compares equal to it.
constexpr net::FlowKind kNoKind = static_cast<net::FlowKind>(0xff);

uint32_t bucket_count(uint32_t capacity) {
  // Two entries per bucket on average at full load: a bucket of 8 overflows with
  // probability ~2e-4 even then, so eviction is almost always the global LRU choice.
  // (While the index grows, its load is half that: one entry a bucket in the buckets the
  // split pointer has not reached yet, half in the others.)
  const uint32_t want = (capacity + 1) / 2;
  uint32_t n = 1;
  while (n < want) n <<= 1;
  return n;
}

void* default_alloc(size_t bytes, size_t align, void*) {
  return ::operator new(bytes, std::align_val_t(align));
}
void default_release(void* p, size_t, void*) { ::operator delete(p, std::align_val_t(64)); }

}  // namespace

template <class Key>
size_t BasicFlowTable<Key>::memory_bytes(uint32_t capacity) {
  return size_t{bucket_count(capacity)} * sizeof(Bucket) + (size_t{capacity} + 1) * sizeof(Entry);
}

template <class Key>
BasicFlowTable<Key>::BasicFlowTable(uint32_t capacity, Memory mem) : mem_(mem), capacity_(capacity) {
  if (capacity == 0 || capacity > kMaxCapacity)
    throw std::invalid_argument("connection table size must be between 1 and 2^30");
  if (!mem_.alloc) mem_ = Memory{default_alloc, default_release, nullptr};
  const uint32_t nb = bucket_count(capacity);
  max_buckets_ = nb;
  buckets_ = static_cast<Bucket*>(mem_.alloc(bucket_bytes(), 64, mem_.ctx));
  entries_ = static_cast<Entry*>(mem_.alloc(entry_bytes(), 64, mem_.ctx));
  if (!buckets_ || !entries_) {
    if (buckets_) mem_.release(buckets_, bucket_bytes(), mem_.ctx);
    if (entries_) mem_.release(entries_, entry_bytes(), mem_.ctx);
    throw std::bad_alloc();
  }
  for (uint32_t i = 0; i < nb; ++i) {
    new (&buckets_[i]) Bucket{};
    buckets_[i].idx[kWays] = no_entry();
  }
  for (uint32_t i = 0; i < capacity; ++i) {
    new (&entries_[i]) Entry{};
    entries_[i].next = (i + 1 < capacity) ? i + 1 : kNil;
  }
  new (&entries_[no_entry()]) Entry{};
  entries_[no_entry()].key.kind = kNoKind;
  free_head_ = 0;
  for (int s = 0; s < kStateCount; ++s) heads_[s] = tails_[s] = kNil;
}

template <class Key>
BasicFlowTable<Key>::~BasicFlowTable() {
  mem_.release(buckets_, bucket_bytes(), mem_.ctx);
  mem_.release(entries_, entry_bytes(), mem_.ctx);
}

template <class Key>
void BasicFlowTable<Key>::erase(uint32_t idx) {
  Entry& e = entries_[idx];
  Bucket& b = buckets_[address(e.hash_lo)];
  for (uint32_t w = 0; w < kWays; ++w) {
    if (b.sig[w] != 0 && b.idx[w] == idx) {
      b.sig[w] = 0;
      b.idx[w] = kNil;
      break;
    }
  }
  unlink(idx);
  e.in_use = 0;
  e.next = free_head_;
  free_head_ = idx;
  --size_;
  ++mutations_;
}

template <class Key>
void BasicFlowTable<Key>::grow(uint64_t want) {
  do split();
  while (buckets() < want && buckets() < max_buckets_);
}

// Puts bucket buckets() in use: moves there the entries of the bucket at the split
// pointer whose next hash bit is set, and advances the pointer (and the level).
template <class Key>
void BasicFlowTable<Key>::split() {
  const uint32_t level = mask_ + 1;
  Bucket& from = buckets_[split_];
  Bucket& to = buckets_[split_ + level];  // never in use yet: empty
  uint32_t n = 0;
  for (uint32_t w = 0; w < kWays; ++w) {
    if (from.sig[w] != 0 && (entries_[from.idx[w]].hash_lo & level)) {
      to.sig[n] = from.sig[w];
      to.idx[n] = from.idx[w];
      ++n;
      from.sig[w] = 0;
      from.idx[w] = kNil;
    }
  }
  if (++split_ == level) {  // every bucket of this level split: the next level begins
    mask_ = next_mask_;
    next_mask_ = next_mask_ << 1 | 1;
    split_ = 0;
  }
  ++mutations_;
}

// Victims: the longest idle among expendable entries (not established), and only when
// there are none the longest idle of all.
template <class Key>
int BasicFlowTable<Key>::oldest_way(const Bucket& b) const {
  int best = -1;
  bool best_exp = false;
  for (uint32_t w = 0; w < kWays; ++w) {
    const Entry& e = entries_[b.idx[w]];
    const bool exp = state_is_expendable(e.state);
    if (best < 0 || (exp && !best_exp) ||
        (exp == best_exp && e.last_seen < entries_[b.idx[best]].last_seen)) {
      best = static_cast<int>(w);
      best_exp = exp;
    }
  }
  return best;
}

template <class Key>
uint32_t BasicFlowTable<Key>::longest_idle() const {
  for (bool expendable_only : {true, false}) {
    uint32_t best = kNil;
    for (int s = 0; s < kStateCount; ++s) {
      if (expendable_only && !state_is_expendable(static_cast<ConnState>(s))) continue;
      const uint32_t t = tails_[s];
      if (t != kNil && (best == kNil || entries_[t].last_seen < entries_[best].last_seen)) best = t;
    }
    if (best != kNil) return best;
  }
  return kNil;
}

template <class Key>
std::string BasicFlowTable<Key>::check() const {
  if ((mask_ & (mask_ + 1)) != 0 || next_mask_ != (mask_ << 1 | 1) || split_ > mask_)
    return "bad level or split pointer";
  if (buckets() > max_buckets_) return "more buckets in use than allocated";
  if (buckets() < std::min(uint64_t{size_} * kGrowth, uint64_t{max_buckets_}))
    return "index did not grow with the entries";
  std::vector<uint8_t> seen(capacity_, 0);
  uint32_t listed = 0;
  for (int s = 0; s < kStateCount; ++s) {
    uint32_t n = 0, prev = kNil;
    for (uint32_t i = heads_[s]; i != kNil; i = entries_[i].next) {
      if (i >= capacity_) return "list index out of range";
      if (seen[i]++) return "entry on two lists";
      const Entry& e = entries_[i];
      if (!e.in_use) return "free entry on a state list";
      if (e.timeout == 0) return "entry without a timeout";  // (the fast lane relies on it)
      if (e.rs_slot != kNil && e.rs_offset != e.rs_slot * 64) return "RS offset is not its slot's";
      if (static_cast<int>(e.state) != s) return "entry on the wrong state list";
      if (e.prev != prev) return "broken prev link";
      if (prev != kNil && entries_[prev].last_seen < e.last_seen) return "state list out of order";
      const Bucket& b = buckets_[address(e.hash_lo)];
      uint32_t refs = 0;
      for (uint32_t w = 0; w < kWays; ++w)
        if (b.sig[w] != 0 && b.idx[w] == i) ++refs;
      if (refs != 1) return "entry not indexed exactly once";
      prev = i;
      ++n;
    }
    if (tails_[s] != prev) return "wrong list tail";
    if (n != list_len_[s]) return "wrong list length";
    listed += n;
  }
  if (listed != size_) return "size does not match the lists";
  uint32_t free_n = 0;
  for (uint32_t i = free_head_; i != kNil; i = entries_[i].next) {
    if (i >= capacity_) return "free index out of range";
    if (seen[i]++) return "free entry also in use";
    if (entries_[i].in_use) return "in-use entry on the free list";
    ++free_n;
  }
  if (listed + free_n != capacity_) return "entries lost: lists + free != capacity";
  const Entry& none = entries_[no_entry()];
  if (none.in_use || none.key.kind != kNoKind) return "the no-entry was changed";
  for (uint32_t bi = 0; bi < max_buckets_; ++bi) {
    if (buckets_[bi].idx[kWays] != no_entry()) return "a bucket lost its no-entry";
    for (uint32_t w = 0; w < kWays; ++w) {
      if (buckets_[bi].sig[w] == 0) continue;
      if (bi >= buckets()) return "entry indexed in a bucket not in use";
      const uint32_t i = buckets_[bi].idx[w];
      if (i >= capacity_ || !entries_[i].in_use || address(entries_[i].hash_lo) != bi)
        return "index points at a free or foreign entry";
    }
  }
  return {};
}

template <class Key>
std::map<std::pair<uint32_t, uint32_t>, BoundCounts> count_bound(const BasicFlowTable<Key>& t, uint64_t& unbound) {
  std::map<std::pair<uint32_t, uint32_t>, BoundCounts> out;
  t.for_each([&](uint32_t, const BasicFlowEntry<Key>& e) {
    if (!e.counted) {
      ++unbound;
      return;
    }
    BoundCounts& c = out[{e.rs_slot, e.rs_gen}];
    if (e.key.is_template())
      ++c.persist;
    else
      ++(state_is_active(e.state) ? c.active : c.inactive);
  });
  return out;
}

// The two tables drfwd uses: IPv4 and IPv6 connections.
template class BasicFlowTable<net::FlowKey>;
template class BasicFlowTable<net::FlowKey6>;
template std::map<std::pair<uint32_t, uint32_t>, BoundCounts> count_bound(const FlowTable&, uint64_t&);
template std::map<std::pair<uint32_t, uint32_t>, BoundCounts> count_bound(const FlowTable6&, uint64_t&);

}  // namespace drfwd::lb
