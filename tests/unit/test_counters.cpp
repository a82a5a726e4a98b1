// The counter schema: every view takes its names from it, and sums and differences walk it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "control/director.hpp"
#include "control/neighbours.hpp"
#include "control/slow_path_counters.hpp"
#include "control/sync.hpp"
#include "dataplane/totals.hpp"
#include "docs.hpp"
#include "lb/counters.hpp"

using namespace drfwd;
using namespace drfwd::lb;

namespace {

bool is_metric_name(std::string_view n) {
  if (n.empty() || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

TEST(Counters, NamesAreUniqueAndUsableAsKeysEverywhere) {
  // JSON keys, DPDK telemetry keys ([A-Za-z0-9_]) and metric names share them.
  std::set<std::string_view> port, worker, rs;
  for (const auto& f : kPortFields) EXPECT_TRUE(port.insert(f.name).second && is_metric_name(f.name)) << f.name;
  for (const auto& f : kWorkerFields) EXPECT_TRUE(worker.insert(f.name).second && is_metric_name(f.name)) << f.name;
  for (const auto& f : kWorkerHistograms) EXPECT_TRUE(worker.insert(f.name).second && is_metric_name(f.name)) << f.name;
  for (const auto& f : kRsCounterFields) EXPECT_TRUE(rs.insert(f.name).second && is_metric_name(f.name)) << f.name;
  for (const auto& f : kRsGaugeFields) EXPECT_TRUE(rs.insert(f.name).second && is_metric_name(f.name)) << f.name;
  // Telemetry's /drfwd/stats puts port and worker totals side by side.
  for (std::string_view n : port) EXPECT_FALSE(worker.count(n)) << n;
  for (const auto& f : kPortFields) EXPECT_FALSE(f.help.empty()) << f.name;
  for (const auto& f : kWorkerFields) EXPECT_FALSE(f.help.empty()) << f.name;
}

TEST(Counters, ExceptionClassesIndexTheirCounters) {
  WorkerScalars w;
  w.*kExcLimited[static_cast<int>(ExcClass::kOther)] = 1;
  w.*kExcLimited[static_cast<int>(ExcClass::kArp)] = 2;
  w.*kExcLimited[static_cast<int>(ExcClass::kServer)] = 3;
  EXPECT_EQ(w.exception_limited_other, 1u);
  EXPECT_EQ(w.exception_limited_arp, 2u);
  EXPECT_EQ(w.exception_limited_server, 3u);
}

TEST(Counters, AddSumsAndSubtractDifferencesCountersOnly) {
  WorkerScalars a, b;
  a.conn_new = 10;
  a.conns_in_use = 7;
  a.busy_loop.record(1000);
  b.conn_new = 4;
  b.conns_in_use = 5;
  b.busy_loop.record(5000);
  WorkerScalars sum;
  add(sum, a);
  add(sum, b);
  EXPECT_EQ(sum.conn_new, 14u);
  EXPECT_EQ(sum.conns_in_use, 12u);
  EXPECT_EQ(sum.busy_loop.max, 5000u) << "a histogram keeps the longest";
  EXPECT_EQ(sum.busy_loop.buckets[loop_hist_bucket(1000)] + sum.busy_loop.buckets[loop_hist_bucket(5000)], 2u);
  subtract(sum, a);
  EXPECT_EQ(sum.conn_new, 4u);
  EXPECT_EQ(sum.conns_in_use, 12u) << "a gauge is a level, not history";
  subtract(sum, a);
  EXPECT_EQ(sum.conn_new, 0u) << "a baseline newer than the reading gives zero";

  PortCounters p;
  p.drops[static_cast<int>(net::Drop::kRunt)] = 2;
  p.drops[static_cast<int>(net::Drop::kNoService)] = 3;
  EXPECT_EQ(dropped(p), 5u);
  EXPECT_EQ(malformed(p), 2u);

  RsCounters r, base;
  r.packets = 9;
  r.active = 2;
  base.packets = 4;
  base.active = 3;  // a former occupant's gauge left in the slot
  subtract(r, base);
  EXPECT_EQ(r.packets, 5u);
  EXPECT_EQ(r.active, -1);
}

// docs/operation.md's Counters section names every counter (the docs stay true: a
// counter added to a list must be described there too).
TEST(Counters, TheOperatorGuideNamesEveryCounter) {
  const std::string doc = test::read_doc("operation.md");
  ASSERT_FALSE(doc.empty());
  auto named = [&](const auto& table) {
    for (const auto& field : table) EXPECT_NE(doc.find("`" + std::string(field.name) + "`"), std::string::npos) << field.name;
  };
  named(kPortFields);
  named(kWorkerFields);
  named(kRsCounterFields);
  named(kRsGaugeFields);
  named(dp::kNicFields);
  named(control::kSlowPathFields);
  named(control::kNeighFields);
  named(control::kDirectorFields);
  named(control::kSyncFields);
}
