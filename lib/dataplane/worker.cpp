#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>

namespace drfwd::dp {

namespace {

constexpr unsigned kControlRingSize = 1024;
constexpr uint32_t kExpireBudget = 32;       // timed-out connections removed per loop
constexpr uint32_t kIdlePollsBeforeSleep = 1024;

// Connection tables are large and accessed at random: page size decides how many TLB
// misses a lookup costs. With EAL hugepages they come from rte_malloc (hugepage-backed,
// on the worker's socket). Without (--no-huge), EAL memory is 4 KiB pages, so the table
// gets its own anonymous mapping advised to use transparent huge pages instead.
constexpr size_t kHuge = 2u << 20;

void* table_alloc(size_t bytes, size_t align, void* socket) {
  if (rte_eal_has_hugepages())
    return rte_zmalloc_socket("drfwd_conns", bytes, static_cast<unsigned>(align),
                              static_cast<int>(reinterpret_cast<intptr_t>(socket)));
  const size_t len = (bytes + kHuge - 1) & ~(kHuge - 1);
  void* p = mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Trim to a 2 MiB-aligned region so every page can be a huge page.
  auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHuge - 1) & ~(kHuge - 1);
  if (aligned > start) munmap(p, aligned - start);
  const uintptr_t end = start + len + kHuge, aligned_end = aligned + len;
  if (end > aligned_end) munmap(reinterpret_cast<void*>(aligned_end), end - aligned_end);
  madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);
  std::memset(reinterpret_cast<void*>(aligned), 0, len);  // fault it in now, not on the data path
  return reinterpret_cast<void*>(aligned);
}

// A frame's length without the 802.1Q tag drfwd (or the driver, for it) put in: a
// forwarded frame carries no other tag (a second one is dropped as vlan-double).
uint32_t untagged_len(const rte_mbuf* m) {
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const bool tagged = rte_pktmbuf_data_len(m) >= net::kEtherHdrLen + net::kVlanTagLen &&
                      net::load16(d + net::kEthType) == net::hton16(net::kEtherVlan);
  return rte_pktmbuf_pkt_len(m) - (tagged ? net::kVlanTagLen : 0u);
}

void table_free(void* p, size_t bytes, void*) {
  if (!p) return;
  if (rte_eal_has_hugepages()) {
    rte_free(p);
    return;
  }
  munmap(p, (bytes + kHuge - 1) & ~(kHuge - 1));
}

}  // namespace

Worker::Worker(uint32_t index, unsigned lcore, LcoreConf conf, uint32_t conn_capacity, uint32_t conn6_capacity,
               const WorkerShared& shared)
    : index_(index), lcore_(lcore), conf_(std::move(conf)), shared_(shared), clock_(shared.start_tsc, shared.tsc_hz) {
  const int socket = static_cast<int>(rte_lcore_to_socket_id(lcore));
  const std::string who = "worker " + std::to_string(index);
  counters_.reset(static_cast<lb::WorkerCounters*>(
      rte_zmalloc_socket("drfwd_counters", sizeof(lb::WorkerCounters), 64, socket)));
  rs_counters_.reset(static_cast<lb::RsCounters*>(
      rte_zmalloc_socket("drfwd_rs_counters", sizeof(lb::RsCounters) * lb::kMaxRsSlots, 64, socket)));
  if (!counters_ || !rs_counters_) throw std::runtime_error(who + ": out of EAL memory for counters (raise -m)");
  try {
    conns_ = std::make_unique<lb::FlowTable>(
        conn_capacity, lb::FlowMemory{table_alloc, table_free, reinterpret_cast<void*>(intptr_t{socket})});
  } catch (const std::bad_alloc&) {
    throw std::runtime_error(who + ": out of EAL memory for a connection table of " + std::to_string(conn_capacity) +
                             " entries (" + std::to_string(lb::FlowTable::memory_bytes(conn_capacity) >> 20) +
                             " MiB): raise -m or lower --conn-table-size");
  }
  try {
    fwd_ = std::make_unique<lb::Forwarder>(index, *conns_, *counters_, rs_counters_.get(), conn6_capacity,
                                           lb::FlowMemory{table_alloc, table_free, reinterpret_cast<void*>(intptr_t{socket})});
  } catch (const std::bad_alloc&) {
    throw std::runtime_error(who + ": out of EAL memory for an IPv6 connection table of " + std::to_string(conn6_capacity) +
                             " entries (" + std::to_string(lb::FlowTable6::memory_bytes(conn6_capacity) >> 20) +
                             " MiB): raise -m or lower --conn6-table-size");
  }
  ring_.reset(rte_ring_create(("drfwd_ctl" + std::to_string(index)).c_str(), kControlRingSize, socket,
                              RING_F_SP_ENQ | RING_F_SC_DEQ));
  tx_ring_.reset(rte_ring_create(("drfwd_ctx" + std::to_string(index)).c_str(), kControlRingSize, socket,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ));
  sync_out_.reset(rte_ring_create_elem(("drfwd_syo" + std::to_string(index)).c_str(), sizeof(lb::SyncRecord),
                                       kSyncOutRing, socket, RING_F_SP_ENQ | RING_F_SC_DEQ));
  sync_in_.reset(rte_ring_create_elem(("drfwd_syi" + std::to_string(index)).c_str(), sizeof(lb::SyncRecord),
                                      kSyncInRing, socket, RING_F_SP_ENQ | RING_F_SC_DEQ));
  if (!ring_ || !tx_ring_ || !sync_out_ || !sync_in_) throw std::runtime_error(who + ": cannot create its control rings");
}

