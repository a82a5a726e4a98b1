#include "console/operator.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "config/reconcile.hpp"
#include "config/show_config.hpp"
#include "console/help.hpp"
#include "console/ipvsadm_views.hpp"
#include "console/metrics.hpp"
#include "console/sync_views.hpp"
#include "console/tables.hpp"
#include "console/telemetry.hpp"
#include "control/status.hpp"
#include "dataplane/stats.hpp"

namespace drfwd::console {

namespace q = config::query;

namespace {

Answer refused(const std::string& what, const std::string& usage) {
  return Answer{false, what + (usage.empty() ? "" : "\nusage: " + usage) + "\n"};
}

std::vector<lb::ConnDump*> dumps(const std::vector<std::unique_ptr<dp::Worker>>& workers) {
  std::vector<lb::ConnDump*> out;
  for (const auto& w : workers) out.push_back(&w->conn_dump());
  return out;
}

std::string missing_note(const control::ConnListing& l) {
  std::string out;
  for (uint32_t w : l.missing) out += "(worker " + std::to_string(w) + " did not answer: its connections are not listed)\n";
  return out;
}

}  // namespace

Operator::Operator(Parts p) : p_(p), conns_(dumps(p.workers), p.director.sink()) {}

dp::Totals Operator::totals() const { return dp::collect(p_.ports, p_.workers); }

ControlReading Operator::control_reading() const {
  return {p_.slow_path.counters(), p_.director.counters(), p_.director.neighbours().counters()};
}

uint64_t Operator::conn_capacity() const {
  uint64_t c = 0;
  for (const auto& w : p_.workers) c += w->conns().capacity();
  return c;
}

std::string Operator::metrics() const {
  std::vector<uint64_t> capacity;
  for (const auto& w : p_.workers) capacity.push_back(uint64_t{w->conns().capacity()} + w->conns6().capacity());
  return render_metrics({p_.ports, totals(), control_reading(), control::service_status(p_.director),
                         p_.sync ? &p_.sync->counters() : nullptr, std::move(capacity),
                         static_cast<double>(rte_get_tsc_hz())});
}

std::string Operator::stats_json(const dp::Totals& t, const std::string& extra_fields) const {
  const auto services = control::service_status(p_.director);
  const auto neighbours = control::neighbour_status(p_.director);
  const ControlReading control = control_reading();
  return console::stats_json({p_.ports, t, control, neighbours, services, static_cast<double>(rte_get_tsc_hz())},
                             extra_fields);
}

void Operator::execute(std::string_view line, double now, Reply reply) {
  try {
    auto r = config::parse_request(line);
    if (!r) return reply(Answer{});
    if (auto* c = std::get_if<config::Command>(&*r)) {
      Answer a = apply(std::span<const config::Command>(c, 1), now);
      if (!a.ok) spdlog::info("refused '{}': {}", line, a.text.substr(0, a.text.find('\n')));
      return reply(std::move(a));
    }
    query(std::get<config::Query>(*r), now, reply);
  } catch (const config::ConfigError& e) {
    spdlog::info("refused '{}': {}", line, e.what());
    if (reply) reply(refused(e.what(), e.usage()));
  } catch (const std::exception& e) {
    // (A reply already handed to a connection listing answers from there.)
    spdlog::error("command '{}': {}", line, e.what());
    if (reply) reply(Answer{false, std::string("internal error: ") + e.what() + "\n"});
  }
}

Answer Operator::reload(const config::Model& wanted, double now) {
  const std::vector<config::Command> batch = config::reconcile(p_.director.model(), wanted);
  if (batch.empty()) return Answer{true, "configuration unchanged\n"};
  const control::BatchResult r = commit(batch, now);
  if (!r.ok) return refused(r.error, r.usage);
  for (const std::string& s : r.summaries) spdlog::info("reload: {}", s);
  return Answer{true, std::to_string(batch.size()) + " change(s) applied\n"};
}

control::BatchResult Operator::commit(std::span<const config::Command> batch, double now) {
  control::BatchResult r = p_.director.apply(batch, now);
  if (r.ok)
    for (const lb::Iface at : r.addressed) p_.slow_path.readdress(at);
  return r;
}

Answer Operator::apply(std::span<const config::Command> batch, double now) {
  const control::BatchResult r = commit(batch, now);
  if (!r.ok) return refused(r.error, r.usage);
  if (batch.size() == 1) {
    spdlog::info("config: {}", r.summaries[0]);
    return Answer{true, r.summaries[0] + "\n"};
  }
  spdlog::info("config: batch of {} command(s) applied", batch.size());
  return Answer{true, std::to_string(batch.size()) + " command(s) applied\n"};
}

void Operator::execute_batch(const std::vector<std::string>& lines, double now, Reply reply) {
  std::vector<config::Command> batch;
  std::vector<size_t> line_of;  // the line each command came from
  auto fail = [&](size_t line, const Answer& a) {
    reply(Answer{false, "line " + std::to_string(line + 1) + ": " + a.text + "nothing was applied\n"});
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      auto r = config::parse_request(lines[i]);
      if (!r) continue;
      auto* c = std::get_if<config::Command>(&*r);
      if (!c) throw config::ConfigError("only configuration commands can be part of a batch");
      batch.push_back(std::move(*c));
      line_of.push_back(i);
    } catch (const config::ConfigError& e) {
      return fail(i, refused(e.what(), e.usage()));
    } catch (const std::exception& e) {
      spdlog::error("batch line {}: {}", i + 1, e.what());
      return fail(i, Answer{false, std::string("internal error: ") + e.what() + "\n"});
    }
  }
  if (batch.empty()) return reply(Answer{true, "0 command(s) applied\n"});  // nothing to publish
  const control::BatchResult r = commit(batch, now);
  if (!r.ok) return fail(line_of[std::min(r.refused, line_of.size() - 1)], refused(r.error, r.usage));
  spdlog::info("config: batch of {} command(s) applied", batch.size());
  reply(Answer{true, std::to_string(batch.size()) + " command(s) applied\n"});
}

