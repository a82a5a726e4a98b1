#include "control/sync.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/parse.hpp"

namespace drfwd::control {

using config::SyncRole;
using lb::ConnState;

namespace {

// IPVS's state numbers: TCP's are drfwd's ConnState order (NONE .. SYNACK); UDP has one
// (NORMAL, 0); templates carry 0.
constexpr uint16_t kIpvsTcpListen = 9;

}  // namespace

std::optional<sync::Conn> to_wire(const lb::SyncRecord& r, const lb::Snapshot& snap) {
  if (r.rs_slot >= snap.rs_count || snap.rs_view[r.rs_slot].gen != r.rs_gen) return std::nullopt;
  sync::Conn c;
  const bool tmpl = r.key.is_template();
  c.protocol = r.key.proto;
  c.flags = sync::kFlagDroute | (tmpl ? sync::kFlagTemplate : 0) |
            (!tmpl && !lb::state_is_active(r.state) ? sync::kFlagInactive : 0);
  c.state = r.key.proto == net::kProtoTcp && !tmpl ? static_cast<uint16_t>(r.state) : 0;
  c.cport_be = tmpl ? 0 : r.key.sport;
  c.vport_be = r.key.dport;
  c.dport_be = r.key.dport;  // direct routing: the real server listens on the service port
  c.timeout = r.timeout;
  c.caddr_be = r.key.src;
  c.vaddr_be = r.key.dst;
  c.daddr_be = snap.rs_view[r.rs_slot].ip_be;
  return c;
}

SyncRefusal from_wire(const sync::Conn& c, const lb::Snapshot& snap, lb::SyncRecord& out) {
  if ((c.flags & sync::kFlagFwdMask) != sync::kFlagDroute) return SyncRefusal::kForward;
  if (c.protocol != net::kProtoTcp && c.protocol != net::kProtoUdp) return SyncRefusal::kProtocol;
  const lb::ServiceTable* svc = snap.find(c.vaddr_be, c.vport_be, c.protocol);
  if (!svc) return SyncRefusal::kService;
  const bool tmpl = (c.flags & sync::kFlagTemplate) != 0;
  const uint32_t persist = svc->params().persist;
  if (tmpl && persist == 0) return SyncRefusal::kTemplate;
  const auto rs = std::find_if(svc->spec.rs.begin(), svc->spec.rs.end(),
                               [&](const lb::RsSpec& s) { return s.ip == net::IpAddr(net::Ipv4::from_be(c.daddr_be)); });
  if (rs == svc->spec.rs.end() || rs->slot >= snap.rs_count) return SyncRefusal::kServer;
  const lb::RsView& rv = snap.rs_view[rs->slot];
  if (rv.gen != rs->gen || rv.live_gen == 0 || (tmpl && !rv.accepting)) return SyncRefusal::kUnusable;
  ConnState state;
  uint32_t longest;
  if (tmpl) {
    state = ConnState::kTemplate;  // IPVS ignores a template's state (and sets it to 0)
    longest = persist;
  } else if (c.protocol == net::kProtoUdp) {
    if (c.state != 0) return SyncRefusal::kState;
    state = ConnState::kUdp;
    longest = snap.timeouts.get(state);
  } else {
    if (c.state == 0 || c.state == kIpvsTcpListen || c.state > static_cast<uint16_t>(ConnState::kTcpSynAck))
      return SyncRefusal::kState;
    state = static_cast<ConnState>(c.state);
    longest = snap.timeouts.get(state);
  }
  if (c.timeout == 0) return SyncRefusal::kTimeout;
  out = lb::SyncRecord{};
  out.key.src = tmpl ? c.caddr_be & svc->persist_mask_be : c.caddr_be;
  out.key.dst = c.vaddr_be;
  out.key.sport = tmpl ? 0 : c.cport_be;
  out.key.dport = c.vport_be;
  out.key.proto = c.protocol;
  out.key.kind = tmpl ? net::FlowKind::kTemplate : net::FlowKind::kConnection;
  out.rs_slot = rs->slot;
  out.rs_gen = rs->gen;
  out.state = state;
  out.timeout = std::min(c.timeout, std::max<uint32_t>(longest, 1));
  return SyncRefusal::kNone;
}

// ---- The daemon ------------------------------------------------------------------------

// Takes the new socket, or logs why there is none (once per reason) and closes it.
bool SyncDaemon::Socket::opened(int new_fd, const std::string& why, const std::string& what, double now) {
  if (why.empty()) {
    fd = new_fd;
    error.clear();
    return true;
  }
  if (new_fd >= 0) ::close(new_fd);
  if (why != error) spdlog::error("{}: {} (retrying every second)", what, why);
  error = why;
  retry_at = now + 1;
  return false;
}

void SyncDaemon::Socket::close() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

SyncDaemon::~SyncDaemon() {
  master_sock_.close();
  backup_sock_.close();
}

void SyncDaemon::configure(const config::Model& m, double now) {
  own_be_.clear();
  for (auto& [at, prefix] : m.addresses()) own_be_.push_back(prefix.addr.be());
  auto dip_of = [&](const config::SyncDaemonConf& d) -> uint32_t {
    const auto a = m.address(lb::Iface{d.port, 0});  // the daemon's port's untagged interface
    return a ? a->addr.be() : 0;
  };
  const auto& want = m.sync();
  // Master
  const uint32_t mdip = want.master ? dip_of(*want.master) : 0;
  if (want.master != master_conf_ || mdip != master_dip_be_) {
    if (master_conf_ && !want.master) spdlog::info("sync master stopped");
    send_message();  // what was pending goes out with the old settings
    master_sock_.close();
    master_conf_ = want.master;
    master_dip_be_ = mdip;
    encoder_.reset();
    if (master_conf_) {
      master_if_ = m.kernel_ifname(master_conf_->port);
      encoder_.emplace(master_conf_->syncid, master_conf_->maxlen);
      master_sock_.retry_at = 0;
      open_master(now);
    }
  }
  const uint32_t bdip = want.backup ? dip_of(*want.backup) : 0;
  if (want.backup != backup_conf_ || bdip != backup_dip_be_) {
    if (backup_conf_ && !want.backup) spdlog::info("sync backup stopped");
    backup_sock_.close();
    backup_conf_ = want.backup;
    backup_dip_be_ = bdip;
    if (backup_conf_) {
      backup_if_ = m.kernel_ifname(backup_conf_->port);
      backup_sock_.retry_at = 0;
      open_backup(now);
    }
  }
}

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A non-blocking UDP socket bound to `ifname` (drfwd's kernel interface), and that
// interface's index; -1 and `error` if either is missing.
int udp_socket(const std::string& ifname, unsigned& ifindex, std::string& error) {
  ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    error = "no kernel interface " + ifname;
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    return -1;
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size())) != 0) {
    error = errno_text(("bind to device " + ifname).c_str());
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

void SyncDaemon::open_master(double now) {
  if (!master_conf_ || master_sock_.fd >= 0 || now < master_sock_.retry_at) return;
  std::string error;
  unsigned ifindex = 0;
  const int fd = udp_socket(master_if_, ifindex, error);
  if (fd >= 0) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = master_dip_be_;  // messages come from the DIP
    ip_mreqn mif{};
    mif.imr_ifindex = static_cast<int>(ifindex);
    const int ttl = master_conf_->ttl, loop = 0;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, master_if_.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 28 + static_cast<int>(sync::kMinMaxLen) &&
        static_cast<size_t>(ifr.ifr_mtu - 28) < encoder_->max_len()) {
      // As the kernel's sync daemon: a message fits the interface's MTU (a fragment would
      // lose its UDP port, and with it the exception class sync frames travel in).
      spdlog::warn("sync master on {}: maxlen {} is more than MTU {} allows; sending {}-byte messages", master_if_,
                   encoder_->max_len(), ifr.ifr_mtu, ifr.ifr_mtu - 28);
      encoder_.emplace(master_conf_->syncid, static_cast<size_t>(ifr.ifr_mtu - 28));
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
      error = errno_text("bind to the DIP");
    else if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) != 0 ||
             ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0 ||
             ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0)
      error = errno_text("multicast options");
  }
  if (!master_sock_.opened(fd, error, "sync master on " + master_if_, now)) return;
  spdlog::info("sync master on {}: syncid {}, to {}:{}, messages up to {} bytes", master_if_, master_conf_->syncid,
               master_conf_->peers.empty() ? net::to_string(master_conf_->group) : std::string("unicast peers"),
               master_conf_->udp_port, encoder_->max_len());
}

