// Exec health checks (keepalived's MISC_CHECK): each probe runs `/bin/sh -c <command>`
// and passes if it exits 0. Run by the control core, never blocking it:
//
// - posix_spawn (glibc: clone with CLONE_VM|CLONE_VFORK, so no copy of drfwd's page
//   tables and hugepage mappings) starts the shell in a process group of its own, with
//   stdin, stdout and stderr on /dev/null, no other descriptor of drfwd's, the working
//   directory "/", default signal dispositions and an empty signal mask, and drfwd's
//   environment.
// - poll() reaps without waiting (waitid with WNOHANG): no SIGCHLD handler, nothing
//   that races with the rest of drfwd. A leader that has exited is left a zombie until
//   its whole process group has been sent SIGKILL, so the group id cannot have been
//   reused: whatever the command left behind in its group goes with it.
// - A probe past its deadline has its process group killed (SIGKILL) and fails
//   ("timeout"); its processes are reaped on the following polls.
// - At most `max_running` processes (running or killed and not yet reaped); a probe
//   started beyond that is skipped (ProbeResult::skipped), neither passing nor failing.
// - The destructor kills every group still running and reaps them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "control/health.hpp"

namespace drfwd::control {

class ExecProber : public Prober {
 public:
  static constexpr size_t kMaxRunning = 64;

  explicit ExecProber(size_t max_running = kMaxRunning, std::string shell = "/bin/sh");
  ~ExecProber() override;
  ExecProber(const ExecProber&) = delete;
  ExecProber& operator=(const ExecProber&) = delete;

  uint64_t start(const HealthTarget& t, double now) override;
  std::vector<std::pair<uint64_t, ProbeResult>> poll(double now) override;
  void cancel(uint64_t id) override;

  // Processes started and not reaped yet: running, and killed ones not yet gone.
  size_t processes() const { return running_.size() + dying_.size(); }

 private:
  struct Running {
    pid_t pid = 0;  // the shell, leader of its process group
    double deadline = 0;
  };
  void kill_group(pid_t pgid);   // SIGKILL to the group; its members are reaped later
  void reap_dying();
  ProbeResult collect(pid_t pid);  // the exited leader: its group killed, it reaped

  size_t max_running_;
  std::string shell_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Running> running_;                // by probe id
  std::vector<pid_t> dying_;                           // killed groups with children not yet reaped
  std::vector<std::pair<uint64_t, ProbeResult>> done_; // finished at start (skipped, spawn failed)
};

}  // namespace drfwd::control
