#include "config/check.hpp"

#include <charconv>
#include <cmath>

#include "config/command.hpp"
#include "config/values.hpp"

namespace drfwd::config {

const std::string_view kCheckUsage =
    "check none|tcp|http|exec|default [port <p>] [path </p>] [expect <code>] [host <name>] "
    "[interval <t>] [timeout <t>] [rise <n>] [fall <n>] [initial up|down] [command <shell command...>]   "
    "(t: 500ms, 2s or 1.5; exec takes its command, the last setting: the rest of the line, no '#')";

std::string_view check_kind_name(CheckKind k) {
  switch (k) {
    case CheckKind::kNone: return "none";
    case CheckKind::kTcp: return "tcp";
    case CheckKind::kHttp: return "http";
    case CheckKind::kExec: return "exec";
  }
  return "?";
}

CheckOverride merge(const CheckOverride& base, const CheckOverride& over) {
  if (over.reset) {
    CheckOverride r = over;
    r.reset = false;
    return r;
  }
  CheckOverride r = base;
  // A new kind drops the settings that do not apply to it: "check none" after
  // "check http path /x" is none, "check tcp" after it keeps port and timings only,
  // "check exec" keeps the timings (and initial) only.
  if (over.kind == CheckKind::kNone) r = CheckOverride{};
  if (over.kind == CheckKind::kTcp) r.path.reset(), r.expect.reset(), r.host.reset();
  if (over.kind == CheckKind::kTcp || over.kind == CheckKind::kHttp) r.command.reset();
  if (over.kind == CheckKind::kExec) r.port.reset(), r.path.reset(), r.expect.reset(), r.host.reset();
  if (over.kind) r.kind = over.kind;
  if (over.port) r.port = over.port;
  if (over.path) r.path = over.path;
  if (over.expect) r.expect = over.expect;
  if (over.host) r.host = over.host;
  if (over.interval_ms) r.interval_ms = over.interval_ms;
  if (over.timeout_ms) r.timeout_ms = over.timeout_ms;
  if (over.rise) r.rise = over.rise;
  if (over.fall) r.fall = over.fall;
  if (over.initial_down) r.initial_down = over.initial_down;
  if (over.command) r.command = over.command;
  return r;
}

CheckSpec resolve(const CheckSpec& base, const CheckOverride& o) {
  CheckSpec s = base;
  if (o.kind) s.kind = *o.kind;
  if (o.port) s.port = *o.port;
  if (o.path) s.path = *o.path;
  if (o.expect) s.expect = *o.expect;
  if (o.host) s.host = *o.host;
  if (o.interval_ms) s.interval_ms = *o.interval_ms;
  if (o.timeout_ms) s.timeout_ms = *o.timeout_ms;
  if (o.rise) s.rise = *o.rise;
  if (o.fall) s.fall = *o.fall;
  if (o.initial_down) s.initial_down = *o.initial_down;
  if (o.command) s.command = *o.command;
  return s;
}

namespace {

uint32_t parse_duration(std::string_view w) {
  double scale = 1000;
  std::string_view num = w;
  if (w.size() > 2 && w.substr(w.size() - 2) == "ms") {
    scale = 1;
    num = w.substr(0, w.size() - 2);
  } else if (w.size() > 1 && w.back() == 's') {
    num = w.substr(0, w.size() - 1);
  }
  double v = -1;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || p != num.data() + num.size() || !std::isfinite(v) || v < 0)
    throw ConfigError(quote(w) + " is not a duration: expected e.g. 500ms, 2s or 1.5");
  const double ms = v * scale;
  if (ms < 50 || ms > 3600000) throw ConfigError(quote(w) + ": durations go from 50ms to 3600s");
  return static_cast<uint32_t>(std::llround(ms));
}

bool printable_word(std::string_view w) {
  for (unsigned char c : w)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

// "command": every word after it, joined by single spaces (the tokenizer has split the
// line on whitespace and cut it at '#'). Printable ASCII only, so that show config
// prints it back as it was read.
std::string parse_command(const std::vector<std::string_view>& w, size_t& i) {
  std::string cmd;
  for (; i < w.size(); ++i) {
    if (!printable_word(w[i]))
      throw ConfigError("check command: " + quote(w[i]) + " has a control or non-ASCII character");
    cmd += (cmd.empty() ? "" : " ") + std::string(w[i]);
  }
  if (cmd.empty()) throw ConfigError("check command: missing the command (the rest of the line)");
  if (cmd.size() > kMaxCheckCommand)
    throw ConfigError("check command: " + std::to_string(cmd.size()) + " characters, at most " +
                      std::to_string(kMaxCheckCommand));
  return cmd;
}

}  // namespace

CheckOverride parse_check(const std::vector<std::string_view>& w, size_t& i) {
  CheckOverride c;
  if (i < w.size()) {
    const std::string_view k = w[i];
    if (k == "none") c.kind = CheckKind::kNone, ++i;
    else if (k == "tcp") c.kind = CheckKind::kTcp, ++i;
    else if (k == "http") c.kind = CheckKind::kHttp, ++i;
    else if (k == "exec") c.kind = CheckKind::kExec, ++i;
    else if (k == "default") c.reset = true, ++i;
  }
  while (i < w.size()) {
    const std::string_view key = w[i];
    if (key == "command") {  // the last setting: it takes the rest of the line
      ++i;
      try {
        c.command = parse_command(w, i);
      } catch (const ConfigError& e) {
        throw ConfigError(e.what(), std::string(kCheckUsage));
      }
      break;
    }
    if (i + 1 >= w.size()) throw ConfigError("check: missing value for " + quote(key), std::string(kCheckUsage));
    const std::string_view val = w[i + 1];
    i += 2;
    try {
      if (key == "port") c.port = parse_port_number(val, "check port");
      else if (key == "path") {
        if (val.empty() || val[0] != '/' || !printable_word(val))
          throw ConfigError("check path " + quote(val) + " must start with / and have no spaces or control characters");
        c.path = std::string(val);
      } else if (key == "expect") c.expect = static_cast<uint16_t>(parse_number(val, "HTTP status", 100, 599));
      else if (key == "host") {
        if (!printable_word(val) || val.size() > 253) throw ConfigError("check host " + quote(val) + " is not a host name");
        c.host = std::string(val);
      } else if (key == "interval") c.interval_ms = parse_duration(val);
      else if (key == "timeout") c.timeout_ms = parse_duration(val);
      else if (key == "rise") c.rise = static_cast<uint16_t>(parse_number(val, "rise", 1, 100));
      else if (key == "fall") c.fall = static_cast<uint16_t>(parse_number(val, "fall", 1, 100));
      else if (key == "initial") {
        if (val != "up" && val != "down") throw ConfigError("check initial " + quote(val) + ": expected up or down");
        c.initial_down = val == "down";
      }
      else throw ConfigError("unknown check setting " + quote(key));
    } catch (const ConfigError& e) {
      throw ConfigError(e.what(), std::string(kCheckUsage));
    }
  }
  validate(c, "");
  return c;
}

void validate(const CheckOverride& c, std::string_view context) {
  const std::string ctx(context);
  if (c.interval_ms && c.timeout_ms && *c.timeout_ms > *c.interval_ms)
    throw ConfigError(ctx + "check timeout " + format_duration_ms(*c.timeout_ms) + " must not exceed its interval " +
                          format_duration_ms(*c.interval_ms),
                      std::string(kCheckUsage));
  if (c.kind == CheckKind::kNone && c.initial_down == true)
    throw ConfigError(ctx + "check none with initial down: an unchecked real server would never come up",
                      std::string(kCheckUsage));
  if (c.kind == CheckKind::kNone && (c.port || c.path || c.expect || c.host || c.interval_ms || c.timeout_ms ||
                                     c.rise || c.fall || c.initial_down || c.command))
    throw ConfigError(ctx + "check none takes no settings", std::string(kCheckUsage));
  if ((c.kind == CheckKind::kTcp || c.kind == CheckKind::kExec) && (c.path || c.expect || c.host))
    throw ConfigError(ctx + "path, expect and host apply to http checks", std::string(kCheckUsage));
  if (c.kind == CheckKind::kExec && c.port)
    throw ConfigError(ctx + "port does not apply to exec checks: the command names what it checks",
                      std::string(kCheckUsage));
  if ((c.kind == CheckKind::kTcp || c.kind == CheckKind::kHttp) && c.command)
    throw ConfigError(ctx + "command applies to exec checks", std::string(kCheckUsage));
  if (c.kind == CheckKind::kExec && !c.command)
    throw ConfigError(ctx + "check exec needs its command (the last setting: command <the rest of the line>)",
                      std::string(kCheckUsage));
}

std::string format_duration_ms(uint32_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string to_string(const CheckOverride& c) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (c.reset) add("default");
  if (c.kind) add(std::string(check_kind_name(*c.kind)));
  if (c.port) add("port " + std::to_string(*c.port));
  if (c.path) add("path " + *c.path);
  if (c.expect) add("expect " + std::to_string(*c.expect));
  if (c.host) add("host " + *c.host);
  if (c.interval_ms) add("interval " + format_duration_ms(*c.interval_ms));
  if (c.timeout_ms) add("timeout " + format_duration_ms(*c.timeout_ms));
  if (c.rise) add("rise " + std::to_string(*c.rise));
  if (c.fall) add("fall " + std::to_string(*c.fall));
  if (c.initial_down) add(*c.initial_down ? "initial down" : "initial up");
  if (c.command) add("command " + *c.command);  // last: it takes the rest of the line
  return s;
}

}  // namespace drfwd::config
