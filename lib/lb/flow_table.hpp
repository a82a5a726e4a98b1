// Per-worker connection table. Single-threaded by design: one worker owns it, nothing
// else touches it. Capacity is fixed at construction and never grows; all memory is
// allocated then (nothing is allocated, locked or thrown on the data path). One template
// over the key: FlowTable for IPv4 (FlowKey, 64-byte entries), FlowTable6 for IPv6
// (FlowKey6, 128-byte entries); everything but the key is the same.
//
// Layout: an index of 64-byte buckets (8 ways: 16-bit signatures + entry numbers) over
// a pool of entries of whole cache lines, taken from a free list that starts at entry 0
// (live entries are dense). One entry more than the capacity, never in use, is the
// no-entry: its key's kind is no FlowKind, so no key is ever equal to it, and every
// bucket names it after its ways, so a burst's lookup always yields an entry to
// prefetch and compare, with no test for "none" on the way (candidate_in). (With 2-MiB
// pages it can cost the pool one page more: 1M entries are 64 MiB and 64 bytes.)
// The bucket array is allocated whole (capacity/2 rounded up to a power of two: two
// entries per bucket at full load) but only a prefix of it is in use, and that prefix
// grows with the live entries by linear hashing: it starts at one bucket, and an insert
// that would leave fewer than kGrowth buckets per entry first splits buckets (kGrowth at
// most), until the whole array is in use; then the load rises to two per bucket at full
// capacity, as it always did. A split moves the entries of the bucket at the split
// pointer whose next hash bit is set to the bucket one level above: two buckets of at most 8 ways. An entry's bucket is a function of the low 32
// bits of its hash, the level and the split pointer (address()): each entry keeps those
// bits, so a split needs no key and no rehash.
// Why: memory touched follows the high-water mark of live entries, not the capacity.
// With every bucket in use, 4,096 flows in the default 1M-entry table hit 4,096 bucket
// lines on 4,096 different 4-KiB pages (32 MiB of buckets): TLB misses and page walks.
// fwd-bench, 4,096 flows, rr (medians of 5, a 2-vCPU VM backed by 4-KiB pages): with
// the whole index in use 21.3 ns/packet at 65,536 entries, 29.6 at 1M and 34.8 at 4M,
// at equal instruction counts; growing, 21.9, 19.8 and 20.0, for 317 instructions a
// packet instead of 309 (address() twice). Growing costs one split per bucket over the
// table's life and nothing after: a split reads the entries it may move, about 80 ns
// more per insert while the index grows (1M table, random keys: 128 ns an insert up to
// 262,144 entries instead of 50), some 20 ms in all. The index never shrinks: after a
// flood it stays as large as the flood made it (the whole array at worst, which is
// where it always was before).
//
// Entries sit on one doubly linked list per state, ordered by last use, so (a) the tail
// of each list is that state's next entry to time out and expiry is O(1) per entry, and
// (b) the longest-idle entry in the whole table is the oldest of the list tails, which
// is what gets evicted when the pool is exhausted.
// Touching an entry moves it to its list head at most once per clock second, so a busy
// flow costs one list move per second, not one per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "lb/conn_state.hpp"
#include "net/parse.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace drfwd::lb {

constexpr uint32_t kNil = 0xffffffffu;

// The number of the lowest set bit of m (not 0), as an index: on x86 a 32-bit BSF, which
// clears the register's upper half, declared 64-bit so GCC adds no sign extension before
// using it as one (__builtin_ctz's int costs a movslq at each use: a burst's mask walks).
inline size_t lowest(uint32_t m) {
#if defined(__x86_64__)
  uint64_t i;
  asm("bsfl %1, %k0" : "=r"(i) : "r"(m) : "cc");  // ("r": clang spills an "rm" operand)
  return i;
#else
  return static_cast<size_t>(__builtin_ctz(m));
#endif
}

// The fields after the key take 44 bytes; the pad makes the entry whole cache lines.
template <class Key>
constexpr size_t kFlowEntryPad = (sizeof(Key) + 44 + 63) / 64 * 64 - sizeof(Key) - 44;

