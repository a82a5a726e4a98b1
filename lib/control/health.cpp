#include "control/health.hpp"

#include <algorithm>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/exec_prober.hpp"

namespace drfwd::control {

HealthChecker::HealthChecker(std::unique_ptr<Prober> prober) : prober_(std::move(prober)) {}

HealthChecker::~HealthChecker() {
  for (auto& [id, slot] : running_) prober_->cancel(id);
}

namespace {
lb::Health health_of(const HealthChecker::Status& s) {
  if (!s.checked) return lb::Health::kUnchecked;
  return s.up ? lb::Health::kUp : lb::Health::kDown;
}
}  // namespace

bool HealthChecker::set_targets(const std::vector<HealthTarget>& targets, double now) {
  std::map<uint32_t, Tracked> next;
  bool changed = false;
  for (const HealthTarget& t : targets) {
    auto it = tracked_.find(t.slot);
    if (it != tracked_.end() && it->second.target == t) {
      next.emplace(t.slot, std::move(it->second));
      tracked_.erase(it);
      continue;
    }
    const lb::Health before = health(t.slot);
    Tracked tr;
    tr.target = t;
    tr.status.checked = t.spec.kind != config::CheckKind::kNone;
    // Unchecked is always up: an inherited initial down does not apply to it.
    if (tr.status.checked && t.spec.initial_down) {
      tr.status.up = false;
      tr.status.first_pending = true;
      tr.status.last = "initial down: its first check is still to pass";
    }
    tr.status.since = now;
    tr.next = now;
    changed |= health_of(tr.status) != before;
    next.emplace(t.slot, std::move(tr));
  }
  for (auto& [slot, tr] : tracked_)  // gone or changed: stop their probes
    if (tr.probe) {
      prober_->cancel(tr.probe);
      running_.erase(tr.probe);
    }
  tracked_ = std::move(next);
  return changed;
}

std::vector<HealthChecker::Change> HealthChecker::run(double now) {
  std::vector<Change> changes;
  for (auto& [id, result] : prober_->poll(now)) {
    auto r = running_.find(id);
    if (r == running_.end()) continue;
    const uint32_t slot = r->second;
    running_.erase(r);
    auto it = tracked_.find(slot);
    if (it == tracked_.end()) continue;
    Tracked& tr = it->second;
    tr.probe = 0;
    Status& s = tr.status;
    if (result.skipped) {  // drfwd's limit, not the server's health: tried again shortly
      ++skipped_;
      // Not at its next interval: the targets that did start are not due again before
      // it, so this one gets the next free place (a fixed phase would starve the same
      // targets every round, and a skipped probe neither passes nor fails).
      tr.next = std::min(tr.next, now + kSkippedRetry);
      continue;
    }
    ++s.probes;
    s.last = result.detail;
    const auto& spec = tr.target.spec;
    if (result.ok) {
      ++s.successes;
      s.failures = 0;
      if (!s.up && (s.successes >= spec.rise || s.first_pending)) {
        s.first_pending = false;
        s.up = true;
        s.since = now;
        changes.push_back({slot, true, tr.target.name, result.detail});
      }
    } else {
      ++s.failed;
      ++s.failures;
      s.successes = 0;
      if (s.up && s.failures >= spec.fall) {
        s.up = false;
        s.since = now;
        changes.push_back({slot, false, tr.target.name, result.detail});
      }
    }
  }
  for (auto& [slot, tr] : tracked_) {
    if (!tr.status.checked || tr.probe || now < tr.next) continue;
    tr.probe = prober_->start(tr.target, now);
    running_[tr.probe] = slot;
    tr.next = now + tr.target.spec.interval_ms / 1000.0;
  }
  return changes;
}

lb::Health HealthChecker::health(uint32_t slot) const {
  auto it = tracked_.find(slot);
  return it == tracked_.end() ? lb::Health::kUnchecked : health_of(it->second.status);
}

const HealthChecker::Status* HealthChecker::status(uint32_t slot) const {
  auto it = tracked_.find(slot);
  return it == tracked_.end() ? nullptr : &it->second.status;
}

// ---- CheckProber --------------------------------------------------------------------

CheckProber::CheckProber(std::unique_ptr<Prober> sockets, std::unique_ptr<Prober> exec)
    : sockets_(std::move(sockets)), exec_(std::move(exec)) {}

CheckProber::CheckProber() : CheckProber(std::make_unique<SocketProber>(), std::make_unique<ExecProber>()) {}

uint64_t CheckProber::start(const HealthTarget& t, double now) {
  if (t.spec.kind == config::CheckKind::kExec) return exec_->start(t, now) * 2 + 1;
  return sockets_->start(t, now) * 2;
}

std::vector<std::pair<uint64_t, ProbeResult>> CheckProber::poll(double now) {
  std::vector<std::pair<uint64_t, ProbeResult>> out = sockets_->poll(now);
  for (auto& [id, r] : out) id *= 2;
  for (auto& [id, r] : exec_->poll(now)) out.emplace_back(id * 2 + 1, std::move(r));
  return out;
}

void CheckProber::cancel(uint64_t id) {
  if (id & 1)
    exec_->cancel(id / 2);
  else
    sockets_->cancel(id / 2);
}

// ---- SocketProber -------------------------------------------------------------------

SocketProber::~SocketProber() {
  for (auto& [id, p] : probes_)
    if (p.fd >= 0) ::close(p.fd);
}

void SocketProber::finish(Probe& p, bool ok, std::string detail) {
  if (p.fd >= 0) ::close(p.fd);
  p.fd = -1;
  p.phase = Probe::Phase::kDone;
  p.result = ProbeResult{ok, std::move(detail)};
}

uint64_t SocketProber::start(const HealthTarget& t, double now) {
  const uint64_t id = next_id_++;
  Probe& p = probes_[id];
  p.target = t;
  p.deadline = now + t.spec.timeout_ms / 1000.0;
  const bool v4 = t.ip.is_v4();
  p.fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p.fd < 0) {
    finish(p, false, std::string("socket: ") + std::strerror(errno));
    return id;
  }
  // Close with RST, not FIN: a health probe leaves no TIME_WAIT on either side.
  linger lg{1, 0};
  ::setsockopt(p.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  // One address of either family as the socket API takes it.
  auto sa = [](const net::IpAddr& ip, uint16_t port) {
    sockaddr_storage ss{};
    if (ip.is_v4()) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      a->sin_addr.s_addr = ip.v4().be();
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      std::memcpy(a->sin6_addr.s6_addr, ip.v6().bytes.data(), 16);
    }
    return ss;
  };
  const socklen_t len = v4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (!t.src.is_unspecified()) {
    const sockaddr_storage b = sa(t.src, 0);
    if (::bind(p.fd, reinterpret_cast<const sockaddr*>(&b), len) != 0) {
      finish(p, false, std::string("bind: ") + std::strerror(errno));
      return id;
    }
  }
  const sockaddr_storage a = sa(t.ip, t.port);
  if (::connect(p.fd, reinterpret_cast<const sockaddr*>(&a), len) != 0 && errno != EINPROGRESS) {
    finish(p, false, errno == ECONNREFUSED ? "refused" : std::string("connect: ") + std::strerror(errno));
    return id;
  }
  if (t.spec.kind == config::CheckKind::kHttp) {
    const std::string host = t.spec.host.empty() ? (t.ip.is_v4() ? net::to_string(t.ip) : "[" + net::to_string(t.ip) + "]")
                                                 : t.spec.host;
    p.out = "GET " + t.spec.path + " HTTP/1.1\r\nHost: " + host +
            "\r\nUser-Agent: drfwd-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  }
  return id;
}

void SocketProber::step(Probe& p, short revents) {
  if (p.phase == Probe::Phase::kConnecting) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      finish(p, false, err == ECONNREFUSED ? "refused" : std::string("connect: ") + std::strerror(err));
      return;
    }
    if (p.target.spec.kind != config::CheckKind::kHttp) {
      finish(p, true, "connected");
      return;
    }
    p.phase = Probe::Phase::kSending;
  }
  if (p.phase == Probe::Phase::kSending) {
    while (!p.out.empty()) {
      const ssize_t n = ::send(p.fd, p.out.data(), p.out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) return;
        finish(p, false, std::string("send: ") + std::strerror(errno));
        return;
      }
      p.out.erase(0, static_cast<size_t>(n));
    }
    p.phase = Probe::Phase::kReceiving;
  }
  if (p.phase == Probe::Phase::kReceiving) {
    char buf[512];
    for (;;) {
      const ssize_t n = ::recv(p.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN) break;
        finish(p, false, std::string("recv: ") + std::strerror(errno));
        return;
      }
      if (n == 0) break;
      p.in.append(buf, static_cast<size_t>(n));
      if (p.in.size() > 4096) break;
    }
    const size_t eol = p.in.find("\r\n");
    if (eol == std::string::npos) {
      if (p.in.size() > 4096) finish(p, false, "no HTTP status line");
      return;
    }
    // "HTTP/1.1 200 OK"
    const std::string line = p.in.substr(0, eol);
    const size_t sp = line.find(' ');
    if (line.rfind("HTTP/", 0) != 0 || sp == std::string::npos || line.size() < sp + 4) {
      finish(p, false, "not an HTTP response");
      return;
    }
    const int code = std::atoi(line.substr(sp + 1, 3).c_str());
    if (code == p.target.spec.expect)
      finish(p, true, "HTTP " + std::to_string(code));
    else
      finish(p, false, "HTTP " + std::to_string(code) + ", expected " + std::to_string(p.target.spec.expect));
  }
}

std::vector<std::pair<uint64_t, ProbeResult>> SocketProber::poll(double now) {
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  for (auto& [id, p] : probes_) {
    if (p.phase == Probe::Phase::kDone) continue;
    short ev = p.phase == Probe::Phase::kReceiving ? POLLIN : POLLOUT;
    fds.push_back({p.fd, ev, 0});
    ids.push_back(id);
  }
  if (!fds.empty() && ::poll(fds.data(), fds.size(), 0) > 0) {
    for (size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents) step(probes_[ids[i]], fds[i].revents);
  }
  std::vector<std::pair<uint64_t, ProbeResult>> done;
  for (auto it = probes_.begin(); it != probes_.end();) {
    Probe& p = it->second;
    if (p.phase != Probe::Phase::kDone && now >= p.deadline) finish(p, false, "timeout");
    if (p.phase == Probe::Phase::kDone) {
      done.emplace_back(it->first, p.result);
      it = probes_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

void SocketProber::cancel(uint64_t id) {
  auto it = probes_.find(id);
  if (it == probes_.end()) return;
  if (it->second.fd >= 0) ::close(it->second.fd);
  probes_.erase(it);
}

}  // namespace drfwd::control
