// --metrics: the Prometheus exposition (names, labels, types, escaping, every counter of
// every table) and the HTTP server that serves it, driven over socketpairs.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "console/http_server.hpp"
#include "console/metrics.hpp"
#include "docs.hpp"
#include "packets.hpp"

using namespace drfwd;
using namespace drfwd::console;
using drfwd::control::RsStatus;
using drfwd::control::ServiceStatus;
using drfwd::test::ip;

namespace {

std::vector<ServiceStatus> sample_services() {
  ServiceStatus web;
  web.key = {ip("198.18.1.10"), net::kProtoTcp, 80};
  web.params.sched = lb::Sched::kRr;
  web.arp_claimed = true;
  RsStatus a;
  a.ip = ip("198.18.0.11");
  a.mac = test::mac("02:00:00:00:00:11");
  a.port = 0;
  a.weight = 3;
  a.health = lb::Health::kUp;
  a.takes_new = true;
  a.counters.active = 5;
  a.counters.inactive = 2;
  a.counters.conns = 40;
  a.counters.packets = 1234;
  a.counters.bytes = 567890;
  RsStatus b = a;
  b.ip = ip("198.18.0.12");
  b.health = lb::Health::kDown;
  b.takes_new = false;
  b.counters = {};
  RsStatus sorry = b;  // a sorry server not in use: ipvsadm -L does not list it
  sorry.ip = ip("198.18.0.13");
  sorry.sorry = true;
  sorry.health = lb::Health::kUnchecked;
  web.rs = {a, b, sorry};
  ServiceStatus dns6;
  dns6.key = {test::any_ip("2001:2::10"), net::kProtoUdp, 53};
  RsStatus c;
  c.ip = test::any_ip("2001:2::11");
  c.weight = 1;
  c.counters.packets = 7;
  dns6.rs = {c};
  return {web, dns6};
}

struct Fixture {
  std::vector<dp::PortInfo> ports;
  dp::Totals totals;
  ControlReading control;
  std::vector<ServiceStatus> services = sample_services();
  control::SyncCounters sync;

  Fixture() {
    for (uint16_t p = 0; p < 2; ++p) {
      dp::PortInfo info;
      info.id = p;
      info.name = "net_pcap" + std::to_string(p);
      info.driver = "net_pcap";
      ports.push_back(info);
      dp::PortTotals t;
      t.nic.rx_packets = 100 + p;
      t.sw.received = 90 + p;
      t.sw.forwarded = 80 + p;
      t.sw.forwarded_bytes = 8000;
      t.sw.drops[static_cast<int>(net::Drop::kNoService)] = 4 + p;
      t.sw.drops[static_cast<int>(net::Drop::kIpBadChecksum)] = 1;
      totals.ports.push_back(t);
    }
    for (unsigned w = 0; w < 2; ++w) {
      dp::WorkerTotals t;
      t.lcore = w + 1;
      t.w.conn_new = 20;
      t.w.conns_in_use = 6;
      t.w.busy_loop.record(2000);
      t.sw.received = 95;
      totals.workers.push_back(t);
    }
    control.slow.exception_in = 9;
    control.director.publishes = 3;
    control.director.health_changes = 1;
    control.neigh.neigh_conflicts = 2;
    sync.messages_sent = 11;
  }
  MetricsInputs inputs() const { return {ports, totals, control, services, &sync, {1000, 1000}, 2e9}; }
  std::string render() const { return render_metrics(inputs()); }
};

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// name -> type, checking the layout as it goes: HELP then TYPE once per family, every
// sample of a family after its TYPE and named by it.
std::map<std::string, std::string> families(const std::string& text) {
  std::map<std::string, std::string> types;
  std::string current;
  const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  const std::regex sample_re(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^\n]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf))");
  std::string pending_help;
  for (const std::string& l : lines_of(text)) {
    if (l.rfind("# HELP ", 0) == 0) {
      pending_help = l.substr(7, l.find(' ', 7) - 7);
      EXPECT_FALSE(types.count(pending_help)) << "HELP twice: " << l;
      EXPECT_GT(l.size(), 8 + pending_help.size()) << "empty help: " << l;
    } else if (l.rfind("# TYPE ", 0) == 0) {
      std::istringstream w(l.substr(7));
      std::string name, type;
      w >> name >> type;
      EXPECT_EQ(name, pending_help) << "TYPE without its HELP: " << l;
      EXPECT_TRUE(std::regex_match(name, name_re)) << name;
      EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice: " << l;
      EXPECT_TRUE(type == "counter" || type == "gauge") << l;
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << name;
      } else {
        EXPECT_FALSE(name.ends_with("_total")) << name;
      }
      current = name;
    } else {
      std::smatch m;
      EXPECT_TRUE(std::regex_match(l, m, sample_re)) << l;
      if (!m.empty()) {
        EXPECT_EQ(m[1].str(), current) << l;
      }
    }
  }
  return types;
}

}  // namespace

