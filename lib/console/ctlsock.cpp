#include "console/ctlsock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace drfwd::console {

namespace {

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string() : path.substr(0, slash);
}

// True if something answers on `path` (a running drfwd): then it is not ours to take.
bool in_use(const sockaddr_un& a) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return live;
}

}  // namespace

ControlSocket::ControlSocket(std::string path, Handler handler, BatchHandler batch)
    : path_(std::move(path)), handler_(std::move(handler)), batch_(std::move(batch)) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof a.sun_path)
    throw std::runtime_error("control socket path '" + path_ + "' is empty or too long");
  std::memcpy(a.sun_path, path_.c_str(), path_.size());
  const std::string dir = dir_of(path_);
  if (!dir.empty() && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create " + dir + ": " + std::strerror(errno));
  if (in_use(a)) throw std::runtime_error("control socket " + path_ + " is in use by another drfwd (--socket PATH)");
  ::unlink(path_.c_str());  // stale, from a drfwd that did not stop cleanly
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  // Created with no permissions for others, then listened on.
  const mode_t old = ::umask(0177);
  const int rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (rc != 0 || ::chmod(path_.c_str(), 0600) != 0 || ::listen(fd_, 16) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("cannot serve " + path_ + ": " + err);
  }
}

ControlSocket::~ControlSocket() {
  for (Conn& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

void ControlSocket::answer(Conn& c, const Answer& a) {
  c.out += (a.ok ? "OK " : "ERR ") + std::to_string(a.text.size()) + "\n" + a.text;
  c.waiting = false;
}

Reply ControlSocket::reply_to(Conn& c) {
  c.waiting = true;
  return [this, id = c.id](Answer a) {
    for (Conn& k : conns_)
      if (k.id == id) return answer(k, a);
  };
}

void ControlSocket::accept_new() {
  for (;;) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    ucred cred{};
    socklen_t len = sizeof cred;
    Conn c;
    c.id = next_id_++;
    c.fd = fd;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != 0 && cred.uid != ::geteuid())) {
      ++refused_;
      // Logged, but at most every 10 s: an unprivileged local user must not be able to
      // fill the log.
      const auto t = std::chrono::steady_clock::now();
      if (refused_ == 1 || t - last_refusal_log_ >= std::chrono::seconds(10)) {
        spdlog::warn("control socket: refused a peer (uid {}, pid {}): not root or drfwd's user; {} refused so far",
                     cred.uid, cred.pid, refused_);
        last_refusal_log_ = t;
      }
      answer(c, Answer{false, "refused: only root or drfwd's user may use this socket\n"});
      c.closing = true;
    } else if (conns_.size() >= kMaxConnections) {
      answer(c, Answer{false, "refused: too many control connections\n"});
      c.closing = true;
    }
    conns_.push_back(std::move(c));
  }
}

void ControlSocket::serve(Conn& c) {
  size_t pos;
  while (!c.closing && !c.waiting && (pos = c.in.find('\n')) != std::string::npos) {
    std::string line = c.in.substr(0, pos);
    c.in.erase(0, pos + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (c.batch_left > 0) {
      c.batch.push_back(std::move(line));
      if (--c.batch_left == 0) {
        const std::vector<std::string> lines = std::exchange(c.batch, {});
        batch_(lines, reply_to(c));
      }
      continue;
    }
    if (line.rfind("CMD ", 0) == 0) {
      handler_(std::string_view(line).substr(4), reply_to(c));
    } else if (line.rfind("BATCH ", 0) == 0) {
      char* end = nullptr;
      const unsigned long n = std::strtoul(line.c_str() + 6, &end, 10);
      if (!end || *end != '\0' || n > kMaxBatch) {
        answer(c, Answer{false, "bad batch size\n"});
        c.closing = true;
      } else if (n == 0) {
        batch_({}, reply_to(c));
      } else {
        c.batch_left = n;
      }
    } else {
      answer(c, Answer{false, "protocol error: expected CMD <line> or BATCH <n>\n"});
      c.closing = true;
    }
  }
  if (c.in.size() > kMaxLine && c.in.find('\n') == std::string::npos) {
    answer(c, Answer{false, "request line too long\n"});
    c.closing = true;
  }
}

void ControlSocket::poll() {
  accept_new();
  for (Conn& c : conns_) {
    if (!c.closing && !c.waiting) serve(c);  // what arrived while an answer was outstanding
    // While an answer is outstanding, the socket is not read: the kernel buffers what
    // the client sends, and holds it back once its buffer is full.
    if (!c.closing && !c.waiting) {
      char buf[4096];
      for (int i = 0; i < 64; ++i) {  // bounded: a client cannot hold the control core
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.in.append(buf, static_cast<size_t>(n));
          serve(c);
          if (c.waiting) break;
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) c.closing = true;
        break;
      }
    }
    while (!c.out.empty()) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      c.out.clear();
      c.closing = true;
      break;
    }
  }
  std::erase_if(conns_, [](Conn& c) {
    if (c.closing && c.out.empty()) {
      ::close(c.fd);
      return true;
    }
    return false;
  });
}

}  // namespace drfwd::console
