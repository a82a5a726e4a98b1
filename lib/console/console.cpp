#include "console/console.hpp"

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_rdline.h>
#include <cmdline_socket.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/command.hpp"
#include "console/help.hpp"

namespace drfwd::console {

namespace {

constexpr const char* kPrompt = "drfwd> ";
constexpr int kMaxWords = 48;  // lines of 1..48 words reach the grammar

// The console being polled (one per process): completion needs its line buffer, and
// the instruction callback its handler.
Console* g_console = nullptr;
cmdline* g_cl = nullptr;
std::string g_line;  // the line being parsed, captured by the first word's parser

// A word token: matches one whitespace-free word; the first one also captures the line.
struct WordToken {
  cmdline_parse_token_hdr_t hdr;
  int index;
};

std::vector<std::string> g_candidates;

int word_parse(cmdline_parse_token_hdr_t* tk, const char* buf, void*, unsigned) {
  if (!buf) return -1;
  int n = 0;
  while (buf[n] && buf[n] != ' ' && buf[n] != '\t' && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '#') ++n;
  if (n == 0) return -1;
  if (reinterpret_cast<WordToken*>(tk)->index == 0) {
    size_t len = 0;
    while (buf[len] && buf[len] != '\n' && buf[len] != '\r') ++len;
    g_line.assign(buf, len);
  }
  return n;
}

// The line as it stands, read before a byte is fed to cmdline (rdline_get_buffer writes
// into rdline's buffer: never call it while cmdline is working on that buffer).
std::string g_editing;

std::string current_line() {
  std::string line = g_cl ? rdline_get_buffer(cmdline_get_rdline(g_cl)) : "";
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

int word_complete_nb(cmdline_parse_token_hdr_t* tk) {
  const std::string& line = g_editing;
  auto words = config::tokenize(line);
  if (!line.empty() && line.back() != ' ' && line.back() != '\t' && !words.empty()) words.pop_back();  // partial
  if (static_cast<int>(words.size()) != reinterpret_cast<WordToken*>(tk)->index) return 0;
  g_candidates = completions(words);
  return static_cast<int>(g_candidates.size());
}

int word_complete_elt(cmdline_parse_token_hdr_t*, int idx, char* dst, unsigned size) {
  if (idx < 0 || static_cast<size_t>(idx) >= g_candidates.size() || size == 0) return -1;
  std::snprintf(dst, size, "%s", g_candidates[idx].c_str());
  return 0;
}

cmdline_token_ops g_word_ops = {word_parse, word_complete_nb, word_complete_elt, nullptr};  // no per-choice help text

}  // namespace

struct ConsoleCallbacks {
  static void on_line(void*, struct cmdline*, void*) {
    Console* c = g_console;
    if (!c) return;
    c->waiting_ = true;
    c->in_handler_ = true;
    try {
      c->handler_(g_line, [](Answer a) {
        if (g_console) g_console->answer(std::move(a));
      });
    } catch (const std::exception& e) {
      c->answer({false, std::string("internal error: ") + e.what() + "\n"});
    }
    c->in_handler_ = false;
  }
};

namespace {

// The parse context: ONE instruction of word tokens whose length is set, just before a
// line is validated or completed, to the number of words in it. cmdline matches an
// instruction only when every token consumed a word, so every line of up to kMaxWords
// words reaches drfwd's grammar (with drfwd's error messages), and completion and help
// come from one instruction, never repeated.
struct Context {
  std::vector<std::unique_ptr<WordToken>> tokens;
  cmdline_parse_inst_t* inst = nullptr;
  cmdline_parse_inst_t* ctx[2] = {nullptr, nullptr};
  int len = kMaxWords;
  Context() {
    inst = static_cast<cmdline_parse_inst_t*>(
        std::calloc(1, sizeof(cmdline_parse_inst_t) + sizeof(cmdline_parse_token_hdr_t*) * (kMaxWords + 1)));
    inst->f = ConsoleCallbacks::on_line;
    inst->help_str = "a drfwd command (help lists them)";
    for (int i = 0; i < kMaxWords; ++i) {
      auto t = std::make_unique<WordToken>();
      t->hdr.ops = &g_word_ops;
      t->hdr.offset = 0;
      t->index = i;
      inst->tokens[i] = &t->hdr;
      tokens.push_back(std::move(t));
    }
    inst->tokens[kMaxWords] = nullptr;
    ctx[0] = inst;
  }
  ~Context() { std::free(inst); }
  void set_len(int n) {
    n = std::max(1, std::min(n, kMaxWords));
    if (len < kMaxWords) inst->tokens[len] = &tokens[len]->hdr;
    len = n;
    inst->tokens[len] = nullptr;
  }
};

Context& context() {
  static Context c;
  return c;
}

// Sizes the instruction for what byte `c` is about to do to the current line.
void prepare_for(char c) {
  if (c != '\t' && c != '?' && c != '\n' && c != '\r') return;
  const std::string line = current_line();
  g_editing = line;
  int n = static_cast<int>(config::tokenize(line).size());
  if ((c == '\t' || c == '?') && (line.empty() || line.back() == ' ' || line.back() == '\t')) ++n;  // a new word
  context().set_len(n);
}

}  // namespace

Console::Console(Handler handler, std::function<void()> on_end)
    : handler_(std::move(handler)), on_end_(std::move(on_end)) {
  tty_ = isatty(STDIN_FILENO) == 1;
  auto* ctx = reinterpret_cast<cmdline_parse_ctx_t*>(context().ctx);
  cl_ = tty_ ? cmdline_stdin_new(ctx, kPrompt) : cmdline_new(ctx, kPrompt, STDIN_FILENO, STDOUT_FILENO);
  if (!cl_) throw std::runtime_error("cannot start the console");
  g_console = this;
  g_cl = cl_;
}

Console::~Console() {
  if (cl_) {
    if (tty_)
      cmdline_stdin_exit(cl_);
    else
      cmdline_free(cl_);
  }
  g_console = nullptr;
  g_cl = nullptr;
}

void Console::answer(Answer a) {
  if (!waiting_) return;
  waiting_ = false;
  if (a.text.empty() && !a.ok) a.text = "error\n";
  if (in_handler_) {
    if (!a.text.empty()) cmdline_printf(cl_, "%s", a.text.c_str());
    return;
  }
  // A late answer: the prompt is already out. On a terminal, clear it, print, redraw
  // the prompt and what is typed; on a pipe, print and give the prompt again.
  if (tty_) cmdline_printf(cl_, "\r\x1b[K");
  if (!a.text.empty()) cmdline_printf(cl_, "%s", a.text.c_str());
  if (tty_)
    rdline_redisplay(cmdline_get_rdline(cl_));
  else
    cmdline_printf(cl_, "%s", kPrompt);
}

void Console::end() {
  if (ended_) return;
  ended_ = true;
  if (on_end_) on_end_();
}

bool Console::feed(const char* buf, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (waiting_) {  // hold the rest until the answer is out
      held_.append(buf + i, n - i);
      return true;
    }
    prepare_for(buf[i]);
    if (cmdline_in(cl_, &buf[i], 1) < 0) return false;  // Ctrl-D on an empty line
  }
  return true;
}

void Console::poll() {
  if (ended_ || waiting_) return;
  if (!held_.empty()) {
    const std::string held = std::exchange(held_, {});
    if (!feed(held.data(), held.size())) return end();
    if (waiting_) return;
  }
  pollfd p{STDIN_FILENO, POLLIN, 0};
  // Bounded per round so a long script does not hold up the control work.
  for (int round = 0; round < 16 && !waiting_; ++round) {
    p.revents = 0;
    if (::poll(&p, 1, 0) <= 0) return;
    char buf[256];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
      cmdline_printf(cl_, "\n");
      return end();
    }
    if (!feed(buf, static_cast<size_t>(n))) return end();
  }
}

}  // namespace drfwd::console
