// A reload (SIGHUP): config::reconcile turns the running configuration into the files'
// with the fewest changes, keeping every unchanged service and real server (its slot:
// connections, counters, health); config::check_files lists every error.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "config/loader.hpp"
#include "config/model.hpp"
#include "config/reconcile.hpp"
#include "config/request.hpp"
#include "config/show_config.hpp"

using namespace drfwd;
using namespace drfwd::config;

namespace {

Model load(const std::string& text, uint16_t ports = 2) {
  Model m(ports);
  load_text("test.conf", text, m);
  return m;
}

// The configuration's lines, sorted: the order services and real servers were added in
// is not part of what a reload must reproduce (new ones come last).
std::vector<std::string> lines_of(const Model& m) {
  std::vector<std::string> out;
  std::istringstream in(model_to_commands(m));
  std::string l;
  while (std::getline(in, l))
    if (!l.empty() && l[0] != '#') out.push_back(l);
  std::sort(out.begin(), out.end());
  return out;
}

// Applies the reload's commands one by one, as Director::apply's copy does.
Model reloaded(const Model& running, const Model& wanted, size_t* count = nullptr) {
  Model m = running;
  const std::vector<Command> batch = reconcile(running, wanted);
  if (count) *count = batch.size();
  for (const Command& c : batch) m.apply(c);
  return m;
}

// What a reload from `a` to `b` does: the result equals b, and everything present in both
// kept its slot (same slot and generation: the workers see the same server).
void expect_reload(const std::string& a, const std::string& b, size_t expected_commands = SIZE_MAX) {
  const Model running = load(a), wanted = load(b);
  size_t n = 0;
  Model m;
  ASSERT_NO_THROW(m = reloaded(running, wanted, &n)) << "from:\n" << a << "to:\n" << b;
  EXPECT_EQ(lines_of(m), lines_of(wanted)) << "from:\n" << a << "to:\n" << b;
  if (expected_commands != SIZE_MAX) {
    EXPECT_EQ(n, expected_commands) << "from:\n" << a << "to:\n" << b;
  }
  for (const Service& s : running.services()) {
    const Service* after = m.find(s.key);
    if (!after) continue;
    EXPECT_EQ(after->slot, s.slot);
    EXPECT_EQ(after->gen, s.gen);
    for (const RealServer& r : s.rs) {
      const RealServer* ar = after->find(r.ip);
      if (!ar || ar->sorry != r.sorry) continue;
      EXPECT_EQ(ar->slot, r.slot) << net::to_string(r.ip);
      EXPECT_EQ(ar->gen, r.gen) << net::to_string(r.ip);
    }
  }
  // Applying it again changes nothing.
  EXPECT_TRUE(reconcile(m, wanted).empty());
}

const std::string kBase =
    "port 0 address 198.18.0.2/24\n"
    "vip add 198.18.1.10 tcp 80 sched wrr\n"
    "rs add 198.18.1.10 tcp 80 198.18.0.11 weight 1\n"
    "rs add 198.18.1.10 tcp 80 198.18.0.12 weight 2\n"
    "vip add 198.18.1.11 udp 53 sched sh\n"
    "rs add 198.18.1.11 udp 53 198.18.0.13\n";

}  // namespace

TEST(Reload, SameFilesChangeNothing) {
  const Model m = load(kBase);
  EXPECT_TRUE(reconcile(m, load(kBase)).empty());
  // Written differently, meaning the same: still nothing.
  EXPECT_TRUE(reconcile(m, load("# the same, in ipvsadm's words and another order\n"
                                "port 0 address 198.18.0.2/24\n"
                                "ipvsadm -A -u 198.18.1.11:53 -s sh\n"
                                "ipvsadm -a -u 198.18.1.11:53 -r 198.18.0.13 -g -w 1\n"
                                "ipvsadm -A -t 198.18.1.10:80 -s wrr\n"
                                "ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -g -w 2\n"
                                "ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11 -g -w 1\n"))
                  .empty());
}

