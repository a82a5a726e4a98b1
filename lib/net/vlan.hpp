// 802.1Q tags: what a VLAN interface is keyed by, and the software strip a worker does
// when the NIC did not. Inline: this runs per tagged frame.
#pragma once

#include <cstdint>
#include <cstring>

#include "net/bytes.hpp"

namespace drfwd::net {

constexpr uint16_t kEtherVlan = 0x8100;  // 802.1Q customer tag
constexpr uint16_t kEtherQinQ = 0x88a8;  // 802.1ad service tag
constexpr uint32_t kVlanTagLen = 4;
constexpr uint16_t kMaxVid = 4094;       // 0: priority tag (untagged), 4095: reserved
constexpr uint16_t kVidMask = 0x0fff;

// A frame's first 802.1Q tag taken out in place: the 12 address bytes move up by 4, so
// the frame now starts at f + 4 with its inner EtherType where the tag's was. Returns
// the VID (0 for a priority tag), or -1 when the frame carries no 802.1Q tag or is too
// short to hold one and an EtherType (then nothing is moved; the parser decides). A
// second tag stays in the frame for the parser to refuse (vlan-double), as does an
// 802.1ad outer tag.
inline int strip_vlan_tag(uint8_t* f, uint32_t seg_len) {
  if (seg_len < 12 + kVlanTagLen + 2 || ntoh16(load16(f + 12)) != kEtherVlan) return -1;
  const uint16_t vid = ntoh16(load16(f + 14)) & kVidMask;
  std::memmove(f + kVlanTagLen, f, 12);
  return vid;
}

// Writes a tag in front of the frame at `f` (which must have 4 bytes of room before
// it): the frame then starts at f - 4.
inline void insert_vlan_tag(uint8_t* f, uint16_t vid) {
  uint8_t* n = f - kVlanTagLen;
  std::memmove(n, f, 12);
  store16(n + 12, hton16(kEtherVlan));
  store16(n + 14, hton16(vid & kVidMask));
}

}  // namespace drfwd::net