void Operator::query(const config::Query& query, double now, Reply& reply) {
  const config::Model& m = p_.director.model();
  auto no_service = [&](const std::optional<config::ServiceKey>& k) {
    return k && !m.find(*k) ? std::optional<Answer>(Answer{false, "ipvsadm: no such service " + config::to_string(*k) + "\n"})
                            : std::nullopt;
  };
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, q::ShowVips>) {
          reply({true, format_vips(control::service_status(p_.director))});
        } else if constexpr (std::is_same_v<T, q::ShowRs>) {
          auto all = control::service_status(p_.director);
          if (!x.vips.empty())
            std::erase_if(all, [&](const control::ServiceStatus& s) {
              return std::find(x.vips.begin(), x.vips.end(), s.key.vip) == x.vips.end();
            });
          reply({true, format_rs(all)});
        } else if constexpr (std::is_same_v<T, q::ShowStats>) {
          reply(show_stats());
        } else if constexpr (std::is_same_v<T, q::ShowPorts>) {
          reply(show_ports());
        } else if constexpr (std::is_same_v<T, q::ShowNeigh>) {
          reply({true, format_neigh(control::neighbour_status(p_.director))});
        } else if constexpr (std::is_same_v<T, q::ShowConns>) {
          list_conns(x, now, reply);
        } else if constexpr (std::is_same_v<T, q::ShowConfig>) {
          reply({true, config::model_to_commands(m)});
        } else if constexpr (std::is_same_v<T, q::ShowSync>) {
          if (!p_.sync) return reply({false, "connection sync is not available here\n"});
          lb::WorkerScalars w;
          for (const auto& wt : totals().workers) lb::add(w, wt.w);
          reply({true, format_sync(*p_.sync, m.sync(), w)});
        } else if constexpr (std::is_same_v<T, q::SaveConfig>) {
          reply(save_config(x.path));
        } else if constexpr (std::is_same_v<T, q::ClearStats>) {
          clear_stats(std::nullopt, true);
          reply({true, "statistics cleared\n"});
        } else if constexpr (std::is_same_v<T, q::SetLogLevel>) {
          spdlog::set_level(spdlog::level::from_str(x.level));
          reply({true, "log level " + x.level + "\n"});
        } else if constexpr (std::is_same_v<T, q::Quit>) {
          p_.stop.store(true);
          reply({true, "stopping\n"});
        } else if constexpr (std::is_same_v<T, q::Help>) {
          reply({true, help_text(x.topic)});
        } else if constexpr (std::is_same_v<T, q::IpvsList>) {
          if (auto err = no_service(x.service)) return reply(*err);
          ipvsadm_list(x, now, reply);
        } else if constexpr (std::is_same_v<T, q::IpvsZero>) {
          if (auto err = no_service(x.service)) return reply(*err);
          clear_stats(x.service, false);  // ipvsadm -Z: the services' counters only
          reply({true, ""});
        } else if constexpr (std::is_same_v<T, q::IpvsSave>) {
          reply({true, ipvsadm_save(control::service_status(p_.director), x.numeric)});
        } else {
          static_assert(std::is_same_v<T, q::IpvsRestore>, "every query has a handler");
          reply({false, "ipvsadm -R reads rules that follow it: use drfwdctl -R < rules (applied as one batch)\n"});
        }
      },
      query);
}

