#include "control/accounting.hpp"

#include <fmt/format.h>

#include <map>

namespace drfwd::control {

namespace {
template <class Table>
void count(const Table& t, size_t w, std::string_view family, std::map<std::pair<uint32_t, uint32_t>, lb::BoundCounts>& counted,
           std::vector<std::string>& problems) {
  if (std::string why = t.check(); !why.empty())
    problems.push_back(fmt::format("worker {}: {} connection table: {}", w, family, why));
  uint64_t unbound = 0;
  for (const auto& [key, c] : lb::count_bound(t, unbound)) {
    lb::BoundCounts& sum = counted[key];
    sum.active += c.active;
    sum.inactive += c.inactive;
    sum.persist += c.persist;
  }
  if (unbound) problems.push_back(fmt::format("worker {}: {} {} connection entries bound to no real server", w, unbound, family));
}
}  // namespace

std::vector<std::string> conn_accounting(std::span<const lb::FlowTable* const> tables, const config::Model& model,
                                         const RsStats& stats, std::span<const lb::FlowTable6* const> tables6) {
  std::vector<std::string> problems;
  std::map<std::pair<uint32_t, uint32_t>, lb::BoundCounts> counted;  // (slot, gen) -> entries
  for (size_t w = 0; w < tables.size(); ++w) count(*tables[w], w, "IPv4", counted, problems);
  for (size_t w = 0; w < tables6.size(); ++w) count(*tables6[w], w, "IPv6", counted, problems);
  for (const config::Service& s : model.services())
    for (const config::RealServer& r : s.rs) {
      const lb::RsCounters g = stats.totals(r.slot);
      const auto it = counted.find({r.slot, r.gen});
      const lb::BoundCounts c = it == counted.end() ? lb::BoundCounts{} : it->second;
      if (g.active != c.active || g.inactive != c.inactive || g.persist != c.persist)
        problems.push_back(fmt::format("real server {} in {}: counters say {}/{}/{} active/inactive/persistent, "
                                       "the tables hold {}/{}/{}",
                                       net::to_string(r.ip), config::to_string(s.key), g.active, g.inactive, g.persist,
                                       c.active, c.inactive, c.persist));
    }
  return problems;
}

}  // namespace drfwd::control
