// Connection synchronisation without EAL: what a worker announces and when, how it takes
// what another director announced, how the control core checks received entries (every
// refusal reason) and the sync commands of both grammars.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "config/grammar.hpp"
#include "config/model.hpp"
#include "config/show_config.hpp"
#include "console/sync_views.hpp"
#include "control/rss.hpp"
#include "control/sync.hpp"
#include "lb/forwarder.hpp"
#include "net/bytes.hpp"
#include "forwarder_fixture.hpp"
#include "specs.hpp"

using namespace drfwd;
using namespace drfwd::lb;
using namespace drfwd::test;

namespace {

const net::Mac kPortMac = mac("02:70:63:61:70:00");

// One worker's forwarder over an rr service (tcp :80), a UDP rr service (:53) and a
// persistent one (tcp :443, 300 s), each with RSs 198.18.0.11 and .12.
class SyncFwd : public ForwarderFixture {
 protected:
  void SetUp() override {
    spec.ports = {PortSpec{kPortMac, net::Prefix{ip("198.18.0.2"), 24}}};
    spec.services = {
        service(0, "198.18.1.10", net::kProtoTcp, 80, Sched::kRr, {rs(0, "198.18.0.11"), rs(1, "198.18.0.12")}),
        service(1, "198.18.1.10", net::kProtoUdp, 53, Sched::kRr, {rs(2, "198.18.0.11"), rs(3, "198.18.0.12")}),
        service(2, "198.18.1.10", net::kProtoTcp, 443, Sched::kRr, {rs(4, "198.18.0.11"), rs(5, "198.18.0.12")},
                persistent(300)),
    };
    spec.sync.send = true;
    spec.sync.refresh = 60;
    spec.sync.rate = 1000;
    start();
  }
  // What the forwarder announced since the last call.
  std::vector<SyncRecord> out() {
    std::vector<SyncRecord> v(fwd->sync_out(), fwd->sync_out() + fwd->sync_pending());
    fwd->sync_clear();
    return v;
  }
  static FrameSpec tcp(uint16_t sport, uint8_t flags, uint16_t dport = 80, const char* src = "198.18.2.1") {
    FrameSpec s;
    s.saddr = ip(src);
    s.sport = sport;
    s.dport = dport;
    s.tcp_flags = flags;
    return s;
  }
  static SyncRecord record(uint16_t sport, uint32_t slot, ConnState st, uint16_t dport = 80, uint8_t proto = net::kProtoTcp) {
    SyncRecord r{};
    r.key.src = ip("198.18.2.1").be();
    r.key.dst = ip("198.18.1.10").be();
    r.key.sport = net::hton16(sport);
    r.key.dport = net::hton16(dport);
    r.key.proto = proto;
    r.rs_slot = slot;
    r.rs_gen = 1;
    r.state = st;
    r.timeout = 900;
    return r;
  }
};

TEST_F(SyncFwd, TcpIsAnnouncedOnceEstablishedThenOnEachChange) {
  ASSERT_EQ(send(tcp(40000, net::kTcpSyn)).action, Verdict::Action::kForward);
  EXPECT_TRUE(out().empty()) << "a SYN alone (a handshake that may never complete) is not announced";
  send(tcp(40000, net::kTcpAck));
  auto v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].state, ConnState::kTcpEstablished);
  EXPECT_EQ(v[0].key.sport, net::hton16(40000));
  EXPECT_EQ(v[0].key.src, ip("198.18.2.1").be());
  EXPECT_EQ(v[0].timeout, 900u);
  EXPECT_EQ(static_cast<int>(v[0].rs_slot), rs_of_mac(last.data()));
  send(tcp(40000, net::kTcpAck | 0x08));
  EXPECT_TRUE(out().empty()) << "no change, no refresh due";
  send(tcp(40000, net::kTcpFin | net::kTcpAck));
  v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].state, ConnState::kTcpFinWait);
  EXPECT_EQ(v[0].timeout, 120u);
}

