// Parsing of the values commands take, with errors that name the word and the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/command.hpp"

namespace drfwd::config {

constexpr uint32_t kMaxWeight = 65535;
constexpr uint32_t kMaxTimeout = 31536000;  // one year, in seconds
constexpr uint32_t kDefaultPersist = 300;   // ipvsadm -p without a value

std::string quote(std::string_view word);  // 'word'

// A unicast IPv4 or IPv6 address (global or unique-local: not link-local).
net::IpAddr parse_unicast(std::string_view word, std::string_view what);
net::Ipv4 parse_unicast4(std::string_view word, std::string_view what);  // IPv4 only
uint8_t parse_proto(std::string_view word);
uint16_t parse_port_number(std::string_view word, std::string_view what);  // 1..65535 or a name
uint32_t parse_number(std::string_view word, std::string_view what, uint64_t min, uint64_t max);
lb::Sched parse_scheduler(std::string_view word);
uint8_t parse_mask(std::string_view word);
uint32_t parse_mh_size(std::string_view word);
uint32_t parse_sched_flags(std::string_view word);
net::Mac parse_neighbour_mac(std::string_view word);
// ipvsadm's service and real-server addresses: "198.18.0.10:80", "[2001:2::10]:80";
// without the port: "198.18.0.10", "[2001:2::10]" or "2001:2::10" (the caller decides
// whether a port is required).
std::pair<net::IpAddr, std::optional<uint16_t>> parse_addr_port(std::string_view word,
                                                                std::string_view what);

std::string sched_flags_to_string(uint32_t flags);

// Connection sync values (native sync start and ipvsadm --start-daemon).
SyncRole parse_sync_role(std::string_view word);            // master | backup
uint8_t parse_syncid(std::string_view word);                // 0-255
uint32_t parse_sync_maxlen(std::string_view word);          // bytes of UDP payload
net::Ipv4 parse_sync_group(std::string_view word);          // an IPv4 multicast group
std::vector<net::Ipv4> parse_sync_peers(std::string_view word);  // a,b,... (unicast)
std::string sync_daemon_to_string(const SyncDaemonConf& d, const std::string& ifname);  // the sync start options

}  // namespace drfwd::config