void SyncDaemon::open_backup(double now) {
  if (!backup_conf_ || backup_sock_.fd >= 0 || now < backup_sock_.retry_at) return;
  std::string error;
  unsigned ifindex = 0;
  const int fd = udp_socket(backup_if_, ifindex, error);
  if (fd >= 0) {
    const int one = 1, rcvbuf = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);  // bursts between rounds
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(backup_conf_->udp_port);
    ip_mreqn mreq{};
    mreq.imr_multiaddr.s_addr = backup_conf_->group.be();
    mreq.imr_ifindex = static_cast<int>(ifindex);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0)
      error = errno_text(("bind to UDP port " + std::to_string(backup_conf_->udp_port)).c_str());
    else if (backup_conf_->peers.empty() && ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0)
      error = errno_text(("join " + net::to_string(backup_conf_->group)).c_str());
  }
  if (!backup_sock_.opened(fd, error, "sync backup on " + backup_if_, now)) return;
  spdlog::info("sync backup on {}: syncid {}, port {}, from {}", backup_if_, backup_conf_->syncid,
               backup_conf_->udp_port,
               backup_conf_->peers.empty() ? "group " + net::to_string(backup_conf_->group) : std::string("its peers"));
}

void SyncDaemon::add(std::span<const lb::SyncRecord> records, const lb::Snapshot& snap, double now) {
  if (!encoder_) return;
  now_ = now;
  if (!ready_) {
    lb::bump(counters_.records_early, records.size());
    return;
  }
  for (const lb::SyncRecord& r : records) {
    const auto c = to_wire(r, snap);
    if (!c) {
      lb::bump(counters_.records_unknown);
      continue;
    }
    if (!encoder_->add(*c)) {
      send_message();
      encoder_->add(*c);
    }
    if (first_pending_ < 0) first_pending_ = now;
  }
}

