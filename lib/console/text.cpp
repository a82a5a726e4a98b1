#include "console/text.hpp"

#include "net/parse.hpp"

namespace drfwd::console {

namespace {

const char* port_name(uint16_t port) {
  switch (port) {
    case 21: return "ftp";
    case 22: return "ssh";
    case 23: return "telnet";
    case 25: return "smtp";
    case 53: return "domain";
    case 80: return "http";
    case 110: return "pop3";
    case 123: return "ntp";
    case 143: return "imap2";
    case 161: return "snmp";
    case 389: return "ldap";
    case 443: return "https";
    case 587: return "submission";
    case 636: return "ldaps";
    case 993: return "imaps";
    case 995: return "pop3s";
    case 3306: return "mysql";
    case 5432: return "postgresql";
    case 8080: return "http-alt";
    default: return nullptr;
  }
}

}  // namespace

std::string addr_port(const net::IpAddr& a, uint16_t port, bool numeric) {
  const char* name = numeric ? nullptr : port_name(port);
  const std::string addr = a.is_v4() ? net::to_string(a) : "[" + net::to_string(a) + "]";  // as ipvsadm
  return addr + ":" + (name ? std::string(name) : std::to_string(port));
}

std::string proto_upper(uint8_t p) { return p == net::kProtoTcp ? "TCP" : "UDP"; }

std::string mask_text(uint8_t len, const net::IpAddr& family) {
  if (!family.is_v4()) return std::to_string(len);  // ipvsadm prints an IPv6 mask as its length
  return net::to_string(net::Ipv4{net::Prefix{net::Ipv4{}, len}.mask()});
}

std::string describe(const config::CheckSpec& c, uint16_t service_port) {
  if (c.kind == config::CheckKind::kNone) return "none";
  std::string s = c.kind == config::CheckKind::kExec
                      ? "exec"
                      : std::string(config::check_kind_name(c.kind)) + " :" + std::to_string(c.port ? c.port : service_port);
  if (c.kind == config::CheckKind::kHttp) s += " GET " + c.path + " expect " + std::to_string(c.expect) + (c.host.empty() ? "" : " host " + c.host);
  s += " every " + config::format_duration_ms(c.interval_ms) + " timeout " + config::format_duration_ms(c.timeout_ms) + " rise " +
       std::to_string(c.rise) + " fall " + std::to_string(c.fall);
  if (c.initial_down) s += " initial down";
  if (c.kind == config::CheckKind::kExec) s += " command " + c.command;
  return s;
}

std::string_view conn_state_text(lb::ConnState s) {
  return s == lb::ConnState::kTemplate ? "NONE" : lb::state_name(s);
}

}  // namespace drfwd::console
