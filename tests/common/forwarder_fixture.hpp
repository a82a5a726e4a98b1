// One worker's Forwarder over a snapshot built from `spec`, without EAL: the fixture the
// forwarder and connection sync unit tests share. A test's SetUp fills `spec`, then
// calls start().
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "lb/forwarder.hpp"
#include "specs.hpp"

namespace drfwd::test {

class ForwarderFixture : public ::testing::Test {
 protected:
  void start() {
    rs_counters = std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots);
    counters = std::make_unique<lb::WorkerCounters>();
    table = std::make_unique<lb::FlowTable>(1024);
    fwd = std::make_unique<lb::Forwarder>(0, *table, *counters, rs_counters.get());
    publish();
  }
  void publish() {
    snap = lb::build_snapshot(spec, snap.get());
    fwd->begin(snap.get(), now);
  }
  void at(uint32_t t) {
    now = t;
    fwd->begin(snap.get(), now);
  }
  // vlan: the VLAN it came on, its tag already taken out (as the worker hands it over).
  lb::Verdict send(std::vector<uint8_t>& f, uint16_t port = 0, uint16_t vlan = 0) {
    lb::Frame fr{f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()), port, vlan,
                 net::IpCsum::kUnknown};
    return fwd->process(fr);
  }
  lb::Verdict send(const FrameSpec& s) {
    last = build(s);
    return send(last);
  }
  lb::Verdict send(const Frame6Spec& s, uint16_t port = 0, uint16_t vlan = 0) {
    last = build6(s);
    return send(last, port, vlan);
  }
  // The IPv6 connection table (the Forwarder holds it).
  lb::FlowTable6& table6() { return fwd->conns6(); }
  // The RS a forwarded frame was sent to (last byte of the RS MAC is 0x10 + slot).
  int rs_of_last() const { return rs_of_mac(last.data()); }

  lb::SnapshotSpec spec;
  std::shared_ptr<lb::Snapshot> snap;
  std::unique_ptr<lb::RsCounters[]> rs_counters;
  std::unique_ptr<lb::WorkerCounters> counters;
  std::unique_ptr<lb::FlowTable> table;
  std::unique_ptr<lb::Forwarder> fwd;
  std::vector<uint8_t> last;
  uint32_t now = 0;
};

}  // namespace drfwd::test