void SyncDaemon::send_message() {
  if (!encoder_ || encoder_->empty()) return;
  send_now();
}

// Also empty (a heartbeat: the other directors learn that this instance exists).
void SyncDaemon::send_now() {
  const auto msg = encoder_->message();
  const size_t n = encoder_->count();
  auto send_to = [&](uint32_t dst_be) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(master_conf_->udp_port);
    to.sin_addr.s_addr = dst_be;
    if (master_sock_.fd >= 0 &&
        ::sendto(master_sock_.fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(msg.size())) {
      lb::bump(counters_.messages_sent);
      lb::bump(counters_.records_sent, n);
      lb::bump(counters_.bytes_sent, msg.size());
    } else {
      lb::bump(counters_.send_errors);
    }
  };
  if (master_conf_->peers.empty())
    send_to(master_conf_->group.be());
  else
    for (net::Ipv4 p : master_conf_->peers) send_to(p.be());
  encoder_->clear();
  first_pending_ = -1;
  last_sent_ = now_;
}

void SyncDaemon::poll(const lb::Snapshot& snap, double now, const Deliver& deliver) {
  now_ = now;
  if (master_conf_) {
    open_master(now);
    if (first_pending_ >= 0 && now - first_pending_ >= kFlushAfter) send_message();
    if (ready_ && master_sock_.fd >= 0 && now - last_sent_ >= kHeartbeat) send_now();
  }
  if (now - last_prune_ >= 1) {
    last_prune_ = now;
    std::erase_if(heard_, [&](const auto& h) { return now - h.second > kForgetPeer; });
  }
  if (!backup_conf_) return;
  open_backup(now);
  if (backup_sock_.fd < 0) return;
  static thread_local uint8_t buf[sync::kMaxMaxLen + 1];
  for (int i = 0; i < 256; ++i) {  // bounded: the rest waits for the next round
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(backup_sock_.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) break;
    receive({buf, static_cast<size_t>(n)}, from.sin_addr.s_addr, from.sin_port, snap, now, deliver);
  }
}

