// The command table: one entry per command form (as testpmd's cmdline_parse_inst_t
// list), holding its words, its arguments' usage, its help line, its parser and what
// completion offers after it. parse_request, the usage shown with an error, help and
// tab completion (console/help.hpp) are all derived from this one list, so a command
// is added in one place. Configuration files, the console and the control socket all
// parse through it; a file takes configuration commands only.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/request.hpp"

namespace drfwd::config {

// The words of one command after its name, walked left to right. Errors carry the
// command's usage line.
class Words {
 public:
  Words(const std::vector<std::string_view>& words, size_t start, std::string usage)
      : w_(words), i_(start), usage_(std::move(usage)) {}

  [[noreturn]] void fail(const std::string& msg) const;
  // Runs f; a ConfigError it throws is re-thrown with this command's usage.
  template <class F>
  auto guard(F&& f) const {
    try {
      return f();
    } catch (const ConfigError& e) {
      fail(e.what());
    }
  }
  bool done() const { return i_ >= w_.size(); }
  std::string_view next(std::string_view what);  // fails "missing <what>" at the end
  void end() const;                              // fails "unexpected '<word>'" if more
  std::vector<std::string_view> rest();          // the remaining words
  const std::vector<std::string_view>& all() const { return w_; }
  size_t& pos() { return i_; }

  ServiceKey service();                           // <vip> <tcp|udp> <port>
  net::IpAddr real_server(const ServiceKey& svc);   // <rip>[:<port>], the service's port only
  CheckOverride check();                          // "check ..." takes the rest of the line
  ServiceOptions service_options();               // [sched <s>] [persist <sec>] ... [check ...]

 private:
  const std::vector<std::string_view>& w_;
  size_t i_;
  std::string usage_;
};

struct CommandForm {
  std::string_view name;  // the words that select it: "vip add"
  std::string_view args;  // usage of what follows the name: "<vip> <tcp|udp> <port> [...]"
  std::string_view help;  // one line
  Request (*parse)(Words& w);  // parses the words after the name; throws ConfigError
  // Completion: the words after the name before options start; the choices for the
  // first of them, if it is a keyword; the option keywords that may follow.
  size_t positional = 0;
  std::span<const std::string_view> choices = {};
  std::span<const std::string_view> options = {};
  std::string_view detail = {};  // `help <name>`: the full forms (ipvsadm's)

  std::string usage() const { return args.empty() ? std::string(name) : std::string(name) + " " + std::string(args); }
};

// Every command form, in the order help lists them.
std::span<const CommandForm> commands();

// The form a line's words select (the longest name that the leading words spell), or
// nullptr; `consumed` is the number of name words.
const CommandForm* find_form(const std::vector<std::string_view>& words, size_t& consumed);

// The levels `set log-level` takes (spdlog's names).
extern const std::span<const std::string_view> kLogLevels;

}  // namespace drfwd::config
