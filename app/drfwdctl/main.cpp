// drfwdctl: talks to a running drfwd over its control socket.
//
//   drfwdctl [-s PATH] COMMAND...      one command (e.g. show rs, ipvsadm -L -n)
//   drfwdctl [-s PATH] -f FILE         each line of FILE in turn; stops at the first refusal
//   drfwdctl [-s PATH] -b FILE|-       the configuration commands of FILE as one batch (all or none)
//   drfwdctl [-s PATH] -R              ipvsadm -R: ipvsadm-save rules on stdin, as one batch
//   drfwdctl [-s PATH] -k FILE         keepalived.conf's LVS part, translated here, as one batch
//
// Exit status: 0 done, 1 refused (by drfwd, or the keepalived file by the import), 2 usage
// or connection error.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "config/keepalived.hpp"

namespace {

constexpr const char* kDefaultSocket = "/run/drfwd/drfwd.sock";

int usage(int rc) {
  (rc ? std::cerr : std::cout)
      << "Usage: drfwdctl [-s PATH] COMMAND...     run one drfwd command\n"
         "       drfwdctl [-s PATH] -f FILE        run each line of FILE, stop at the first refusal\n"
         "       drfwdctl [-s PATH] -b FILE|-      apply FILE's configuration commands as one batch\n"
         "       drfwdctl [-s PATH] -R             restore ipvsadm-save rules from stdin (one batch)\n"
         "       drfwdctl [-s PATH] -k FILE        import keepalived.conf's virtual servers (translated here,\n"
         "                                         applied as one batch; notes on standard error)\n"
         "  -s PATH   drfwd's control socket (default " << kDefaultSocket << ")\n"
         "Exit status: 0 done, 1 refused (by drfwd, or the keepalived file), 2 usage or connection error.\n";
  return rc;
}

class Connection {
 public:
  explicit Connection(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long: " + path);
    std::memcpy(a.sun_path, path.c_str(), path.size());
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot connect to " + path + ": " + std::strerror(errno) +
                               " (is drfwd running? -s PATH)");
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  // A peer that has already answered and closed (drfwd refusing this user, or too many
  // connections) makes the send fail with EPIPE or ECONNRESET: its answer is still in
  // our receive queue, so receive() reads it rather than this reporting the send.
  void send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return;
      if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      off += static_cast<size_t>(n);
    }
  }
  // One answer: "OK|ERR <len>\n<text>". Returns ok and fills text.
  bool receive(std::string& text) {
    std::string head;
    while (head.empty() || head.back() != '\n') {
      char c;
      const ssize_t n = ::recv(fd_, &c, 1, 0);
      if (n <= 0) throw std::runtime_error("connection closed by drfwd");
      head += c;
      if (head.size() > 64) throw std::runtime_error("bad answer from drfwd");
    }
    const bool ok = head.rfind("OK ", 0) == 0;
    if (!ok && head.rfind("ERR ", 0) != 0) throw std::runtime_error("bad answer from drfwd");
    const size_t len = std::stoul(head.substr(ok ? 3 : 4));
    text.assign(len, '\0');
    size_t got = 0;
    while (got < len) {
      const ssize_t n = ::recv(fd_, text.data() + got, len - got, 0);
      if (n <= 0) throw std::runtime_error("connection closed by drfwd");
      got += static_cast<size_t>(n);
    }
    return ok;
  }

 private:
  int fd_ = -1;
};

bool has_newline(const std::string& s) { return s.find('\n') != std::string::npos || s.find('\r') != std::string::npos; }

int print(bool ok, const std::string& text) {
  (ok ? std::cout : std::cerr) << text;
  return ok ? 0 : 1;
}

bool send_batch(Connection& c, const std::vector<std::string>& lines, std::string& text) {
  std::string req = "BATCH " + std::to_string(lines.size()) + "\n";
  for (const std::string& l : lines) req += l + "\n";
  c.send(req);
  return c.receive(text);
}

int run_batch(Connection& c, const std::vector<std::string>& lines) {
  std::string text;
  const bool ok = send_batch(c, lines, text);
  return print(ok, text);
}

