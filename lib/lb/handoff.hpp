// Hand-offs between a worker and the control core that are not frames, counters or
// snapshots (those are rings, lb/counters.hpp and control/publisher.hpp). Each has one
// writer per field and a sequence or state word published with release and read with
// acquire, so neither side locks and the control core never waits for a worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "lb/conn_state.hpp"
#include "lb/flow_table.hpp"
#include "net/addr.hpp"
#include "net/parse.hpp"

namespace drfwd::lb {

// A connection (or persistence template) as the directors tell each other about it
// (connection synchronisation): a worker hands the ones it announces to the control core
// through its sync ring; the control core hands the ones it received, validated and
// resolved to this director's RS slot, to the worker that owns the flow through another.
struct SyncRecord {
  net::FlowKey key;      // a template's key as in the flow table (masked client, VIP, port)
  uint32_t rs_slot;
  uint32_t rs_gen;
  uint32_t timeout;      // seconds
  ConnState state;
  uint8_t pad[3];
};
static_assert(sizeof(SyncRecord) == 32 && std::is_trivial_v<SyncRecord>, "ring elements of 32 bytes");

// Whether a worker's loop runs, and why it stopped if it failed. The worker writes the
// message, then publishes the state; the control core reads the state, then (only if
// kFailed) the message.
class WorkerStatus {
 public:
  enum class State : uint8_t { kStarting, kRunning, kStopped, kFailed };

  // worker
  void running() { state_.store(State::kRunning, std::memory_order_release); }
  void stopped() { state_.store(State::kStopped, std::memory_order_release); }
  void failed(const char* why) {
    std::strncpy(message_, why ? why : "unknown failure", sizeof message_ - 1);
    message_[sizeof message_ - 1] = '\0';
    state_.store(State::kFailed, std::memory_order_release);
  }
  // control core
  State state() const { return state_.load(std::memory_order_acquire); }
  bool has_failed() const { return state() == State::kFailed; }
  std::string failure() const { return has_failed() ? std::string(message_) : std::string(); }

 private:
  std::atomic<State> state_{State::kStarting};
  char message_[256] = {};
};

// A listing of a worker's connections (show conns, ipvsadm -L -c), asked for and
// answered asynchronously. The control core posts a request (a VIP filter and a limit)
// under a new sequence number; the worker notices it between bursts, walks its tables
// (IPv4, then IPv6) a slice per loop into its own buffer (sized once, at start) and
// answers by storing the sequence number. The control core reads the buffer only once
// its request is answered and posts nothing new until then (idle()), so no field has
// two writers at a time:
//   control: vip_, limit_ (before request_)      worker: records_, count_, in_use_ (before done_)
class ConnDump {
 public:
  // An entry of either table. One key type for both: an IPv4 entry's addresses are
  // IPv4-mapped (::ffff:a.b.c.d, as net::IpAddr holds IPv4; no IPv6 entry has such an
  // address: the data path drops IPv4-mapped sources and no VIP is one), its ports,
  // protocol and kind as in the table.
  struct Record {
    net::FlowKey6 key;
    uint32_t rs_slot;
    uint32_t rs_gen;
    uint32_t expires;  // seconds left
    ConnState state;
    uint8_t pad[3];
  };
  static constexpr uint32_t kMaxRecords = 100000;  // the most one answer holds (show conns' limit)
  static constexpr uint32_t kStep = 512;           // table entries walked per worker loop, both tables together
  static constexpr net::IpAddr kAnyVip{};           // post()'s filter for every VIP (0.0.0.0 is never one)

  explicit ConnDump(uint32_t capacity = kMaxRecords) : records_(capacity) {}

  // ---- control core
  // No request is waiting for its answer: a new one may be posted.
  bool idle() const { return done_.load(std::memory_order_acquire) == request_.load(std::memory_order_relaxed); }
  // Asks for up to `limit` connections to `vip`, IPv4 or IPv6 (kAnyVip: any). Call only
  // when idle().
  uint64_t post(const net::IpAddr& vip, uint32_t limit) {
    vip_ = vip;
    limit_ = limit;
    const uint64_t seq = request_.load(std::memory_order_relaxed) + 1;
    request_.store(seq, std::memory_order_release);
    return seq;
  }
  bool answered(uint64_t seq) const { return done_.load(std::memory_order_acquire) == seq; }
  // The answer to the last request; valid once answered(seq) and until the next post().
  std::span<const Record> records() const { return {records_.data(), count_}; }
  uint64_t in_use() const { return in_use_; }  // entries in use in both tables when answered

  // ---- worker
  bool pending() const { return request_.load(std::memory_order_acquire) != done_.load(std::memory_order_relaxed); }
  // Walks the next slice of the tables (kStep entries, the IPv4 table's end and the IPv6
  // table's start in one slice if so); answers once the walk is complete or full. A table
  // with no entry in use, or none of the filter's family, is not walked.
  void step(const FlowTable& t4, const FlowTable6& t6, uint32_t now);

 private:
  template <class Table>
  void walk(const Table& t, uint32_t from, uint32_t to, uint32_t now, uint32_t room);

  net::IpAddr vip_ = kAnyVip;
  uint32_t limit_ = 0;
  std::atomic<uint64_t> request_{0};
  std::vector<Record> records_;
  uint32_t count_ = 0;
  uint64_t in_use_ = 0;
  std::atomic<uint64_t> done_{0};
  // the worker's own progress
  uint64_t working_ = 0;  // the request being answered
  uint64_t cursor_ = 0;   // IPv4 entries first, then IPv6 ones (from the IPv4 table's capacity)
};
static_assert(sizeof(ConnDump::Record) == 56 && std::is_trivially_copyable_v<ConnDump::Record>,
              "records are copied whole into a buffer allocated once");
static_assert(std::is_trivially_copyable_v<net::IpAddr>, "the filter is a plain value");

}  // namespace drfwd::lb