Worker::~Worker() = default;

void Worker::EalFree::operator()(void* p) const { rte_free(p); }

void drain(rte_ring* r) {
  void* m;
  while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
}

void Worker::RingFree::operator()(rte_ring* r) const {
  drain(r);
  rte_ring_free(r);
}

void Worker::RecordRingFree::operator()(rte_ring* r) const { rte_ring_free(r); }

int Worker::main(void* self) {
  auto* w = static_cast<Worker*>(self);
  try {
    w->run();
    w->status_.stopped();
    return 0;
  } catch (const std::exception& e) {
    w->status_.failed(e.what());
  } catch (...) {
    w->status_.failed("unknown exception");
  }
  return -1;
}

// Registered with RCU while the loop runs, offline and unregistered however it ends (a
// worker that threw must not hold every later grace period).
class Worker::RcuReader {
 public:
  RcuReader(rte_rcu_qsbr* q, uint32_t id) : q_(q), id_(id) {
    rte_rcu_qsbr_thread_register(q_, id_);
    rte_rcu_qsbr_thread_online(q_, id_);
  }
  ~RcuReader() {
    rte_rcu_qsbr_thread_offline(q_, id_);
    rte_rcu_qsbr_thread_unregister(q_, id_);
  }
  RcuReader(const RcuReader&) = delete;
  RcuReader& operator=(const RcuReader&) = delete;

 private:
  rte_rcu_qsbr* q_;
  uint32_t id_;
};

void Worker::run() {
  const RcuReader rcu(shared_.qsbr, index_);
  status_.running();
  uint32_t idle = 0;
  uint64_t polls = 0, busy = 0;
  const lb::Snapshot* seen = nullptr;  // the snapshot of the last busy iteration

  while (!shared_.stop->load(std::memory_order_relaxed)) {
    const uint64_t loop_start = rte_rdtsc();
    clock_.advance(loop_start);
    uint32_t rx = 0;
    for (const RxQueue& q : conf_.rx) rx += poll(q);
    housekeeping();

    ++polls;
    if (rx) {
      ++busy;
      idle = 0;
      const uint64_t took = rte_rdtsc() - loop_start;
      counters_->busy_loop.record(took);
      if (__builtin_expect(fwd_->snapshot() != seen, 0)) {
        if (seen) counters_->new_snapshot_loop.record(took);
        seen = fwd_->snapshot();
      }
    } else if (shared_.idle_backoff_us && ++idle >= kIdlePollsBeforeSleep) {
      // Lab and laptop mode: stop holding the CPU while nothing arrives. Offline first so
      // the control core's grace periods do not wait for a sleeping worker.
      rte_rcu_qsbr_thread_offline(shared_.qsbr, index_);
      timespec ts{0, static_cast<long>(shared_.idle_backoff_us) * 1000};
      nanosleep(&ts, nullptr);
      rte_rcu_qsbr_thread_online(shared_.qsbr, index_);
      lb::bump(counters_->idle_sleeps);
    }
    if ((polls & 0xff) == 0) {
      lb::bump(counters_->polls, polls);
      lb::bump(counters_->busy_polls, busy);
      lb::store<uint64_t>(counters_->conns_in_use, conns_->size() + fwd_->conns6().size());
      polls = busy = 0;
    }
  }
  lb::store<uint64_t>(counters_->conns_in_use, conns_->size() + fwd_->conns6().size());
  lb::bump(counters_->polls, polls);
  lb::bump(counters_->busy_polls, busy);
}

