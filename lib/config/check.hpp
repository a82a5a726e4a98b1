// Health-check settings: built-in defaults, overridden by `set check`, by the service,
// then by the real server. Each level sets only what it names.
//
// Kinds: none (always up), tcp (a connect), http (a GET), exec (a command run by
// /bin/sh -c, exit status 0 = up: keepalived's MISC_CHECK).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drfwd::config {

enum class CheckKind : uint8_t { kNone, kTcp, kHttp, kExec };
std::string_view check_kind_name(CheckKind k);

// What a check resolves to for one real server.
struct CheckSpec {
  CheckKind kind = CheckKind::kTcp;
  uint16_t port = 0;         // 0: the service port
  std::string path = "/";    // http
  uint16_t expect = 200;     // http status
  std::string host;          // http Host header; empty: the RS address
  uint32_t interval_ms = 500;
  uint32_t timeout_ms = 400;
  uint16_t rise = 2;         // consecutive successes to come back
  uint16_t fall = 3;         // consecutive failures to go out
  bool initial_down = false; // starts down, up at its first passing probe (keepalived's alpha)
  std::string command;       // exec: the shell command
  bool operator==(const CheckSpec&) const = default;
};

struct CheckOverride {
  std::optional<CheckKind> kind;
  std::optional<uint16_t> port;
  std::optional<std::string> path;
  std::optional<uint16_t> expect;
  std::optional<std::string> host;
  std::optional<uint32_t> interval_ms;
  std::optional<uint32_t> timeout_ms;
  std::optional<uint16_t> rise;
  std::optional<uint16_t> fall;
  std::optional<bool> initial_down;
  std::optional<std::string> command;
  bool reset = false;  // "check default": drop this level's settings
  bool operator==(const CheckOverride&) const = default;
  bool empty() const { return *this == CheckOverride{}; }
};

// `over` on top of `base` (a reset override replaces base's settings with nothing).
CheckOverride merge(const CheckOverride& base, const CheckOverride& over);
CheckSpec resolve(const CheckSpec& base, const CheckOverride& over);

// Parses the words after "check": [none|tcp|http|exec|default] then key value pairs
// (port, path, expect, host, interval, timeout, rise, fall, initial), and last
// "command", which takes every word after it (joined by single spaces). Throws
// ConfigError.
CheckOverride parse_check(const std::vector<std::string_view>& words, size_t& i);

// Throws ConfigError (message prefixed with context) if c's settings contradict each
// other: timeout above interval, settings on a none check (initial down among them: it
// would never come up), http settings on tcp or exec, a command on tcp or http, exec
// without its command.
void validate(const CheckOverride& c, std::string_view context);

// "tcp port 8080 interval 1s" (only what is set), for show config; a command comes last.
std::string to_string(const CheckOverride& c);
std::string format_duration_ms(uint32_t ms);

extern const std::string_view kCheckUsage;
constexpr size_t kMaxCheckCommand = 1024;  // characters of an exec check's command

}  // namespace drfwd::config