TEST(Metrics, OneHelpAndTypePerFamilyCorrectTypesAndNames) {
  const auto types = families(Fixture().render());
  EXPECT_GT(types.size(), 60u);
  for (const auto& [name, type] : types) EXPECT_TRUE(name.starts_with("drfwd_")) << name;
}

TEST(Metrics, NodeExporterIpvsNamesAndLabels) {
  const std::string text = Fixture().render();
  const auto types = families(text);
  for (const char* c : {"connections_total", "incoming_packets_total", "outgoing_packets_total", "incoming_bytes_total",
                        "outgoing_bytes_total"})
    EXPECT_EQ(types.at(std::string("drfwd_ipvs_") + c), "counter") << c;
  for (const char* g : {"backend_connections_active", "backend_connections_inactive", "backend_weight"})
    EXPECT_EQ(types.at(std::string("drfwd_ipvs_") + g), "gauge") << g;
  const std::string labels =
      R"({local_address="198.18.1.10",local_port="80",remote_address="198.18.0.11",remote_port="80",proto="TCP"})";
  EXPECT_NE(text.find("\ndrfwd_ipvs_backend_connections_active" + labels + " 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ndrfwd_ipvs_backend_connections_inactive" + labels + " 2\n"), std::string::npos);
  EXPECT_NE(text.find("\ndrfwd_ipvs_backend_weight" + labels + " 3\n"), std::string::npos);
  EXPECT_NE(text.find("\ndrfwd_ipvs_connections_total 40\n"), std::string::npos);       // conn_new, both workers
  EXPECT_NE(text.find("\ndrfwd_ipvs_incoming_packets_total 161\n"), std::string::npos);  // forwarded, both ports
  EXPECT_NE(text.find("\ndrfwd_ipvs_outgoing_packets_total 0\n"), std::string::npos);
  // IPv6 as text, UDP.
  EXPECT_NE(text.find(R"(drfwd_ipvs_backend_weight{local_address="2001:2::10",local_port="53",)"
                      R"(remote_address="2001:2::11",remote_port="53",proto="UDP"} 1)"),
            std::string::npos);
  // A sorry server not in use is not an IPVS backend (ipvsadm -L does not list it), but
  // drfwd's own families show it.
  EXPECT_EQ(text.find("drfwd_ipvs_backend_weight{local_address=\"198.18.1.10\",local_port=\"80\","
                      "remote_address=\"198.18.0.13\""),
            std::string::npos);
  EXPECT_NE(text.find("drfwd_backend_sorry{local_address=\"198.18.1.10\",local_port=\"80\","
                      "remote_address=\"198.18.0.13\",remote_port=\"80\",proto=\"TCP\"} 1"),
            std::string::npos);
}

TEST(Metrics, RealServerCountersHealthAndState) {
  const std::string text = Fixture().render();
  const std::string a =
      R"({local_address="198.18.1.10",local_port="80",remote_address="198.18.0.11",remote_port="80",proto="TCP")";
  const std::string b =
      R"({local_address="198.18.1.10",local_port="80",remote_address="198.18.0.12",remote_port="80",proto="TCP")";
  for (const std::string& want :
       {"drfwd_backend_packets_total" + a + "} 1234", "drfwd_backend_bytes_total" + a + "} 567890",
        "drfwd_backend_conns_total" + a + "} 40", "drfwd_backend_active" + a + "} 5", "drfwd_backend_up" + a + "} 1",
        "drfwd_backend_up" + b + "} 0", "drfwd_backend_health" + b + ",state=\"down\"} 1",
        "drfwd_backend_health" + b + ",state=\"up\"} 0", "drfwd_backend_accepting" + a + "} 1",
        "drfwd_backend_accepting" + b + "} 0",
        std::string(R"(drfwd_service_info{local_address="198.18.1.10",local_port="80",proto="TCP",sched="rr"} 1)"),
        std::string(R"(drfwd_service_vip_claimed{local_address="198.18.1.10",local_port="80",proto="TCP"} 1)"),
        std::string(R"(drfwd_service_real_servers_accepting{local_address="198.18.1.10",local_port="80",proto="TCP"} 1)")})
    EXPECT_NE(text.find("\n" + want + "\n"), std::string::npos) << want;
}