// Between the bursts of a loop: what the control core asked for (frames to send, a
// connection listing), expiry, and the quiescent state that lets it free old snapshots.
void Worker::housekeeping() {
  if (__builtin_expect(!rte_ring_empty(tx_ring_.get()), 0)) send_for_control();
  fwd_->begin(shared_.snapshot->load(std::memory_order_acquire), clock_.now());
  if (__builtin_expect(!rte_ring_empty(sync_in_.get()), 0)) take_sync();
  if (__builtin_expect(bulk_request_.load(std::memory_order_relaxed) != bulk_seen_ ||
                           bulk_busy_.load(std::memory_order_relaxed), 0))
    bulk_step();
  if (__builtin_expect(dump_.pending(), 0)) dump_.step(*conns_, fwd_->conns6(), clock_.now());
  fwd_->expire(kExpireBudget);
  rte_rcu_qsbr_quiescent(shared_.qsbr, index_);
}

uint16_t Worker::poll(const RxQueue& q) {
  rte_mbuf* rx[kBurst];
  const uint16_t n = rte_eth_rx_burst(q.port, q.queue, rx, kBurst);
  if (n == 0) return 0;
  // The tables as published now: frames received after a change use it.
  fwd_->begin(shared_.snapshot->load(std::memory_order_acquire), clock_.now());
  lb::Frame frames[kBurst];
  lb::Verdict verdicts[kBurst];
  uint16_t vlans = 0;
  const uint64_t bytes = to_frames(q.port, rx, frames, n, vlans);
#ifdef DRFWD_FORWARDER_BYPASS
  // (-Dforwarder_bypass, benchmarks only) The Forwarder decides the first frame; every
  // other frame leaves with its verdict and its rewritten Ethernet addresses, as
  // testpmd's macswap writes each frame's: the rate of drfwd's I/O path alone.
  fwd_->process_burst(frames, verdicts, 1, vlans != 0);
  for (uint16_t i = 1; i < n; ++i) {
    verdicts[i] = verdicts[0];
    std::memcpy(frames[i].data, frames[0].data, 12);
  }
#else
  fwd_->process_burst(frames, verdicts, n, vlans != 0);
#endif
  if (__builtin_expect(fwd_->sync_pending() != 0, 0)) hand_sync();
  dispatch(q.port, rx, frames, verdicts, n, bytes);
  return n;
}

