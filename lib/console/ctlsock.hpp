// The control socket: a unix stream socket served by the control core, without
// blocking. Only root and drfwd's own user may talk to it (SO_PEERCRED); the socket file
// is mode 0600 in a directory only its owner can enter.
//
// Protocol (drfwdctl speaks it): a request is "CMD <line>\n", or "BATCH <n>\n" followed
// by n lines applied all or none; each answer is "OK <len>\n" or "ERR <len>\n" followed
// by <len> bytes of text. Requests on one connection are answered in order; an answer
// that needs the workers arrives later, and the connection's next request waits for it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "console/answer.hpp"

namespace drfwd::console {

class ControlSocket {
 public:
  // Throws std::runtime_error (in use, no permission, path too long).
  ControlSocket(std::string path, Handler handler, BatchHandler batch);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  void poll();
  const std::string& path() const { return path_; }
  uint64_t refused_peers() const { return refused_; }

  static constexpr size_t kMaxLine = 65536;
  static constexpr size_t kMaxBatch = 1000000;
  static constexpr size_t kMaxConnections = 32;

 private:
  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    std::string in;
    std::string out;
    bool closing = false;         // close once `out` is written
    bool waiting = false;         // a request's answer is outstanding: later requests wait
    size_t batch_left = 0;
    std::vector<std::string> batch;
  };
  void accept_new();
  void serve(Conn& c);
  static void answer(Conn& c, const Answer& a);
  // A Reply that finds its connection by id when it runs (it may have closed since).
  Reply reply_to(Conn& c);

  std::string path_;
  Handler handler_;
  BatchHandler batch_;
  int fd_ = -1;
  std::vector<Conn> conns_;
  uint64_t next_id_ = 1;
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_{};
};

}  // namespace drfwd::console