template <class Key>
struct alignas(64) BasicFlowEntry {
  Key key;                    // FlowKey: 16 bytes; FlowKey6: 40
  uint32_t rs_slot = kNil;    // the real server this connection is bound to
  uint32_t rs_gen = 0;        // that slot's generation when bound
  uint32_t tmpl = kNil;       // the persistence template this connection follows
  uint32_t last_seen = 0;     // worker clock, seconds
  uint32_t timeout = 0;       // idle timeout, seconds
  uint32_t prev = kNil;       // state list links (free list: next only)
  uint32_t next = kNil;
  uint32_t hash_lo = 0;       // low 32 bits of the key's hash: its bucket is address(hash_lo)
  ConnState state = ConnState::kTcpNone;
  uint8_t in_use = 0;
  uint8_t counted = 0;        // counted in its RS's active/inactive gauges (see Forwarder)
  uint8_t announced = 0;      // told the other directors about (connection sync): changes and refreshes follow
  uint32_t synced = 0;        // worker clock when last announced to (or received from) the other directors
  uint32_t rs_offset = 0;     // rs_slot * 64: the byte offset of its RS's view and counters (set with rs_slot)
  uint8_t pad[kFlowEntryPad<Key>] = {};
};
using FlowEntry = BasicFlowEntry<net::FlowKey>;
using FlowEntry6 = BasicFlowEntry<net::FlowKey6>;
static_assert(sizeof(FlowEntry) == 64, "one cache line per IPv4 entry");
static_assert(sizeof(FlowEntry6) == 128, "two cache lines per IPv6 entry");
static_assert(offsetof(FlowEntry, rs_slot) == 16 && offsetof(FlowEntry6, rs_slot) == 40,
              "the fields follow the key");

// One line of a flow table's index: up to eight entries' signatures and numbers (either
// family's table: the bucket does not depend on the key).
constexpr uint32_t kFlowWays = 8;
struct alignas(64) FlowBucket {
  uint16_t sig[kFlowWays];      // 0 = empty way
  uint32_t idx[kFlowWays + 1];  // [kFlowWays]: the table's no_entry(), what no signature finds
  uint8_t pad[12];
};
static_assert(sizeof(FlowBucket) == 64 && offsetof(FlowBucket, idx) == 2 * kFlowWays);

// Where a table's memory comes from (rte_zmalloc on the dataplane, new in tests).
struct FlowMemory {
  void* (*alloc)(size_t bytes, size_t align, void* ctx) = nullptr;  // zeroed memory
  void (*release)(void* p, size_t bytes, void* ctx) = nullptr;
  void* ctx = nullptr;
};

template <class Key>
class BasicFlowTable {
 public:
  using KeyType = Key;
  using Entry = BasicFlowEntry<Key>;

  static constexpr uint32_t kWays = kFlowWays;
  // Buckets in use per entry while the index grows. Two: a bucket the split pointer has
  // not reached holds one entry on average, and a full bucket evicting a live entry
  // stays rare: churning a 1M table at 6,144 to 100,000 live entries, once in 400,000
  // new connections or fewer (never in 4M with the whole index in use); at one bucket
  // per entry, once in 13,000 at any occupancy.
  static constexpr uint32_t kGrowth = 2;
  static constexpr uint32_t kMaxCapacity = 1u << 30;

  using Memory = FlowMemory;

  // Throws std::invalid_argument for capacity 0 or above kMaxCapacity, std::bad_alloc.
  explicit BasicFlowTable(uint32_t capacity, Memory mem = {});
  ~BasicFlowTable();
  BasicFlowTable(const BasicFlowTable&) = delete;
  BasicFlowTable& operator=(const BasicFlowTable&) = delete;

  static size_t memory_bytes(uint32_t capacity);

  uint32_t capacity() const { return capacity_; }
  uint32_t size() const { return size_; }
  uint32_t state_count(ConnState s) const { return list_len_[static_cast<int>(s)]; }

