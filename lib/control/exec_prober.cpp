#include "control/exec_prober.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace drfwd::control {

namespace {

// The spawn settings every probe shares; the spawn failing to set one up fails the probe.
struct Spawn {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int error = 0;

  Spawn() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    auto step = [&](int rc) {
      if (rc != 0 && error == 0) error = rc;
    };
    step(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0));
    step(posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0));
    step(posix_spawn_file_actions_adddup2(&actions, 1, 2));
    step(posix_spawn_file_actions_addchdir_np(&actions, "/"));
    // drfwd's descriptors (sockets, TAPs, DPDK's device and hugepage files) are not
    // the command's, whether or not they were opened close-on-exec.
    step(posix_spawn_file_actions_addclosefrom_np(&actions, 3));
    // A group of its own (its id: the shell's pid), default dispositions (an ignored
    // signal would stay ignored across exec), nothing blocked.
    step(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    step(posix_spawnattr_setpgroup(&attr, 0));
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    step(posix_spawnattr_setsigmask(&attr, &none));
    step(posix_spawnattr_setsigdefault(&attr, &all));
  }
  ~Spawn() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  Spawn(const Spawn&) = delete;
  Spawn& operator=(const Spawn&) = delete;
};

// Reaps what is left of a killed group among drfwd's children: the leader if not reaped
// yet, and members that became drfwd's (drfwd as PID 1 or a subreaper). True once none
// is left.
bool reap_group(pid_t pgid) {
  for (;;) {
    const pid_t r = ::waitpid(-pgid, nullptr, WNOHANG);
    if (r > 0) continue;
    if (r < 0 && errno == EINTR) continue;
    return r < 0;  // ECHILD: nothing of the group is drfwd's child any more
  }
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

ExecProber::ExecProber(size_t max_running, std::string shell) : max_running_(max_running), shell_(std::move(shell)) {}

ExecProber::~ExecProber() {
  for (auto& [id, r] : running_) {
    kill_group(r.pid);
    dying_.push_back(r.pid);
  }
  running_.clear();
  // SIGKILL takes effect at once, but for a process in uninterruptible sleep: it gets a
  // second, then drfwd goes on exiting (init reaps it then).
  for (int i = 0; i < 1000 && !dying_.empty(); ++i) {
    reap_dying();
    if (!dying_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void ExecProber::kill_group(pid_t pgid) { ::kill(-pgid, SIGKILL); }

void ExecProber::reap_dying() { std::erase_if(dying_, reap_group); }

uint64_t ExecProber::start(const HealthTarget& t, double now) {
  const uint64_t id = next_id_++;
  if (processes() >= max_running_) {
    done_.emplace_back(id, ProbeResult{false, std::to_string(processes()) + " check commands running: skipped", true});
    return id;
  }
  if (t.spec.command.empty()) {
    done_.emplace_back(id, ProbeResult{false, "no command"});
    return id;
  }
  static const Spawn spawn;
  int err = spawn.error;
  pid_t pid = 0;
  if (err == 0) {
    std::string command = t.spec.command;
    char arg0[] = "sh", arg1[] = "-c";
    char* argv[] = {arg0, arg1, command.data(), nullptr};
    err = ::posix_spawn(&pid, shell_.c_str(), &spawn.actions, &spawn.attr, argv, environ);
  }
  if (err != 0) {
    done_.emplace_back(id, ProbeResult{false, "spawn: " + std::string(std::strerror(err))});
    return id;
  }
  running_[id] = Running{pid, now + t.spec.timeout_ms / 1000.0};
  return id;
}

ProbeResult ExecProber::collect(pid_t pid) {
  // The leader is a zombie: the group id is still its own, so this reaches only what it
  // left running in its group, never a newcomer that reused the id.
  kill_group(pid);
  int status = 0;
  pid_t r;
  do r = ::waitpid(pid, &status, 0);  // a zombie: returns at once
  while (r < 0 && errno == EINTR);
  if (!reap_group(pid)) dying_.push_back(pid);
  if (r != pid) return ProbeResult{false, "exit status lost"};
  return ProbeResult{WIFEXITED(status) && WEXITSTATUS(status) == 0, describe_status(status)};
}

std::vector<std::pair<uint64_t, ProbeResult>> ExecProber::poll(double now) {
  std::vector<std::pair<uint64_t, ProbeResult>> out = std::exchange(done_, {});
  if (!dying_.empty()) reap_dying();
  if (running_.empty()) return out;
  // Has any child exited? One call for all of them (WNOWAIT: nothing is reaped here);
  // only then is each asked.
  siginfo_t any{};
  const bool exited = ::waitid(P_ALL, 0, &any, WEXITED | WNOHANG | WNOWAIT) != 0 || any.si_pid != 0;
  for (auto it = running_.begin(); it != running_.end();) {
    const uint64_t id = it->first;
    const Running r = it->second;
    if (exited) {
      siginfo_t si{};
      const int rc = ::waitid(P_PID, static_cast<id_t>(r.pid), &si, WEXITED | WNOHANG | WNOWAIT);
      if (rc == 0 && si.si_pid == r.pid) {
        out.emplace_back(id, collect(r.pid));
        it = running_.erase(it);
        continue;
      }
      if (rc != 0 && errno == ECHILD) {  // reaped by someone else (SIGCHLD set to SIG_IGN?)
        out.emplace_back(id, ProbeResult{false, "exit status lost"});
        it = running_.erase(it);
        continue;
      }
    }
    if (now >= r.deadline) {
      kill_group(r.pid);
      dying_.push_back(r.pid);
      out.emplace_back(id, ProbeResult{false, "timeout"});
      it = running_.erase(it);
      continue;
    }
    ++it;
  }
  return out;
}

void ExecProber::cancel(uint64_t id) {
  std::erase_if(done_, [&](const auto& d) { return d.first == id; });
  auto it = running_.find(id);
  if (it == running_.end()) return;
  kill_group(it->second.pid);
  dying_.push_back(it->second.pid);
  running_.erase(it);
}

}  // namespace drfwd::control
