// Exec health checks (control/exec_prober.hpp) with real processes: exit status, the
// command's surroundings, timeouts killing the whole process group, the limit, and no
// process or zombie left behind (checked in /proc). Each test takes milliseconds but
// the timeout one (200 ms).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "control/exec_prober.hpp"
#include "control/health.hpp"

using namespace drfwd;
using namespace drfwd::control;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

HealthTarget exec_target(std::string command, uint32_t timeout_ms = 2000) {
  HealthTarget t;
  t.slot = 1;
  t.spec.kind = config::CheckKind::kExec;
  t.spec.command = std::move(command);
  t.spec.interval_ms = 2000;
  t.spec.timeout_ms = timeout_ms;
  t.name = "exec";
  return t;
}

// Polls until probe `id` reports, for at most `limit` seconds.
std::optional<ProbeResult> wait_for(ExecProber& p, uint64_t id, double limit = 3) {
  const double end = now_s() + limit;
  while (now_s() < end) {
    for (auto& [i, r] : p.poll(now_s()))
      if (i == id) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::nullopt;
}

ProbeResult run(ExecProber& p, const std::string& command, uint32_t timeout_ms = 2000) {
  const uint64_t id = p.start(exec_target(command, timeout_ms), now_s());
  auto r = wait_for(p, id);
  EXPECT_TRUE(r) << command << ": no result";
  return r.value_or(ProbeResult{});
}

struct Proc {
  pid_t pid;
  char state;
  pid_t ppid, pgrp;
};

std::vector<Proc> processes() {
  std::vector<Proc> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;  // gone meanwhile
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 1));
    Proc p{pid, 0, 0, 0};
    rest >> p.state >> p.ppid >> p.pgrp;
    out.push_back(p);
  }
  ::closedir(d);
  return out;
}

// Nothing of process group `pgrp` (if given) is alive (a zombie left to an init that
// does not reap is no longer running), and no child of this process is left unreaped:
// waits up to 2 s for SIGKILL to take effect.
void expect_group_gone(pid_t pgrp = -1) {
  std::vector<Proc> alive, zombies;
  for (int i = 0; i < 200; ++i) {
    alive.clear();
    zombies.clear();
    for (const Proc& p : processes()) {
      if (p.pgrp == pgrp && p.state != 'Z') alive.push_back(p);
      if (p.ppid == ::getpid() && p.state == 'Z') zombies.push_back(p);
    }
    if (alive.empty() && zombies.empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const Proc& p : alive) ADD_FAILURE() << "process " << p.pid << " of group " << pgrp << " still runs";
  for (const Proc& p : zombies) ADD_FAILURE() << "zombie child " << p.pid << " left unreaped";
}

// A scratch directory for the commands' pid files.
class ExecProberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drfwd-exec-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    std::remove((dir + "/pid").c_str());
    ::rmdir(dir.c_str());
  }
  // The pid the command wrote with `echo $$ > <dir>/pid`, once written (0 if never).
  pid_t pid_written(double limit = 2) {
    const double end = now_s() + limit;
    while (now_s() < end) {
      std::ifstream f(dir + "/pid");
      pid_t pid = 0;
      if (f >> pid && pid > 0) return pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return 0;
  }
  std::string dir;
};

}  // namespace

TEST_F(ExecProberTest, TheExitStatusDecides) {
  ExecProber p;
  auto ok = run(p, "true");
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.detail, "exit 0");
  auto bad = run(p, "false");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.detail, "exit 1");
  EXPECT_EQ(run(p, "exit 3").detail, "exit 3");
  EXPECT_EQ(run(p, "no-such-command-drfwd").detail, "exit 127");
  auto killed = run(p, "kill -9 $$");
  EXPECT_FALSE(killed.ok);
  EXPECT_EQ(killed.detail, "killed by signal 9");
  EXPECT_EQ(p.processes(), 0u);
  expect_group_gone();
}

// As keepalived runs misc_path: drfwd's environment, from "/", nothing on stdin, stdout
// or stderr, none of drfwd's descriptors, in a process group of its own.
TEST_F(ExecProberTest, TheCommandsSurroundings) {
  ::setenv("DRFWD_EXEC_TEST", "inherited", 1);
  const int leak = ::open("/dev/null", O_RDONLY);  // not close-on-exec
  ASSERT_GE(leak, 3);
  const std::string fd = std::to_string(leak);
  ExecProber p;
  auto r = run(p, "test \"$DRFWD_EXEC_TEST\" = inherited && test \"$(pwd)\" = / && ! read line && "
                   "test \"$(readlink /proc/$$/fd/1)\" = /dev/null && test \"$(readlink /proc/$$/fd/2)\" = /dev/null && "
                   "test ! -e /proc/$$/fd/" + fd + " && set -- $(cat /proc/$$/stat) && test \"$5\" = $$");
  EXPECT_TRUE(r.ok) << r.detail;
  ::close(leak);
  ::unsetenv("DRFWD_EXEC_TEST");
}

