// Commands: what a line of configuration (native grammar or ipvsadm) means.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/check.hpp"
#include "lb/sched.hpp"
#include "lb/service.hpp"
#include "net/addr.hpp"

namespace drfwd::config {

// A refused command or configuration line. The message names what is wrong; `usage`
// (may be empty) is the valid form of the command.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& what, std::string usage = {})
      : std::runtime_error(what), usage_(std::move(usage)) {}
  const std::string& usage() const { return usage_; }

 private:
  std::string usage_;
};

using lb::ServiceKey;

std::string_view proto_name(uint8_t proto);       // "tcp" / "udp"
std::string to_string(const ServiceKey& k);        // "tcp 198.18.0.10:80"

// The service parameters a command names: each given one replaces the service's.
struct ServiceOptions {
  std::optional<lb::Sched> sched;
  std::optional<uint32_t> persist;       // seconds, 0 = off
  std::optional<uint8_t> persist_mask;   // prefix length
  std::optional<uint32_t> mh_size;
  std::optional<uint32_t> flags;
  std::optional<uint32_t> quorum;
  std::optional<uint32_t> hysteresis;
  std::optional<bool> inhibit;           // on-failure inhibit|reschedule
  std::optional<CheckOverride> check;
  bool operator==(const ServiceOptions&) const = default;
  bool names_params() const {
    return sched || persist || persist_mask || mh_size || flags || quorum || hysteresis || inhibit;
  }
  void apply_to(lb::ServiceParams& p) const {
    if (sched) p.sched = *sched;
    if (persist) p.persist = *persist;
    if (persist_mask) p.persist_mask = *persist_mask;
    if (mh_size) p.mh_size = *mh_size;
    if (flags) p.flags = *flags;
    if (quorum) p.quorum = *quorum;
    if (hysteresis) p.hysteresis = *hysteresis;
    if (inhibit) p.inhibit = *inhibit;
  }
};

enum class VipArp : uint8_t { kAlways, kKernel };
std::string_view vip_arp_name(VipArp m);  // "always" / "kernel"

// How a director claims its VIPs (see cmd::SetVipArp, SetVipRoutes, SetVipHolddown).
struct VipClaim {
  VipArp arp = VipArp::kAlways;
  std::optional<uint32_t> route_table;  // none: no routes
  uint32_t holddown = 10;               // seconds
  bool operator==(const VipClaim&) const = default;
};

// Connection synchronisation (the IPVS sync daemon): one role's settings, as ipvsadm
// --start-daemon takes them.
enum class SyncRole : uint8_t { kMaster, kBackup };
std::string_view sync_role_name(SyncRole r);  // "master" / "backup"
struct SyncDaemonConf {
  uint16_t port = 0;             // the drfwd port whose kernel interface and DIP it uses
  uint8_t syncid = 0;
  uint32_t maxlen = 1472;        // largest message (UDP payload)
  net::Ipv4 group{0xe0000051};   // 224.0.0.81
  uint16_t udp_port = 8848;
  uint8_t ttl = 1;               // multicast TTL (ipvsadm --mcast-ttl)
  std::vector<net::Ipv4> peers;  // unicast: sent to and accepted from these only (no group)
  bool operator==(const SyncDaemonConf&) const = default;
};
struct SyncSettings {
  std::optional<SyncDaemonConf> master, backup;
  uint32_t rate = 100000;  // records per second the workers hand over, all together
  uint32_t refresh = 60;   // seconds between announcements of a connection in use
  bool operator==(const SyncSettings&) const = default;
};

// A real server's own on-failure setting: follow the service's (default), or its own.
enum class OnFailure : uint8_t { kDefault, kReschedule, kInhibit };

