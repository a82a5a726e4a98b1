#include "console/sync_views.hpp"

#include <fmt/format.h>

namespace drfwd::console {

namespace {

std::string daemon_line(config::SyncRole r, const config::SyncDaemonConf& c, const control::SyncRoleStatus& st) {
  std::string to = c.peers.empty() ? "group " + net::to_string(c.group) : "peers ";
  for (size_t i = 0; i < c.peers.size(); ++i) to += (i ? "," : "") + net::to_string(c.peers[i]);
  return fmt::format("{:<7} {:<10} syncid {:<3}  {} port {}  maxlen {}{}  {}\n", config::sync_role_name(r), st.ifname,
                     c.syncid, to, c.udp_port, c.maxlen,
                     r == config::SyncRole::kMaster && c.peers.empty() ? fmt::format("  ttl {}", c.ttl) : "",
                     st.open ? "open" : "waiting: " + st.error);
}

}  // namespace

std::string format_sync(const control::SyncDaemon& d, const config::SyncSettings& s, const lb::WorkerScalars& w) {
  std::string out;
  for (config::SyncRole r : {config::SyncRole::kMaster, config::SyncRole::kBackup}) {
    const auto& conf = r == config::SyncRole::kMaster ? d.master_conf() : d.backup_conf();
    if (conf)
      out += daemon_line(r, *conf, d.status(r));
    else
      out += fmt::format("{:<7} not running\n", config::sync_role_name(r));
  }
  out += fmt::format("rate cap {} records/s, refresh every {} s\n\n", s.rate, s.refresh);
  auto row = [&](std::string_view name, uint64_t v, std::string_view help) {
    out += fmt::format("  {:<24} {:>12}  {}\n", name, v, help);
  };
  out += "workers:\n";
  for (const auto& f : lb::kWorkerFields)
    if (f.name.starts_with("sync_")) row(f.name, lb::read(w.*f.member), f.help);
  row("exception_limited_sync", lb::read(w.exception_limited_sync), "frames from the sync port dropped over the exception limit");
  out += "control core:\n";
  for (const auto& f : control::kSyncFields) row(f.name, lb::read(d.counters().*f.member), f.help);
  return out;
}

std::string ipvsadm_daemons(const control::SyncDaemon& d) {
  std::string out;
  for (config::SyncRole r : {config::SyncRole::kMaster, config::SyncRole::kBackup}) {
    const auto& c = r == config::SyncRole::kMaster ? d.master_conf() : d.backup_conf();
    if (!c) continue;
    out += fmt::format("{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}", config::sync_role_name(r),
                       d.status(r).ifname, c->syncid, c->maxlen, net::to_string(c->group), c->udp_port);
    if (r == config::SyncRole::kMaster) out += fmt::format(", ttl={}", c->ttl);
    out += ")\n";
  }
  return out;
}

}  // namespace drfwd::console