// A command past its timeout is killed with everything it started in its group (a
// background child included), promptly, and all of it reaped.
TEST_F(ExecProberTest, ATimeoutKillsTheWholeGroup) {
  ExecProber p;
  const double t0 = now_s();
  auto r = run(p, "echo $$ > " + dir + "/pid; sleep 30 & sleep 30", 200);
  const double took = now_s() - t0;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "timeout");
  EXPECT_GE(took, 0.19);
  EXPECT_LT(took, 1.0);
  const pid_t pid = pid_written();
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 200 && p.processes(); ++i) {
    p.poll(now_s());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(p.processes(), 0u) << "the killed shell reaped";
  expect_group_gone(pid);
}

// What a command leaves running in its group when it exits goes with it.
TEST_F(ExecProberTest, LeftoversOfAFinishedCommandAreKilled) {
  ExecProber p;
  auto r = run(p, "echo $$ > " + dir + "/pid; sleep 30 & exit 0");
  EXPECT_TRUE(r.ok) << r.detail;
  const pid_t pid = pid_written();
  ASSERT_GT(pid, 0);
  expect_group_gone(pid);
}

// A cancelled probe (its server's check changed or the server left) and those running
// when the prober goes (drfwd's exit) are killed and reaped.
TEST_F(ExecProberTest, CancelAndDestructionReap) {
  auto p = std::make_unique<ExecProber>();
  const uint64_t id = p->start(exec_target("echo $$ > " + dir + "/pid; exec sleep 30"), now_s());
  pid_t pid = pid_written();
  ASSERT_GT(pid, 0);
  p->cancel(id);
  for (int i = 0; i < 200 && p->processes(); ++i) {
    EXPECT_TRUE(p->poll(now_s()).empty()) << "a cancelled probe reports nothing";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(p->processes(), 0u);
  expect_group_gone(pid);

  std::remove((dir + "/pid").c_str());
  p->start(exec_target("echo $$ > " + dir + "/pid; sleep 30 & sleep 30"), now_s());
  pid = pid_written();
  ASSERT_GT(pid, 0);
  p.reset();
  EXPECT_EQ(::kill(pid, 0), -1) << "reaped by the destructor";
  expect_group_gone(pid);
}

// At most max_running processes: a probe beyond them is skipped, neither passing nor
// failing.
TEST_F(ExecProberTest, TheLimitSkips) {
  ExecProber p(2);
  p.start(exec_target("sleep 30"), now_s());
  p.start(exec_target("sleep 30"), now_s());
  const uint64_t third = p.start(exec_target("true"), now_s());
  auto r = p.poll(now_s());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, third);
  EXPECT_TRUE(r[0].second.skipped);
  EXPECT_FALSE(r[0].second.ok);
  EXPECT_EQ(p.processes(), 2u);
}

// Through the health checker: a passing command brings an initially-down server up at
// its first probe (rise 2 notwithstanding), a failing one takes an up server down after
// fall probes.
TEST_F(ExecProberTest, HealthCheckerWithCommands) {
  HealthChecker hc(std::make_unique<CheckProber>());
  auto up = exec_target("true", 50);
  up.slot = 1;
  up.spec.interval_ms = 50;
  up.spec.initial_down = true;
  auto down = exec_target("exit 1", 50);
  down.slot = 2;
  down.spec.interval_ms = 50;
  down.spec.fall = 2;
  hc.set_targets({up, down}, now_s());
  EXPECT_FALSE(hc.healthy(1));
  EXPECT_TRUE(hc.healthy(2));
  auto run_until = [&](auto done) {
    const double end = now_s() + 2;
    while (now_s() < end && !done()) {
      hc.run(now_s());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  run_until([&] { return hc.healthy(1); });
  EXPECT_TRUE(hc.healthy(1));
  EXPECT_EQ(hc.status(1)->probes, 1u) << "up at its first passing probe";
  run_until([&] { return !hc.healthy(2); });
  EXPECT_FALSE(hc.healthy(2));
  EXPECT_EQ(hc.status(2)->failed, 2u);
  EXPECT_EQ(hc.status(2)->last, "exit 1");
}

// More exec checks than the prober runs at once: a skipped probe is retried before the
// others are due again, so no target is starved (a fixed phase would skip the same ones
// every round, and a skipped probe neither passes nor fails: a dead server would stay up).
TEST_F(ExecProberTest, SkippedProbesAreNotStarved) {
  HealthChecker hc(std::make_unique<CheckProber>(std::make_unique<SocketProber>(), std::make_unique<ExecProber>(2)));
  std::vector<HealthTarget> targets;
  for (uint32_t slot = 1; slot <= 5; ++slot) {
    auto t = exec_target("exit 1", 100);
    t.slot = slot;
    t.spec.interval_ms = 200;
    t.spec.fall = 1;
    targets.push_back(t);
  }
  hc.set_targets(targets, now_s());
  const double end = now_s() + 3;
  auto all_down = [&] {
    for (uint32_t slot = 1; slot <= 5; ++slot)
      if (hc.healthy(slot)) return false;
    return true;
  };
  while (now_s() < end && !all_down()) {
    hc.run(now_s());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (uint32_t slot = 1; slot <= 5; ++slot) EXPECT_FALSE(hc.healthy(slot)) << "slot " << slot << " never probed";
  EXPECT_GT(hc.skipped(), 0u) << "the limit was never reached: the test proves nothing";
}
