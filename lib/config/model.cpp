#include "config/model.hpp"

#include <algorithm>

#include "config/values.hpp"
#include "lb/maglev.hpp"
#include "net/parse.hpp"

namespace drfwd::config {

std::pair<uint32_t, uint32_t> SlotPool::take() {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    if (gens_.size() >= limit_)
      throw ConfigError("too many entries: the limit is " + std::to_string(limit_) +
                        (held_.empty() ? std::string()
                                       : " (" + std::to_string(held_.size()) +
                                             " just removed become free once every worker has moved on: retry)"));
    slot = static_cast<uint32_t>(gens_.size());
    gens_.push_back(0);
  }
  return {slot, ++gens_[slot]};
}

void SlotPool::give(uint32_t slot, uint64_t epoch) {
  if (epoch == 0)
    free_.push_back(slot);
  else
    held_.emplace_back(slot, epoch);
}

void SlotPool::reclaim(uint64_t seen) {
  auto ready = [seen](const std::pair<uint32_t, uint64_t>& h) { return h.second <= seen; };
  for (const auto& h : held_)
    if (ready(h)) free_.push_back(h.first);
  std::erase_if(held_, ready);
}

void Model::reclaim_slots(uint64_t seen) {
  svc_slots_.reclaim(seen);
  rs_slots_.reclaim(seen);
}

const RealServer* Service::find(const net::IpAddr& ip) const {
  for (const RealServer& r : rs)
    if (r.ip == ip) return &r;
  return nullptr;
}

const Service* Model::find(const ServiceKey& k) const {
  for (const Service& s : services_)
    if (s.key == k) return &s;
  return nullptr;
}

Service* Model::find_mut(const ServiceKey& k) { return const_cast<Service*>(find(k)); }

bool Model::is_vip(const net::IpAddr& ip) const {
  return std::any_of(services_.begin(), services_.end(), [&](auto& s) { return s.key.vip == ip; });
}

std::optional<lb::Iface> Model::dip_owner(const net::IpAddr& ip) const {
  if (ip.is_v4()) {
    for (auto& [i, p] : addr_)
      if (p.addr == ip.v4()) return i;
  } else {
    for (auto& [i, p] : addr6_)
      if (p.addr == ip.v6()) return i;
  }
  return std::nullopt;
}

bool Model::is_dip(const net::IpAddr& ip) const { return dip_owner(ip).has_value(); }

std::optional<ServiceKey> Model::rs_owner(const net::IpAddr& ip) const {
  for (const Service& s : services_)
    if (s.find(ip)) return s.key;
  return std::nullopt;
}

// A new address for interface `at`: neither a VIP nor another interface's address, nor
// anything that may not be one (the checks the other commands make, the other way
// round, so that no order of the same lines is accepted where another is refused).
void Model::check_new_dip(lb::Iface at, const net::IpAddr& a) const {
  if (is_vip(a)) throw ConfigError(net::to_string(a) + " is a VIP; a port address must differ");
  if (const auto owner = dip_owner(a); owner && *owner != at)
    throw ConfigError(net::to_string(a) + " is already the address of " + iface_name(*owner));
  if (const auto svc = rs_owner(a))
    throw ConfigError(net::to_string(a) + " is a real server of " + to_string(*svc) + "; a port address must differ");
  if (neigh_.count(a)) throw ConfigError(net::to_string(a) + " is a static neighbour; a port address must differ");
  if (a.is_v4())
    for (const auto* d : {&sync_.master, &sync_.backup})
      if (*d && std::find((*d)->peers.begin(), (*d)->peers.end(), a.v4()) != (*d)->peers.end())
        throw ConfigError(net::to_string(a) + " is a sync peer (another director); a port address must differ");
}

std::vector<std::pair<uint16_t, net::Prefix>> Model::vlan_interfaces(uint16_t port) const {
  std::vector<std::pair<uint16_t, net::Prefix>> out;
  for (auto it = addr_.lower_bound(lb::Iface{port, 1}); it != addr_.end() && it->first.port == port; ++it)
    out.push_back({it->first.vlan, it->second});
  return out;
}

std::optional<lb::Iface> Model::egress(const net::IpAddr& ip) const {
  if (auto n = neigh_.find(ip); n != neigh_.end() && n->second.port) return lb::Iface{*n->second.port, n->second.vlan};
  std::optional<lb::Iface> best;
  int best_len = -1;
  for_each_subnet_holding(ip, [&](lb::Iface iface, int len) {
    if (len > best_len) {
      best = iface;
      best_len = len;
    }
  });
  if (best) return best;
  if (num_ports_ == 1) return lb::Iface{};
  return std::nullopt;
}