  Entry& at(uint32_t idx) { return entries_[idx]; }
  const Entry& at(uint32_t idx) const { return entries_[idx]; }

  // The bucket of `hash` as the index is now (valid until the next insert, erase or
  // split), and its prefetch: a burst computes it once for the prefetch and the lookup.
  const FlowBucket* bucket_of(uint64_t hash) const { return &buckets_[address(hash)]; }
  static void prefetch_bucket(const FlowBucket* b) { __builtin_prefetch(b); }

  // Buckets of the index in use (grows with the live entries up to max_buckets(), never
  // shrinks), and the size of the whole bucket array.
  uint32_t buckets() const { return mask_ + 1 + split_; }
  uint32_t max_buckets() const { return max_buckets_; }

  // Bumped by every insert, erase and bucket split: an entry number found before may be
  // stale after.
  uint64_t mutations() const { return mutations_; }
  // Bumped whenever a state list's tail leaves it (touched, moved to another state,
  // erased): the entry behind it, which may have timed out already (timeouts differ
  // within a list), is the list's next candidate for expire().
  uint64_t tail_moves() const { return tail_moves_; }

  // The entry for `key`, or kNil. Does not look at expiry: callers decide.
  uint32_t find(const Key& key, uint64_t hash) const { return lookup().find(key, hash); }

  // What candidate_in() yields when no way has the signature: an entry number (at() is
  // valid) whose key no key is equal to, never in use.
  uint32_t no_entry() const { return capacity_; }

 private:
  using Bucket = FlowBucket;

 public:
  // The index as it is now, for lookups only (no insert or erase may come between taking
  // it and using it): a burst's lookups keep its few words in registers instead of
  // reloading them from the table after every store the burst makes.
  class Lookup {
   public:
    // Linear hashing: the bucket of a hash is its low bits at this level, or at the next
    // level for the buckets the split pointer has passed. One compare and a select more
    // than a fixed mask, and no branch: while the split pointer is mid-level the compare
    // goes either way at random. (Written so that GCC makes it a cmov: with `a` computed
    // from `h` rather than from `next` it makes a branch.)
    uint32_t address(uint64_t hash) const {
      const uint32_t next = static_cast<uint32_t>(hash) & next_mask_;
      const uint32_t a = next & mask_;
      return a < split_ ? next : a;
    }
    uint32_t find(const Key& key, uint64_t hash) const { return find_in(address(hash), key, hash); }
    // (From the view: its entry array is in a register already.)
    void prefetch_entry(uint32_t idx) const {
      __builtin_prefetch(&entries_[idx]);
      if constexpr (sizeof(Entry) > 64) __builtin_prefetch(reinterpret_cast<const char*>(&entries_[idx]) + 64);
    }
    // The entry in bucket `bucket` (bucket_of(hash), no insert, erase or split since)
    // whose signature is the hash's, the first of them, its key not compared: no_entry()
    // when none is (the bucket's way after the last). The caller compares the key once
    // the entry's line is in (and on a mismatch, a signature shared by another key, rare,
    // looks up with find()): a burst reads each bucket and prefetches the entry without
    // waiting for the entry's line.
    uint32_t candidate_in(const FlowBucket* bucket, uint64_t hash) const {
      const Bucket& b = *bucket;
#if defined(__SSE2__)
      // The compare's mask as it comes, two bits a way: its lowest bit is twice the way,
      // half the byte offset of the way's entry number (and of the no-entry's, after).
      const uint32_t m = static_cast<uint32_t>(_mm_movemask_epi8(matches(b, signature(hash))));
      uint32_t idx;
      std::memcpy(&idx, reinterpret_cast<const char*>(b.idx) + 2 * lowest(m | 1u << (2 * kWays)), 4);
      return idx;
#else
      return b.idx[lowest(match(b, signature(hash)) | 1u << kWays)];
#endif
    }
    // The same, in the bucket bucket_of(hash) gave (no insert, erase or split since).
    uint32_t find_in(uint32_t bucket, const Key& key, uint64_t hash) const {
      const Bucket& b = buckets_[bucket];
      for (uint32_t m = match(b, signature(hash)); m; m &= m - 1) {
        const uint32_t idx = b.idx[__builtin_ctz(m)];
        if (entries_[idx].key == key) return idx;
      }
      return kNil;
    }

