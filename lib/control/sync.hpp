// Connection synchronisation between directors (the IPVS sync daemon): the control
// core's side, without EAL. A master turns the records the workers hand over (new
// connections, state changes, refreshes, persistence templates) into IPVS version 1
// messages and sends them from its DIP through its kernel interface, to the multicast
// group or to unicast peers; a backup receives messages there, accepts those of its sync
// id from its peers, checks every entry against the running tables and hands what
// passes, resolved to this director's RS slot, to the workers. Kernel UDP sockets only:
// drfwd's kernel interface carries them to and from the wire like any traffic of the DIP.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "config/model.hpp"
#include "lb/counters.hpp"
#include "lb/handoff.hpp"
#include "lb/snapshot.hpp"
#include "sync/wire.hpp"

namespace drfwd::control {

// Why a received message or entry is not used (counted by reason: `show sync`).
#define DRFWD_SYNC_REFUSALS(X)                                                                       \
  X(refused_malformed, kCounter, "messages: not an IPVS version 1 sync message (too short, wrong sizes)") \
  X(refused_peer, kCounter, "messages: from an address that is not a configured peer (or from this director)") \
  X(refused_syncid, kCounter, "messages: another sync id")                                          \
  X(refused_family, kCounter, "entries: IPv6")                                                       \
  X(refused_options, kCounter, "entries: persistence-engine data or unknown options (as a kernel without that engine)") \
  X(refused_protocol, kCounter, "entries: neither TCP nor UDP")                                      \
  X(refused_forward, kCounter, "entries: not direct routing (NAT, tunnel, local)")                   \
  X(refused_service, kCounter, "entries: no such service here (VIP, port, protocol)")                \
  X(refused_server, kCounter, "entries: the real server is not one of the service's")                \
  X(refused_unusable, kCounter, "entries: the real server is down or unresolved (templates: or drained)") \
  X(refused_state, kCounter, "entries: a state that makes no sense for the protocol")                \
  X(refused_timeout, kCounter, "entries: timeout 0")                                                  \
  X(refused_template, kCounter, "entries: a persistence template for a service without persistence")

#define DRFWD_SYNC_COUNTERS(X)                                                                        \
  X(messages_sent, kCounter, "sync messages sent (each copy to each unicast peer counts)")           \
  X(records_sent, kCounter, "connection and template entries in them")                               \
  X(bytes_sent, kCounter, "UDP payload bytes sent")                                                   \
  X(send_errors, kCounter, "messages the kernel refused to send (their entries are lost)")           \
  X(records_unknown, kCounter, "worker records not sent: their real server left before they were encoded") \
  X(messages_received, kCounter, "sync messages received")                                            \
  X(records_received, kCounter, "entries in accepted messages")                                       \
  X(records_delivered, kCounter, "entries that passed every check, handed to the workers")          \
  X(delivery_full, kCounter, "entries that passed but found a worker's sync ring full (lost)")      \
  X(records_early, kCounter, "worker records not sent: this director had not converged yet (announces itself only then)") \
  X(peers_new, kCounter, "director instances heard for the first time (each starts a bulk re-announcement)") \
  DRFWD_SYNC_REFUSALS(X)

DRFWD_COUNTERS(SyncCounters, kSyncFields, DRFWD_SYNC_COUNTERS);

enum class SyncRefusal : uint8_t {
  kNone, kFamily, kProtocol, kForward, kService, kServer, kUnusable, kState, kTimeout, kTemplate,
};

// A worker's record as an IPVS entry; none if its RS slot no longer holds that RS.
std::optional<sync::Conn> to_wire(const lb::SyncRecord& r, const lb::Snapshot& snap);
// A received entry checked against the running tables and turned into a record for the
// workers (its timeout no longer than this director's for that state or service).
SyncRefusal from_wire(const sync::Conn& c, const lb::Snapshot& snap, lb::SyncRecord& out);

// The state of one role's socket, for show sync.
struct SyncRoleStatus {
  bool configured = false;
  bool open = false;
  std::string ifname;
  std::string error;  // why it is not open (retried every second)
};

class SyncDaemon {
 public:
  using Deliver = std::function<bool(const lb::SyncRecord&)>;  // false: no room (counted)

