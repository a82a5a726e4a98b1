// Everything an operator can send: configuration commands (which change the model) and
// queries (which read state or act on the running drfwd). One parser serves the
// console, the control socket and configuration files (files take commands only).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/command.hpp"

namespace drfwd::config {

namespace query {
struct ShowVips {};
struct ShowRs {
  std::vector<net::IpAddr> vips;  // empty: all
};
struct ShowStats {};
struct ShowPorts {};
struct ShowNeigh {};
struct ShowConns {
  std::optional<net::IpAddr> vip;
  uint32_t limit = 100;
};
struct ShowConfig {};
struct ShowSync {};
struct SaveConfig {
  std::string path;
};
struct ClearStats {};
struct SetLogLevel {
  std::string level;
};
struct Quit {};
struct Help {
  std::string topic;  // empty: everything
};
// ipvsadm -L / -l / -c and its format switches.
struct IpvsList {
  bool numeric = false;
  bool stats = false;
  bool rate = false;
  bool timeout = false;
  bool connection = false;
  bool exact = false;
  bool thresholds = false;
  bool persistent_conn = false;
  bool daemon = false;  // --daemon: the sync daemons
  std::optional<ServiceKey> service;
};
struct IpvsZero {  // -Z: zero the service (or every service's) counters
  std::optional<ServiceKey> service;
};
struct IpvsSave {  // -S: rules ipvsadm -R restores
  bool numeric = false;
};
struct IpvsRestore {};  // -R: the rules follow (drfwdctl -R sends them as one batch)
}  // namespace query

using Query = std::variant<query::ShowVips, query::ShowRs, query::ShowStats, query::ShowPorts, query::ShowNeigh,
                           query::ShowConns, query::ShowConfig, query::ShowSync, query::SaveConfig, query::ClearStats,
                           query::SetLogLevel, query::Quit, query::Help, query::IpvsList, query::IpvsZero,
                           query::IpvsSave, query::IpvsRestore>;

using Request = std::variant<Command, Query>;

// Parses one line (config/grammar.hpp holds the table). Empty and comment-only lines
// give std::nullopt. Throws ConfigError, whose usage() is the command's form.
std::optional<Request> parse_request(std::string_view line);
Request parse_ipvsadm_request(const std::vector<std::string_view>& words);  // words[0] == "ipvsadm"

// ipvsadm's forms, one per line (help ipvsadm, and the usage of an ipvsadm refusal).
extern const std::string_view kIpvsadmUsage;
// ipvsadm's commands as options (-A, -E, ..., --set), from its option table: what
// completion offers after "ipvsadm".
std::span<const std::string_view> ipvsadm_commands();

}  // namespace drfwd::config
