// Active health checks of real servers, run by the control core.
//
// HealthChecker schedules one probe at a time per real server and applies rise/fall;
// a Prober runs the probes. SocketProber does TCP connects and HTTP GETs with
// non-blocking sockets bound to the DIP, so probes leave through the kernel exception
// interface; ExecProber (exec_prober.hpp) runs exec checks' commands; CheckProber hands
// each probe to the one for its kind. Nothing here blocks: run() is called every
// control-loop round.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/check.hpp"
#include "lb/service.hpp"
#include "net/addr.hpp"

namespace drfwd::control {

struct HealthTarget {
  uint32_t slot = 0, gen = 0;   // the RS slot (health is published per slot)
  net::IpAddr ip;
  uint16_t port = 0;            // probe port (the check's, or the service's)
  net::IpAddr src;              // bind address (the DIP, of ip's family); unspecified: let the kernel choose
  config::CheckSpec spec;
  std::string name;             // "tcp 198.18.0.100:80 -> 198.18.0.11", for logs
  bool operator==(const HealthTarget&) const = default;
};

struct ProbeResult {
  bool ok = false;
  std::string detail;    // "connected", "refused", "timeout", "HTTP 503", "exit 1", ...
  bool skipped = false;  // not run (too many exec checks running): neither passes nor fails
};

class Prober {
 public:
  virtual ~Prober() = default;
  // Starts a probe; returns its id (> 0).
  virtual uint64_t start(const HealthTarget& t, double now) = 0;
  // Probes that finished by `now` (each reported once).
  virtual std::vector<std::pair<uint64_t, ProbeResult>> poll(double now) = 0;
  virtual void cancel(uint64_t id) = 0;
};

class HealthChecker {
 public:
  static constexpr double kSkippedRetry = 0.05;  // seconds: a probe skipped at the limit is retried
  struct Status {
    bool up = true;             // RSs start up, as under keepalived (but with initial down)
    bool first_pending = false; // initial down, no probe passed yet: the first to pass brings it up
    bool checked = true;        // false: kind none (always up)
    unsigned successes = 0;     // consecutive
    unsigned failures = 0;      // consecutive
    uint64_t probes = 0;
    uint64_t failed = 0;
    double since = 0;           // time of the last state change
    std::string last;           // the last probe's detail
  };
  struct Change {
    uint32_t slot;
    bool up;
    std::string name;
    std::string detail;
  };

  explicit HealthChecker(std::unique_ptr<Prober> prober);
  ~HealthChecker();

  // The real servers to check. An RS whose target is unchanged keeps its state; a new
  // or changed one starts afresh and is probed at once: up, or down if its check says
  // initial down (then its first passing probe brings it up, rise or not: keepalived's
  // alpha). Returns true if that changed the health of a target's slot (a down RS whose
  // check changed is up again, or unchecked; an up one whose new check starts down).
  bool set_targets(const std::vector<HealthTarget>& targets, double now);

  // Starts due probes, collects finished ones, applies rise/fall. Returns the changes.
  std::vector<Change> run(double now);

  // kUnchecked for unknown slots and those whose check is none.
  lb::Health health(uint32_t slot) const;
  bool healthy(uint32_t slot) const { return lb::is_healthy(health(slot)); }
  const Status* status(uint32_t slot) const;
  // Probes the prober did not run (ProbeResult::skipped), since the start.
  uint64_t skipped() const { return skipped_; }

 private:
  struct Tracked {
    HealthTarget target;
    Status status;
    double next = 0;       // when the next probe starts
    uint64_t probe = 0;    // running probe id, 0 if none
  };
  std::unique_ptr<Prober> prober_;
  std::map<uint32_t, Tracked> tracked_;   // by slot
  std::map<uint64_t, uint32_t> running_;  // probe id -> slot
  uint64_t skipped_ = 0;
};

// drfwd's prober: tcp and http probes to a SocketProber, exec ones to an ExecProber.
class CheckProber : public Prober {
 public:
  CheckProber(std::unique_ptr<Prober> sockets, std::unique_ptr<Prober> exec);
  CheckProber();  // a SocketProber and an ExecProber
  uint64_t start(const HealthTarget& t, double now) override;
  std::vector<std::pair<uint64_t, ProbeResult>> poll(double now) override;
  void cancel(uint64_t id) override;

 private:
  // Ids: the inner prober's, times two, plus one for exec.
  std::unique_ptr<Prober> sockets_, exec_;
};

// The real prober: non-blocking sockets, polled with poll(2) at zero timeout.
class SocketProber : public Prober {
 public:
  SocketProber() = default;
  ~SocketProber() override;
  uint64_t start(const HealthTarget& t, double now) override;
  std::vector<std::pair<uint64_t, ProbeResult>> poll(double now) override;
  void cancel(uint64_t id) override;

 private:
  struct Probe {
    int fd = -1;
    HealthTarget target;
    double deadline = 0;
    enum class Phase { kConnecting, kSending, kReceiving, kDone } phase = Phase::kConnecting;
    std::string out;   // request bytes not yet sent
    std::string in;    // response bytes read so far
    ProbeResult result;
  };
  void step(Probe& p, short revents);
  void finish(Probe& p, bool ok, std::string detail);
  uint64_t next_id_ = 1;
  std::map<uint64_t, Probe> probes_;
};

}  // namespace drfwd::control
