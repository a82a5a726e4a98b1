#include "lb/counters.hpp"

#include <algorithm>

namespace drfwd::lb {

namespace {

template <class S, class T, size_t N>
void add_fields(S& into, const S& from, const CounterField<S, T> (&fields)[N]) {
  for (const auto& f : fields) into.*f.member += read(from.*f.member);
}

template <class S, size_t N>
void subtract_counters(S& a, const S& b, const CounterField<S> (&fields)[N]) {
  for (const auto& f : fields)
    if (f.kind == CounterKind::kCounter) a.*f.member -= std::min(a.*f.member, b.*f.member);
}

}  // namespace

uint64_t dropped(const PortCounters& c) {
  uint64_t d = 0;
  for (int r = 1; r < net::kDropCount; ++r) d += c.drops[r];
  return d;
}

uint64_t malformed(const PortCounters& c) {
  uint64_t m = 0;
  for (int r = 1; r < net::kDropCount; ++r)
    if (net::is_malformed(static_cast<net::Drop>(r))) m += c.drops[r];
  return m;
}

void add(PortCounters& into, const PortCounters& from) {
  add_fields(into, from, kPortFields);
  for (int r = 0; r < net::kDropCount; ++r) into.drops[r] += read(from.drops[r]);
}

void add(WorkerScalars& into, const WorkerScalars& from) {
  add_fields(into, from, kWorkerFields);
  for (const HistogramField& h : kWorkerHistograms) {
    LoopHistogram& a = into.*h.member;
    const LoopHistogram& b = from.*h.member;
    for (int k = 0; k < kLoopHistBuckets; ++k) a.buckets[k] += read(b.buckets[k]);
    a.max = std::max(a.max, read(b.max));
  }
}

void add(RsCounters& into, const RsCounters& from) {
  add_fields(into, from, kRsCounterFields);
  add_fields(into, from, kRsGaugeFields);
}

void subtract(PortCounters& a, const PortCounters& b) {
  subtract_counters(a, b, kPortFields);
  for (int r = 0; r < net::kDropCount; ++r) a.drops[r] -= std::min(a.drops[r], b.drops[r]);
}

void subtract(WorkerScalars& a, const WorkerScalars& b) { subtract_counters(a, b, kWorkerFields); }

void subtract(RsCounters& a, const RsCounters& b) {
  for (const auto& f : kRsCounterFields) a.*f.member -= b.*f.member;
  for (const auto& f : kRsGaugeFields) a.*f.member -= b.*f.member;
}

}  // namespace drfwd::lb