   private:
    friend class BasicFlowTable;
    Lookup(const Bucket* b, const Entry* e, uint32_t mask, uint32_t next_mask, uint32_t split)
        : buckets_(b), entries_(e), mask_(mask), next_mask_(next_mask), split_(split) {}
    const Bucket* buckets_;
    const Entry* entries_;
    uint32_t mask_, next_mask_, split_;
  };
  Lookup lookup() const { return Lookup(buckets_, entries_, mask_, next_mask_, split_); }

  static bool expired(const Entry& e, uint32_t now) { return now - e.last_seen >= e.timeout; }

  // Adds `key` (which must not be present) and returns its entry. Never fails: when
  // the key's bucket or the pool is full, the longest-idle entry there is removed first
  // and handed to on_evict(const Entry&) before it is reused.
  template <class OnEvict>
  uint32_t insert(const Key& key, uint64_t hash, ConnState state, uint32_t timeout,
                  uint32_t now, OnEvict&& on_evict) {
    // Grow the index first, so that the key goes to its bucket after the split.
    const uint64_t want = (uint64_t{size_} + 1) * kGrowth;
    if (buckets() < want && buckets() < max_buckets_) grow(want);
    Bucket& b = buckets_[address(hash)];
    int way = free_way(b);
    if (way < 0) {
      way = oldest_way(b);
      const uint32_t victim = b.idx[way];
      on_evict(static_cast<const Entry&>(entries_[victim]));
      erase(victim);
    }
    if (free_head_ == kNil) {
      const uint32_t victim = longest_idle();
      on_evict(static_cast<const Entry&>(entries_[victim]));
      erase(victim);
    }
    const uint32_t idx = free_head_;
    Entry& e = entries_[idx];
    free_head_ = e.next;
    e = Entry{};
    e.key = key;
    e.state = state;
    e.timeout = timeout;
    e.last_seen = now;
    e.hash_lo = static_cast<uint32_t>(hash);
    e.in_use = 1;
    push_head(idx);
    b.sig[way] = signature(hash);
    b.idx[way] = idx;
    ++size_;
    ++mutations_;
    return idx;
  }

  // Marks use at `now` (monotonic): keeps the state list in last-use order.
  void touch(uint32_t idx, uint32_t now) {
    Entry& e = entries_[idx];
    if (e.last_seen == now) return;
    e.last_seen = now;
    if (heads_[static_cast<int>(e.state)] != idx) {
      unlink(idx);
      push_head(idx);
    }
  }

  // Moves the entry to another state (and timeout), used now.
  void set_state(uint32_t idx, ConnState state, uint32_t timeout, uint32_t now) {
    Entry& e = entries_[idx];
    unlink(idx);
    e.state = state;
    e.timeout = timeout;
    e.last_seen = now;
    push_head(idx);
  }

  void erase(uint32_t idx);

  // Removes up to `budget` timed-out entries, oldest first, calling on_expire for each.
  template <class OnExpire>
  uint32_t expire(uint32_t now, uint32_t budget, OnExpire&& on_expire) {
    uint32_t n = 0;
    for (int s = 0; s < kStateCount && n < budget; ++s) {
      while (n < budget && tails_[s] != kNil) {
        const uint32_t idx = tails_[s];
        if (!expired(entries_[idx], now)) break;
        on_expire(static_cast<const Entry&>(entries_[idx]));
        erase(idx);
        ++n;
      }
    }
    return n;
  }

  // Visits every entry in use (control and tests; not for the data path).
  template <class F>
  void for_each(F&& f) const {
    for (uint32_t i = 0; i < capacity_; ++i)
      if (entries_[i].in_use) f(i, entries_[i]);
  }

  // Checks every structural invariant; returns an empty string or what is wrong.
  std::string check() const;

