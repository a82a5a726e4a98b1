// ARP for IPv4 over Ethernet: parsing with every field checked, and building frames.
#pragma once

#include <cstdint>
#include <optional>

#include "net/addr.hpp"

namespace drfwd::net {

constexpr uint16_t kArpRequest = 1;
constexpr uint16_t kArpReply = 2;
constexpr uint32_t kArpFrameLen = 42;    // Ethernet + ARP
constexpr uint32_t kMinFrameLen = 60;    // without FCS: built frames are padded to this

struct Arp {
  Mac eth_src;
  Mac eth_dst;
  uint16_t op = 0;
  Mac sha;    // sender hardware address
  Ipv4 spa;   // sender protocol address
  Mac tha;
  Ipv4 tpa;
  // A gratuitous ARP announces the sender's own address (spa == tpa).
  bool gratuitous() const { return spa == tpa; }
};

// nullopt unless the frame is a well-formed Ethernet/IPv4 ARP request or reply.
std::optional<Arp> parse_arp(const uint8_t* frame, uint32_t len);

// Writes a frame (padded to 60 bytes) into buf (>= 60 bytes); returns its length.
uint32_t build_arp(uint8_t* buf, const Arp& a);

Arp arp_request(const Mac& src_mac, Ipv4 src_ip, Ipv4 target, const Mac& dst = Mac::broadcast());
Arp arp_reply(const Mac& our_mac, Ipv4 our_ip, const Mac& to_mac, Ipv4 to_ip);
// Gratuitous ARP request announcing `ip` at `mac` (what Linux sends for a new address).
Arp arp_announce(const Mac& mac, Ipv4 ip);

}  // namespace drfwd::net