TEST(Reload, OneChangeIsOneCommand) {
  const std::string weight = std::string(kBase).replace(kBase.find("weight 2"), 8, "weight 5");
  expect_reload(kBase, weight, 1);
  const Command c = reconcile(load(kBase), load(weight))[0];
  ASSERT_TRUE(std::holds_alternative<cmd::RsEdit>(c));
  EXPECT_EQ(*std::get<cmd::RsEdit>(c).weight, 5u);

  const std::string sched = std::string(kBase).replace(kBase.find("sched wrr"), 9, "sched mh ");
  expect_reload(kBase, sched, 1);
  EXPECT_TRUE(std::holds_alternative<cmd::VipEdit>(reconcile(load(kBase), load(sched))[0]));

  expect_reload(kBase, kBase + "rs add 198.18.1.10 tcp 80 198.18.0.14\n", 1);
  expect_reload(kBase + "rs add 198.18.1.10 tcp 80 198.18.0.14\n", kBase, 1);  // rs del
  expect_reload(kBase, kBase + "set timeout tcp 600\n", 1);
  expect_reload(kBase, kBase + "neigh add 198.18.0.11 02:00:00:00:00:11\n", 1);
}

TEST(Reload, OptionsReturnToTheirDefaults) {
  // What the new file no longer says returns to its default: persistence, netmask,
  // quorum, thresholds, on-failure, checks at every level, settings.
  const std::string rich =
      "port 0 address 198.18.0.2/24\n"
      "set timeout tcp 600 tcpfin 30 udp 60\n"
      "set check http path /health interval 2s\n"
      "set vip-arp kernel\nset vip-routes table 100\nset vip-holddown 3\n"
      "vip add 198.18.1.10 tcp 80 sched wlc persist 300 netmask 255.255.255.0 quorum 2 hysteresis 1 "
      "on-failure inhibit check tcp port 8080\n"
      "rs add 198.18.1.10 tcp 80 198.18.0.11 weight 3 uthreshold 100 lthreshold 50 on-failure reschedule "
      "check http path /x expect 204\n"
      "rs add 198.18.1.10 tcp 80 198.18.0.12\n"
      "rs add 198.18.1.10 tcp 80 198.18.0.19 sorry\n";
  const std::string plain =
      "port 0 address 198.18.0.2/24\n"
      "vip add 198.18.1.10 tcp 80\n"
      "rs add 198.18.1.10 tcp 80 198.18.0.11\n"
      "rs add 198.18.1.10 tcp 80 198.18.0.12\n";
  expect_reload(rich, plain);
  expect_reload(plain, rich);
  // The sorry role cannot be changed in place: deleted and added again.
  const std::string unsorry = plain + "rs add 198.18.1.10 tcp 80 198.18.0.19\n";
  expect_reload(rich, unsorry);
  expect_reload(unsorry, rich);
}

TEST(Reload, InterfacesNeighboursAndSync) {
  const std::string a =
      "port 0 address 198.18.0.2/24\n"
      "port 0 address 2001:db8::2/64\n"
      "port 0 vlan 20 address 198.18.20.2/24\n"
      "port 1 address 198.18.2.2/24\n"
      "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20\n"
      "neigh add 198.18.0.12 02:00:00:00:00:12\n"
      "sync start master interface drfwd0 syncid 5\n"
      "set sync-rate 5000\n"
      "vip add 198.18.1.10 tcp 80\n"
      "rs add 198.18.1.10 tcp 80 198.18.20.11\n"
      "vip add 2001:db8:1::10 tcp 80\n"
      "rs add 2001:db8:1::10 tcp 80 2001:db8::11\n";
  const std::string b =
      "port 0 address 198.18.0.3/24\n"       // the DIP changes
      "port 0 vlan 30 address 198.18.30.2/24\n"  // VLAN 20 goes (its neighbour first), VLAN 30 comes
      "port 1 address 2001:db8:2::2/64\n"       // port 1: IPv6 only now
      "neigh add 198.18.30.11 02:00:00:00:00:11 port 0 vlan 30\n"
      "neigh add 198.18.0.12 02:00:00:00:00:22\n"
      "sync start master interface drfwd0 syncid 6\n"
      "sync start backup interface drfwd0\n"
      "vip add 198.18.1.10 tcp 80\n"
      "rs add 198.18.1.10 tcp 80 198.18.30.11\n";
  expect_reload(a, b);
  expect_reload(b, a);
  expect_reload(a, "");
  expect_reload("", a);
}