// The Forwarder's view of each mbuf (and the NIC's checksum verdict, where it gives
// one); counts what was received. Returns the bytes.
uint64_t Worker::to_frames(uint16_t port, rte_mbuf** rx, lb::Frame* frames, uint16_t n, uint16_t& vlans) const {
  const bool nic_csum = conf_.ip_csum_ports & (1u << port);
  // What the NIC did not check: verified by the Forwarder, or (--ipv4-checksum trust) not.
  const net::IpCsum unchecked = shared_.trust_ipv4_checksum ? net::IpCsum::kGood : net::IpCsum::kUnknown;
  // Software strip only where the NIC does not and the port has VLAN interfaces: on any
  // other port a tag stays in the frame and the Forwarder drops it (vlan-unknown) without
  // this loop reading every frame's EtherType (10% of the rate at 4,096 flows).
  const lb::Snapshot* snap = fwd_->snapshot();
  const bool nic_strips = conf_.vlan_rx_ports & (1u << port);
  const bool sw_strip = !nic_strips && snap && snap->has_vlans(port);
  if (sw_strip)
    for (uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(rx[i], void*));
  uint64_t bytes = 0;
  uint16_t tagged = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = rx[i];
    frames[i].vlan = nic_strips ? ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) ? m->vlan_tci & net::kVidMask : 0)
                     : sw_strip ? untag(m)
                                : 0;
    tagged |= frames[i].vlan;
    frames[i].data = rte_pktmbuf_mtod(m, uint8_t*);
    rte_prefetch0(frames[i].data);
    frames[i].seg_len = rte_pktmbuf_data_len(m);
    frames[i].pkt_len = rte_pktmbuf_pkt_len(m);
    frames[i].rx_port = port;
    frames[i].ip_csum = unchecked;
    if (nic_csum) {
      const uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
      frames[i].ip_csum = ck == RTE_MBUF_F_RX_IP_CKSUM_GOOD  ? net::IpCsum::kGood
                          : ck == RTE_MBUF_F_RX_IP_CKSUM_BAD ? net::IpCsum::kBad
                                                             : unchecked;
    }
    bytes += frames[i].pkt_len;
  }
  vlans = tagged;
  lb::PortCounters& in = counters_->port[port];
  lb::bump(in.received, n);
  lb::bump(in.received_bytes, bytes);
  return bytes;
}

// The VLAN a frame arrived on, its tag taken out here, in place, when the NIC did not:
// the Forwarder and the control core see untagged frames with the VLAN in the mbuf
// either way. A priority tag (VID 0) is untagged.
uint16_t Worker::untag(rte_mbuf* m) {
  auto* d = rte_pktmbuf_mtod(m, uint8_t*);
  // Untagged, or too short for a tag and an EtherType (left whole: the parser's runt).
  if (__builtin_expect(rte_pktmbuf_data_len(m) < net::kEtherHdrLen + net::kVlanTagLen ||
                           net::load16(d + net::kEthType) != net::hton16(net::kEtherVlan), 1))
    return 0;
  const uint16_t tci = net::ntoh16(net::load16(d + net::kEthType + 2));
  net::strip_vlan_tag(d, rte_pktmbuf_data_len(m));
  rte_pktmbuf_adj(m, net::kVlanTagLen);
  m->vlan_tci = tci;
  m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
  return tci & net::kVidMask;
}

// Frames leaving on a VLAN get their tag: from the NIC where it inserts them, else
// written here into the headroom (every received mbuf has RTE_PKTMBUF_HEADROOM, 128
// bytes, in front of its frame, and a stripped tag leaves 4 more: prepend cannot fail).
// Byte counters count frames without their 802.1Q tag, in both directions and however
// the tag is handled.
void Worker::tag(rte_mbuf* m, uint16_t out, uint16_t vlan) const {
  if (conf_.vlan_tx_ports & (1u << out)) {
    m->vlan_tci = vlan;
    m->ol_flags |= RTE_MBUF_F_TX_VLAN;
    return;
  }
  push_vlan_tag(m, vlan);
}

bool push_vlan_tag(rte_mbuf* m, uint16_t vlan) {
  auto* old = rte_pktmbuf_mtod(m, uint8_t*);
  if (rte_pktmbuf_prepend(m, net::kVlanTagLen) == nullptr) return false;
  net::insert_vlan_tag(old, vlan);
  return true;
}