TEST_F(SyncFwd, AHandshakeThatNeverCompletesCostsNoSync) {
  for (uint16_t p = 1000; p < 1100; ++p) send(tcp(p, net::kTcpSyn));
  for (uint16_t p = 1000; p < 1100; ++p) send(tcp(p, net::kTcpRst));  // SYN_RECV -> CLOSE
  EXPECT_TRUE(out().empty());
}

TEST_F(SyncFwd, UdpFlowsAreAnnouncedWhenCreated) {
  FrameSpec u = tcp(5000, 0, 53);
  u.proto = net::kProtoUdp;
  send(u);
  auto v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].state, ConnState::kUdp);
  EXPECT_EQ(v[0].timeout, 300u);
  send(u);
  EXPECT_TRUE(out().empty());
}

TEST_F(SyncFwd, ConnectionsInUseAreAnnouncedAgainEveryRefresh) {
  send(tcp(40000, net::kTcpSyn));
  send(tcp(40000, net::kTcpAck));
  ASSERT_EQ(out().size(), 1u);
  at(59);
  send(tcp(40000, net::kTcpAck));
  EXPECT_TRUE(out().empty());
  at(60);
  send(tcp(40000, net::kTcpAck));
  EXPECT_EQ(out().size(), 1u);
  at(61);
  send(tcp(40000, net::kTcpAck));
  EXPECT_TRUE(out().empty());
}

TEST_F(SyncFwd, PersistenceTemplatesAreAnnouncedWhenCreatedAndBeforeTheirConnections) {
  send(tcp(40000, net::kTcpSyn, 443));
  auto v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].key.is_template());
  EXPECT_EQ(v[0].key.sport, 0);
  EXPECT_EQ(v[0].timeout, 300u);
  send(tcp(40000, net::kTcpAck, 443));
  v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_FALSE(v[0].key.is_template());
  EXPECT_EQ(v[0].rs_slot, v[0].rs_slot);
}

TEST_F(SyncFwd, NothingIsAnnouncedWithoutAMaster) {
  spec.sync.send = false;
  publish();
  send(tcp(40000, net::kTcpSyn));
  send(tcp(40000, net::kTcpAck));
  FrameSpec u = tcp(5000, 0, 53);
  u.proto = net::kProtoUdp;
  send(u);
  EXPECT_EQ(fwd->sync_pending(), 0u);
}

TEST_F(SyncFwd, AnAdoptedConnectionKeepsTheRealServerItWasGiven) {
  // rr would send a new connection to slot 0 first; the other director chose slot 1.
  ASSERT_EQ(fwd->adopt(record(40000, 1, ConnState::kTcpEstablished)), Forwarder::Adopt::kApplied);
  EXPECT_EQ(out().size(), 0u) << "what was received is not echoed";
  ASSERT_EQ(send(tcp(40000, net::kTcpAck)).action, Verdict::Action::kForward);
  EXPECT_EQ(rs_of_mac(last.data()), 1);
  EXPECT_EQ(counters->conn_new, 0u) << "not scheduled here";
  EXPECT_EQ(rs_counters[1].active, 1) << "counted as an active connection of its RS";
  EXPECT_EQ(rs_counters[1].conns, 0u) << "but not as one scheduled here";
  // Its changes go out from here once it is served here.
  send(tcp(40000, net::kTcpFin | net::kTcpAck));
  auto v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].state, ConnState::kTcpFinWait);
  EXPECT_EQ(rs_counters[1].active, 0);
  EXPECT_EQ(rs_counters[1].inactive, 1);
  EXPECT_EQ(table->check(), "");
}

TEST_F(SyncFwd, AdoptingUpdatesTheSameConnectionAndNeverMovesALiveOne) {
  send(tcp(40000, net::kTcpSyn));  // rr: slot 0
  ASSERT_EQ(rs_of_mac(last.data()), 0);
  EXPECT_EQ(fwd->adopt(record(40000, 1, ConnState::kTcpEstablished)), Forwarder::Adopt::kKeptLocal);
  EXPECT_EQ(fwd->adopt(record(40000, 0, ConnState::kTcpEstablished)), Forwarder::Adopt::kApplied);
  EXPECT_EQ(rs_counters[0].active, 1);
  EXPECT_EQ(rs_counters[0].inactive, 0);
  send(tcp(40000, net::kTcpAck));
  EXPECT_EQ(rs_of_mac(last.data()), 0);
  EXPECT_EQ(table->size(), 1u);
}

