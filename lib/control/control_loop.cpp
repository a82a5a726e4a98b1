#include "control/control_loop.hpp"

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace drfwd::control {

bool ControlLoop::round() {
  const double t = now();
  slow_path_.poll(t);
  if (kernel_ && slow_path_.kernel_serial() != kernel_serial_) {
    kernel_->set_interfaces(slow_path_.kernel_ifindexes());
    kernel_serial_ = slow_path_.kernel_serial();
  }
  for (const lb::Iface at : slow_path_.take_ipv6_resets())
    if (kernel_) kernel_->forget_routes(at);
  if (kernel_) kernel_->poll(director_, t);
  slow_path_.send(director_.tick(t));
  if (kernel_) kernel_->sync(director_.routes(), director_.model().vip_claim().route_table, t);
  if (sync_) pump_sync(t);
  for (auto& p : pollers_) p(t);
  for (const auto& w : workers_)
    if (w->status().has_failed()) {
      spdlog::critical("worker {} (lcore {}) stopped: {}", w->index(), w->lcore(), w->status().failure());
      return false;
    }
  return true;
}

// Records the workers announce go into messages; entries received and checked go to
// the worker that owns the flow: the one whose queue RSS gives it on each port (worker i
// polls queue i). Without RSS state to compute the owner from (one worker, or software
// devices such as net_af_packet that spread flows their own way), and for persistence
// templates (every worker may schedule that client), to every worker.
void ControlLoop::pump_sync(double now) {
  const lb::Snapshot* snap = director_.sink().current();
  if (!snap) return;
  // Every change of the model goes out in a new snapshot: only then can the sync
  // settings or the port addresses have changed.
  if (snap->version != sync_version_) {
    sync_->configure(director_.model(), now);
    sync_version_ = snap->version;
  }
  // Announce only once this director sees its real servers as its peers do (a newcomer's
  // first message makes them send it everything; entries for servers it has not resolved
  // yet would be refused).
  if (!sync_ready_ && director_.all_converged()) sync_ready_ = true;
  sync_->set_ready(sync_ready_);
  // At most one bulk re-announcement a second: a stream of new instances (or a forged
  // one per message) costs one walk of the tables a second, within the rate cap.
  bulk_due_ |= sync_->take_bulk_request();
  if (bulk_due_ && now - last_bulk_ >= 1.0) {
    bulk_due_ = false;
    last_bulk_ = now;
    for (const auto& w : workers_) w->post_bulk_announce();
  }
  // Without a master (stopped), add() drops what the workers still hand over.
  lb::SyncRecord recs[256];
  for (const auto& w : workers_) {
    for (int i = 0; i < 16; ++i) {  // bounded per round: a worker's ring holds 4096
      const unsigned n = rte_ring_dequeue_burst_elem(w->sync_out_ring(), recs, sizeof(lb::SyncRecord), 256, nullptr);
      if (n == 0) break;
      sync_->add({recs, n}, *snap, now);
    }
  }
  sync_->poll(*snap, now, [this](const lb::SyncRecord& r) {
    lb::SyncRecord copy = r;  // the ring API takes a non-const pointer
    const uint64_t owners = sync_owners(rss_, r.key, workers_.size());
    bool all = true;
    for (size_t i = 0; i < workers_.size(); ++i)
      if (i >= 64 || (owners >> i & 1))
        all &= rte_ring_enqueue_elem(workers_[i]->sync_in_ring(), &copy, sizeof copy) == 0;
    return all;
  });
}

bool ControlLoop::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    if (!round()) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace drfwd::control
