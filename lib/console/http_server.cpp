#include "console/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "console/metrics.hpp"

namespace drfwd::console {

std::optional<ListenAddress> parse_listen_address(std::string_view s, std::string& error) {
  const std::string usage = " (expected ADDR:PORT, e.g. 127.0.0.1:9520 or [::1]:9520)";
  std::string host;
  std::string_view port;
  if (s.starts_with('[')) {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      error = "'" + std::string(s) + "': an IPv6 address in brackets must be followed by :PORT" + usage;
      return std::nullopt;
    }
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      error = "'" + std::string(s) + "': no port" + usage;
      return std::nullopt;
    }
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      error = "'" + std::string(s) + "': an IPv6 address goes in brackets" + usage;
      return std::nullopt;
    }
  }
  unsigned long p = 0;
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) p = std::stoul(std::string(port));
  if (!digits || p == 0 || p > 65535) {
    error = "'" + std::string(s) + "': the port must be a number from 1 to 65535" + usage;
    return std::nullopt;
  }
  ListenAddress a;
  a.text = std::string(s);
  if (s.starts_with('[')) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) {
      error = "'" + std::string(s) + "': '" + host + "' is not an IPv6 address" + usage;
      return std::nullopt;
    }
    a.len = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
      error = "'" + std::string(s) + "': '" + host + "' is not an IPv4 address (no host names)" + usage;
      return std::nullopt;
    }
    a.len = sizeof(sockaddr_in);
  }
  return a;
}

HttpServer::HttpServer(Handler handler) : handler_(std::move(handler)) {}

HttpServer::HttpServer(const ListenAddress& at, Handler handler) : handler_(std::move(handler)), address_(at.text) {
  fd_ = ::socket(at.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("--metrics " + at.text + ": socket: " + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&at.addr), at.len) != 0 || ::listen(fd_, 64) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("--metrics " + at.text + ": cannot listen: " + err);
  }
}

HttpServer::~HttpServer() {
  for (Conn& c : conns_) ::close(c.fd);
  if (fd_ >= 0) ::close(fd_);
}

uint16_t HttpServer::port() const {
  if (fd_ < 0) return 0;
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

void HttpServer::log_error(std::string_view what, int err) {
  std::string key = err ? std::string(what) + ": " + std::strerror(err) : std::string(what);
  if (std::find(logged_.begin(), logged_.end(), key) != logged_.end()) return;
  spdlog::warn("metrics server{}{}: {} (logged once)", address_.empty() ? "" : " ", address_, key);
  logged_.push_back(std::move(key));
}

namespace {

std::string answer(int status, std::string_view reason, std::string_view type, const std::string& body, bool head,
                   std::string_view extra = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                    "\r\nContent-Type: " + std::string(type) + "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n" + std::string(extra) + "Connection: close\r\n\r\n";
  if (!head) out += body;
  return out;
}

constexpr std::string_view kText = "text/plain; charset=utf-8";

const std::string kIndex =
    "<!DOCTYPE html>\n<html><head><title>drfwd</title></head>\n<body><h1>drfwd</h1>\n"
    "<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

// Where the request's head ends (after its blank line), or npos.
size_t head_end(const std::string& in) {
  const size_t crlf = in.find("\r\n\r\n");
  const size_t lf = in.find("\n\n");
  if (crlf == std::string::npos && lf == std::string::npos) return std::string::npos;
  return crlf < lf ? crlf + 4 : lf + 2;
}

}  // namespace

std::string HttpServer::respond(std::string_view request, const double* now) {
  ++requests_;
  const std::string_view line = request.substr(0, request.find_first_of("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos ||
      !line.substr(sp2 + 1).starts_with("HTTP/1."))
    return answer(400, "Bad Request", kText, "bad request\n", false);
  const std::string_view method = line.substr(0, sp1);
  std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  const bool head = method == "HEAD";
  if (method != "GET" && !head)
    return answer(405, "Method Not Allowed", kText, "only GET and HEAD\n", false, "Allow: GET, HEAD\r\n");
  if (path == "/") return answer(200, "OK", "text/html; charset=utf-8", kIndex, head);
  if (path != "/metrics") return answer(404, "Not Found", kText, "not found: try /metrics\n", head);
  try {
    std::optional<std::string> fresh;  // without `now`: rendered for this request alone
    const std::optional<std::string>* body = &body_;
    if (!now) {
      fresh = handler_();
      body = &fresh;
      ++renders_;
    } else if (!body_ || *now - body_at_ >= kFresh) {
      body_ = handler_();
      body_at_ = *now;
      ++renders_;
    }
    if (!*body) return answer(503, "Service Unavailable", kText, "starting\n", head);
    return answer(200, "OK", kMetricsContentType, **body, head);
  } catch (const std::exception& e) {
    log_error(std::string("rendering /metrics: ") + e.what(), 0);
    return answer(500, "Internal Server Error", kText, "internal error\n", head);
  }
}

void HttpServer::adopt(int fd, double now) {
  if (conns_.size() >= kMaxConnections) {
    ::close(fd);
    return;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  Conn c;
  c.fd = fd;
  c.deadline = now + kDeadline;
  conns_.push_back(std::move(c));
}

void HttpServer::accept_new(double now) {
  if (fd_ < 0) return;
  while (conns_.size() < kMaxConnections) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      adopt(fd, now);
      continue;
    }
    if (errno == ECONNABORTED || errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) log_error("accept", errno);  // EMFILE, ENOBUFS: retried next poll
    return;
  }
}

bool HttpServer::serve(Conn& c, double now) {
  char buf[4096];
  if (c.draining) {
    // The answer is out and the write side shut: read what the client still sends until it
    // closes, so that closing never resets the connection under an unread answer.
    for (size_t got = 0; got < kReadPerPoll;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        got += static_cast<size_t>(n);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
      break;
    }
    return now < c.deadline;
  }
  if (!c.answered) {
    bool eof = false;
    for (size_t got = 0; got < kReadPerPoll && c.in.size() <= kMaxRequest;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        got += static_cast<size_t>(n);
        if (head_end(c.in) != std::string::npos) break;
        continue;
      }
      if (n == 0) eof = true;
      else if (errno != EAGAIN && errno != EWOULDBLOCK) return false;  // reset by the client
      break;
    }
    const size_t end = head_end(c.in);
    if (end != std::string::npos && end <= kMaxRequest) {
      c.out = respond(std::string_view(c.in).substr(0, end), &now);
      c.answered = true;
    } else if (c.in.size() > kMaxRequest) {
      c.out = answer(431, "Request Header Fields Too Large", kText, "request too large\n", false);
      c.answered = true;
    } else if (eof || now >= c.deadline) {
      return false;  // gone, or too slow: nothing to answer
    }
    if (!c.answered) return true;
    c.in.clear();
    c.in.shrink_to_fit();
  }
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return now < c.deadline;  // the rest next poll
    return false;
  }
  c.out.clear();
  c.out.shrink_to_fit();
  ::shutdown(c.fd, SHUT_WR);
  c.draining = true;
  c.deadline = std::min(c.deadline, now + 1.0);
  return true;
}

void HttpServer::poll(double now) {
  accept_new(now);
  std::erase_if(conns_, [&](Conn& c) {
    if (serve(c, now)) return false;
    ::close(c.fd);
    return true;
  });
}

}  // namespace drfwd::console