 private:
  size_t bucket_bytes() const { return size_t{max_buckets_} * sizeof(Bucket); }
  size_t entry_bytes() const { return (size_t{capacity_} + 1) * sizeof(Entry); }  // (+ no_entry())

  uint32_t address(uint64_t hash) const { return lookup().address(hash); }
  // Splits buckets (kGrowth at most) until `want` or the whole array are in use.
  void grow(uint64_t want);
  void split();

  static uint16_t signature(uint64_t hash) { return static_cast<uint16_t>(hash >> 48) | 1; }

  // One bit per matching way (SSE2: 16-bit compares packed to bytes, their sign bits).
#if defined(__SSE2__)
  // Each way's 16 bits all ones where its signature is sig.
  static __m128i matches(const Bucket& b, uint16_t sig) {
    const __m128i s = _mm_load_si128(reinterpret_cast<const __m128i*>(b.sig));
    return _mm_cmpeq_epi16(s, _mm_set1_epi16(static_cast<short>(sig)));
  }
#endif
  static uint32_t match(const Bucket& b, uint16_t sig) {
#if defined(__SSE2__)
    return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(matches(b, sig), _mm_setzero_si128())));
#else
    uint32_t m = 0;
    for (uint32_t w = 0; w < kWays; ++w)
      if (b.sig[w] == sig) m |= 1u << w;
    return m;
#endif
  }

  static int free_way(const Bucket& b) {
    for (uint32_t w = 0; w < kWays; ++w)
      if (b.sig[w] == 0) return static_cast<int>(w);
    return -1;
  }
  int oldest_way(const Bucket& b) const;
  uint32_t longest_idle() const;

  void push_head(uint32_t idx) {
    Entry& e = entries_[idx];
    const int s = static_cast<int>(e.state);
    e.prev = kNil;
    e.next = heads_[s];
    if (heads_[s] != kNil) entries_[heads_[s]].prev = idx;
    heads_[s] = idx;
    if (tails_[s] == kNil) tails_[s] = idx;
    ++list_len_[s];
  }

  void unlink(uint32_t idx) {
    Entry& e = entries_[idx];
    const int s = static_cast<int>(e.state);
    if (e.prev != kNil) entries_[e.prev].next = e.next; else heads_[s] = e.next;
    if (e.next != kNil) {
      entries_[e.next].prev = e.prev;
    } else {
      tails_[s] = e.prev;
      ++tail_moves_;
    }
    e.prev = e.next = kNil;
    --list_len_[s];
  }

  Memory mem_;
  uint32_t capacity_;
  // The buckets in use: mask_ + 1 (a power of two: this level) + split_ (those of this
  // level already split, and as many above it: bucket mask_ + 1 + i is split from
  // bucket i).
  uint32_t mask_ = 0;       // this level's: 2^k - 1
  uint32_t next_mask_ = 1;  // the next level's: 2^(k+1) - 1
  uint32_t split_ = 0;
  uint32_t max_buckets_;
  uint32_t size_ = 0;
  uint32_t free_head_ = kNil;
  Bucket* buckets_ = nullptr;
  Entry* entries_ = nullptr;
  uint32_t heads_[kStateCount];
  uint32_t tails_[kStateCount];
  uint32_t list_len_[kStateCount] = {};
  uint64_t mutations_ = 0;
  uint64_t tail_moves_ = 0;
};

using FlowTable = BasicFlowTable<net::FlowKey>;
using FlowTable6 = BasicFlowTable<net::FlowKey6>;

// The per-RS connection gauges recomputed from a table (control side after the workers
// stopped, and tests): per (RS slot, generation), the entries bound to it: connections
// by activity, persistence templates. Entries bound to no RS are counted in `unbound`.
struct BoundCounts {
  int64_t active = 0, inactive = 0, persist = 0;
  bool operator==(const BoundCounts&) const = default;
};
template <class Key>
std::map<std::pair<uint32_t, uint32_t>, BoundCounts> count_bound(const BasicFlowTable<Key>& t, uint64_t& unbound);

}  // namespace drfwd::lb