TEST_F(SyncFwd, AStaleRecordIsNotAdopted) {
  SyncRecord r = record(40000, 1, ConnState::kTcpEstablished);
  r.rs_gen = 2;  // the slot holds another RS now
  EXPECT_EQ(fwd->adopt(r), Forwarder::Adopt::kStale);
  r = record(40000, 9999, ConnState::kTcpEstablished);
  EXPECT_EQ(fwd->adopt(r), Forwarder::Adopt::kStale);
  spec.services[0].rs[1].health = Health::kDown;
  publish();
  EXPECT_EQ(fwd->adopt(record(40000, 1, ConnState::kTcpEstablished)), Forwarder::Adopt::kStale);
  EXPECT_EQ(table->size(), 0u);
}

TEST_F(SyncFwd, AnAdoptedTemplateKeepsTheClientsNewConnectionsOnItsServer) {
  SyncRecord t = record(0, 5, ConnState::kTemplate, 443);
  t.key.kind = net::FlowKind::kTemplate;
  t.timeout = 300;
  ASSERT_EQ(fwd->adopt(t), Forwarder::Adopt::kApplied);
  for (uint16_t p = 41000; p < 41010; ++p) {
    send(tcp(p, net::kTcpSyn, 443));
    EXPECT_EQ(rs_of_mac(last.data()), 5) << p;
  }
  EXPECT_EQ(rs_counters[5].persist, 1);
}

TEST_F(SyncFwd, BulkReannouncementCoversLiveAnnouncedEntriesOnly) {
  send(tcp(40000, net::kTcpSyn));
  send(tcp(40000, net::kTcpAck));  // announced
  send(tcp(40001, net::kTcpSyn));  // half-open: not announced
  out();
  uint32_t n = 0;
  for (uint32_t i = 0; i < table->capacity(); ++i) n += fwd->reannounce(i);
  EXPECT_EQ(n, 1u);
  auto v = out();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].key.sport, net::hton16(40000));
}

TEST_F(SyncFwd, ConnectionsFromBeforeTheMasterStartedAreAnnouncedToo) {
  spec.sync.send = false;
  publish();
  send(tcp(40000, net::kTcpSyn));
  send(tcp(40000, net::kTcpAck));
  EXPECT_EQ(fwd->sync_pending(), 0u);
  spec.sync.send = true;
  publish();
  uint32_t n = 0;
  for (uint32_t i = 0; i < table->capacity(); ++i) n += fwd->reannounce(i);
  EXPECT_EQ(n, 1u) << "an established connection is worth a bulk re-announcement";
  out();
  at(60);
  send(tcp(40000, net::kTcpAck));
  EXPECT_EQ(out().size(), 1u) << "and its refreshes";
}

TEST_F(SyncFwd, ShortTimeoutsAreRefreshedWithinHalfOfThem) {
  spec.services[2].params.persist = 30;
  publish();
  send(tcp(40000, net::kTcpSyn, 443));
  send(tcp(40000, net::kTcpAck, 443));
  out();
  at(14);
  send(tcp(40000, net::kTcpAck, 443));
  EXPECT_TRUE(out().empty());
  at(15);
  send(tcp(40000, net::kTcpAck, 443));
  auto v = out();
  ASSERT_EQ(v.size(), 1u) << "the template (30 s) again after 15 s, the connection (900 s) not yet";
  EXPECT_TRUE(v[0].key.is_template());
}

TEST_F(SyncFwd, ReceivedEntriesNeverPushOutThisWorkersOwn) {
  FlowTable small(8);
  Forwarder f(0, small, *counters, rs_counters.get());
  f.begin(snap.get(), 0);
  for (uint16_t p = 0; p < 8; ++p) ASSERT_EQ(f.adopt(record(1000 + p, 0, ConnState::kTcpEstablished)), Forwarder::Adopt::kApplied);
  EXPECT_EQ(f.adopt(record(2000, 0, ConnState::kTcpEstablished)), Forwarder::Adopt::kTableFull);
  EXPECT_EQ(small.size(), 8u);
  EXPECT_EQ(f.adopt(record(1000, 0, ConnState::kTcpFinWait)), Forwarder::Adopt::kApplied) << "an update needs no room";
}

