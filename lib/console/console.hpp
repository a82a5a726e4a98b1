// The interactive console (-i): DPDK's librte_cmdline with prompt "drfwd> ", line
// editing, history and tab completion over drfwd's grammar. Polled by the control loop:
// waiting for input never stalls the control work. Works on a terminal and on a pipe
// (a script); end of input, or Ctrl-D on an empty line, quits as `quit` does.
#pragma once

#include <functional>
#include <string>
#include <string_view>

struct cmdline;

namespace drfwd::console {

struct Answer {
  bool ok = true;
  std::string text;
};
using Handler = std::function<Answer(std::string_view line)>;

class Console {
 public:
  Console(Handler handler, std::function<void()> on_end);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  void poll();  // reads what stdin has, runs complete lines; never blocks
  bool ended() const { return ended_; }

 private:
  void end();
  Handler handler_;
  std::function<void()> on_end_;
  cmdline* cl_ = nullptr;
  bool tty_ = false;
  bool ended_ = false;
};

}  // namespace drfwd::console
