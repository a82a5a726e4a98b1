// Scheduler kinds and their names.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace drfwd::lb {

enum class Sched : uint8_t {
  kRr,    // round robin over the RSs that take new connections
  kWrr,   // smooth weighted round robin (no bursts on the heaviest RS)
  kSh,    // source hashing, consistent (Maglev table keyed by source IP)
  kHash,  // 5-tuple hash over the weighted sequence (not consistent)
  kMh,    // Maglev consistent hashing of the 5-tuple (NSDI 2016)
  // IPVS's least-connection family, over the RSs' connection counts summed across
  // workers (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c):
  kLc,    // least active * 256 + inactive
  kWlc,   // least (active * 256 + inactive) / weight (ipvsadm's default)
  kSed,   // shortest expected delay: least (active + 1) / weight
  kNq,    // never queue: the first idle RS (no active connection), else as sed
};

// Scheduler flags (ipvsadm -b): sh-port adds the source port to the sh key. The
// *-fallback flags are accepted for compatibility: tables only ever hold RSs that can
// take the connection, which is what fallback asks for. mh always hashes the 5-tuple.
constexpr uint32_t kFlagShPort = 1u << 0;
constexpr uint32_t kFlagShFallback = 1u << 1;
constexpr uint32_t kFlagMhPort = 1u << 2;
constexpr uint32_t kFlagMhFallback = 1u << 3;

constexpr std::string_view sched_name(Sched s) {
  switch (s) {
    case Sched::kRr: return "rr";
    case Sched::kWrr: return "wrr";
    case Sched::kSh: return "sh";
    case Sched::kHash: return "hash";
    case Sched::kMh: return "mh";
    case Sched::kLc: return "lc";
    case Sched::kWlc: return "wlc";
    case Sched::kSed: return "sed";
    case Sched::kNq: return "nq";
  }
  return "?";
}

constexpr std::string_view kSupportedScheds = "rr, wrr, sh, hash, mh, lc, wlc, sed, nq";

inline std::optional<Sched> parse_sched(std::string_view s) {
  for (Sched k : {Sched::kRr, Sched::kWrr, Sched::kSh, Sched::kHash, Sched::kMh, Sched::kLc, Sched::kWlc, Sched::kSed,
                  Sched::kNq})
    if (s == sched_name(k)) return k;
  return std::nullopt;
}

constexpr bool sched_uses_maglev(Sched s) { return s == Sched::kSh || s == Sched::kMh; }
// Decides by the packet's hash alone (no per-worker state): every worker and every
// director picks the same RS for the same flow.
constexpr bool sched_is_hash(Sched s) { return s == Sched::kSh || s == Sched::kHash || s == Sched::kMh; }
// Decides by the RSs' connection counts (every worker's): no table, a walk over the
// usable RSs per new connection.
constexpr bool sched_is_least(Sched s) {
  return s == Sched::kLc || s == Sched::kWlc || s == Sched::kSed || s == Sched::kNq;
}

constexpr uint32_t kDefaultMaglevSize = 65537;
constexpr uint32_t kMinMaglevSize = 7;
constexpr uint32_t kMaxMaglevSize = 1048573;  // largest prime below 2^20

}  // namespace drfwd::lb