TEST_F(SyncFwd, AReceivedTemplateNeverShortensOne) {
  send(tcp(40000, net::kTcpSyn, 443));
  const auto v = out();
  ASSERT_EQ(v.size(), 1u);
  SyncRecord t = v[0];
  t.timeout = 5;
  EXPECT_EQ(fwd->adopt(t), Forwarder::Adopt::kApplied);
  at(6);
  for (uint16_t p = 41000; p < 41004; ++p) {
    send(tcp(p, net::kTcpSyn, 443));
    EXPECT_EQ(static_cast<uint32_t>(rs_of_mac(last.data())), t.rs_slot) << "still the client's server";
  }
  t.state = ConnState::kTcpEstablished;  // a template key with a connection's state
  EXPECT_EQ(fwd->adopt(t), Forwarder::Adopt::kStale);
}

// ---- What the control core does with received entries --------------------------------

class SyncCheck : public SyncFwd {
 protected:
  sync::Conn conn(uint16_t cport = 40000, const char* rip = "198.18.0.12") const {
    sync::Conn c;
    c.protocol = net::kProtoTcp;
    c.flags = sync::kFlagDroute;
    c.state = 1;  // ESTABLISHED
    c.cport_be = net::hton16(cport);
    c.vport_be = net::hton16(80);
    c.dport_be = net::hton16(80);
    c.timeout = 900;
    c.caddr_be = ip("198.18.2.1").be();
    c.vaddr_be = ip("198.18.1.10").be();
    c.daddr_be = ip(rip).be();
    return c;
  }
  control::SyncRefusal check(const sync::Conn& c) {
    SyncRecord r;
    return control::from_wire(c, *snap, r);
  }
};

TEST_F(SyncCheck, AnEntryBecomesARecordForThisDirectorsSlot) {
  SyncRecord r;
  ASSERT_EQ(control::from_wire(conn(), *snap, r), control::SyncRefusal::kNone);
  EXPECT_EQ(r.rs_slot, 1u);
  EXPECT_EQ(r.rs_gen, 1u);
  EXPECT_EQ(r.state, ConnState::kTcpEstablished);
  EXPECT_EQ(r.key.sport, net::hton16(40000));
  EXPECT_FALSE(r.key.is_template());
  // And back: what a worker announces is the same entry.
  const auto c = control::to_wire(r, *snap);
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, conn());
}

TEST_F(SyncCheck, TimeoutsAreNoLongerThanThisDirectorsOwn) {
  sync::Conn c = conn();
  c.timeout = 1000000;
  SyncRecord r;
  ASSERT_EQ(control::from_wire(c, *snap, r), control::SyncRefusal::kNone);
  EXPECT_EQ(r.timeout, 900u);
}

