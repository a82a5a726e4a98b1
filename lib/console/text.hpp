// Small pieces of operator text shared by every view: printf into a string, addresses
// with their ports (named as ipvsadm names them without -n), protocols, masks, checks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "config/check.hpp"
#include "lb/conn_state.hpp"
#include "net/addr.hpp"

namespace drfwd::console {

template <class... Args>
std::string cformat(const char* f, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

// "198.18.0.100:80" or, not numeric, "198.18.0.100:http" (addresses are never
// resolved: drfwd does no DNS).
std::string addr_port(const net::IpAddr& a, uint16_t port, bool numeric);
std::string proto_upper(uint8_t proto);  // "TCP" / "UDP"
std::string mask_text(uint8_t len, const net::IpAddr& family);  // ipvsadm's form      // "255.255.255.0"
// "tcp :80 every 500ms timeout 400ms rise 2 fall 3"
std::string describe(const config::CheckSpec& c, uint16_t service_port);
// A connection's state as IPVS lists it (a persistence template shows NONE).
std::string_view conn_state_text(lb::ConnState s);

}  // namespace drfwd::console