void Operator::list_conns(const q::ShowConns& x, double now, Reply& reply) {
  conns_.start(x.vip, x.limit, now, [limit = x.limit, reply = std::move(reply)](control::ConnListing l) {
    reply({true, format_conns(l.conns, l.in_use, limit) + missing_note(l)});
  });
}

void Operator::ipvsadm_list(const q::IpvsList& x, double now, Reply& reply) {
  if (x.daemon) return reply({true, p_.sync ? ipvsadm_daemons(*p_.sync) : std::string()});
  auto answer = [this, x, reply = std::move(reply)](const std::vector<control::ConnStatus>& conns,
                                                    const std::string& note) {
    reply({true, console::ipvsadm_list(control::service_status(p_.director), x, conn_capacity(),
                                       p_.director.model().timeouts(), conns) +
                     note});
  };
  if (!x.connection) return answer({}, {});
  conns_.start(x.service ? std::optional<net::IpAddr>(x.service->vip) : std::nullopt, lb::ConnDump::kMaxRecords, now,
               [answer](control::ConnListing l) { answer(l.conns, missing_note(l)); });
}

Answer Operator::save_config(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << config::model_to_commands(p_.director.model());
    if (!f) return {false, "cannot write " + tmp + "\n"};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return {false, "cannot rename " + tmp + " to " + path + "\n"};
  return {true, "saved to " + path + "\n"};
}

Answer Operator::show_stats() const {
  dp::Totals shown = totals();
  dp::subtract(shown, baseline_);
  return {true, console::show_stats(p_.ports, shown, rates_, control_reading())};
}

Answer Operator::show_ports() const {
  std::vector<PortRow> rows;
  const config::Model& m = p_.director.model();
  const auto& kernel = p_.slow_path.kernel_interfaces();
  for (const dp::PortInfo& p : p_.ports) {
    rte_eth_link link{};
    rte_eth_link_get_nowait(p.id, &link);
    PortRow r{p, m.address(lb::Iface{p.id, 0}), p_.workers.size(), link.link_status != 0, {}, {}};
    const bool kernel_if = p.id < kernel.size() && kernel[p.id];
    if (kernel_if) r.kernel_if = kernel[p.id]->ifname;
    for (const auto& [vid, prefix] : m.vlan_interfaces(p.id))
      r.vlans.push_back({vid, prefix, kernel_if ? m.kernel_ifname(lb::Iface{p.id, vid}) : std::string()});
    rows.push_back(std::move(r));
  }
  return {true, format_ports(rows)};
}

void Operator::clear_stats(const std::optional<config::ServiceKey>& key, bool port_and_worker) {
  if (port_and_worker) baseline_ = totals();
  for (const config::Service& s : p_.director.model().services())
    if (!key || s.key == *key)
      for (const config::RealServer& r : s.rs) p_.director.rs_stats().zero(r.slot);
}

// Per-second rates of the counters the tables show: RX and TX per port, RX per worker.
void Operator::sample_rates(double now) {
  if (last_sample_time_ >= 0 && now - last_sample_time_ < 1.0) return;
  dp::Totals cur = totals();
  const double dt = now - last_sample_time_;
  if (last_sample_time_ >= 0 && last_sample_.ports.size() == cur.ports.size()) {
    rates_ = cur;
    dp::subtract(rates_, last_sample_);
    auto per_second = [dt](uint64_t& v) { v = static_cast<uint64_t>(static_cast<double>(v) / dt); };
    for (dp::PortTotals& p : rates_.ports) {
      for (const auto& f : dp::kNicFields) per_second(p.nic.*f.member);
      for (const auto& f : lb::kPortFields) per_second(p.sw.*f.member);
    }
    for (dp::WorkerTotals& w : rates_.workers)
      for (const auto& f : lb::kPortFields) per_second(w.sw.*f.member);
  }
  last_sample_ = std::move(cur);
  last_sample_time_ = now;
  if (telemetry_) Telemetry::update(telemetry_data(control::service_status(p_.director), last_sample_));
}

void Operator::poll(double now) {
  conns_.poll(now);
  sample_rates(now);
}

}  // namespace drfwd::console