TEST_F(SyncCheck, EveryRefusalReason) {
  using R = control::SyncRefusal;
  sync::Conn c = conn();
  c.flags = 0;  // masquerading
  EXPECT_EQ(check(c), R::kForward);
  c = conn();
  c.flags = 2;  // tunnel
  EXPECT_EQ(check(c), R::kForward);
  c = conn();
  c.protocol = 132;  // SCTP
  EXPECT_EQ(check(c), R::kProtocol);
  c = conn();
  c.vport_be = net::hton16(8080);
  EXPECT_EQ(check(c), R::kService);
  c = conn();
  c.vaddr_be = ip("198.18.1.11").be();
  EXPECT_EQ(check(c), R::kService);
  EXPECT_EQ(check(conn(40000, "198.18.0.13")), R::kServer);
  c = conn();
  c.state = 0;  // NONE
  EXPECT_EQ(check(c), R::kState);
  c.state = 9;  // LISTEN
  EXPECT_EQ(check(c), R::kState);
  c.state = 11;
  EXPECT_EQ(check(c), R::kState);
  c = conn();
  c.timeout = 0;
  EXPECT_EQ(check(c), R::kTimeout);
  c = conn();
  c.flags |= sync::kFlagTemplate;  // :80 has no persistence
  EXPECT_EQ(check(c), R::kTemplate);
  c = conn();
  c.protocol = net::kProtoUdp;
  c.vport_be = c.dport_be = net::hton16(53);
  c.state = 1;  // UDP has one state, 0
  EXPECT_EQ(check(c), R::kState);
  c.state = 0;
  EXPECT_EQ(check(c), R::kNone);
  spec.services[0].rs[1].health = Health::kDown;
  publish();
  EXPECT_EQ(check(conn()), R::kUnusable);
  // A drained RS keeps its connections but takes no template.
  spec.services[2].rs[1].weight = 0;
  publish();
  c = conn(0);
  c.flags |= sync::kFlagTemplate;
  c.vport_be = c.dport_be = net::hton16(443);
  c.state = 0;
  EXPECT_EQ(check(c), R::kUnusable);
  c.state = 5;  // IPVS ignores a template's state
  c.daddr_be = ip("198.18.0.11").be();
  SyncRecord r;
  ASSERT_EQ(control::from_wire(c, *snap, r), R::kNone);
  EXPECT_TRUE(r.key.is_template());
  EXPECT_EQ(r.state, ConnState::kTemplate);
  EXPECT_EQ(r.timeout, 300u);
}

TEST_F(SyncCheck, TheReceivePathCountsEveryMessageRefusal) {
  config::Model m(1);
  m.apply(config::cmd::PortAddress{0, 0, net::Prefix{ip("198.18.0.2"), 24}});
  config::cmd::SyncStart start;
  start.role = config::SyncRole::kBackup;
  start.syncid = 7;
  m.apply(start);
  control::SyncDaemon d;
  d.configure(m, 0);  // no kernel interface here: the socket waits, the receive path works
  std::vector<SyncRecord> got;
  auto deliver = [&](const SyncRecord& r) {
    got.push_back(r);
    return true;
  };
  sync::Encoder e(7, 1472);
  e.add(conn(40000));
  e.add(conn(40001, "198.18.0.13"));  // no such RS
  const auto msg = e.message();
  const std::vector<uint8_t> good(msg.begin(), msg.end());
  const uint32_t peer = ip("198.18.0.3").be();
  d.receive(good, ip("198.18.0.2").be(), 1, *snap, 0, deliver);  // from this director
  EXPECT_EQ(d.counters().refused_peer, 1u);
  sync::Encoder other(8, 1472);
  other.add(conn());
  const auto o = other.message();
  d.receive(std::vector<uint8_t>(o.begin(), o.end()), peer, 1, *snap, 0, deliver);
  EXPECT_EQ(d.counters().refused_syncid, 1u);
  d.receive(std::vector<uint8_t>(good.begin(), good.end() - 1), peer, 1, *snap, 0, deliver);
  EXPECT_EQ(d.counters().refused_malformed, 1u);
  EXPECT_TRUE(got.empty());
  d.receive(good, peer, 1, *snap, 0, deliver);
  EXPECT_EQ(d.counters().messages_received, 1u);
  EXPECT_EQ(d.counters().records_received, 2u);
  EXPECT_EQ(d.counters().records_delivered, 1u);
  EXPECT_EQ(d.counters().refused_server, 1u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].rs_slot, 1u);
  EXPECT_EQ(d.counters().peers_new, 1u);
  EXPECT_FALSE(d.take_bulk_request()) << "no master here: nothing to announce";
  d.receive(good, peer, 1, *snap, 0.5, [](const SyncRecord&) { return false; });
  EXPECT_EQ(d.counters().delivery_full, 1u);
  EXPECT_EQ(d.counters().peers_new, 1u) << "the same instance";
  d.receive(good, peer, 2, *snap, 1, deliver);  // the same address, another source port: restarted
  EXPECT_EQ(d.counters().peers_new, 2u);
}