namespace {
// A level's new check settings: added to what it had, or cleared by "check default".
// The merged settings must be consistent on their own (show config prints them as one
// check clause), so a change that would contradict what the level holds is refused.
void update_check(CheckOverride& level, const CheckOverride& given) {
  CheckOverride merged = merge(level, given);
  validate(merged, "with the check settings already given here (" + to_string(level) + "), ");
  level = std::move(merged);
}
}  // namespace

CheckSpec Model::effective_check(const Service& s, const RealServer& r) const {
  CheckSpec c = resolve(resolve(resolve(CheckSpec{}, check_defaults_), s.check), r.check);
  if (s.key.proto != net::kProtoTcp && !s.check.kind && !r.check.kind) c.kind = CheckKind::kNone;
  if (c.timeout_ms > c.interval_ms) c.timeout_ms = c.interval_ms;
  return c;
}

void Model::set_options(Service& s, const ServiceOptions& o) {
  o.apply_to(s.params);
  if (o.check) update_check(s.check, *o.check);
}

void Model::set_on_failure(RealServer& r, OnFailure f) {
  r.inhibit = f == OnFailure::kDefault ? std::nullopt : std::optional<bool>(f == OnFailure::kInhibit);
}

void Model::check_service(const Service& s) const {
  // The grammar refuses these too; a command built in code reaches here without it.
  if (s.params.mh_size < lb::kMinMaglevSize || s.params.mh_size > lb::kMaxMaglevSize || !lb::is_prime(s.params.mh_size))
    throw ConfigError("service " + to_string(s.key) + ": mh-size " + std::to_string(s.params.mh_size) +
                      " must be a prime from " + std::to_string(lb::kMinMaglevSize) + " to " +
                      std::to_string(lb::kMaxMaglevSize));
  if (lb::sched_uses_maglev(s.params.sched) && s.rs.size() > s.params.mh_size)
    throw ConfigError("service " + to_string(s.key) + " has " + std::to_string(s.rs.size()) +
                      " real servers but a Maglev table of " + std::to_string(s.params.mh_size) +
                      ": raise mh-size");
  if (s.params.persist_mask == 0 || s.params.persist_mask > s.key.vip.max_len())
    throw ConfigError("service " + to_string(s.key) + ": netmask /" + std::to_string(s.params.persist_mask) +
                      " is not a prefix length for " + std::string(net::family_name(s.key.vip)) + " (1-" +
                      std::to_string(s.key.vip.max_len()) + ")");
  if (s.rs.size() > 65535)
    throw ConfigError("service " + to_string(s.key) + ": at most 65535 real servers");
}

Applied Model::apply(const Command& c) {
  Model next = *this;
  Applied a = next.apply_impl(c);
  *this = std::move(next);
  return a;
}

namespace {
std::string port_name(uint16_t p) { return "port " + std::to_string(p); }

// As IPVS (ip_vs_add_dest, ip_vs_edit_dest): the lower threshold never above the upper.
void set_thresholds(RealServer& r, std::optional<uint32_t> upper, std::optional<uint32_t> lower) {
  if (upper) r.thresholds.upper = *upper;
  if (lower) r.thresholds.lower = *lower;
  if (r.thresholds.lower > r.thresholds.upper)
    throw ConfigError("real server " + net::to_string(r.ip) + ": lthreshold " + std::to_string(r.thresholds.lower) +
                      " is above uthreshold " + std::to_string(r.thresholds.upper) +
                      (r.thresholds.upper ? "" : " (none)") + ": the lower threshold cannot exceed the upper one");
}

// ", uthreshold 100 lthreshold 50" for a summary, "" without thresholds.
std::string thresholds_text(const RealServer& r) {
  std::string out;
  if (r.thresholds.upper) out += ", uthreshold " + std::to_string(r.thresholds.upper);
  if (r.thresholds.lower) out += (out.empty() ? ", " : " ") + std::string("lthreshold ") + std::to_string(r.thresholds.lower);
  return out;
}
}  // namespace

Applied Model::apply_impl(const Command& command) {
  return std::visit([this](const auto& c) { return on(c); }, command);
}

Service& Model::service_or_throw(const ServiceKey& k) {
  Service* s = find_mut(k);
  if (!s) throw ConfigError("service " + to_string(k) + " does not exist");
  return *s;
}