void Worker::dispatch(uint16_t port, rte_mbuf** rx, const lb::Frame* frames, const lb::Verdict* v, uint16_t n,
                      uint64_t bytes) {
  // The common case: the whole burst forwarded out of one port (on one VLAN, or none):
  // every verdict equal to the first. Send the RX array as is.
  const uint16_t out = v[0].port;
  const uint64_t first = v[0].word();
  uint64_t differ = 0;  // (an OR of differences: GCC vectorises it, two verdicts at a time)
  for (uint16_t i = 1; i < n; ++i) differ |= v[i].word() ^ first;
  const bool uniform = differ == 0 && v[0].action == lb::Verdict::Action::kForward;
  if (__builtin_expect(uniform && v[0].vlan != 0, 0))
    for (uint16_t i = 0; i < n; ++i) tag(rx[i], out, v[0].vlan);
  if (__builtin_expect(uniform, 1))
    transmit(out, rx, n, bytes, counters_->port[port]);
  else
    sort_and_send(port, rx, frames, v, n);
}

// Sends on this worker's TX queue of `out`; what the queue refuses is freed and counted
// (tx-full) against the port it came in on.
void Worker::transmit(uint16_t out, rte_mbuf** m, uint16_t n, uint64_t bytes, lb::PortCounters& in) {
  const uint16_t sent = rte_eth_tx_burst(out, conf_.tx_queue, m, n);
  // Sent mbufs belong to the driver now; only the unsent ones may still be read.
  uint64_t unsent_bytes = 0;
  for (uint16_t i = sent; i < n; ++i) unsent_bytes += untagged_len(m[i]);
  lb::PortCounters& eg = counters_->port[out];
  lb::bump(eg.forwarded, sent);
  lb::bump(eg.forwarded_bytes, bytes - unsent_bytes);
  if (sent < n) {
    lb::bump(in.drops[static_cast<int>(net::Drop::kTxFull)], n - sent);
    rte_pktmbuf_free_bulk(&m[sent], n - sent);
  }
}

// A mixed burst: one TX burst per egress port, one ring burst to the control core, the
// rest freed.
[[gnu::noinline]] void Worker::sort_and_send(uint16_t port, rte_mbuf** rx, const lb::Frame* frames,
                                             const lb::Verdict* v, uint16_t n) {
  rte_mbuf* tx[lb::kMaxPorts][kBurst];
  uint16_t tx_n[lb::kMaxPorts];
  uint64_t tx_bytes[lb::kMaxPorts];
  uint32_t tx_ports = 0;  // bitmap of ports with something to send (ports < 32)
  rte_mbuf* ctl[kBurst];
  uint8_t ctl_cls[kBurst];
  rte_mbuf* drop[kBurst];
  uint16_t ctl_n = 0, drop_n = 0;
  for (uint16_t i = 0; i < n; ++i) {
    switch (v[i].action) {
      case lb::Verdict::Action::kForward: {
        const uint16_t out = v[i].port;
        if (!(tx_ports & (1u << out))) {
          tx_ports |= 1u << out;
          tx_n[out] = 0;
          tx_bytes[out] = 0;
        }
        tx[out][tx_n[out]++] = rx[i];
        tx_bytes[out] += frames[i].pkt_len;
        if (v[i].vlan) tag(rx[i], out, v[i].vlan);
        break;
      }
      case lb::Verdict::Action::kControl:
        ctl_cls[ctl_n] = static_cast<uint8_t>(v[i].exc);
        ctl[ctl_n++] = rx[i];
        break;
      case lb::Verdict::Action::kDrop:
        drop[drop_n++] = rx[i];
        break;
    }
  }
  lb::PortCounters& in = counters_->port[port];
  while (tx_ports) {
    const uint16_t out = static_cast<uint16_t>(__builtin_ctz(tx_ports));
    tx_ports &= tx_ports - 1;
    transmit(out, tx[out], tx_n[out], tx_bytes[out], in);
  }
  if (ctl_n) to_control(ctl, ctl_cls, ctl_n, in);
  if (drop_n) rte_pktmbuf_free_bulk(drop, drop_n);
}