TEST_F(SyncCheck, UnicastPeersOnly) {
  config::Model m(1);
  m.apply(config::cmd::PortAddress{0, 0, net::Prefix{ip("198.18.0.2"), 24}});
  config::cmd::SyncStart start;
  start.role = config::SyncRole::kBackup;
  start.peers = {ip("198.18.0.3")};
  m.apply(start);
  start.role = config::SyncRole::kMaster;
  m.apply(start);
  control::SyncDaemon d;
  d.configure(m, 0);
  sync::Encoder e(0, 1472);
  e.add(conn());
  const auto msg = e.message();
  const std::vector<uint8_t> good(msg.begin(), msg.end());
  int n = 0;
  auto deliver = [&](const SyncRecord&) { return ++n, true; };
  d.receive(good, ip("198.18.0.4").be(), 1, *snap, 0, deliver);
  EXPECT_EQ(d.counters().refused_peer, 1u);
  d.receive(good, ip("198.18.0.3").be(), 1, *snap, 0, deliver);
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(d.take_bulk_request()) << "a new instance, and a master runs here";
  EXPECT_FALSE(d.take_bulk_request());
}

// ---- Commands --------------------------------------------------------------------------

config::Model apply_lines(std::initializer_list<const char*> lines, uint16_t ports = 2) {
  config::Model m(ports);
  for (const char* l : lines) m.apply(*config::parse_line(l));
  return m;
}

TEST(SyncConfig, NativeAndIpvsadmFormsSayTheSame) {
  const config::Model a = apply_lines({"port 0 address 198.18.0.2/24", "port 1 address 198.18.5.2/24",
                                       "sync start master interface drfwd1 syncid 7 maxlen 1000 group 239.1.2.3 port 9000 ttl 2",
                                       "sync start backup syncid 7"});
  const config::Model b = apply_lines({"port 0 address 198.18.0.2/24", "port 1 address 198.18.5.2/24",
                                       "ipvsadm --start-daemon master --mcast-interface drfwd1 --syncid 7 --sync-maxlen 1000 "
                                       "--mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 2",
                                       "ipvsadm --start-daemon=backup --syncid=7"});
  EXPECT_EQ(a.sync(), b.sync());
  ASSERT_TRUE(a.sync().master && a.sync().backup);
  EXPECT_EQ(a.sync().master->port, 1);
  EXPECT_EQ(a.sync().master->syncid, 7);
  EXPECT_EQ(a.sync().master->maxlen, 1000u);
  EXPECT_EQ(a.sync().master->group, ip("239.1.2.3"));
  EXPECT_EQ(a.sync().master->udp_port, 9000);
  EXPECT_EQ(a.sync().master->ttl, 2);
  EXPECT_EQ(a.sync().backup->port, 0) << "the first port with an address";
  EXPECT_EQ(a.sync().backup->udp_port, 8848);
  EXPECT_EQ(a.sync().backup->group, ip("224.0.0.81"));
}

TEST(SyncConfig, ShowConfigRebuildsIt) {
  const config::Model a = apply_lines({"port 0 address 198.18.0.2/24", "set sync-rate 5000", "set sync-refresh 30",
                                       "sync start master peers 198.18.0.3,198.18.0.4 syncid 3",
                                       "sync start backup peers 198.18.0.3,198.18.0.4 syncid 3"});
  const std::string text = config::model_to_commands(a);
  EXPECT_NE(text.find("sync start master interface drfwd0 syncid 3 peers 198.18.0.3,198.18.0.4\n"), std::string::npos)
      << text;
  config::Model b(2);
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    if (auto c = config::parse_line(text.substr(start, nl - start))) b.apply(*c);
    start = nl + 1;
  }
  EXPECT_EQ(b.sync(), a.sync());
  EXPECT_EQ(b.sync().rate, 5000u);
  EXPECT_EQ(b.sync().refresh, 30u);
}

TEST(SyncConfig, StopAndTheSnapshotFollow) {
  config::Model m = apply_lines({"port 0 address 198.18.0.2/24", "sync start master", "sync start backup port 9000"});
  config::Runtime rt;
  SnapshotSpec s = config::make_spec(m, rt);
  EXPECT_TRUE(s.sync.send);
  EXPECT_EQ(s.sync.port, 9000);
  m.apply(*config::parse_line("sync stop master"));
  s = config::make_spec(m, rt);
  EXPECT_FALSE(s.sync.send);
  EXPECT_EQ(s.sync.port, 9000);
  m.apply(*config::parse_line("ipvsadm --stop-daemon backup"));
  s = config::make_spec(m, rt);
  EXPECT_EQ(s.sync.port, 0);
  EXPECT_THROW(m.apply(*config::parse_line("sync stop")), config::ConfigError);
}

