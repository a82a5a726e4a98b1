// libFuzzer target: the command grammar. Input: text, one command per line, applied to
// a model as the console would (a refused line changes nothing). Checks, per input:
// no crash or sanitizer report; a refused command leaves the model untouched; the
// running configuration printed by show config loads back into an identical model; a
// reload (config::reconcile) from nothing to it, from it to nothing and from it to itself
// lands exactly there; the views format whatever the model holds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "config/reconcile.hpp"
#include "config/request.hpp"
#include "config/show_config.hpp"
#include "console/help.hpp"
#include "console/ipvsadm_views.hpp"
#include "console/tables.hpp"
#include "control/status.hpp"

using namespace drfwd;
using namespace drfwd::config;

namespace {
[[noreturn]] void fail(const char* what) {
  __builtin_fprintf(stderr, "fuzz_grammar: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  Model m(2);
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    const std::string_view line(text.data() + start, nl - start);
    start = nl + 1;
    const std::string before = model_to_commands(m);
    try {
      auto r = parse_request(line);
      if (r && std::holds_alternative<Command>(*r)) m.apply(std::get<Command>(*r));
      if (r && std::holds_alternative<Query>(*r)) console::help_text(line.substr(0, 8));
    } catch (const ConfigError&) {
      if (model_to_commands(m) != before) fail("a refused command changed the model");
    }
  }
  // show config -> load -> show config is a fixed point.
  const std::string shown = model_to_commands(m);
  Model again(2);
  try {
    load_text("show config", shown, again);
  } catch (const ConfigError& e) {
    __builtin_fprintf(stderr, "%s\n%s\n", e.what(), shown.c_str());
    fail("show config does not load back");
  }
  if (model_to_commands(again) != shown) fail("show config is not a fixed point");
  // A reload: to this configuration from an empty one, back to empty, to itself.
  auto reload = [](const Model& from, const Model& to) {
    Model r = from;
    try {
      for (const Command& c : reconcile(from, to)) r.apply(c);
    } catch (const ConfigError& e) {
      __builtin_fprintf(stderr, "%s\nfrom:\n%s\nto:\n%s\n", e.what(), model_to_commands(from).c_str(),
                        model_to_commands(to).c_str());
      fail("a reload's commands were refused");
    }
    if (model_to_commands(r) != model_to_commands(to)) fail("a reload did not reach the configuration");
  };
  reload(Model(2), m);
  reload(m, Model(2));
  if (!reconcile(m, again).empty()) fail("a reload to the same configuration changes something");
  // Views over what the model holds.
  std::vector<control::ServiceStatus> st;
  for (const Service& s : m.services()) st.push_back(control::status_of(s));
  query::IpvsList o;
  console::ipvsadm_list(st, o, 1, m.timeouts(), {});
  o.stats = true;
  console::ipvsadm_list(st, o, 1, m.timeouts(), {});
  console::ipvsadm_save(st, false);
  console::format_vips(st);
  console::format_rs(st);
  return 0;
}