// Addresses that move between interfaces (set in place, the new holder would be refused
// as the old one's), VLAN interfaces retagged under their static neighbours, a sync
// daemon whose port's address moves: each in one batch, both ways.
TEST(Reload, AddressesMoveBetweenInterfaces) {
  const std::string a =
      "port 0 address 198.18.0.2/24\n"
      "port 0 vlan 20 address 198.18.20.2/24\n"
      "port 1 address 198.18.2.2/24\n"
      "port 0 address 2001:db8::2/64\n"
      "port 1 address 2001:db8:1::2/64\n"
      "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20\n"
      "sync start master interface drfwd0 peers 198.18.0.3\n";
  const std::string b =
      "port 0 address 198.18.20.2/24\n"        // vlan 20's address moves to port 0
      "port 0 vlan 20 address 198.18.30.2/24\n"
      "port 1 address 198.18.0.2/24\n"         // port 0's to port 1
      "port 0 address 2001:db8:1::2/64\n"      // the IPv6 ones swap
      "port 1 address 2001:db8::2/64\n"
      "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20\n"
      "sync start master interface drfwd0 peers 198.18.0.3\n";
  expect_reload(a, b);
  expect_reload(b, a);
  // The two ports' IPv4 addresses swap.
  const std::string c = "port 0 address 198.18.0.2/24\nport 1 address 198.18.2.2/24\n";
  const std::string d = "port 0 address 198.18.2.2/24\nport 1 address 198.18.0.2/24\n";
  expect_reload(c, d);
  // A VLAN retag under its static neighbour, and the neighbour unbound.
  const std::string e = "port 0 address 198.18.0.2/24\nport 0 vlan 20 address 198.18.20.2/24\n"
                        "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 20\n";
  const std::string f = "port 0 address 198.18.0.2/24\nport 0 vlan 120 address 198.18.20.2/24\n"
                        "neigh add 198.18.20.11 02:00:00:00:00:11 port 0 vlan 120\n";
  expect_reload(e, f);
  expect_reload(f, e);
  expect_reload(e, "port 0 address 198.18.0.2/24\nneigh add 198.18.20.11 02:00:00:00:00:11\n");
}

// The same lines in any order mean the same thing: an address that is a real server's,
// a neighbour's or a sync peer's is refused whichever comes first, so that a reload
// (which sets addresses before services) accepts every file a start accepts.
TEST(Reload, NoOrderOfTheSameLinesIsAcceptedWhereAnotherIsRefused) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"vip add 198.18.1.10 tcp 80\nrs add 198.18.1.10 tcp 80 198.18.0.5", "port 0 address 198.18.0.5/24"},
      {"neigh add 198.18.0.5 02:00:00:00:00:05", "port 0 address 198.18.0.5/24"},
      {"port 0 address 198.18.0.2/24\nsync start master peers 198.18.0.5", "port 1 address 198.18.0.5/24"},
      {"neigh add 198.18.1.10 02:00:00:00:00:05", "vip add 198.18.1.10 tcp 80"},
      {"port 0 address 198.18.0.2/24\nsync start master peers 198.18.1.10", "vip add 198.18.1.10 tcp 80"},
      {"vip add 198.18.1.10 tcp 80\nrs add 198.18.1.10 tcp 80 198.18.0.5", "vip add 198.18.0.5 tcp 81"},
  };
  for (auto& [first, second] : pairs) {
    EXPECT_THROW(load(first + "\n" + second + "\n"), ConfigError) << first << " / " << second;
    EXPECT_THROW(load(second + "\n" + first + "\n"), ConfigError) << second << " / " << first;
  }
}