namespace cmd {
// The untagged interface's address (vlan 0), or a VLAN interface, created by its
// address and removed with it.
// Sets the interface's address of one family, or (none) removes them.
struct PortAddress {
  uint16_t port = 0;
  uint16_t vlan = 0;
  std::optional<net::Prefix> address;   // IPv4
  std::optional<net::Prefix6> address6; // IPv6 (a port may have one of each)
  enum class Remove : uint8_t { kNone, kAll, kIpv4, kIpv6 };
  Remove remove = Remove::kNone;        // "address none [ipv4|ipv6]"
};
struct VipAdd {
  ServiceKey key;
  ServiceOptions opts;
};
// replace_all: options not given return to their defaults (ipvsadm -E); otherwise only
// the given options change (native "vip set").
struct VipEdit {
  ServiceKey key;
  ServiceOptions opts;
  bool replace_all = false;
};
struct VipDel {
  ServiceKey key;
};
struct RsAdd {
  ServiceKey svc;
  net::IpAddr rip;
  std::optional<uint32_t> weight;
  std::optional<CheckOverride> check;
  std::optional<uint32_t> uthreshold, lthreshold;  // connection thresholds (0: none)
  std::optional<OnFailure> on_failure;
  bool sorry = false;  // a sorry server (unchecked unless `check` names one)
};
struct RsEdit {
  ServiceKey svc;
  net::IpAddr rip;
  std::optional<uint32_t> weight;
  std::optional<CheckOverride> check;
  std::optional<uint32_t> uthreshold, lthreshold;  // connection thresholds (0: none)
  std::optional<OnFailure> on_failure;
};
struct RsDel {
  ServiceKey svc;
  net::IpAddr rip;
};
struct NeighAdd {
  net::IpAddr ip;
  net::Mac mac;
  std::optional<uint16_t> port;
  uint16_t vlan = 0;  // with port: that port's VLAN interface
};
struct NeighDel {
  net::IpAddr ip;
};
// Zero or absent: unchanged (as ipvsadm --set).
struct SetTimeouts {
  std::optional<uint32_t> tcp, tcp_fin, udp;
};
struct Clear {};  // every service (ipvsadm -C); neighbours and addresses stay
// How VIPs are claimed on the wire (director redundancy): always answered, or only while
// the kernel interface holds the VIP (a VRRP daemon there decides which director owns it).
struct SetVipArp {
  VipArp mode = VipArp::kAlways;
};
// Every VIP with a usable real server as a route in kernel table `table` (none: off),
// for a routing daemon to announce.
struct SetVipRoutes {
  std::optional<uint32_t> table;
};
// How long a VIP waits at most for its real servers' first resolution and health
// result before it is claimed (ARP in kernel mode, routes).
struct SetVipHolddown {
  uint32_t seconds = 0;
};
struct SetCheck {  // the defaults every service's checks start from
  CheckOverride check;
};
// Starts (or restarts with new settings) a sync daemon. interface: drfwd's kernel
// interface (none: the first port with an address); what the command does not name
// takes IPVS's defaults.
struct SyncStart {
  SyncRole role = SyncRole::kMaster;
  std::optional<std::string> interface;
  std::optional<uint8_t> syncid;
  std::optional<uint32_t> maxlen;
  std::optional<net::Ipv4> group;
  std::optional<uint16_t> udp_port;
  std::optional<uint8_t> ttl;
  std::vector<net::Ipv4> peers;
};
struct SyncStop {
  std::optional<SyncRole> role;  // none: both
};
struct SetSyncRate {
  uint32_t per_second = 0;
};
struct SetSyncRefresh {
  uint32_t seconds = 0;
};
}  // namespace cmd

using Command = std::variant<cmd::PortAddress, cmd::VipAdd, cmd::VipEdit, cmd::VipDel, cmd::RsAdd,
                             cmd::RsEdit, cmd::RsDel, cmd::NeighAdd, cmd::NeighDel,
                             cmd::SetTimeouts, cmd::Clear, cmd::SetCheck, cmd::SetVipArp, cmd::SetVipRoutes,
                             cmd::SetVipHolddown, cmd::SyncStart, cmd::SyncStop, cmd::SetSyncRate,
                             cmd::SetSyncRefresh>;

// Splits a line into whitespace-separated words; '#' starts a comment.
std::vector<std::string_view> tokenize(std::string_view line);

// One configuration command in either grammar (first word "ipvsadm" selects
// ipvsadm's). Empty and comment-only lines give std::nullopt. Throws ConfigError, also
// for a query (files hold configuration only).
std::optional<Command> parse_line(std::string_view line);

}  // namespace drfwd::config