std::vector<RealServer>::iterator Model::rs_or_throw(Service& s, const net::IpAddr& ip) {
  auto it = std::find_if(s.rs.begin(), s.rs.end(), [&](const RealServer& r) { return r.ip == ip; });
  if (it == s.rs.end()) throw ConfigError("real server " + net::to_string(ip) + " is not in service " + to_string(s.key));
  return it;
}

void Model::check_port(uint16_t port) const {
  if (port >= num_ports_)
    throw ConfigError(port_name(port) + " does not exist: drfwd has " + std::to_string(num_ports_) + " port(s), 0-" +
                      std::to_string(num_ports_ - 1));
}

void Model::release(const Service& s) {
  for (const RealServer& r : s.rs) rs_slots_.give(r.slot, epoch_);
  svc_slots_.give(s.slot, epoch_);
}

std::string iface_name(lb::Iface i) { return port_name(i.port) + (i.vlan ? " vlan " + std::to_string(i.vlan) : ""); }

Applied Model::on(const cmd::PortAddress& c) {
  check_port(c.port);
  const lb::Iface at{c.port, c.vlan};
  using Remove = cmd::PortAddress::Remove;
  if (c.remove == Remove::kIpv6) {
    if (!addr6_.erase(at)) throw ConfigError(iface_name(at) + " has no IPv6 address");
    return {iface_name(at) + ": IPv6 address removed", {}};
  }
  if (c.address6) {
    if (c.vlan && !addr_.count(at))
      throw ConfigError(iface_name(at) + " does not exist: give it its IPv4 address first (port " + std::to_string(c.port) +
                        " vlan " + std::to_string(c.vlan) + " address <ip>/<len>)");
    check_new_dip(at, net::IpAddr(c.address6->addr));
    addr6_[at] = *c.address6;
    return {iface_name(at) + ": IPv6 address " + net::to_string(*c.address6), {}};
  }
  if (c.remove != Remove::kNone) {
    for (const auto* d : {&sync_.master, &sync_.backup})
      if (*d && (*d)->port == c.port && c.vlan == 0)
        throw ConfigError(port_name(c.port) + " is the sync daemon's port: it sends and listens on its address (sync stop first)");
    if (c.vlan) {
      if (!addr_.count(at)) throw ConfigError(iface_name(at) + " does not exist");
      for (auto& [ip, n] : neigh_)
        if (n.port == c.port && n.vlan == c.vlan)
          throw ConfigError(iface_name(at) + " is static neighbour " + net::to_string(ip) +
                            "'s interface (neigh del it first)");
    }
    addr_.erase(at);
    // A VLAN interface goes with its IPv4 address; "none" takes the IPv6 one too.
    if (c.vlan || c.remove == Remove::kAll) addr6_.erase(at);
    return {iface_name(at) + (c.vlan ? ": removed" : c.remove == Remove::kAll ? ": addresses removed" : ": IPv4 address removed"), {}};
  }
  check_new_dip(at, c.address->addr);
  if (c.vlan && !addr_.count(at)) {
    const auto vlans = std::count_if(addr_.begin(), addr_.end(), [](auto& a) { return a.first.vlan != 0; });
    if (static_cast<size_t>(vlans) >= max_vlan_interfaces())
      throw ConfigError("too many VLAN interfaces: at most " + std::to_string(max_vlan_interfaces()) +
                        (kernel_ifs_ ? " (each has a kernel TAP, and DPDK's port slots are limited)" : ""));
    if (kernel_ifs_ && kernel_ifname(at).size() > 15)
      throw ConfigError(iface_name(at) + ": its kernel interface name " + quote(kernel_ifname(at)) +
                        " would be longer than 15 characters (a shorter --kernel-ifname)");
  }
  addr_[at] = *c.address;
  return {iface_name(at) + ": address " + net::to_string(*c.address), {}};
}