TEST(Metrics, EveryFieldOfEveryCounterTableIsAFamily) {
  const auto types = families(Fixture().render());
  auto expect = [&](std::string_view prefix, const auto& table) {
    for (const auto& f : table) {
      const bool counter = f.kind == lb::CounterKind::kCounter;
      const std::string name = std::string(prefix) + std::string(f.name) + (counter ? "_total" : "");
      ASSERT_TRUE(types.count(name)) << name;
      EXPECT_EQ(types.at(name), counter ? "counter" : "gauge") << name;
    }
  };
  expect("drfwd_port_", lb::kPortFields);
  expect("drfwd_nic_", dp::kNicFields);
  expect("drfwd_worker_", lb::kWorkerFields);
  expect("drfwd_worker_", lb::kPortFields);
  expect("drfwd_backend_", lb::kRsCounterFields);
  expect("drfwd_backend_", lb::kRsGaugeFields);
  expect("drfwd_slow_path_", control::kSlowPathFields);
  expect("drfwd_director_", control::kDirectorFields);
  expect("drfwd_director_", control::kNeighFields);
  expect("drfwd_sync_", control::kSyncFields);
  for (const auto& h : lb::kWorkerHistograms)
    EXPECT_EQ(types.at("drfwd_worker_" + std::string(h.name) + "_max_seconds"), "gauge");
  for (const char* g : {"drfwd_build_info", "drfwd_conn_table_capacity", "drfwd_port_info", "drfwd_worker_info"})
    EXPECT_EQ(types.at(g), "gauge") << g;
}

TEST(Metrics, PortWorkerDropAndControlValues) {
  const std::string text = Fixture().render();
  for (const std::string want :
       {R"(drfwd_drops_total{port="1",reason="no-service"} 5)", R"(drfwd_drops_total{port="0",reason="runt"} 0)",
        R"(drfwd_port_dropped_total{port="0"} 5)", R"(drfwd_port_forwarded_total{port="1"} 81)",
        R"(drfwd_nic_rx_packets_total{port="1"} 101)", R"(drfwd_worker_conn_new_total{worker="1"} 20)",
        R"(drfwd_worker_conns_in_use{worker="0"} 6)", R"(drfwd_worker_received_total{worker="0"} 95)",
        R"(drfwd_worker_info{worker="1",lcore="2"} 1)", R"(drfwd_conn_table_capacity{worker="1"} 1000)",
        R"(drfwd_port_info{port="0",name="net_pcap0",driver="net_pcap",mac="00:00:00:00:00:00"} 1)",
        "drfwd_slow_path_exception_in_total 9", "drfwd_director_publishes_total 3",
        "drfwd_director_neigh_conflicts_total 2", "drfwd_sync_messages_sent_total 11",
        "drfwd_build_info{version=\"" DRFWD_VERSION "\"} 1"})
    EXPECT_NE(text.find("\n" + want + "\n"), std::string::npos) << want;
  // Every reason on every port, zeros included (a series that appears late breaks rate()).
  size_t reasons = 0;
  for (const std::string& l : lines_of(text)) reasons += l.rfind("drfwd_drops_total{", 0) == 0;
  EXPECT_EQ(reasons, 2u * (net::kDropCount - 1));
  // Loop maximum in seconds: 2000 cycles at 2 GHz.
  EXPECT_NE(text.find("\ndrfwd_worker_busy_loop_max_seconds{worker=\"0\"} 1e-06\n"), std::string::npos);
}

TEST(Metrics, NoSyncDaemonNoSyncFamilies) {
  Fixture f;
  MetricsInputs in = f.inputs();
  in.sync = nullptr;
  EXPECT_EQ(render_metrics(in).find("drfwd_sync_"), std::string::npos);
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_help("x\\y\nz\"q"), "x\\\\y\\nz\"q");
  Fixture f;
  f.ports[0].name = "odd \"name\"\\\n";
  const std::string text = f.render();
  EXPECT_NE(text.find(R"(name="odd \"name\"\\\n")"), std::string::npos) << text;
  families(text);  // still one line per sample
}