// Random configurations, both ways: whatever the files say, the reload reaches it,
// keeps what both have and is a fixed point.
TEST(Reload, RandomConfigurations) {
  std::mt19937 rng(14);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* scheds[] = {"rr", "wrr", "sh", "hash", "mh", "lc", "wlc", "sed", "nq"};
  const char* checks[] = {"", " check none", " check tcp port 81", " check http path /h expect 204",
                          " check exec command /bin/true", " check default interval 2s"};
  auto random_config = [&] {
    // Interface addresses from a small pool (so that they move between interfaces).
    const char* pool4[] = {"198.18.0.2/24", "198.18.20.2/24", "198.18.2.2/24", "198.18.3.2/24"};
    const char* pool6[] = {"2001:db8::2/64", "2001:db8:1::2/64"};
    int order4[] = {0, 1, 2, 3}, order6[] = {0, 1};
    std::shuffle(std::begin(order4), std::end(order4), rng);
    std::shuffle(std::begin(order6), std::end(order6), rng);
    std::string t = "port 0 address " + std::string(pool4[order4[0]]) + "\n";
    const int vlan = 20 + pick(2);
    const bool has_vlan = pick(2);
    if (has_vlan) t += "port 0 vlan " + std::to_string(vlan) + " address " + pool4[order4[1]] + "\n";
    if (pick(2)) t += "port 0 address " + std::string(pool6[order6[0]]) + "\n";
    if (pick(2)) t += "port 1 address " + std::string(pool4[order4[2]]) + "\n";
    if (pick(3) == 0) t += "port 1 address " + std::string(pool6[order6[1]]) + "\n";
    if (has_vlan && pick(2)) t += "neigh add 198.18.20.14 02:00:00:00:00:14 port 0 vlan " + std::to_string(vlan) + "\n";
    if (pick(3) == 0) t += "set timeout tcp " + std::to_string(100 + pick(3)) + "\n";
    if (pick(3) == 0) t += "set check" + std::string(checks[1 + pick(5)]).substr(6) + "\n";
    if (pick(4) == 0) t += "set vip-routes table " + std::to_string(100 + pick(2)) + "\n";
    if (pick(4) == 0) t += "sync start " + std::string(pick(2) ? "master" : "backup") + " syncid " +
                           std::to_string(pick(3)) + "\n";
    for (int n = 0; n < 3; ++n)
      if (pick(2)) t += "neigh add 198.18.0." + std::to_string(11 + n) + " 02:00:00:00:00:0" + std::to_string(pick(3)) + "\n";
    for (int s = 0; s < 4; ++s) {
      if (!pick(3)) continue;
      const std::string key = "198.18.1." + std::to_string(10 + s) + (s == 3 ? " udp 53" : " tcp 80");
      t += "vip add " + key + " sched " + scheds[pick(9)];
      if (pick(3) == 0) t += " persist 300";
      if (pick(4) == 0) t += " quorum " + std::to_string(1 + pick(3));
      if (pick(4) == 0) t += " on-failure inhibit";
      t += std::string(checks[pick(6)]) + "\n";
      for (int r = 0; r < 4; ++r) {
        if (!pick(3)) continue;
        t += "rs add " + key + " 198.18.0." + std::to_string(11 + r) + (r == 3 && pick(2) ? " sorry" : "") +
             " weight " + std::to_string(pick(4));
        if (pick(4) == 0) t += " uthreshold " + std::to_string(10 + pick(3)) + " lthreshold " + std::to_string(pick(5));
        if (pick(4) == 0) t += std::string(" on-failure ") + (pick(2) ? "inhibit" : "reschedule");
        t += std::string(checks[pick(6)]) + "\n";
      }
    }
    return t;
  };
  auto valid = [&](const std::string& t) {
    try {
      load(t);
      return true;
    } catch (const ConfigError&) {
      return false;
    }
  };
  int tried = 0;
  while (tried < 300) {
    const std::string a = random_config(), b = random_config();
    if (!valid(a) || !valid(b)) continue;
    ++tried;
    expect_reload(a, b);
    if (HasFailure()) return;
  }
}

TEST(Reload, CheckFilesListsEveryError) {
  const std::string dir = ::testing::TempDir();
  const std::string conf = dir + "/drfwd-check.conf", save = dir + "/drfwd-check.rules";
  std::ofstream(conf) << "port 0 address 198.18.0.2/24\n"
                         "vip add 198.18.1.10 tcp 80 sched bogus\n"
                         "vip add 198.18.1.11 tcp 80\n"
                         "rs add 198.18.1.11 tcp 80 198.18.0.11 weight 70000\n"
                         "neigh add 198.18.0.11 02:00:00:00:00:11\n";
  std::ofstream(save) << "-A -t 198.18.1.11:80 -s rr\n";  // exists already (from the file above)
  Model m(2);
  std::vector<std::string> notes;
  const std::vector<std::string> errors = check_files({conf, save, ""}, m, notes);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].rfind(conf + ":2: unknown scheduler", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind(conf + ":4: ", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind(save + ":1: ", 0), 0u) << errors[2];
  EXPECT_TRUE(m.services().empty()) << "a check in error changes nothing";

  // A file that cannot be read is an error too; load_files throws the first one.
  const std::vector<std::string> missing = check_files({dir + "/no-such.conf", "", ""}, m, notes);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("no-such.conf: cannot open"), std::string::npos);
  EXPECT_THROW(load_files({conf, "", ""}, m, notes), ConfigError);

  std::ofstream(conf) << "port 0 address 198.18.0.2/24\nvip add 198.18.1.10 tcp 80\n";
  std::ofstream(save) << "-a -t 198.18.1.10:80 -r 198.18.0.11:80 -g -w 3\n";
  notes.clear();
  EXPECT_TRUE(check_files({conf, save, ""}, m, notes).empty());
  ASSERT_EQ(m.services().size(), 1u);
  EXPECT_EQ(m.services()[0].rs.size(), 1u);
  EXPECT_EQ(notes.size(), 2u);  // a line per file read
}
