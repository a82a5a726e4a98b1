// The --metrics endpoint: a small HTTP/1.1 server polled from the control loop, never
// blocking it (the control socket's pattern: non-blocking sockets, a bounded amount of
// work per poll). One request per connection (Connection: close): GET or HEAD of
// /metrics answers with the handler's body in Prometheus' text format, / with a small
// page linking to it, anything else 404, another method 405. A request larger than
// kMaxRequest, or a connection that has not finished within kDeadline seconds, is
// closed; at most kMaxConnections are served at once (the others wait in the listen
// backlog). An answer the socket cannot take at once is kept and sent as it drains. The
// body is rendered at most once every kFresh seconds, however many clients ask: what a
// render costs the control loop is bounded by time, not by the number of scrapers.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drfwd::console {

// "ADDR:PORT" with ADDR an IPv4 address or a bracketed IPv6 one ("[::1]:9520"), PORT
// 1 to 65535. Empty on error, with the reason in `error`.
struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // as given
};
std::optional<ListenAddress> parse_listen_address(std::string_view s, std::string& error);

class HttpServer {
 public:
  // The /metrics body; none: not ready (503).
  using Handler = std::function<std::optional<std::string>()>;

  static constexpr size_t kMaxRequest = 8192;      // bytes of request line and headers
  static constexpr size_t kMaxConnections = 16;
  static constexpr double kDeadline = 10.0;        // seconds for a whole exchange
  static constexpr size_t kReadPerPoll = 16384;    // bytes read from one connection per poll
  static constexpr double kFresh = 1.0;            // seconds a rendered body is served again

  // Listens on `at`. Throws std::runtime_error naming the address and the reason.
  HttpServer(const ListenAddress& at, Handler handler);
  // No listening socket: connections come through adopt() (tests).
  explicit HttpServer(Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves a connected socket (made non-blocking here); closed at once if kMaxConnections
  // are open. The server owns `fd` from here on.
  void adopt(int fd, double now);
  // Accepts, reads, answers, sends, closes what is due. `now`: seconds, monotonic.
  void poll(double now);

  size_t connections() const { return conns_.size(); }
  uint16_t port() const;  // the bound port (0 without a listening socket)
  const std::string& address() const { return address_; }
  uint64_t requests() const { return requests_; }

  // The answer to one request (the bytes up to its blank line), `Connection: close`,
  // with a body rendered now. Public for tests.
  std::string respond(std::string_view request) { return respond(request, nullptr); }
  uint64_t renders() const { return renders_; }

 private:
  struct Conn {
    int fd = -1;
    double deadline = 0;
    std::string in;
    std::string out;
    size_t sent = 0;        // bytes of `out` sent
    bool answered = false;  // `out` holds the whole answer
    bool draining = false;  // answer sent, write side shut: reading to the client's close
  };
  // now: reuse a body rendered less than kFresh seconds before (none: render).
  std::string respond(std::string_view request, const double* now);
  void accept_new(double now);
  // False once the connection is done with (to close).
  bool serve(Conn& c, double now);
  void log_error(std::string_view what, int err);  // err 0: no errno

  Handler handler_;
  int fd_ = -1;
  std::string address_;
  std::vector<Conn> conns_;
  uint64_t requests_ = 0;
  uint64_t renders_ = 0;
  std::optional<std::string> body_;  // the last body rendered, and when
  double body_at_ = 0;
  std::vector<std::string> logged_;  // errors already logged (once each)
};

}  // namespace drfwd::console