TEST(SyncConfig, RefusalsNameTheProblem) {
  auto refused = [](std::initializer_list<const char*> lines, const char* what) {
    try {
      apply_lines(lines);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused({"sync start primary"}, "unknown sync role 'primary'");
  refused({"port 0 address 198.18.0.2/24", "sync start master syncid 256"}, "syncid");
  refused({"port 0 address 198.18.0.2/24", "sync start master group 198.18.0.9"}, "multicast");
  refused({"port 0 address 198.18.0.2/24", "sync start master maxlen 20"}, "maxlen");
  refused({"port 0 address 198.18.0.2/24", "sync start master interface eth0"}, "not one of drfwd's kernel interfaces");
  refused({"port 0 address 198.18.0.2/24", "sync start master interface drfwd7"}, "not one of drfwd's kernel interfaces");
  refused({"port 0 address 198.18.0.2/24", "sync start master interface drfwd1"}, "port 1 (drfwd1) has no address");
  refused({"sync start master"}, "no port has an address");
  refused({"port 0 address 198.18.0.2/24", "sync start backup peers 198.18.0.2"}, "this director's own address");
  refused({"port 0 address 198.18.0.2/24", "sync start backup peers 198.18.0.3,198.18.0.3"}, "given twice");
  refused({"port 0 address 198.18.0.2/24", "sync start master", "port 0 address none"}, "sync stop first");
  refused({"sync stop backup"}, "no sync backup daemon runs");
  refused({"set sync-rate 0"}, "sync rate");
  refused({"ipvsadm --start-daemon master -t 198.18.1.10:80"}, "takes no service");
  refused({"ipvsadm -A -t 198.18.1.10:80 --syncid 3"}, "apply to --start-daemon");
  refused({"ipvsadm --start-daemon sideways"}, "unknown sync role");
  config::Model offline(1);
  offline.set_kernel_interfaces(false);
  offline.apply(*config::parse_line("port 0 address 198.18.0.2/24"));
  try {
    offline.apply(*config::parse_line("sync start master"));
    ADD_FAILURE() << "sync accepted without kernel interfaces";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--no-kernel-interfaces"), std::string::npos) << e.what();
  }
}

TEST(SyncConfig, ListDaemonIsAQuery) {
  const auto r = config::parse_request("ipvsadm -L --daemon");
  ASSERT_TRUE(r);
  const auto* q = std::get_if<config::Query>(&*r);
  ASSERT_TRUE(q);
  const auto* l = std::get_if<config::query::IpvsList>(q);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->daemon);
  EXPECT_THROW(config::parse_request("ipvsadm -L --daemon --stats"), config::ConfigError);
}

}  // namespace

