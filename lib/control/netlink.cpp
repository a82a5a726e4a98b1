#include "control/netlink.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace drfwd::control::netlink {

namespace {

// A message under construction: header, then a fixed part, then attributes, each
// aligned to 4 bytes as netlink wants.
class Builder {
 public:
  Builder(uint16_t type, uint16_t flags, uint32_t seq) : buf_(NLMSG_HDRLEN, 0) {
    auto* h = reinterpret_cast<nlmsghdr*>(buf_.data());
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
  }
  template <class T>
  void fixed(const T& body) {
    append(&body, sizeof body);
  }
  void attr(uint16_t type, const void* data, size_t len) {
    rtattr a{static_cast<unsigned short>(RTA_LENGTH(len)), type};
    append(&a, sizeof a);
    append(data, len);
  }
  std::vector<uint8_t> done() {
    reinterpret_cast<nlmsghdr*>(buf_.data())->nlmsg_len = static_cast<uint32_t>(buf_.size());
    return std::move(buf_);
  }

 private:
  void append(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
    buf_.resize(NLMSG_ALIGN(buf_.size()), 0);
  }
  std::vector<uint8_t> buf_;
};

std::optional<AddrEvent> address(const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return std::nullopt;
  const size_t size = ifa->ifa_family == AF_INET ? 4 : 16;
  AddrEvent ev;
  ev.seq = h->nlmsg_seq;
  ev.added = h->nlmsg_type == RTM_NEWADDR;
  ev.ifindex = static_cast<int>(ifa->ifa_index);
  ev.len = ifa->ifa_prefixlen;
  bool have = false;
  for (Walk<rtattr> w{reinterpret_cast<const uint8_t*>(ifa) + NLMSG_ALIGN(sizeof(ifaddrmsg)), IFA_PAYLOAD(h)}; w.ok();
       w.next()) {
    const rtattr* a = w.get();
    // IFA_LOCAL is the interface's own address (IFA_ADDRESS the peer's, on a point-to-
    // point link); a broadcast interface has both the same.
    if ((a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && !have)) && RTA_PAYLOAD(a) == size) {
      if (size == 4) {
        uint32_t be;
        std::memcpy(&be, RTA_DATA(a), 4);
        ev.address = net::Ipv4::from_be(be);
      } else {
        net::Ipv6 v6;
        std::memcpy(v6.bytes.data(), RTA_DATA(a), 16);
        if (v6.is_v4_mapped()) return std::nullopt;  // not an address of IPv6's own
        ev.address = net::IpAddr(v6);
      }
      have = true;
    }
  }
  if (!have) return std::nullopt;
  return ev;
}

}  // namespace

std::vector<uint8_t> addr_dump(uint32_t seq) {
  Builder b(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_UNSPEC;  // both families
  b.fixed(ifa);
  return b.done();
}

std::vector<uint8_t> route(bool add, uint32_t seq, const net::IpAddr& dst, int ifindex, uint32_t table) {
  Builder b(add ? RTM_NEWROUTE : RTM_DELROUTE,
            static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0)), seq);
  rtmsg r{};
  r.rtm_family = dst.is_v4() ? AF_INET : AF_INET6;
  r.rtm_dst_len = dst.max_len();
  r.rtm_table = static_cast<uint8_t>(table < 256 ? table : RT_TABLE_UNSPEC);
  r.rtm_protocol = kRouteProtocol;
  r.rtm_scope = RT_SCOPE_LINK;
  r.rtm_type = RTN_UNICAST;
  b.fixed(r);
  if (dst.is_v4()) {
    const uint32_t be = dst.v4().be();
    b.attr(RTA_DST, &be, 4);
  } else {
    b.attr(RTA_DST, dst.v6().bytes.data(), 16);
  }
  const uint32_t oif = static_cast<uint32_t>(ifindex);
  b.attr(RTA_OIF, &oif, 4);
  b.attr(RTA_TABLE, &table, 4);
  return b.done();
}

std::vector<Event> parse(const uint8_t* data, size_t len) {
  std::vector<Event> out;
  for (Walk<nlmsghdr> w{data, len}; w.ok(); w.next()) {
    const nlmsghdr* h = w.get();
    switch (h->nlmsg_type) {
      case NLMSG_ERROR:
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)))
          out.push_back(Ack{h->nlmsg_seq, static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error});
        break;
      case NLMSG_DONE:
        out.push_back(DumpDone{h->nlmsg_seq});
        break;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        if (auto ev = address(h)) out.push_back(*ev);
        break;
      default:
        break;
    }
  }
  return out;
}

Socket::Socket() {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) throw std::runtime_error(std::string("netlink socket: ") + std::strerror(errno));
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  a.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("netlink bind: " + err);
  }
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

bool Socket::send(const std::vector<uint8_t>& msg) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  return ::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) ==
         static_cast<ssize_t>(msg.size());
}

std::vector<Event> Socket::receive() {
  std::vector<Event> out;
  alignas(nlmsghdr) uint8_t buf[16384];
  for (int i = 0; i < 64; ++i) {  // bounded: the loop keeps turning
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == ENOBUFS) {
      lost_ = true;
      continue;
    }
    if (n <= 0) break;  // EAGAIN: nothing more
    for (Event& e : parse(buf, static_cast<size_t>(n))) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace drfwd::control::netlink