  SyncDaemon() = default;
  ~SyncDaemon();
  SyncDaemon(const SyncDaemon&) = delete;
  SyncDaemon& operator=(const SyncDaemon&) = delete;

  // Follows the model (opens, reopens or closes sockets when its sync settings or its
  // ports' addresses changed): call it after each change. Never throws; failures to open
  // are logged once and retried every second by poll().
  void configure(const config::Model& m, double now);

  // Master: encodes worker records; sends a message when it is full, or `flush_after`
  // seconds after its first record (poll() sends what is due).
  void add(std::span<const lb::SyncRecord> records, const lb::Snapshot& snap, double now);
  // Backup: reads what arrived (a bounded number of datagrams per call) and delivers
  // what passes. Master: sends the pending message once due.
  void poll(const lb::Snapshot& snap, double now, const Deliver& deliver);
  // Checks and delivers one datagram from `from_be`:`from_port_be` (the receive path, for
  // tests and fuzzing).
  void receive(std::span<const uint8_t> datagram, uint32_t from_be, uint16_t from_port_be, const lb::Snapshot& snap,
               double now, const Deliver& deliver);
  // Whether a director instance was heard for the first time since the last call: each
  // master socket has its own source port, so a restarted drfwd is a new instance. A
  // master then announces every connection again, so the newcomer has them before it
  // takes traffic (VRRP preemption, an ECMP next hop coming back).
  bool take_bulk_request() {
    const bool b = bulk_wanted_ && master();
    bulk_wanted_ = false;
    return b;
  }

  // Until ready, a master sends nothing (no heartbeat either): the others learn of this
  // instance, and send it their tables, only once it can take them.
  void set_ready(bool ready) { ready_ = ready; }
  bool master() const { return master_conf_.has_value(); }
  bool backup() const { return backup_conf_.has_value(); }
  const std::optional<config::SyncDaemonConf>& master_conf() const { return master_conf_; }
  const std::optional<config::SyncDaemonConf>& backup_conf() const { return backup_conf_; }
  SyncRoleStatus status(config::SyncRole r) const;
  const SyncCounters& counters() const { return counters_; }
  static constexpr double kFlushAfter = 0.01;  // seconds a record waits for company
  static constexpr double kHeartbeat = 1.0;    // an empty message when nothing was sent for this long
  static constexpr double kForgetPeer = 10.0;  // an instance not heard for this long is forgotten

 private:
  struct Socket {
    int fd = -1;
    std::string error;
    double retry_at = 0;
    bool opened(int new_fd, const std::string& why, const std::string& what, double now);
    void close();
  };
  void open_master(double now);
  void open_backup(double now);
  void send_message();
  void send_now();
  double now_ = 0;  // of the current call
  std::optional<config::SyncDaemonConf> master_conf_, backup_conf_;
  std::string master_if_, backup_if_;
  uint32_t master_dip_be_ = 0, backup_dip_be_ = 0;
  std::vector<uint32_t> own_be_;  // this director's DIPs
  Socket master_sock_, backup_sock_;
  std::optional<sync::Encoder> encoder_;
  double first_pending_ = -1;
  double last_sent_ = -1e9;
  double last_prune_ = 0;
  bool bulk_wanted_ = false;
  bool ready_ = true;
  double last_log_ = -1e9;
  static constexpr size_t kMaxHeard = 256;  // instances remembered (beyond: not tracked, no bulk)
  std::map<std::pair<uint32_t, uint16_t>, double> heard_;  // (address, port) of each instance -> last heard
  SyncCounters counters_;
  sync::Conn decoded_[sync::kMaxConnsPerMessage];
};

}  // namespace drfwd::control