namespace {

// Microsoft's RSS verification suite (IPv4): the key, and for each flow the hash over
// the addresses, and over the addresses and ports.
TEST(SyncRss, ToeplitzMatchesTheRssSpecification) {
  const std::vector<uint8_t> key = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                                    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                                    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  struct Case {
    const char *src, *dst;
    uint16_t sport, dport;
    uint32_t l3, l4;
  };
  const Case cases[] = {
      {"66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e8fc2, 0x51ccc178},
      {"199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718262a, 0xc626b0ea},
      {"24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0a5de, 0x5c2b394a},
      {"38.27.205.30", "209.142.163.6", 48228, 2217, 0x82989176, 0xafc7327f},
      {"153.39.163.191", "202.188.127.2", 44251, 1303, 0x5d1809c5, 0x10e828a2},
  };
  for (const Case& c : cases) {
    net::FlowKey k{};
    k.src = ip(c.src).be();
    k.dst = ip(c.dst).be();
    k.sport = net::hton16(c.sport);
    k.dport = net::hton16(c.dport);
    k.proto = net::kProtoTcp;
    uint8_t in[12];
    std::memcpy(in, &k.src, 4);
    std::memcpy(in + 4, &k.dst, 4);
    std::memcpy(in + 8, &k.sport, 2);
    std::memcpy(in + 10, &k.dport, 2);
    EXPECT_EQ(control::toeplitz(key, std::span<const uint8_t>(in, 8)), c.l3) << c.src;
    EXPECT_EQ(control::toeplitz(key, std::span<const uint8_t>(in, 12)), c.l4) << c.src;
    // The queue: the redirection table entry the hash's low bits pick.
    control::RssView v{key, {0, 1, 2, 3, 4, 5, 6, 7}, true, false};
    EXPECT_EQ(control::rss_queue(v, k), static_cast<int>(c.l4 % 8));
    k.proto = net::kProtoUdp;  // UDP hashed on addresses only on this port
    EXPECT_EQ(control::rss_queue(v, k), static_cast<int>(c.l3 % 8));
  }
  EXPECT_EQ(control::rss_queue(control::RssView{}, net::FlowKey{}), -1) << "not known";
}

TEST(SyncRss, ReceivedRecordsGoToTheWorkerTheFlowReaches) {
  const std::vector<uint8_t> key(40, 0x6d);
  const control::RssView four{key, {0, 1, 2, 3}, true, true};
  net::FlowKey k{};
  k.src = ip("198.18.2.1").be();
  k.dst = ip("198.18.1.10").be();
  k.sport = net::hton16(40000);
  k.dport = net::hton16(80);
  k.proto = net::kProtoTcp;
  const int q = control::rss_queue(four, k);
  ASSERT_GE(q, 0);
  EXPECT_EQ(control::sync_owners({four, four}, k, 4), uint64_t{1} << q) << "both ports: the same worker";
  EXPECT_EQ(control::sync_owners({four, control::RssView{}}, k, 4), ~uint64_t{0}) << "a port without RSS: every worker";
  EXPECT_EQ(control::sync_owners({four}, k, 1), ~uint64_t{0});
  EXPECT_EQ(control::sync_owners({}, k, 4), ~uint64_t{0});
  const control::RssView eight{key, {0, 1, 2, 3, 4, 5, 6, 7}, true, true};
  if (control::rss_queue(eight, k) >= 4) {
    EXPECT_EQ(control::sync_owners({eight}, k, 4), ~uint64_t{0}) << "a queue no worker polls";
  }
  k.kind = net::FlowKind::kTemplate;
  EXPECT_EQ(control::sync_owners({four}, k, 4), ~uint64_t{0}) << "templates: every worker";
}

}  // namespace

namespace {

TEST(SyncViews, ShowSyncAndIpvsadmListDaemon) {
  config::Model m(1);
  m.apply(*config::parse_line("port 0 address 198.18.0.2/24"));
  m.apply(*config::parse_line("sync start master syncid 1"));
  control::SyncDaemon d;
  d.configure(m, 0);  // drfwd0 does not exist here: the master waits
  const std::string text = console::format_sync(d, m.sync(), lb::WorkerScalars{});
  EXPECT_NE(text.find("master  drfwd0     syncid 1    group 224.0.0.81 port 8848  maxlen 1472  ttl 1  waiting: no kernel "
                      "interface drfwd0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("backup  not running"), std::string::npos) << text;
  EXPECT_NE(text.find("rate cap 100000 records/s, refresh every 60 s"), std::string::npos) << text;
  for (const auto& f : control::kSyncFields) EXPECT_NE(text.find(std::string(f.name)), std::string::npos) << f.name;
  for (const auto& f : lb::kWorkerFields)
    if (std::string_view(f.name).starts_with("sync_")) {
      EXPECT_NE(text.find(std::string(f.name)), std::string::npos) << f.name;
    }
  m.apply(*config::parse_line("ipvsadm --start-daemon backup --syncid 1 --mcast-interface drfwd0"));
  d.configure(m, 0);
  EXPECT_EQ(console::ipvsadm_daemons(d),
            "master sync daemon (mcast=drfwd0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
            "backup sync daemon (mcast=drfwd0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848)\n");
}

}  // namespace