// Rate-limited first, each class on its own (a flood at the DIP must crowd out neither
// the control core nor the real servers' health-check and ARP replies), then bounded by
// the ring. Order within the burst is kept; what is not handed over is freed and counted.
void Worker::to_control(rte_mbuf** m, const uint8_t* cls, uint16_t n, lb::PortCounters& in) {
  uint32_t left[lb::kExcClasses] = {};
  for (uint16_t i = 0; i < n; ++i) ++left[cls[i]];
  for (int c = 0; c < lb::kExcClasses; ++c)
    if (left[c]) left[c] = exception_allowance(c, left[c]);
  rte_mbuf* limited[kBurst];
  uint16_t allowed = 0, limited_n = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (left[cls[i]]) {
      --left[cls[i]];
      m[allowed++] = m[i];
    } else {
      lb::bump(in.drops[static_cast<int>(net::Drop::kExceptionLimit)]);
      lb::bump(counters_.get()->*lb::kExcLimited[cls[i]]);
      limited[limited_n++] = m[i];
    }
  }
  if (limited_n) rte_pktmbuf_free_bulk(limited, limited_n);
  const unsigned queued = rte_ring_enqueue_burst(ring_.get(), reinterpret_cast<void**>(m), allowed, nullptr);
  lb::bump(in.to_control, queued);
  if (queued < allowed) {
    lb::bump(in.drops[static_cast<int>(net::Drop::kControlFull)], allowed - queued);
    rte_pktmbuf_free_bulk(&m[queued], allowed - queued);
  }
}

uint32_t Worker::Bucket::available(double rate, uint64_t now, uint64_t hz) {
  const double burst = std::max(32.0, rate / 20);  // 50 ms worth
  if (last_tsc == 0) tokens = burst;
  tokens = std::min(burst, tokens + static_cast<double>(now - last_tsc) * rate / static_cast<double>(hz));
  last_tsc = now;
  return static_cast<uint32_t>(tokens);
}

uint32_t Worker::Bucket::take(double rate, uint32_t wanted, uint64_t now, uint64_t hz) {
  const uint32_t allowed = std::min<uint32_t>(wanted, available(rate, now, hz));
  tokens -= allowed;
  return allowed;
}

uint32_t Worker::exception_allowance(int cls, uint32_t wanted) {
  const double rate = shared_.exception_pps;
  if (rate <= 0) return wanted;
  return exc_[cls].take(rate, wanted, rte_rdtsc(), shared_.tsc_hz);
}

// Never waits: what the rate cap or a full ring does not let through is counted and
// not announced (the connection is announced again at its next refresh if still in use).
double Worker::sync_rate() const {
  const lb::Snapshot* snap = fwd_->snapshot();
  return static_cast<double>(snap->sync.rate) / std::max<uint32_t>(1, snap->workers);
}

void Worker::hand_sync() {
  const uint32_t n = fwd_->sync_pending();
  const uint32_t allowed = sync_bucket_.take(sync_rate(), n, rte_rdtsc(), shared_.tsc_hz);
  const unsigned queued =
      allowed ? rte_ring_enqueue_burst_elem(sync_out_.get(), fwd_->sync_out(), sizeof(lb::SyncRecord), allowed, nullptr)
              : 0;
  lb::bump(counters_->sync_queued, queued);
  lb::bump(counters_->sync_capped, n - allowed);
  lb::bump(counters_->sync_ring_full, allowed - queued);
  fwd_->sync_clear();
}

// A slice of the table per loop (at most 1024 entries looked at, at most what the rate
// cap lets out now announced), so the loop stays short and nothing announced is capped.
// A request that comes during a walk makes one more walk after it, never a restart.
void Worker::bulk_step() {
  const lb::Snapshot* snap = fwd_->snapshot();
  const uint64_t req = bulk_request_.load(std::memory_order_acquire);
  if (req != bulk_seen_) {
    bulk_seen_ = req;
    if (bulk_busy_.load(std::memory_order_relaxed)) {
      bulk_again_ = true;
    } else {
      bulk_cursor_ = 0;
      bulk_busy_.store(true, std::memory_order_release);
    }
  }
  if (!snap->sync.send) {  // no master (any more): nothing to announce
    bulk_cursor_ = 0;
    bulk_again_ = false;
    bulk_busy_.store(false, std::memory_order_release);
    return;
  }
  const uint32_t room = std::min<uint32_t>(lb::Forwarder::kSyncOutMax - fwd_->sync_pending(),
                                           sync_bucket_.available(sync_rate(), rte_rdtsc(), shared_.tsc_hz));
  uint32_t announced = 0;
  const uint32_t cap = conns_->capacity();
  for (uint32_t looked = 0; looked < 1024 && announced < room && bulk_cursor_ < cap; ++looked, ++bulk_cursor_)
    announced += fwd_->reannounce(bulk_cursor_);
  if (fwd_->sync_pending()) hand_sync();
  if (bulk_cursor_ >= cap) {
    bulk_cursor_ = 0;
    if (bulk_again_)
      bulk_again_ = false;
    else
      bulk_busy_.store(false, std::memory_order_release);
  }
}

