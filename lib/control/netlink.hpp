// rtnetlink for the director's kernel side: the addresses on drfwd's kernel interfaces
// (a VRRP daemon adds and removes the VIP there) and the VIP routes drfwd keeps for a
// routing daemon. Messages are built and parsed by pure functions (unit-tested on
// bytes); NetlinkSocket sends and receives them without blocking.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "net/addr.hpp"

namespace drfwd::control::netlink {

// drfwd's routes carry this protocol (`proto 245` in `ip route`), so they are told
// apart from every other route: not `kernel` (2), which BIRD's `learn` ignores, and not
// `static` (4), which the administrator may use in the same table.
constexpr uint8_t kRouteProtocol = 245;

struct AddrEvent {  // RTM_NEWADDR / RTM_DELADDR (also the answer to a dump)
  uint32_t seq = 0;  // the dump's; 0 for a notification
  bool added = true;
  int ifindex = 0;
  net::IpAddr address;  // IPv4 or IPv6
  uint8_t len = 0;      // its prefix length
};
struct Ack {        // NLMSG_ERROR: error 0 is an acknowledgement
  uint32_t seq = 0;
  int error = 0;    // -errno
};
struct DumpDone {   // NLMSG_DONE
  uint32_t seq = 0;
};
using Event = std::variant<AddrEvent, Ack, DumpDone>;

// Every IPv4 and IPv6 address of every interface.
std::vector<uint8_t> addr_dump(uint32_t seq);
// Adds (replacing one that differs) or deletes `dst` dev `ifindex` in `table` with
// protocol kRouteProtocol; an acknowledgement is requested.
// A host route (/32 or /128) to dst.
std::vector<uint8_t> route(bool add, uint32_t seq, const net::IpAddr& dst, int ifindex, uint32_t table);
// The messages in one datagram; unknown ones are skipped, a malformed one ends it.
std::vector<Event> parse(const uint8_t* data, size_t len);

// A walk over netlink messages (T: nlmsghdr) or attributes (rtattr) as the kernel's
// NLMSG_OK/NLMSG_NEXT and RTA_OK/RTA_NEXT walk them, without their casts from char *
// (clang's -Wcast-align) and int/unsigned compares (-Wsign-compare): `at`, the next
// item; `left`, the bytes from it on.
template <class T>
struct Walk {
  const uint8_t* at;
  size_t left;
  const T* get() const { return static_cast<const T*>(static_cast<const void*>(at)); }
  // A whole item: its length at least its header's, and within the bytes left.
  bool ok() const { return left >= sizeof(T) && size() >= sizeof(T) && size() <= left; }
  // Over it, to the next 4-byte boundary (nothing left: `at` stays, never past the end).
  void next() {
    const size_t step = (size() + 3u) & ~size_t{3};
    if (step >= left) {
      left = 0;
      return;
    }
    at += step;
    left -= step;
  }

 private:
  size_t size() const {
    if constexpr (std::is_same_v<T, nlmsghdr>)
      return get()->nlmsg_len;
    else
      return get()->rta_len;
  }
};

// A NETLINK_ROUTE socket, non-blocking, listening to IPv4 address changes.
class Socket {
 public:
  Socket();  // throws std::runtime_error
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  // Returns false if the kernel would not take it now (logged by the caller).
  bool send(const std::vector<uint8_t>& msg);
  // Everything received so far (never waits).
  std::vector<Event> receive();
  // Notifications were lost (the receive buffer overflowed) since the last call: the
  // owner asks for the whole state again.
  bool lost() { return std::exchange(lost_, false); }
  uint32_t next_seq() { return ++seq_; }

 private:
  int fd_ = -1;
  uint32_t seq_ = 0;
  bool lost_ = false;
};

}  // namespace drfwd::control::netlink
