// The interactive console (-i): DPDK's librte_cmdline with prompt "drfwd> ", line
// editing, history and tab completion over drfwd's grammar. Polled by the control loop:
// waiting for input never stalls the control work. Works on a terminal and on a pipe
// (a script); end of input, or Ctrl-D on an empty line, quits as `quit` does.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "console/answer.hpp"

struct cmdline;

namespace drfwd::console {

class Console {
 public:
  Console(Handler handler, std::function<void()> on_end);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Reads what stdin has and runs complete lines; never blocks. While a line's answer
  // is outstanding (it needs the workers), input waits, so answers keep their order.
  void poll();
  bool ended() const { return ended_; }
  // The answer to the line being run (from the handler, now or later).
  void answer(Answer a);

 private:
  void end();
  bool feed(const char* buf, size_t n);  // false: input ended
  Handler handler_;
  std::function<void()> on_end_;
  cmdline* cl_ = nullptr;
  bool tty_ = false;
  bool ended_ = false;
  bool waiting_ = false;     // an answer is outstanding
  bool in_handler_ = false;  // the handler is running: an answer now is not a late one
  std::string held_;         // input read while waiting
  friend struct ConsoleCallbacks;
};

}  // namespace drfwd::console
