// Connection listings (show conns, ipvsadm -L -c: IPv4 and IPv6 connections and
// persistence templates) gathered from every worker without waiting: a listing posts a
// request to each worker's lb::ConnDump, and poll(), once per control round, finishes it
// when every worker has answered or the deadline has passed (a worker that is late is
// named). A worker still busy with an abandoned request is not asked over it: it is
// asked once it has answered that one, and named if that leaves it no time.
// One listing at a time; later ones queue. Plain C++: no EAL, unit-tested.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "control/snapshot_sink.hpp"
#include "control/status.hpp"
#include "lb/handoff.hpp"

namespace drfwd::control {

struct ConnListing {
  std::vector<ConnStatus> conns;
  uint64_t in_use = 0;                  // entries in the tables of the workers that answered
  std::vector<uint32_t> missing;        // workers that did not answer
};

class ConnQuery {
 public:
  using Done = std::function<void(ConnListing)>;
  static constexpr double kTimeout = 2.0;  // seconds a worker has to answer

  // dumps: one per worker, by worker index. sink: the snapshot that names RS slots.
  ConnQuery(std::vector<lb::ConnDump*> dumps, const SnapshotSink& sink) : dumps_(std::move(dumps)), sink_(sink) {}

  // Lists up to `limit` connections (to `vip`, IPv4 or IPv6, if given); `done` runs from poll().
  void start(std::optional<net::IpAddr> vip, uint32_t limit, double now, Done done);
  void poll(double now);
  bool busy() const { return current_.has_value() || !queue_.empty(); }

 private:
  struct Request {
    std::optional<net::IpAddr> vip;
    uint32_t limit;
    Done done;
  };
  struct Running {
    Request req;
    double deadline;
    std::vector<std::optional<uint64_t>> seq;  // per worker: the request posted, if any
  };
  void begin(Request r, double now);
  void ask_idle();
  void finish();

  std::vector<lb::ConnDump*> dumps_;
  const SnapshotSink& sink_;
  std::optional<Running> current_;
  std::deque<Request> queue_;
};

}  // namespace drfwd::control