// drfwd names a refused batch line "line N: ...": name the keepalived line it came from.
std::string keepalived_refusal(const std::string& text, const std::vector<drfwd::config::TranslatedLine>& lines) {
  size_t end = 0;
  unsigned long n = 0;
  if (text.rfind("line ", 0) == 0) {
    try {
      n = std::stoul(text.substr(5), &end);
    } catch (const std::exception&) {
      n = 0;
    }
  }
  if (n == 0 || n > lines.size() || text.compare(5 + end, 2, ": ") != 0) return text;
  std::string rest = text.substr(5 + end + 2);
  const size_t eol = std::min(rest.find('\n'), rest.size());
  rest.insert(eol, " (translated to '" + lines[n - 1].text + "')");
  return lines[n - 1].where + ": " + rest;
}

// -k: translated here (a refused keyword stops before anything is sent), applied by
// drfwd as one batch.
int import_keepalived(const std::string& socket, const std::string& file) {
  drfwd::config::KeepalivedConfig k;
  try {
    k = drfwd::config::translate_keepalived(file);
  } catch (const drfwd::config::ConfigError& e) {
    std::cerr << e.what() << "\nnothing was applied\n";
    return 1;
  }
  for (const std::string& note : k.notes) std::cerr << "note: " << note << "\n";
  std::vector<std::string> lines;
  for (const auto& l : k.lines) lines.push_back(l.text);
  Connection c(socket);
  std::string text;
  if (!send_batch(c, lines, text)) return print(false, keepalived_refusal(text, k.lines));
  return print(true, text);
}

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = kDefaultSocket;
  int i = 1;
  enum { kCommand, kFile, kBatch, kRestore, kKeepalived } mode = kCommand;
  std::string file;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return usage(0);
    if (a == "-s" && i + 1 < argc) path = argv[++i];
    else if (a == "-f" && i + 1 < argc) mode = kFile, file = argv[++i];
    else if (a == "-b" && i + 1 < argc) mode = kBatch, file = argv[++i];
    else if (a == "-R") mode = kRestore;
    else if (a == "-k" && i + 1 < argc) mode = kKeepalived, file = argv[++i];
    else if (a == "--") {
      ++i;
      break;
    } else if (a.size() > 1 && a[0] == '-') return usage(2);
    else break;
  }
  try {
    if (mode == kCommand) {
      if (i >= argc) return usage(2);
      std::string line;
      for (int k = i; k < argc; ++k) line += (k > i ? " " : "") + std::string(argv[k]);
      if (has_newline(line)) return usage(2);
      Connection c(path);
      c.send("CMD " + line + "\n");
      std::string text;
      const bool ok = c.receive(text);
      return print(ok, text);
    }
    if (i < argc) return usage(2);
    if (mode == kKeepalived) return import_keepalived(path, file);
    Connection c(path);
    if (mode == kRestore) {
      std::vector<std::string> lines;
      for (std::string& l : read_lines(std::cin)) {
        const size_t first = l.find_first_not_of(" \t");
        if (first == std::string::npos || l[first] == '#') continue;
        lines.push_back(l.compare(first, 8, "ipvsadm ") == 0 ? l : "ipvsadm " + l);
      }
      return run_batch(c, lines);
    }
    std::ifstream f;
    if (file != "-") {
      f.open(file);
      if (!f) {
        std::cerr << "drfwdctl: cannot open " << file << "\n";
        return 2;
      }
    }
    std::istream& in = file == "-" ? std::cin : f;
    const std::vector<std::string> lines = read_lines(in);
    if (mode == kBatch) return run_batch(c, lines);
    for (size_t n = 0; n < lines.size(); ++n) {
      const size_t first = lines[n].find_first_not_of(" \t");
      if (first == std::string::npos || lines[n][first] == '#') continue;
      c.send("CMD " + lines[n] + "\n");
      std::string text;
      if (!c.receive(text)) {
        std::cerr << file << ":" << n + 1 << ": " << text;
        return 1;
      }
      std::cout << text;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "drfwdctl: " << e.what() << "\n";
    return 2;
  }
}