Applied Model::on(const cmd::VipAdd& c) {
  if (find(c.key)) throw ConfigError("service " + to_string(c.key) + " already exists");
  if (is_dip(c.key.vip)) throw ConfigError(net::to_string(c.key.vip) + " is a port address (DIP); a VIP must differ");
  if (const auto svc = rs_owner(c.key.vip))
    throw ConfigError(net::to_string(c.key.vip) + " is a real server of " + to_string(*svc) + "; a VIP must differ");
  if (neigh_.count(c.key.vip))
    throw ConfigError(net::to_string(c.key.vip) + " is a static neighbour; a VIP must differ");
  for (const auto* d : {&sync_.master, &sync_.backup})
    if (*d && c.key.vip.is_v4() &&
        std::find((*d)->peers.begin(), (*d)->peers.end(), c.key.vip.v4()) != (*d)->peers.end())
      throw ConfigError(net::to_string(c.key.vip) + " is a sync peer (another director); a VIP must differ");
  Service s;
  s.key = c.key;
  s.params.persist_mask = c.key.vip.max_len();  // the whole client address unless netmask says
  set_options(s, c.opts);
  std::tie(s.slot, s.gen) = svc_slots_.take();
  check_service(s);
  Applied out{"added service " + to_string(c.key) + " (" + std::string(lb::sched_name(s.params.sched)) + ")", {}};
  services_.push_back(std::move(s));
  return out;
}

Applied Model::on(const cmd::VipEdit& c) {
  Service& s = service_or_throw(c.key);
  if (c.replace_all) {  // ipvsadm -E: what it does not name returns to the default
    lb::ServiceParams fresh;
    fresh.mh_size = s.params.mh_size;  // not ipvsadm options: -E cannot name them
    fresh.quorum = s.params.quorum;
    fresh.hysteresis = s.params.hysteresis;
    fresh.inhibit = s.params.inhibit;
    fresh.persist_mask = s.key.vip.max_len();
    s.params = fresh;
  }
  set_options(s, c.opts);
  check_service(s);
  return {"changed service " + to_string(c.key), {}};
}

Applied Model::on(const cmd::VipDel& c) {
  const Service& s = service_or_throw(c.key);
  release(s);
  std::erase_if(services_, [&](const Service& x) { return x.key == c.key; });
  return {"deleted service " + to_string(c.key), {}};
}

Applied Model::on(const cmd::RsAdd& c) {
  Service& s = service_or_throw(c.svc);
  if (s.find(c.rip))
    throw ConfigError("real server " + net::to_string(c.rip) + " already exists in service " + to_string(c.svc));
  if (is_vip(c.rip)) throw ConfigError(net::to_string(c.rip) + " is a VIP; it cannot be a real server");
  if (is_dip(c.rip)) throw ConfigError(net::to_string(c.rip) + " is a port address (DIP); it cannot be a real server");
  if (c.rip.is_v4() != c.svc.vip.is_v4())
    throw ConfigError("real server " + net::to_string(c.rip) + " is " + std::string(net::family_name(c.rip)) +
                      " but service " + to_string(c.svc) + " is " + std::string(net::family_name(c.svc.vip)) +
                      ": direct routing forwards the client's packet unchanged, so both must be of one family");
  RealServer r;
  r.ip = c.rip;
  r.weight = c.weight.value_or(1);
  r.sorry = c.sorry;
  if (c.sorry && !c.check) r.check.kind = CheckKind::kNone;  // keepalived checks no sorry server
  set_thresholds(r, c.uthreshold, c.lthreshold);
  if (c.check) update_check(r.check, *c.check);
  if (c.on_failure) set_on_failure(r, *c.on_failure);
  std::tie(r.slot, r.gen) = rs_slots_.take();
  s.rs.push_back(r);
  check_service(s);
  return {"added real server " + net::to_string(c.rip) + " to " + to_string(c.svc) + " (weight " +
              std::to_string(r.weight) + thresholds_text(r) + ")",
          {{r.slot, r.gen}}};
}

Applied Model::on(const cmd::RsEdit& c) {
  RealServer& r = *rs_or_throw(service_or_throw(c.svc), c.rip);
  if (c.weight) r.weight = *c.weight;
  set_thresholds(r, c.uthreshold, c.lthreshold);
  if (c.check) update_check(r.check, *c.check);
  if (c.on_failure) set_on_failure(r, *c.on_failure);
  return {"real server " + net::to_string(c.rip) + " in " + to_string(c.svc) + ": weight " +
              std::to_string(r.weight) + thresholds_text(r) + (c.check ? ", check " + to_string(r.check) : ""),
          {}};
}

Applied Model::on(const cmd::RsDel& c) {
  Service& s = service_or_throw(c.svc);
  auto it = rs_or_throw(s, c.rip);
  rs_slots_.give(it->slot, epoch_);
  s.rs.erase(it);
  return {"deleted real server " + net::to_string(c.rip) + " from " + to_string(c.svc), {}};
}