void Worker::take_sync() {
  lb::SyncRecord recs[64];
  const unsigned n = rte_ring_dequeue_burst_elem(sync_in_.get(), recs, sizeof(lb::SyncRecord), 64, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    switch (fwd_->adopt(recs[i])) {
      case lb::Forwarder::Adopt::kApplied: lb::bump(counters_->sync_applied); break;
      case lb::Forwarder::Adopt::kKeptLocal: lb::bump(counters_->sync_kept_local); break;
      case lb::Forwarder::Adopt::kStale: lb::bump(counters_->sync_stale); break;
      case lb::Forwarder::Adopt::kTableFull: lb::bump(counters_->sync_table_full); break;
    }
  }
}

void Worker::send_for_control() {
  rte_mbuf* m[kBurst];
  const unsigned n = rte_ring_dequeue_burst(tx_ring_.get(), reinterpret_cast<void**>(m), kBurst, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    const uint16_t port = m[i]->port;
    if (port >= shared_.n_ports || rte_eth_tx_burst(port, conf_.tx_queue, &m[i], 1) != 1) {
      rte_pktmbuf_free(m[i]);
      continue;
    }
    lb::bump(counters_->port[port].from_control);
  }
}

WorkerSet::WorkerSet(const std::vector<unsigned>& lcores, uint32_t conn_capacity, uint32_t conn6_capacity,
                     const WorkerShared& shared)
    : stop_(shared.stop) {
  for (size_t i = 0; i < lcores.size(); ++i) {
    LcoreConf conf;
    for (uint16_t p = 0; p < shared.n_ports; ++p) conf.rx.push_back({p, static_cast<uint16_t>(i)});
    conf.tx_queue = static_cast<uint16_t>(i);
    workers_.push_back(std::make_unique<Worker>(static_cast<uint32_t>(i), lcores[i], std::move(conf), conn_capacity, conn6_capacity, shared));
  }
  // Each Forwarder reads every worker's RS counters (its own included) to count an RS's
  // connections (lc schedulers, thresholds); it writes only its own.
  std::vector<const lb::RsCounters*> all;
  for (const auto& w : workers_) all.push_back(w->rs_counters());
  for (auto& w : workers_) w->set_peers(all);
}

void WorkerSet::launch(const std::vector<PortInfo>& ports) {
  uint32_t csum = 0, vlan_rx = 0, vlan_tx = 0;
  for (const PortInfo& p : ports) {
    if (p.ip_csum) csum |= 1u << p.id;
    if (p.vlan_strip) vlan_rx |= 1u << p.id;
    if (p.vlan_insert) vlan_tx |= 1u << p.id;
  }
  for (auto& w : workers_) {
    w->set_offloads(csum, vlan_rx, vlan_tx);
    if (rte_eal_remote_launch(Worker::main, w.get(), w->lcore()) != 0)
      throw std::runtime_error("cannot launch worker " + std::to_string(w->index()) + " on lcore " +
                               std::to_string(w->lcore()));
    launched_ = true;
  }
}

void WorkerSet::stop() {
  if (!launched_) return;
  stop_->store(true);
  rte_eal_mp_wait_lcore();
  launched_ = false;
}

bool WorkerSet::any_failed() const {
  for (const auto& w : workers_)
    if (w->status().has_failed()) return true;
  return false;
}

}  // namespace drfwd::dp