TEST(Metrics, RenderThousandRealServers) {
  Fixture f;
  f.services.clear();
  for (int s = 0; s < 10; ++s) {
    ServiceStatus svc;
    svc.key = {ip(("198.18.1." + std::to_string(10 + s)).c_str()), net::kProtoTcp, 80};
    for (int r = 0; r < 100; ++r) {
      RsStatus rs;
      rs.ip = ip(("198.18." + std::to_string(2 + r / 250) + "." + std::to_string(1 + r % 250)).c_str());
      rs.counters.packets = static_cast<uint64_t>(r);
      svc.rs.push_back(rs);
    }
    f.services.push_back(svc);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string text = f.render();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ metrics ] 10 services x 100 real servers: %zu bytes, %zu lines, rendered in %.2f ms\n", text.size(),
              lines_of(text).size(), ms);
  size_t active = 0;
  for (const std::string& l : lines_of(text)) active += l.rfind("drfwd_ipvs_backend_connections_active{", 0) == 0;
  EXPECT_EQ(active, 1000u);
}

// docs/operation.md's Metrics section names every family (the docs stay true).
TEST(Metrics, TheOperatorGuideNamesEveryFamily) {
  const std::string doc = test::read_doc("operation.md");
  const size_t at = doc.find("\n## Metrics");
  ASSERT_NE(at, std::string::npos);
  const std::string section = doc.substr(at, doc.find("\n## ", at + 1) - at);
  for (const auto& [name, type] : families(Fixture().render())) {
    // Table-generated families are documented as a pattern with the table named.
    if (name.starts_with("drfwd_worker_") && name != "drfwd_worker_info" && name != "drfwd_worker_dropped_total" &&
        !name.ends_with("_max_seconds"))
      continue;
    if (name.starts_with("drfwd_port_") && name != "drfwd_port_info" && name != "drfwd_port_dropped_total") continue;
    if (name.starts_with("drfwd_nic_") || name.starts_with("drfwd_slow_path_") || name.starts_with("drfwd_sync_") ||
        (name.starts_with("drfwd_director_")))
      continue;
    if (name.starts_with("drfwd_backend_") && (name.ends_with("_total") || name == "drfwd_backend_active" ||
                                               name == "drfwd_backend_inactive" || name == "drfwd_backend_persist"))
      continue;
    if (name.ends_with("_max_seconds")) continue;
    EXPECT_NE(section.find("`" + name + "`"), std::string::npos) << name;
  }
  for (const char* pattern : {"drfwd_port_<counter>_total", "drfwd_nic_<counter>_total", "drfwd_worker_<counter>",
                              "drfwd_backend_<counter>", "drfwd_slow_path_<counter>_total",
                              "drfwd_director_<counter>_total", "drfwd_sync_<counter>_total",
                              "drfwd_worker_<histogram>_max_seconds"})
    EXPECT_NE(section.find(pattern), std::string::npos) << pattern;
}

// ---- The HTTP server -------------------------------------------------------------------

namespace {

struct Client {
  int fd = -1;
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
};

// A connection to `server` over a socketpair: the server's end adopted, ours returned.
int connect_to(HttpServer& server, double now) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::fcntl(sv[1], F_SETFL, O_NONBLOCK);
  server.adopt(sv[0], now);
  return sv[1];
}

// Reads what is there; true once the server closed its side.
bool read_some(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    return n == 0;
  }
}

// One request, polled until the server closes: the whole answer.
std::string exchange(HttpServer& server, const std::string& request) {
  Client c{connect_to(server, 0)};
  EXPECT_EQ(::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  std::string got;
  for (int i = 0; i < 1000; ++i) {
    server.poll(0.001 * i);
    if (read_some(c.fd, got)) break;
  }
  ::close(c.fd);
  c.fd = -1;
  server.poll(0.5);  // sees our close
  return got;
}

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

std::string body_of(const std::string& answer) {
  const size_t at = answer.find("\r\n\r\n");
  return at == std::string::npos ? "" : answer.substr(at + 4);
}

}  // namespace