Applied Model::on(const cmd::NeighAdd& c) {
  if (c.port) check_port(*c.port);
  if (c.port && c.vlan && !addr_.count(lb::Iface{*c.port, c.vlan}))
    throw ConfigError(iface_name(lb::Iface{*c.port, c.vlan}) + " does not exist (port " + std::to_string(*c.port) +
                      " vlan " + std::to_string(c.vlan) + " address ... first)");
  if (is_vip(c.ip) || is_dip(c.ip))
    throw ConfigError(net::to_string(c.ip) + " is one of drfwd's own addresses; it cannot be a neighbour");
  neigh_[c.ip] = Neighbour{c.mac, c.port, c.port ? c.vlan : uint16_t{0}};
  return {"neighbour " + net::to_string(c.ip) + " at " + net::to_string(c.mac), {}};
}

Applied Model::on(const cmd::NeighDel& c) {
  if (!neigh_.erase(c.ip)) throw ConfigError("no static neighbour " + net::to_string(c.ip));
  return {"deleted neighbour " + net::to_string(c.ip), {}};
}

Applied Model::on(const cmd::SetTimeouts& c) {
  // (0 is "unchanged", never a timeout: the data path's fast lane takes every
  // connection's timeout to be a second or more.)
  if (c.tcp && *c.tcp) timeouts_.tcp() = *c.tcp;
  if (c.tcp_fin && *c.tcp_fin) timeouts_.tcp_fin() = *c.tcp_fin;
  if (c.udp && *c.udp) timeouts_.udp() = *c.udp;
  return {"timeouts tcp " + std::to_string(timeouts_.tcp()) + " tcpfin " + std::to_string(timeouts_.tcp_fin()) +
              " udp " + std::to_string(timeouts_.udp()),
          {}};
}

Applied Model::on(const cmd::SetCheck& c) {
  update_check(check_defaults_, c.check);
  return {"check defaults: " + to_string(check_defaults_), {}};
}

Applied Model::on(const cmd::Clear&) {
  for (const Service& s : services_) release(s);
  Applied out{"cleared " + std::to_string(services_.size()) + " service(s)", {}};
  services_.clear();
  return out;
}

Applied Model::on(const cmd::SetVipArp& c) {
  claim_.arp = c.mode;
  return {"vip-arp " + std::string(vip_arp_name(c.mode)), {}};
}

Applied Model::on(const cmd::SetVipRoutes& c) {
  claim_.route_table = c.table;
  return {c.table ? "vip-routes table " + std::to_string(*c.table) : std::string("vip-routes off"), {}};
}

Applied Model::on(const cmd::SetVipHolddown& c) {
  claim_.holddown = c.seconds;
  return {"vip-holddown " + std::to_string(c.seconds) + "s", {}};
}

Applied Model::on(const cmd::SyncStart& c) {
  if (!kernel_ifs_)
    throw ConfigError("drfwd runs without kernel interfaces (--no-kernel-interfaces): connection sync sends and "
                      "listens through them");
  SyncDaemonConf d;
  if (c.interface) {
    const std::string_view name = *c.interface;
    std::optional<uint16_t> port;
    if (name.size() > ifname_prefix_.size() && name.substr(0, ifname_prefix_.size()) == ifname_prefix_) {
      const auto n = net::parse_uint(name.substr(ifname_prefix_.size()), 0xffff);
      if (n && *n < num_ports_ && kernel_ifname(static_cast<uint16_t>(*n)) == name) port = static_cast<uint16_t>(*n);
    }
    if (!port)
      throw ConfigError("interface " + quote(name) + " is not one of drfwd's kernel interfaces (" + kernel_ifname(0) +
                        (num_ports_ > 1 ? " .. " + kernel_ifname(static_cast<uint16_t>(num_ports_ - 1)) : "") + ")");
    d.port = *port;
  } else {
    const auto untagged = std::find_if(addr_.begin(), addr_.end(), [](auto& a) { return a.first.vlan == 0; });
    if (untagged == addr_.end())
      throw ConfigError("no port has an address (DIP) on its untagged interface: the sync daemon sends and listens on one");
    d.port = untagged->first.port;
  }
  if (!addr_.count(lb::Iface{d.port, 0}))
    throw ConfigError(port_name(d.port) + " (" + kernel_ifname(d.port) +
                      ") has no address (DIP): the sync daemon sends and listens on it");
  if (c.syncid) d.syncid = *c.syncid;
  if (c.maxlen) d.maxlen = *c.maxlen;
  if (c.group) d.group = *c.group;
  if (c.udp_port) d.udp_port = *c.udp_port;
  if (c.ttl) d.ttl = *c.ttl;
  d.peers = c.peers;
  for (net::Ipv4 p : d.peers)
    if (is_dip(p) || is_vip(p)) throw ConfigError("sync peer " + net::to_string(p) + " is this director's own address");
  std::optional<SyncDaemonConf>& slot = c.role == SyncRole::kMaster ? sync_.master : sync_.backup;
  const bool restarted = slot.has_value();
  slot = d;
  return {std::string(restarted ? "restarted" : "started") + " sync " + std::string(sync_role_name(c.role)) + " on " +
              kernel_ifname(d.port) + " syncid " + std::to_string(d.syncid),
          {}};
}