void SyncDaemon::receive(std::span<const uint8_t> datagram, uint32_t from_be, uint16_t from_port_be,
                         const lb::Snapshot& snap, double now, const Deliver& deliver) {
  if (!backup_conf_) return;
  const auto& peers = backup_conf_->peers;
  const bool own = std::find(own_be_.begin(), own_be_.end(), from_be) != own_be_.end();
  if (own || (!peers.empty() && std::none_of(peers.begin(), peers.end(), [&](net::Ipv4 p) { return p.be() == from_be; }))) {
    lb::bump(counters_.refused_peer);
    return;
  }
  const sync::Decoded d = sync::decode(datagram, decoded_);
  if (d.error != sync::DecodeError::kNone) {
    lb::bump(counters_.refused_malformed);
    return;
  }
  if (d.syncid != backup_conf_->syncid) {
    lb::bump(counters_.refused_syncid);
    return;
  }
  lb::bump(counters_.messages_received);
  const auto key = std::make_pair(from_be, from_port_be);
  if (auto it = heard_.find(key); it != heard_.end()) {
    it->second = now;
  } else if (heard_.size() < kMaxHeard) {
    heard_.emplace(key, now);
    lb::bump(counters_.peers_new);
    bulk_wanted_ = true;
    if (now - last_log_ >= 1.0) {  // at most a line a second, whatever arrives
      last_log_ = now;
      spdlog::info("sync: director instance {}:{} heard for the first time{}",
                   net::to_string(net::Ipv4::from_be(from_be)), net::ntoh16(from_port_be),
                   master() ? ": announcing every connection again" : "");
    }
  }
  lb::bump(counters_.records_received, d.conns + d.skipped_v6 + d.skipped_unsupported);
  lb::bump(counters_.refused_family, d.skipped_v6);
  lb::bump(counters_.refused_options, d.skipped_unsupported);
  static constexpr uint64_t SyncCounters::*kRefused[] = {
      nullptr,
      &SyncCounters::refused_family,
      &SyncCounters::refused_protocol,
      &SyncCounters::refused_forward,
      &SyncCounters::refused_service,
      &SyncCounters::refused_server,
      &SyncCounters::refused_unusable,
      &SyncCounters::refused_state,
      &SyncCounters::refused_timeout,
      &SyncCounters::refused_template,
  };
  static_assert(std::size(kRefused) == static_cast<size_t>(SyncRefusal::kTemplate) + 1);
  for (size_t i = 0; i < d.conns; ++i) {
    lb::SyncRecord r;
    const SyncRefusal why = from_wire(decoded_[i], snap, r);
    if (why != SyncRefusal::kNone) {
      lb::bump(counters_.*kRefused[static_cast<int>(why)]);
      continue;
    }
    lb::bump(deliver(r) ? counters_.records_delivered : counters_.delivery_full);
  }
}

SyncRoleStatus SyncDaemon::status(SyncRole r) const {
  const bool m = r == SyncRole::kMaster;
  const auto& conf = m ? master_conf_ : backup_conf_;
  const Socket& s = m ? master_sock_ : backup_sock_;
  return {conf.has_value(), s.fd >= 0, m ? master_if_ : backup_if_, s.error};
}

}  // namespace drfwd::control