TEST(MetricsHttp, GetMetricsAnswersTheExposition) {
  HttpServer server([] { return std::optional<std::string>("drfwd_build_info{version=\"x\"} 1\n"); });
  const std::string a = exchange(server, "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n");
  EXPECT_EQ(status_line(a), "HTTP/1.1 200 OK");
  EXPECT_NE(a.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << a;
  EXPECT_NE(a.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(a.find("\r\nContent-Length: 32\r\n"), std::string::npos) << a;
  EXPECT_EQ(body_of(a), "drfwd_build_info{version=\"x\"} 1\n");
  EXPECT_EQ(server.connections(), 0u);
  // A query string is ignored; HEAD has the headers only; a bare-LF request is taken.
  EXPECT_EQ(status_line(exchange(server, "GET /metrics?x=1 HTTP/1.0\r\n\r\n")), "HTTP/1.1 200 OK");
  const std::string head = exchange(server, "HEAD /metrics HTTP/1.1\n\n");
  EXPECT_EQ(status_line(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(body_of(head), "");
  EXPECT_EQ(server.requests(), 3u);
}

TEST(MetricsHttp, IndexNotFoundMethodAndBadRequests) {
  HttpServer server([] { return std::optional<std::string>("x 1\n"); });
  const std::string index = exchange(server, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(index), "HTTP/1.1 200 OK");
  EXPECT_NE(index.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(index.find("<a href=\"/metrics\">"), std::string::npos);
  EXPECT_EQ(status_line(exchange(server, "GET /other HTTP/1.1\r\n\r\n")), "HTTP/1.1 404 Not Found");
  const std::string post = exchange(server, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_line(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(status_line(exchange(server, "garbage\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(exchange(server, "GET /metrics SMTP/1.0\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(exchange(server, "GET /metrics HTTP/1.1 x\r\n\r\n")), "HTTP/1.1 400 Bad Request");
}

TEST(MetricsHttp, NotReadyAndAFailingHandler) {
  HttpServer starting([] { return std::optional<std::string>(); });
  EXPECT_EQ(status_line(exchange(starting, "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 503 Service Unavailable");
  HttpServer failing([]() -> std::optional<std::string> { throw std::runtime_error("boom"); });
  EXPECT_EQ(status_line(exchange(failing, "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 500 Internal Server Error");
}

TEST(MetricsHttp, ARequestInPiecesAndAnOversizedOne) {
  HttpServer server([] { return std::optional<std::string>("x 1\n"); });
  Client c{connect_to(server, 0)};
  std::string got;
  for (const char* piece : {"GET /met", "rics HTTP/1.1\r\nHo", "st: a\r\n", "\r\n"}) {
    server.poll(0);
    EXPECT_FALSE(read_some(c.fd, got));
    ::send(c.fd, piece, std::strlen(piece), MSG_NOSIGNAL);
  }
  for (int i = 0; i < 10 && !read_some(c.fd, got); ++i) server.poll(0);
  EXPECT_EQ(status_line(got), "HTTP/1.1 200 OK");

  // Headers past the cap: 431 and closed, without waiting for the end.
  std::string big = "GET /metrics HTTP/1.1\r\n";
  while (big.size() <= HttpServer::kMaxRequest) big += "X-Filler: " + std::string(100, 'a') + "\r\n";
  Client d{connect_to(server, 0)};
  ::send(d.fd, big.data(), big.size(), MSG_NOSIGNAL);
  got.clear();
  for (int i = 0; i < 10 && !read_some(d.fd, got); ++i) server.poll(0);
  EXPECT_EQ(status_line(got), "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(MetricsHttp, ASlowClientIsClosedAtTheDeadline) {
  HttpServer server([] { return std::optional<std::string>("x 1\n"); });
  Client c{connect_to(server, 100)};
  ::send(c.fd, "GET /", 5, MSG_NOSIGNAL);
  server.poll(100 + HttpServer::kDeadline / 2);
  EXPECT_EQ(server.connections(), 1u);
  server.poll(100 + HttpServer::kDeadline + 0.1);
  EXPECT_EQ(server.connections(), 0u);
  std::string got;
  EXPECT_TRUE(read_some(c.fd, got));  // closed, nothing said
  EXPECT_EQ(got, "");
}

TEST(MetricsHttp, ALargeAnswerGoesOutAsTheSocketDrains) {
  const std::string body(4 << 20, 'm');  // far more than a socket buffer
  HttpServer server([&] { return std::optional<std::string>(body); });
  Client c{connect_to(server, 0)};
  ::send(c.fd, "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
  std::string got;
  int polls = 0;
  bool closed = false;
  for (; polls < 100000 && !closed; ++polls) {
    server.poll(0);  // never blocks: returns with the rest kept
    closed = read_some(c.fd, got);
  }
  EXPECT_TRUE(closed);
  EXPECT_GT(polls, 2);
  EXPECT_EQ(body_of(got).size(), body.size());
  EXPECT_EQ(body_of(got), body);
}

TEST(MetricsHttp, ConnectionsAreBounded) {
  HttpServer server([] { return std::optional<std::string>("x 1\n"); });
  std::vector<std::unique_ptr<Client>> clients;
  for (size_t i = 0; i < HttpServer::kMaxConnections + 3; ++i) {
    clients.push_back(std::make_unique<Client>());
    clients.back()->fd = connect_to(server, 0);
  }
  EXPECT_EQ(server.connections(), HttpServer::kMaxConnections);
  std::string got;
  EXPECT_TRUE(read_some(clients.back()->fd, got));  // refused: closed at once
}

TEST(MetricsHttp, ListenAddresses) {
  std::string err;
  auto v4 = parse_listen_address("127.0.0.1:9100", err);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->addr.ss_family, AF_INET);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&v4->addr)->sin_port), 9100);
  auto v6 = parse_listen_address("[::1]:9100", err);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->addr.ss_family, AF_INET6);
  EXPECT_TRUE(parse_listen_address("0.0.0.0:1", err));
  EXPECT_TRUE(parse_listen_address("[2001:2::1]:65535", err));
  for (const char* bad : {"", "9100", ":9100", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:http", "localhost:9100", "::1:9100", "[::1]", "[::1]9100", "[1.2.3.4]:80",
                          "300.1.1.1:80", "127.0.0.1:91000"}) {
    err.clear();
    EXPECT_FALSE(parse_listen_address(bad, err)) << bad;
    EXPECT_NE(err.find("ADDR:PORT"), std::string::npos) << bad << ": " << err;
  }
  parse_listen_address("::1:9100", err);
  EXPECT_NE(err.find("brackets"), std::string::npos) << err;
}

// The listening side on loopback (127.0.0.1, an ephemeral port, closed at the end): a
// real connection, and a second server on the same port refused with a clear message.
TEST(MetricsHttp, ListensOnLoopback) {
  std::string err;
  auto at = parse_listen_address("127.0.0.1:1", err);
  ASSERT_TRUE(at);
  reinterpret_cast<sockaddr_in*>(&at->addr)->sin_port = 0;  // any free port
  HttpServer server(*at, [] { return std::optional<std::string>("x 1\n"); });
  ASSERT_NE(server.port(), 0);
  ListenAddress same = *at;
  reinterpret_cast<sockaddr_in*>(&same.addr)->sin_port = htons(server.port());
  try {
    HttpServer second(same, [] { return std::optional<std::string>(); });
    ADD_FAILURE() << "a second server on the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen: Address already in use"), std::string::npos) << e.what();
  }
  Client c{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  ASSERT_EQ(::connect(c.fd, reinterpret_cast<const sockaddr*>(&same.addr), same.len), 0);
  ::send(c.fd, "GET /metrics HTTP/1.1\r\n\r\n", 25, MSG_NOSIGNAL);
  ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
  std::string got;
  for (int i = 0; i < 2000 && !read_some(c.fd, got); ++i) {
    server.poll(0);
    ::usleep(500);
  }
  EXPECT_EQ(status_line(got), "HTTP/1.1 200 OK");
  EXPECT_EQ(body_of(got), "x 1\n");
}

// However many scrapers ask, the body is rendered at most once every kFresh seconds: a
// render holds the control loop, so its cost must not grow with the number of clients.
TEST(MetricsHttp, OneRenderServesEveryScraperForASecond) {
  int rendered = 0;
  HttpServer server([&] { return std::optional<std::string>("x " + std::to_string(++rendered) + "\n"); });
  auto ask_all = [&](double now, size_t n) {
    std::vector<int> fds;
    for (size_t i = 0; i < n; ++i) {
      fds.push_back(connect_to(server, now));
      const std::string req = "GET /metrics HTTP/1.1\r\n\r\n";
      EXPECT_EQ(::send(fds.back(), req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    }
    server.poll(now);
    std::vector<std::string> bodies;
    for (int fd : fds) {
      std::string got;
      read_some(fd, got);
      bodies.push_back(body_of(got));
      ::close(fd);
    }
    server.poll(now);
    return bodies;
  };
  const auto first = ask_all(10.0, HttpServer::kMaxConnections);
  EXPECT_EQ(server.renders(), 1u);
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()), std::set<std::string>{"x 1\n"});
  ask_all(10.0 + HttpServer::kFresh / 2, 3);
  EXPECT_EQ(server.renders(), 1u) << "a body younger than kFresh is served again";
  const auto later = ask_all(10.0 + HttpServer::kFresh, 2);
  EXPECT_EQ(server.renders(), 2u);
  EXPECT_EQ(later[0], "x 2\n");
}