Applied Model::on(const cmd::SyncStop& c) {
  std::string stopped;
  for (SyncRole r : {SyncRole::kMaster, SyncRole::kBackup}) {
    if (c.role && *c.role != r) continue;
    std::optional<SyncDaemonConf>& slot = r == SyncRole::kMaster ? sync_.master : sync_.backup;
    if (!slot) continue;
    slot.reset();
    stopped += (stopped.empty() ? "" : " and ") + std::string(sync_role_name(r));
  }
  if (stopped.empty())
    throw ConfigError(c.role ? "no sync " + std::string(sync_role_name(*c.role)) + " daemon runs" : "no sync daemon runs");
  return {"stopped sync " + stopped, {}};
}

Applied Model::on(const cmd::SetSyncRate& c) {
  sync_.rate = c.per_second;
  return {"sync-rate " + std::to_string(c.per_second) + "/s", {}};
}

Applied Model::on(const cmd::SetSyncRefresh& c) {
  sync_.refresh = c.seconds;
  return {"sync-refresh " + std::to_string(c.seconds) + "s", {}};
}

std::optional<net::Mac> neighbour_mac(const Model& m, const Runtime& rt, const net::IpAddr& ip) {
  // Static neighbours win over learned ones.
  if (auto n = m.neighbours().find(ip); n != m.neighbours().end()) return n->second.mac;
  if (rt.learned_mac) return rt.learned_mac(ip);
  return std::nullopt;
}

lb::RsSpec rs_spec(const Model& m, const Runtime& rt, const Service& s, const RealServer& r) {
  lb::RsSpec rs;
  rs.slot = r.slot;
  rs.gen = r.gen;
  rs.ip = r.ip;
  rs.weight = r.weight;
  rs.inhibit = r.inhibit.value_or(s.params.inhibit);
  rs.sorry = r.sorry;
  rs.thresholds = r.thresholds;
  rs.leftover = rt.leftover ? rt.leftover(r.slot) : lb::ConnGauges{};
  rs.health = rt.health ? rt.health(r.slot) : lb::Health::kUnchecked;
  rs.mac = neighbour_mac(m, rt, r.ip);
  if (auto i = m.egress(r.ip)) {
    rs.port = i->port;
    rs.vlan = i->vlan;
  }
  return rs;
}

lb::SnapshotSpec make_spec(const Model& m, const Runtime& rt) {
  lb::SnapshotSpec spec;
  spec.workers = rt.workers;
  spec.timeouts = m.timeouts();
  spec.sync.send = m.sync().master.has_value();
  spec.sync.refresh = m.sync().refresh;
  spec.sync.rate = m.sync().rate;
  spec.sync.port = m.sync().backup ? m.sync().backup->udp_port : 0;
  for (uint16_t p = 0; p < m.num_ports(); ++p) {
    lb::PortSpec ps;
    if (p < rt.port_macs.size()) ps.mac = rt.port_macs[p];
    ps.address = m.address(lb::Iface{p, 0});
    ps.vlans = m.vlan_interfaces(p);
    for (auto& [at, prefix] : m.addresses6())
      if (at.port == p) ps.dips6.push_back(prefix.addr);
    spec.ports.push_back(ps);
  }
  for (const Service& s : m.services()) spec.services.push_back(service_spec(m, rt, s));
  return spec;
}

lb::ServiceSpec service_spec(const Model& m, const Runtime& rt, const Service& s) {
  lb::ServiceSpec ss{s.slot, s.gen, s.key, s.params, {}};
  for (const RealServer& r : s.rs) ss.rs.push_back(rs_spec(m, rt, s, r));
  ss.below_quorum = s.params.quorum > 0 && rt.below_quorum && rt.below_quorum(s.slot);
  return ss;
}

}  // namespace drfwd::config
