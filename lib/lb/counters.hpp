// Counters written by exactly one worker and read (summed) by the control core.
// Writes are relaxed atomic stores of a plain increment: no locked instructions, no
// shared cache lines; reads are relaxed atomic loads, so a reader never sees a torn
// value. Resetting is done by the reader keeping a baseline, never by writing here.
//
// One schema drives every use: each list below (an X-macro) declares a counter once,
// with its name and meaning, and generates both the member and the field table
// (name, member pointer, kind) that collecting, summing, differencing and every view
// (text, JSON, telemetry) walk. Adding a counter is one line in its list.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

#include "lb/snapshot.hpp"
#include "net/drop.hpp"

// A sanitizer that checks memory accesses (GCC says so by a macro, clang by a feature
// test): it does not see into inline assembly, so bump() keeps the plain C++ store there.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define DRFWD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define DRFWD_SANITIZED 1
#endif
#endif

namespace drfwd::lb {

inline void bump(uint64_t& c, uint64_t n = 1) {
#if defined(__x86_64__) && !defined(DRFWD_SANITIZED)
  // One add to memory instead of a load, an add and a store: an aligned 8-byte store is
  // single-copy atomic on x86-64, which is all a relaxed atomic store gives the reader.
  // (Sanitizer builds keep the atomic store, which they check.)
  asm volatile("add{q %1, %0|%0, %1}" : "+m"(c) : "er"(n));  // (AT&T|Intel syntax)
#else
  std::atomic_ref<uint64_t>(c).store(c + n, std::memory_order_relaxed);
#endif
}
inline void bump(int64_t& c, int64_t n) {
  std::atomic_ref<int64_t>(c).store(c + n, std::memory_order_relaxed);
}
template <class T>
inline void store(T& c, T v) {
  std::atomic_ref<T>(c).store(v, std::memory_order_relaxed);
}
template <class T>
inline T read(const T& c) {
  return std::atomic_ref<T>(const_cast<T&>(c)).load(std::memory_order_relaxed);
}

enum class CounterKind : uint8_t {
  kCounter,  // only grows: summed over workers, differenced for rates and `clear stats`
  kGauge,    // a level (entries in use, ...): summed over workers, never differenced
};

template <class S, class T = uint64_t>
struct CounterField {
  std::string_view name;  // the one name every view uses
  T S::*member;
  CounterKind kind;
  std::string_view help;
};

// A list entry X(name, kind, help) as a member, and as a field of the struct named by
// DRFWD_COUNTER_TYPE (defined around the table):
//   struct Foo { FOO_LIST(DRFWD_COUNTER_MEMBER) };
//   #define DRFWD_COUNTER_TYPE Foo
//   inline constexpr CounterField<Foo> kFooFields[] = {FOO_LIST(DRFWD_COUNTER_FIELD)};
//   #undef DRFWD_COUNTER_TYPE
#define DRFWD_COUNTER_MEMBER(name, kind, help) uint64_t name = 0;
#define DRFWD_GAUGE_MEMBER(name, kind, help) int64_t name = 0;
#define DRFWD_COUNTER_FIELD(name, kind, help) \
  {#name, &DRFWD_COUNTER_TYPE::name, ::drfwd::lb::CounterKind::kind, help},
#define DRFWD_SELF_FIELD(name, kind, help) {#name, &Self::name, ::drfwd::lb::CounterKind::kind, help},

// A struct of counters only: `type` with one uint64_t member per entry of `list`, and
// `table`, its field table.
#define DRFWD_COUNTERS(type, table, list)                                                     \
  struct type {                                                                               \
    using Self = type;                                                                        \
    list(DRFWD_COUNTER_MEMBER)                                                                \
    static constexpr ::drfwd::lb::CounterField<type> kFields[] = {list(DRFWD_SELF_FIELD)};    \
  };                                                                                          \
  inline constexpr const auto& table = type::kFields

// ---- Per port (received on, or sent out of, one port) --------------------------------

#define DRFWD_PORT_COUNTERS(X)                                                         \
  X(received, kCounter, "frames received")                                             \
  X(received_bytes, kCounter, "bytes received (802.1Q tags not counted)")              \
  X(forwarded, kCounter, "frames forwarded out of the port (egress)")                  \
  X(forwarded_bytes, kCounter, "bytes forwarded out of the port (802.1Q tags not counted)") \
  X(to_control, kCounter, "frames received handed to the control core")              \
  X(from_control, kCounter, "frames sent for the control core (ARP, kernel traffic)")

struct PortCounters {
  DRFWD_PORT_COUNTERS(DRFWD_COUNTER_MEMBER)
  std::array<uint64_t, net::kDropCount> drops{};  // by net::Drop, received on this port
};
#define DRFWD_COUNTER_TYPE PortCounters
inline constexpr CounterField<PortCounters> kPortFields[] = {DRFWD_PORT_COUNTERS(DRFWD_COUNTER_FIELD)};
#undef DRFWD_COUNTER_TYPE

// Frames dropped for any reason, and for a malformed header (net::is_malformed).
uint64_t dropped(const PortCounters& c);
uint64_t malformed(const PortCounters& c);

// ---- Per worker -----------------------------------------------------------------------

// Frames for the control core come in classes, each rate-limited on its own (worker),
// so a flood of one kind cannot crowd out the others: above all, a flood at the DIP must
// not starve the health-check replies and ARP replies of the real servers.
enum class ExcClass : uint8_t {
  kOther,    // IPv4 to a DIP, broadcast and multicast IPv4 (0: what a Verdict{} holds)
  kArp,      // other ARP (clients resolving VIPs and DIPs)
  kServer,   // from a real server's address: health-check replies, its ARP
  kRouting,  // routing and redundancy protocols: VRRP, BGP, BFD, OSPF
  kSync,     // connection synchronisation from the other directors (UDP to the sync port)
};
inline constexpr int kExcClasses = 5;

#define DRFWD_WORKER_COUNTERS(X)                                                                     \
  X(conn_new, kCounter, "connections scheduled")                                                     \
  X(conn_resched, kCounter, "connections moved off a real server that left or failed")               \
  X(conn_expired, kCounter, "connections timed out")                                                 \
  X(conn_evicted, kCounter, "connections removed to make room (table or bucket full)")               \
  X(tmpl_new, kCounter, "persistence templates created")                                             \
  X(frag_forwarded, kCounter, "non-first fragments sent after their first fragment")                 \
  X(icmp_forwarded, kCounter, "ICMP errors sent to the real server of their connection")             \
  X(fast_path, kCounter, "frames forwarded on the fast path: a known connection, seen this second, its state unchanged") \
  X(exception_limited_other, kCounter, "frames for the control core over the limit: DIP and group") \
  X(exception_limited_arp, kCounter, "frames for the control core over the limit: ARP")              \
  X(exception_limited_server, kCounter, "frames for the control core over the limit: from a real server") \
  X(exception_limited_routing, kCounter, "frames for the control core over the limit: VRRP, BGP, BFD, OSPF") \
  X(exception_limited_sync, kCounter, "frames for the control core over the limit: connection sync")  \
  X(sync_queued, kCounter, "connection sync records handed to the control core to send")           \
  X(sync_capped, kCounter, "connection sync records not sent: over the sync rate cap")              \
  X(sync_ring_full, kCounter, "connection sync records not sent: the ring to the control core was full") \
  X(sync_applied, kCounter, "synced connections and templates inserted or refreshed")               \
  X(sync_kept_local, kCounter, "synced records for a connection held here on another real server (ours kept)") \
  X(sync_stale, kCounter, "synced records whose real server changed before this worker got them")   \
  X(sync_table_full, kCounter, "synced records not taken: the connection table was full (this worker's own entries kept)") \
  X(polls, kCounter, "loop iterations")                                                              \
  X(busy_polls, kCounter, "loop iterations that received something")                                 \
  X(idle_sleeps, kCounter, "back-off sleeps taken (--idle-backoff)")                                 \
  X(conns_in_use, kGauge, "connection table entries in use")

inline constexpr int kLoopHistBuckets = 160;  // quarter octaves up to 2^40 cycles (minutes)

// Histogram bucket of a duration in cycles: four per power of two (the most significant
// bit and the two bits after it), so a bucket is at most 19% wide.
inline int loop_hist_bucket(uint64_t cycles) {
  const int msb = 63 - __builtin_clzll(cycles | 1);
  const int frac = msb >= 2 ? static_cast<int>((cycles >> (msb - 2)) & 3) : 0;
  const int b = msb * 4 + frac;
  return b < kLoopHistBuckets ? b : kLoopHistBuckets - 1;
}

// Durations in TSC cycles: how many fell in each bucket, and the longest.
struct LoopHistogram {
  std::array<uint64_t, kLoopHistBuckets> buckets{};
  uint64_t max = 0;
  void record(uint64_t cycles) {
    bump(buckets[loop_hist_bucket(cycles)]);
    if (cycles > max) store(max, cycles);
  }
};

#define DRFWD_WORKER_HISTOGRAMS(X)                                                                  \
  X(busy_loop, "each loop iteration that received something (poll every port, process, transmit)") \
  X(new_snapshot_loop, "the first busy iteration on each newly published snapshot")

// Everything a worker counts but its per-port counters.
struct WorkerScalars {
  DRFWD_WORKER_COUNTERS(DRFWD_COUNTER_MEMBER)
#define DRFWD_HISTOGRAM_MEMBER(name, help) LoopHistogram name;
  DRFWD_WORKER_HISTOGRAMS(DRFWD_HISTOGRAM_MEMBER)
#undef DRFWD_HISTOGRAM_MEMBER
};
#define DRFWD_COUNTER_TYPE WorkerScalars
inline constexpr CounterField<WorkerScalars> kWorkerFields[] = {DRFWD_WORKER_COUNTERS(DRFWD_COUNTER_FIELD)};
#undef DRFWD_COUNTER_TYPE

struct HistogramField {
  std::string_view name;
  LoopHistogram WorkerScalars::*member;
  std::string_view help;
};
inline constexpr HistogramField kWorkerHistograms[] = {
#define DRFWD_FIELD(name, help) {#name, &WorkerScalars::name, help},
    DRFWD_WORKER_HISTOGRAMS(DRFWD_FIELD)
#undef DRFWD_FIELD
};

// The exception_limited_* counter of each class, indexed by ExcClass.
inline constexpr uint64_t WorkerScalars::*kExcLimited[kExcClasses] = {
    &WorkerScalars::exception_limited_other, &WorkerScalars::exception_limited_arp,
    &WorkerScalars::exception_limited_server, &WorkerScalars::exception_limited_routing,
    &WorkerScalars::exception_limited_sync};

static_assert(std::size(kExcLimited) == kExcClasses &&
                  &WorkerScalars::exception_limited_sync == kExcLimited[static_cast<int>(ExcClass::kSync)],
              "one exception_limited_* counter per ExcClass, in its order");

struct alignas(64) WorkerCounters : WorkerScalars {
  std::array<PortCounters, kMaxPorts> port{};
};

// ---- Per real-server slot ------------------------------------------------------------

// Counters, and gauges that are this worker's share: they only sum to the RS's count
// across workers.
#define DRFWD_RS_COUNTERS(X)                               \
  X(packets, kCounter, "packets forwarded to the server") \
  X(bytes, kCounter, "bytes forwarded to the server")     \
  X(conns, kCounter, "connections scheduled to the server")
#define DRFWD_RS_GAUGES(X)                                                   \
  X(active, kGauge, "ESTABLISHED TCP and UDP connections (ActiveConn)")    \
  X(inactive, kGauge, "connections in other TCP states (InActConn)")       \
  X(persist, kGauge, "persistence templates pointing at the server")

struct alignas(64) RsCounters {
  DRFWD_RS_COUNTERS(DRFWD_COUNTER_MEMBER)
  DRFWD_RS_GAUGES(DRFWD_GAUGE_MEMBER)
};
#define DRFWD_COUNTER_TYPE RsCounters
inline constexpr CounterField<RsCounters> kRsCounterFields[] = {DRFWD_RS_COUNTERS(DRFWD_COUNTER_FIELD)};
inline constexpr CounterField<RsCounters, int64_t> kRsGaugeFields[] = {DRFWD_RS_GAUGES(DRFWD_COUNTER_FIELD)};
#undef DRFWD_COUNTER_TYPE

// ---- Operations every view shares ----------------------------------------------------

// into += from, field by field (relaxed atomic reads of `from`): counters and gauges
// add; a histogram adds its buckets and keeps the larger maximum.
void add(PortCounters& into, const PortCounters& from);
void add(WorkerScalars& into, const WorkerScalars& from);
void add(RsCounters& into, const RsCounters& from);
// a -= b for counters (floored at zero: a baseline newer than a reading gives zero);
// gauges and histograms are levels and stay.
void subtract(PortCounters& a, const PortCounters& b);
void subtract(WorkerScalars& a, const WorkerScalars& b);
// The RS's counters and its gauges both: a slot's baseline holds the gauges a former
// occupant left behind.
void subtract(RsCounters& a, const RsCounters& b);

}  // namespace drfwd::lb
