// libFuzzer target: the IPVS sync decoder (sync::decode) on arbitrary datagrams. Checks:
// no crash or sanitizer report (every read in bounds); conns never exceeds out.size()
// nor the entries the header announces; a header-level refusal reports no entries; a
// shorter out gets the same verdict and a prefix of the same entries; an accepted
// datagram has a v1 header matching its length, and its IPv4 entries re-encoded by
// sync::Encoder decode to the same entries, with nothing skipped. Then the rest of the
// receive path: every entry checked against a realistic snapshot (control::from_wire)
// and what passes adopted by a worker's forwarder: an accepted entry names a service and
// one of its real servers, with a timeout no longer than this director's; the table
// stays consistent and a forwarded frame of an adopted connection goes to its server.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "control/sync.hpp"
#include "lb/forwarder.hpp"
#include "net/bytes.hpp"
#include "specs.hpp"
#include "sync/wire.hpp"

using namespace drfwd;
using namespace drfwd::sync;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_sync: %s\n", what);
  std::abort();
}

// The tables received entries are checked against: rr on tcp :80 (two RSs, one down),
// persistence on tcp :443, UDP :53 with an unresolved RS, all on VIP 198.18.1.10.
struct World {
  std::shared_ptr<lb::Snapshot> snap;
  lb::FlowTable table{256};
  lb::WorkerCounters counters;
  std::unique_ptr<lb::RsCounters[]> rsc = std::make_unique<lb::RsCounters[]>(lb::kMaxRsSlots);
  lb::Forwarder fwd{0, table, counters, rsc.get()};
  World() {
    using test::rs;
    using test::service;
    lb::SnapshotSpec spec;
    spec.ports = test::ports(1, net::Prefix{test::ip("198.18.0.2"), 24});
    spec.services = {
        service(0, "198.18.1.10", net::kProtoTcp, 80, lb::Sched::kRr,
                {rs(0, "198.18.0.11"), rs(1, "198.18.0.12", 1, true, 0, lb::Health::kDown)}),
        service(1, "198.18.1.10", net::kProtoTcp, 443, lb::Sched::kRr, {rs(2, "198.18.0.11"), rs(3, "198.18.0.12", 0)},
                test::persistent(300, 24)),
        service(2, "198.18.1.10", net::kProtoUdp, 53, lb::Sched::kRr, {rs(4, "198.18.0.11"), rs(5, "198.18.0.12", 1, false)}),
    };
    snap = lb::build_snapshot(spec, nullptr);
    fwd.begin(snap.get(), 1);
  }
};

void receive_path(World& w, std::span<const Conn> conns) {
  for (const Conn& c : conns) {
    lb::SyncRecord r;
    if (control::from_wire(c, *w.snap, r) != control::SyncRefusal::kNone) continue;
    const lb::ServiceTable* svc = w.snap->find(r.key.dst, r.key.dport, r.key.proto);
    if (!svc) fail("accepted an entry for no service");
    const bool ours = std::any_of(svc->spec.rs.begin(), svc->spec.rs.end(),
                                  [&](const lb::RsSpec& s) { return s.slot == r.rs_slot && s.gen == r.rs_gen; });
    if (!ours || !w.snap->rs_view[r.rs_slot].live_gen) fail("accepted an entry for a server not usable in its service");
    const uint32_t longest = r.key.is_template() ? svc->params().persist : w.snap->timeouts.get(r.state);
    if (r.timeout == 0 || r.timeout > longest) fail("accepted a timeout beyond this director's");
    if (r.key.is_template() != (r.state == lb::ConnState::kTemplate)) fail("template key and state disagree");
    w.fwd.adopt(r);
  }
  if (!w.table.check().empty()) fail("table inconsistent after adopting");
}

bool same(const Decoded& a, const Decoded& b) {
  return a.error == b.error && a.syncid == b.syncid && a.skipped_v6 == b.skipped_v6 &&
         a.skipped_unsupported == b.skipped_unsupported;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::array<Conn, kMaxConnsPerMessage> out, small, again;
  static Encoder* enc = new Encoder(0, kMaxMaxLen);  // 64 KiB: not on the stack
  const std::span<const uint8_t> dgram(data, size);

  const Decoded d = decode(dgram, out);
  if (d.conns > out.size()) fail("conns beyond out");
  const size_t announced = size >= kHeaderLen ? data[4] : 0;
  if (d.conns + d.skipped_v6 + d.skipped_unsupported > announced) fail("more entries than nr_conns");
  if (size >= kHeaderLen && d.syncid != data[1]) fail("syncid is not the header's");
  const bool header_refused =
      d.error == DecodeError::kShort || d.error == DecodeError::kSize || d.error == DecodeError::kVersion;
  if (header_refused && d.conns + d.skipped_v6 + d.skipped_unsupported != 0) fail("entries from a refused header");
  if (decode_error_name(d.error) == "unknown") fail("error without a name");

  // A shorter out: the same verdict, the first of the same entries.
  const size_t room = size ? data[size - 1] % 4 : 0;
  const Decoded s = decode(dgram, std::span(small).first(room));
  if (!same(d, s) || s.conns != std::min(room, d.conns)) fail("a shorter out changed the verdict");
  for (size_t i = 0; i < s.conns; ++i)
    if (!(small[i] == out[i])) fail("a shorter out got other entries");

  if (d.error != DecodeError::kNone) return 0;
  if (size < kHeaderLen || net::ntoh16(net::load16(data + 2)) != size || data[0] != 0 || data[5] != kProtoVersion ||
      data[6] != 0 || data[7] != 0)
    fail("accepted a header the kernel refuses");

  // Re-encoded, the IPv4 entries come back the same (at most 255 always fit 65507 bytes).
  enc->clear();
  for (size_t i = 0; i < d.conns; ++i)
    if (!enc->add(out[i])) fail("encoder refused an entry below 255");
  const auto msg = enc->message();
  const Decoded r = decode(msg, again);
  if (r.error != DecodeError::kNone || r.conns != d.conns || r.skipped_v6 || r.skipped_unsupported)
    fail("re-encoded message does not decode alike");
  for (size_t i = 0; i < r.conns; ++i)
    if (!(again[i] == out[i])) fail("re-encoded entry differs");
  if (msg.size() != kHeaderLen + d.conns * kEntryV4Len || msg[4] != d.conns) fail("encoder size or count wrong");

  static World* world = new World();
  receive_path(*world, std::span<const Conn>(out.data(), d.conns));
  return 0;
}
