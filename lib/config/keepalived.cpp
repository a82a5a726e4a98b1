// keepalived.conf import: reading (comments, includes), statements (blocks), the
// keyword tables of each block, and the native lines they become. keepalived's own
// behaviour is the reference throughout (its check_parser.c, check_data.c and checkers):
// defaults and inheritance are keepalived 2.x's. docs/migration.md is the same mapping,
// keyword by keyword, for operators.
#include "config/keepalived.hpp"

#include <fnmatch.h>
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "config/check.hpp"
#include "config/values.hpp"
#include "lb/sched.hpp"
#include "net/addr.hpp"
#include "net/l4.hpp"

namespace drfwd::config {

namespace {

namespace fs = std::filesystem;

// ---- Where a keepalived line is ------------------------------------------------------

struct Where {
  std::string file;
  int line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
};

[[noreturn]] void fail(const Where& w, const std::string& msg) { throw ConfigError(w.str() + ": " + msg); }

// Notes: one per kind (the first place, and how many more there were).
class Notes {
 public:
  void add(const std::string& key, const Where& w, std::string text) {
    for (auto& [k, n] : notes_)
      if (k == key) {
        ++n.more;
        return;
      }
    notes_.push_back({key, Note{w, std::move(text), 0}});
  }
  std::vector<std::string> render() const {
    std::vector<std::string> out;
    for (const auto& [k, n] : notes_)
      out.push_back(n.where.str() + ": " + n.text + (n.more ? " (and " + std::to_string(n.more) + " more)" : ""));
    return out;
  }

 private:
  struct Note {
    Where where;
    std::string text;
    size_t more = 0;
  };
  std::vector<std::pair<std::string, Note>> notes_;
};

// ---- Reading: comments and includes ----------------------------------------------------

struct Line {
  std::string text;  // without its comment, trimmed
  Where where;
};

constexpr std::string_view kBlanks = " \t\f\v\r\n";

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(kBlanks);
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(kBlanks) - b + 1));
}

// As keepalived's decomment(): '#' or '!' outside double quotes starts a comment, and
// "\#" and "\!" outside quotes are the characters themselves.
std::string decomment(std::string_view raw) {
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      if (!quoted && (raw[i + 1] == '#' || raw[i + 1] == '!')) {
        out += raw[++i];
        continue;
      }
      out += c;
      out += raw[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '#' || c == '!')) break;
    out += c;
  }
  return trim(out);
}

// "include <glob>" (and keepalived's includer, includem, ... which differ only in what
// they report): the glob, else nullopt.
std::optional<std::string> include_pattern(const std::string& line) {
  if (line.rfind("include", 0) != 0) return std::nullopt;
  size_t at = 7;
  if (at < line.size() && std::string_view("rmwba").find(line[at]) != std::string_view::npos) ++at;
  if (at >= line.size() || (line[at] != ' ' && line[at] != '\t')) return std::nullopt;
  std::string p = trim(std::string_view(line).substr(at));
  if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
  return p;
}

constexpr size_t kMaxIncludeDepth = 16;

class Reader {
 public:
  Reader(const KeepalivedFiles& files, Notes& notes) : files_(files), notes_(notes) {}

  std::vector<Line> read(const std::string& name, const std::string& text) {
    file(name, text, nullptr);
    return std::move(lines_);
  }

 private:
  void file(const std::string& name, const std::string& text, const Where* from) {
    if (open_.size() >= kMaxIncludeDepth)
      fail(*from, "includes nested more than " + std::to_string(kMaxIncludeDepth) + " deep");
    open_.push_back(files_.identity(name));
    std::istringstream in(text);
    std::string raw;
    int n = 0;
    while (std::getline(in, raw)) {
      const Where w{name, ++n};
      std::string t = decomment(raw);
      if (t.empty()) continue;
      if (auto pattern = include_pattern(t)) {
        include(*pattern, w, name);
        continue;
      }
      if (t[0] == '$' || t[0] == '@' || t.rfind("~SEQ", 0) == 0 || t.rfind("~LST", 0) == 0)
        fail(w, "keepalived's definitions, conditional lines and sequences ($NAME=..., @id, ~SEQ, ~LST) are not "
                "supported: import the configuration as keepalived expands it");
      lines_.push_back({std::move(t), w});
    }
    open_.pop_back();
  }

  // keepalived changes into the directory of an included file, so a relative include
  // is relative to the file that names it.
  void include(const std::string& pattern, const Where& at, const std::string& current) {
    if (pattern.empty()) fail(at, "include needs a file name or glob");
    std::string full = pattern;
    if (!fs::path(pattern).is_absolute())
      full = (fs::path(current).parent_path() / pattern).lexically_normal().generic_string();
    const std::vector<std::string> matches = files_.glob(full);
    if (matches.empty()) {
      if (pattern.find_first_of("*?[") == std::string::npos) fail(at, "include " + pattern + ": no such file");
      notes_.add("include " + at.str(), at, "include " + pattern + ": no file matches, nothing included");
      return;
    }
    for (const std::string& m : matches) {
      if (std::find(open_.begin(), open_.end(), files_.identity(m)) != open_.end())
        fail(at, "include " + pattern + ": " + m + " is already being read (an include loop)");
      const auto text = files_.read(m);
      if (!text) fail(at, "include " + pattern + ": cannot read " + m);
      file(m, *text, &at);
    }
  }

  const KeepalivedFiles& files_;
  Notes& notes_;
  std::vector<std::string> open_;  // the files being read, outermost first
  std::vector<Line> lines_;
};

// ---- Statements: words and blocks --------------------------------------------------------

struct Token {
  std::string text;
  bool quoted = false;
  size_t line = 0;  // index into the lines
};

// As keepalived's tokenizer: words split on blanks, "..." is one word (blanks kept), and
// '{' and '}' outside quotes are words of their own wherever they stand.
std::vector<Token> tokenize_lines(const std::vector<Line>& lines) {
  std::vector<Token> out;
  for (size_t li = 0; li < lines.size(); ++li) {
    const std::string& s = lines[li].text;
    size_t i = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (kBlanks.find(c) != std::string_view::npos) {
        ++i;
      } else if (c == '"') {
        const size_t end = s.find('"', i + 1);
        if (end == std::string::npos) fail(lines[li].where, "unterminated quote");
        out.push_back({s.substr(i + 1, end - i - 1), true, li});
        i = end + 1;
      } else if (c == '{' || c == '}') {
        out.push_back({std::string(1, c), false, li});
        ++i;
      } else {
        const size_t end = std::min(s.find_first_of(" \t\f\v\r\n\"{}", i), s.size());
        out.push_back({s.substr(i, end - i), false, li});
        i = end;
      }
    }
  }
  return out;
}

struct Stmt {
  std::vector<std::string> words;
  Where where;
  bool has_block = false;
  std::vector<Stmt> block;
  const std::string& key() const { return words[0]; }
};

constexpr size_t kMaxNesting = 16;

// A statement is the words of one line up to a brace; a '{' after it (on that line or
// the next) opens its block.
class StatementParser {
 public:
  explicit StatementParser(const std::vector<Line>& lines) : lines_(lines), toks_(tokenize_lines(lines)) {}

  std::vector<Stmt> parse() { return block(nullptr, 0); }

 private:
  bool brace(size_t k, char c) const {
    return k < toks_.size() && !toks_[k].quoted && toks_[k].text.size() == 1 && toks_[k].text[0] == c;
  }
  const Where& where(size_t k) const { return lines_[toks_[k].line].where; }

  std::vector<Stmt> block(const Stmt* opener, size_t depth) {
    if (depth > kMaxNesting) fail(opener->where, "blocks nested more than " + std::to_string(kMaxNesting) + " deep");
    std::vector<Stmt> out;
    while (i_ < toks_.size()) {
      if (brace(i_, '}')) {
        if (!opener) fail(where(i_), "'}' closes no block");
        ++i_;
        return out;
      }
      if (brace(i_, '{')) fail(where(i_), "'{' without a keyword before it");
      Stmt s;
      s.where = where(i_);
      const size_t line = toks_[i_].line;
      while (i_ < toks_.size() && toks_[i_].line == line && !brace(i_, '{') && !brace(i_, '}'))
        s.words.push_back(toks_[i_++].text);
      if (brace(i_, '{')) {
        ++i_;
        s.has_block = true;
        s.block = block(&s, depth + 1);
      }
      out.push_back(std::move(s));
    }
    if (opener) fail(opener->where, opener->key() + ": its '{' is never closed");
    return out;
  }

  const std::vector<Line>& lines_;
  std::vector<Token> toks_;
  size_t i_ = 0;
};

// ---- Values ------------------------------------------------------------------------------

const std::string& value(const Stmt& s, std::string_view what) {
  if (s.words.size() < 2) fail(s.where, s.key() + " needs " + std::string(what));
  if (s.words.size() > 2) fail(s.where, s.key() + ": unexpected " + quote(s.words[2]));
  return s.words[1];
}

void bare(const Stmt& s) {
  if (s.words.size() > 1) fail(s.where, s.key() + " takes no value (" + quote(s.words[1]) + ")");
}

// keepalived's optional on/off: nothing, true|on|yes or false|off|no.
bool boolean(const Stmt& s) {
  if (s.words.size() == 1) return true;
  const std::string& v = value(s, "");
  if (v == "true" || v == "on" || v == "yes") return true;
  if (v == "false" || v == "off" || v == "no") return false;
  fail(s.where, s.key() + " " + quote(v) + ": expected true, on, yes, false, off or no");
}

uint64_t whole(const Stmt& s, const std::string& w, uint64_t min, uint64_t max) {
  const auto v = net::parse_uint(w, max);
  if (!v || *v < min)
    fail(s.where, s.key() + " " + quote(w) + ": expected a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max));
  return *v;
}

constexpr uint64_t kUsPerS = 1000000;
constexpr uint64_t kMaxTimerS = 31536000;

// keepalived's timers: seconds, with up to 6 decimals. In microseconds.
uint64_t timer(const Stmt& s) {
  const std::string& w = value(s, "a time in seconds");
  const size_t dot = w.find('.');
  const std::string whole_part = w.substr(0, dot);
  const std::string frac = dot == std::string::npos ? "" : w.substr(dot + 1);
  const auto sec = net::parse_uint(whole_part, kMaxTimerS);
  const bool frac_ok = frac.size() <= 6 && frac.find_first_not_of("0123456789") == std::string::npos &&
                       (dot == std::string::npos || !frac.empty());
  if (!sec || !frac_ok) fail(s.where, s.key() + " " + quote(w) + ": expected seconds, e.g. 6 or 1.5");
  uint64_t us = *sec * kUsPerS;
  uint64_t scale = 100000;
  for (char c : frac) {
    us += static_cast<uint64_t>(c - '0') * scale;
    scale /= 10;
  }
  return us;
}

std::string seconds_text(uint64_t us) {
  if (us % kUsPerS == 0) return std::to_string(us / kUsPerS) + "s";
  return format_duration_ms(static_cast<uint32_t>((us + 500) / 1000));
}

net::IpAddr address(const Stmt& s, const std::string& w, std::string_view what) {
  std::string_view v = w;
  if (v.size() > 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
  const auto ip = net::parse_ip(v);
  if (!ip) fail(s.where, quote(w) + " is not an IP address (" + std::string(what) + ")");
  return *ip;
}

uint16_t port(const Stmt& s, const std::string& w) {
  const auto p = net::parse_uint(w, 65535);
  if (!p) fail(s.where, quote(w) + " is not a port number");
  if (*p == 0)
    fail(s.where, "port 0 (a persistent service on every port) is not supported: a drfwd service has one port");
  return static_cast<uint16_t>(*p);
}

// ---- What keepalived's blocks hold -------------------------------------------------------

template <class T>
struct At {
  T v;
  Where where;
};
template <class T>
using Opt = std::optional<At<T>>;

// What a checker takes from its real_server when it does not say, and a real_server
// from its virtual_server (keepalived's validate_check_config).
struct Inherited {
  Opt<uint64_t> delay_loop, connect_timeout;  // microseconds
  Opt<uint32_t> retry;
  Opt<bool> alpha;
  Opt<std::string> virtualhost;
};

enum class CheckerKind { kTcp, kHttp, kMisc };

struct Checker {
  CheckerKind kind = CheckerKind::kTcp;
  Where where;
  Inherited inherit;
  Opt<uint16_t> connect_port;
  Opt<net::IpAddr> connect_ip;
  // HTTP_GET
  bool has_url = false;
  Where url_where;
  std::string path;
  Opt<uint16_t> expect;
  Opt<std::string> url_host;
  // MISC_CHECK
  std::vector<std::string> argv;
  Opt<uint64_t> misc_timeout;
};

struct RealServerConf {
  Where where;
  net::IpAddr ip;
  std::optional<uint16_t> port;
  Opt<uint32_t> weight, uthreshold, lthreshold;
  Opt<bool> inhibit;
  Opt<std::string> method;
  Inherited inherit;
  std::optional<Checker> checker;
};

struct SorryServer {
  Where where;
  net::IpAddr ip;
  std::optional<uint16_t> port;
  Opt<std::string> method;
};

// A scheduler flag as keepalived records it: sh-* and mh-* only while lb_algo is
// already sh or mh; flag-N always.
struct FlagSeen {
  std::string name;
  Where where;
};

struct VirtualServerConf {
  Where where;
  std::vector<std::pair<net::IpAddr, uint16_t>> addrs;  // the address, or its group's
  Opt<std::string> sched;
  std::vector<FlagSeen> flags;
  Opt<std::string> method;
  Opt<uint8_t> proto;
  Opt<uint32_t> persist;
  Opt<std::string> granularity;
  Opt<uint32_t> quorum, hysteresis, weight;
  Opt<bool> inhibit;
  Opt<bool> ipv6;  // ip_family
  Inherited inherit;
  std::optional<SorryServer> sorry;
  std::vector<RealServerConf> rs;
};

// ---- Keyword tables ----------------------------------------------------------------------

class Translator;

// The words of a vip line that are the same on every address of a group.
struct ServiceWords {
  uint32_t flags = 0;
  std::optional<std::pair<uint32_t, uint32_t>> quorum;
};

template <class T>
struct Keyword {
  std::string_view name;
  bool block;  // takes a { } block
  void (*apply)(Translator& t, T& target, const Stmt& s);
};

template <class T, size_t N>
const Keyword<T>* find_keyword(const Keyword<T> (&table)[N], const std::string& name) {
  for (const auto& k : table)
    if (k.name == name) return &k;
  return nullptr;
}

constexpr std::string_view kNoScripts =
    "drfwd runs no state-change scripts, and a configuration that relies on them must not load without them: "
    "remove it (drfwd logs every change, and show rs / ipvsadm -L show the state)";

// The keepalived schedulers drfwd does not have, and why.
struct RefusedSched {
  std::string_view name, why;
};
constexpr RefusedSched kRefusedScheds[] = {
    {"dh", "destination hashing spreads by the packet's destination, for cache clusters; a drfwd service has one "
           "destination, its VIP"},
    {"lblc", "locality-based least-connection is for cache clusters by destination address; a drfwd service has "
             "one destination, its VIP"},
    {"lblcr", "locality-based least-connection with replication is for cache clusters by destination address; a "
              "drfwd service has one destination, its VIP"},
    {"fo", "drfwd has no weighted fail-over scheduler: for a standby server use sorry_server"},
    {"ovf", "drfwd has no overflow-connection scheduler"},
    {"twos", "drfwd has no weighted random twos-choice scheduler"},
};
constexpr std::string_view kScheds[] = {"rr", "wrr", "lc", "wlc", "sh", "mh", "sed", "nq"};

class Translator {
 public:
  explicit Translator(Notes& notes) : notes_(notes) {}

  void run(const std::vector<Stmt>& top);
  std::vector<TranslatedLine> lines;

  Notes& notes() { return notes_; }
  void note(const std::string& key, const Where& w, std::string text) { notes_.add(key, w, std::move(text)); }

  // The keyword of `s` in `table`, applied to `target`; an unknown one is refused.
  template <class T, size_t N>
  void apply(const Keyword<T> (&table)[N], T& target, const Stmt& s, std::string_view block) {
    const Keyword<T>* k = find_keyword(table, s.key());
    if (!k) fail(s.where, "unknown keyword " + quote(s.key()) + " in " + std::string(block));
    if (k->block && !s.has_block) fail(s.where, s.key() + " needs a { } block");
    if (!k->block && s.has_block) fail(s.where, s.key() + " takes no { } block");
    k->apply(*this, target, s);
  }

  void checker(RealServerConf& rs, const Stmt& s, CheckerKind kind);

 private:
  struct Group {
    Where where;
    std::vector<std::pair<net::IpAddr, uint16_t>> addrs;
  };
  void group(const Stmt& s);
  void virtual_server(const Stmt& s);
  void emit(VirtualServerConf& vs);
  void defaults(VirtualServerConf& vs);
  uint32_t sched_flags(const VirtualServerConf& vs);
  std::optional<std::pair<uint32_t, uint32_t>> quorum(const VirtualServerConf& vs);
  std::string vip_line(const VirtualServerConf& vs, const ServiceWords& sw, const std::string& svc,
                       const net::IpAddr& vip);
  std::string rs_line(const VirtualServerConf& vs, const RealServerConf& r, const std::string& svc,
                      const net::IpAddr& vip, uint16_t vport);
  std::string sorry_line(const VirtualServerConf& vs, const std::string& svc, const net::IpAddr& vip, uint16_t vport);
  std::string check_words(const VirtualServerConf& vs, const RealServerConf& rs);

  Notes& notes_;
  std::map<std::string, Group> groups_;
};

// Keywords that set what checkers inherit, on virtual_server, real_server and checkers.
template <class T>
void set_delay_loop(Translator&, T& t, const Stmt& s) {
  t.inherit.delay_loop = At<uint64_t>{timer(s), s.where};
}
template <class T>
void set_connect_timeout(Translator&, T& t, const Stmt& s) {
  t.inherit.connect_timeout = At<uint64_t>{timer(s), s.where};
}
template <class T>
void set_retry(Translator&, T& t, const Stmt& s) {
  t.inherit.retry = At<uint32_t>{static_cast<uint32_t>(whole(s, value(s, "a count"), 0, 0xffffffffu)), s.where};
}
template <class T>
void set_alpha(Translator&, T& t, const Stmt& s) {
  t.inherit.alpha = At<bool>{boolean(s), s.where};
}
template <class T>
void set_virtualhost(Translator&, T& t, const Stmt& s) {
  t.inherit.virtualhost = At<std::string>{value(s, "a host name"), s.where};
}
template <class T>
void delay_before_retry(Translator& tr, T&, const Stmt& s) {
  timer(s);
  tr.note("delay_before_retry", s.where,
          "delay_before_retry: drfwd probes at a fixed interval, so retries come at delay_loop's pace (fall = retry "
          "+ 1 probes), not delay_before_retry's");
}
template <class T>
void warmup(Translator& tr, T&, const Stmt& s) {
  timer(s);
  tr.note("warmup", s.where, "warmup ignored: it only delays a checker's first probe by a random time");
}
template <class T>
void smtp_alert(Translator& tr, T&, const Stmt& s) {
  boolean(s);
  tr.note("smtp_alert", s.where, "smtp_alert ignored: drfwd sends no mail; it logs every health change");
}
template <class T>
void snmp_name(Translator& tr, T&, const Stmt& s) {
  value(s, "a name");
  tr.note("snmp_name", s.where, "snmp_name ignored: drfwd has no SNMP agent");
}

// DR only: NAT and TUN are refused where they are named.
Opt<std::string> forwarding(const Stmt& s) {
  if (s.words.size() < 2) fail(s.where, s.key() + " needs DR");
  const std::string& m = s.words[1];
  if (m == "NAT" || m == "TUN")
    fail(s.where, s.key() + " " + m + ": drfwd forwards by direct routing only (DR): " +
                      (m == "NAT" ? "NAT rewrites addresses and needs replies back through the director"
                                  : "TUN encapsulates to servers elsewhere") +
                      "; keep keepalived and IPVS for this service");
  if (m != "DR") fail(s.where, s.key() + " " + quote(m) + ": expected DR (NAT and TUN are not supported)");
  if (s.words.size() > 2) fail(s.where, s.key() + ": unexpected " + quote(s.words[2]));
  return At<std::string>{m, s.where};
}

void refuse(const Stmt& s, std::string_view why) { fail(s.where, s.key() + ": " + std::string(why)); }

template <class T>
void no_scripts(Translator&, T&, const Stmt& s) {
  refuse(s, kNoScripts);
}

// ---- url { } (HTTP_GET) ----

void body_match(Translator&, Checker&, const Stmt& s) {
  refuse(s, "drfwd's http check compares the status code only, not the body");
}

constexpr Keyword<Checker> kUrlKeywords[] = {
    {"path", false, [](Translator&, Checker& c, const Stmt& s) {
       const std::string& p = value(s, "a path");
       if (p.empty() || p[0] != '/' || p.find_first_of(" \t\"'#") != std::string::npos ||
           std::any_of(p.begin(), p.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x21 || ch == 0x7f; }))
         fail(s.where, "path " + quote(p) + ": drfwd's http check takes a path that starts with / and has no blanks, "
                       "quotes or '#' (a drfwd command line's comment)");
       c.path = p;
     }},
    {"status_code", false, [](Translator&, Checker& c, const Stmt& s) {
       if (s.words.size() > 2 || (s.words.size() == 2 && s.words[1].find('-') != std::string::npos))
         fail(s.where, "status_code with several codes or a range: drfwd's http check expects one status code");
       c.expect = At<uint16_t>{static_cast<uint16_t>(whole(s, value(s, "a status code"), 100, 599)), s.where};
     }},
    {"virtualhost", false, [](Translator&, Checker& c, const Stmt& s) {
       c.url_host = At<std::string>{value(s, "a host name"), s.where};
     }},
    {"digest", false, [](Translator&, Checker&, const Stmt& s) {
       refuse(s, "drfwd's http check compares the status code only, not an MD5 of the body; remove digest to accept "
                 "the weaker check");
     }},
    {"regex", false, body_match},
    {"regex_no_match", false, body_match},
    {"regex_options", false, body_match},
    {"regex_min_offset", false, body_match},
    {"regex_max_offset", false, body_match},
    {"regex_stack", false, body_match},
};

// ---- Checkers ----

void connect_option_ignored(Translator& t, const Stmt& s, std::string_view why) {
  value(s, "a value");
  t.note(s.key(), s.where, s.key() + " ignored: " + std::string(why));
}

// Every checker: the timing and alpha.
constexpr Keyword<Checker> kCheckerKeywords[] = {
    {"delay_loop", false, set_delay_loop<Checker>},
    {"retry", false, set_retry<Checker>},
    {"delay_before_retry", false, delay_before_retry<Checker>},
    {"warmup", false, warmup<Checker>},
    {"alpha", false, set_alpha<Checker>},
    {"log_all_failures", false, [](Translator& t, Checker&, const Stmt& s) {
       boolean(s);
       t.note("log_all_failures", s.where, "log_all_failures ignored: drfwd logs every health change");
     }},
};

// TCP_CHECK and HTTP_GET: the connection.
constexpr Keyword<Checker> kConnectKeywords[] = {
    {"connect_port", false, [](Translator&, Checker& c, const Stmt& s) {
       c.connect_port = At<uint16_t>{port(s, value(s, "a port")), s.where};
     }},
    {"connect_timeout", false, set_connect_timeout<Checker>},
    {"connect_ip", false, [](Translator&, Checker& c, const Stmt& s) {
       // Compared with the real server's address once the checker is complete.
       c.connect_ip = At<net::IpAddr>{address(s, value(s, "an address"), "connect_ip"), s.where};
     }},
    {"bindto", false, [](Translator& t, Checker&, const Stmt& s) {
       connect_option_ignored(t, s, "drfwd's checks leave from the port's own address (the DIP) on its kernel "
                                    "interface; let the real servers accept checks from it");
     }},
    {"bind_port", false, [](Translator& t, Checker&, const Stmt& s) {
       connect_option_ignored(t, s, "drfwd's checks use an ephemeral source port");
     }},
    {"bind_if", false, [](Translator& t, Checker&, const Stmt& s) {
       connect_option_ignored(t, s, "drfwd's checks leave through the port's kernel interface");
     }},
    {"fwmark", false, [](Translator& t, Checker&, const Stmt& s) {
       connect_option_ignored(t, s, "drfwd marks no check packets");
     }},
};

constexpr Keyword<Checker> kHttpKeywords[] = {
    {"url", true, [](Translator& t, Checker& c, const Stmt& s) {
       bare(s);
       if (c.has_url) fail(s.where, "a second url: drfwd's http check fetches one path");
       c.has_url = true;
       c.url_where = s.where;
       for (const Stmt& k : s.block) t.apply(kUrlKeywords, c, k, "url");
       if (c.path.empty()) fail(s.where, "url without a path");
     }},
    {"nb_get_retry", false, set_retry<Checker>},
    {"virtualhost", false, set_virtualhost<Checker>},
    {"http_protocol", false, [](Translator& t, Checker&, const Stmt& s) {
       value(s, "1.0, 1.1 or 1.0C");
       t.note("http_protocol", s.where,
              "http_protocol ignored: drfwd sends an HTTP/1.1 GET with Host and Connection: close");
     }},
    {"enable_sni", false, [](Translator& t, Checker&, const Stmt& s) {
       boolean(s);
       t.note("enable_sni", s.where, "enable_sni ignored: it applies to SSL_GET");
     }},
    {"fast_recovery", false, [](Translator& t, Checker&, const Stmt& s) {
       boolean(s);
       t.note("fast_recovery", s.where, "fast_recovery ignored: a failed server is probed at the check interval and "
                                        "comes back on its first success");
     }},
};

// Splits misc_path's command as keepalived does (quotes and escapes), refusing what the
// native line could not carry.
std::vector<std::string> script_words(const Stmt& s, const std::string& cmd) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char q = 0;
  for (size_t i = 0; i < cmd.size(); ++i) {
    const char c = cmd[i];
    if (q) {
      if (c == q) q = 0;
      else if (c == '\\' && q == '"' && i + 1 < cmd.size() && (cmd[i + 1] == '"' || cmd[i + 1] == '\\'))
        cur += cmd[++i];
      else cur += c;
      continue;
    }
    if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(std::exchange(cur, {}));
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '"' || c == '\'') {
      q = c;
    } else if (c == '\\') {
      if (i + 1 >= cmd.size() || std::string_view(" \"'\\").find(cmd[i + 1]) == std::string_view::npos)
        fail(s.where, "misc_path: escapes other than \\\\, \\\", \\' and \"\\ \" are not supported");
      cur += cmd[++i];
    } else {
      cur += c;
    }
  }
  if (q) fail(s.where, "misc_path: unterminated quote");
  if (in_word) out.push_back(cur);
  if (out.empty()) fail(s.where, "misc_path needs a command");
  for (const std::string& w : out)
    if (w.find('#') != std::string::npos ||
        std::any_of(w.begin(), w.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
      fail(s.where, "misc_path: a '#' or a control character cannot be carried on a drfwd command line");
    else if (w.find("  ") != std::string::npos)  // the native line is split on blanks and joined with one
      fail(s.where, "misc_path: an argument with two blanks in a row cannot be carried on a drfwd command line "
                    "(drfwd's `check exec command` keeps single blanks)");
  return out;
}

constexpr Keyword<Checker> kMiscKeywords[] = {
    {"misc_path", false, [](Translator&, Checker& c, const Stmt& s) {
       if (s.words.size() > 2)
         fail(s.where, "misc_path: keepalived runs only " + quote(s.words[1]) + " and drops the rest: quote the "
                       "command with its arguments, misc_path \"" + s.words[1] + " ...\"");
       c.argv = script_words(s, value(s, "a command"));
     }},
    {"misc_timeout", false, [](Translator&, Checker& c, const Stmt& s) {
       c.misc_timeout = At<uint64_t>{whole(s, value(s, "seconds"), 0, kMaxTimerS) * kUsPerS, s.where};
     }},
    {"misc_dynamic", false, [](Translator&, Checker&, const Stmt& s) {
       refuse(s, "its exit codes 2-255 set the real server's weight; drfwd's exec check is up or down only");
     }},
    {"user", false, [](Translator&, Checker&, const Stmt& s) {
       if (s.words.size() < 2) fail(s.where, "user needs a user name");
       if (s.words[1] != "root" || s.words.size() > 3)
         refuse(s, "drfwd runs exec checks as its own user; to run the script as " + quote(s.words[1]) +
                       ", say so in the command (e.g. runuser -u " + s.words[1] + " -- ...)");
     }},
};

// ---- real_server { } ----

void Translator::checker(RealServerConf& rs, const Stmt& s, CheckerKind kind) {
  bare(s);
  if (rs.checker)
    fail(s.where, "a second checker on real server " + net::to_string(rs.ip) + " (the first at " +
                      rs.checker->where.str() + "): drfwd runs one check per real server");
  Checker c;
  c.kind = kind;
  c.where = s.where;
  for (const Stmt& k : s.block) {
    const std::string& key = k.key();
    if (find_keyword(kCheckerKeywords, key)) apply(kCheckerKeywords, c, k, s.key());
    else if (kind != CheckerKind::kMisc && find_keyword(kConnectKeywords, key)) apply(kConnectKeywords, c, k, s.key());
    else if (kind == CheckerKind::kHttp) apply(kHttpKeywords, c, k, s.key());
    else if (kind == CheckerKind::kMisc) apply(kMiscKeywords, c, k, s.key());
    else fail(k.where, "unknown keyword " + quote(key) + " in " + s.key());
  }
  if (c.connect_ip && c.connect_ip->v != rs.ip)
    fail(c.connect_ip->where, "connect_ip " + net::to_string(c.connect_ip->v) +
                                  ": drfwd checks the real server's own address (" + net::to_string(rs.ip) + ")");
  if (kind == CheckerKind::kHttp && !c.has_url)
    fail(s.where, "HTTP_GET without a url: keepalived drops such a checker and never checks the server; give "
                  "url { path ... } or use TCP_CHECK");
  if (kind == CheckerKind::kMisc && c.argv.empty()) fail(s.where, "MISC_CHECK without misc_path");
  if (kind == CheckerKind::kMisc)
    note("MISC_CHECK", s.where,
         "MISC_CHECK becomes check exec: drfwd runs the command with /bin/sh -c as its own user (keepalived runs it "
         "directly, as script_user)");
  rs.checker = std::move(c);
}

template <CheckerKind K>
void checker_block(Translator& t, RealServerConf& rs, const Stmt& s) {
  t.checker(rs, s, K);
}

void refused_checker(Translator&, RealServerConf&, const Stmt& s) {
  const std::string& k = s.key();
  if (k == "SSL_GET")
    refuse(s, "drfwd's http check speaks plain HTTP; use TCP_CHECK on the port for a connect check instead");
  if (k == "SMTP_CHECK") refuse(s, "drfwd has no SMTP check; use TCP_CHECK or MISC_CHECK");
  if (k == "DNS_CHECK") refuse(s, "drfwd has no DNS check; use MISC_CHECK with a resolver query (dig, kdig)");
  if (k == "UDP_CHECK") refuse(s, "drfwd's checks are TCP, HTTP or a command; use MISC_CHECK for a UDP service");
  if (k == "PING_CHECK") refuse(s, "drfwd sends no ICMP checks; use MISC_CHECK (e.g. ping -c1 -W1 <rip>)");
  if (k == "FILE_CHECK")
    refuse(s, "drfwd's checks are up or down, and a tracked file's contents set keepalived's weights");
  if (k == "BFD_CHECK") refuse(s, "drfwd runs TCP, HTTP or command checks; BFD sessions stay in keepalived");
  refuse(s, "tracked files and BFD sessions stay in keepalived; drfwd's checks are TCP, HTTP or a command");
}

// As ipvsadm's -x and -y: 0 (none) to 2^31 - 1.
Opt<uint32_t> threshold(const Stmt& s) {
  return At<uint32_t>{static_cast<uint32_t>(whole(s, value(s, "a connection count"), 0, 0x7fffffff)), s.where};
}

constexpr Keyword<RealServerConf> kRealServerKeywords[] = {
    {"weight", false, [](Translator&, RealServerConf& r, const Stmt& s) {
       r.weight = At<uint32_t>{static_cast<uint32_t>(whole(s, value(s, "a weight"), 0, kMaxWeight)), s.where};
     }},
    {"lvs_method", false, [](Translator&, RealServerConf& r, const Stmt& s) { r.method = forwarding(s); }},
    {"uthreshold", false, [](Translator&, RealServerConf& r, const Stmt& s) { r.uthreshold = threshold(s); }},
    {"lthreshold", false, [](Translator&, RealServerConf& r, const Stmt& s) { r.lthreshold = threshold(s); }},
    {"inhibit_on_failure", false, [](Translator&, RealServerConf& r, const Stmt& s) {
       r.inhibit = At<bool>{boolean(s), s.where};
     }},
    {"notify_up", false, no_scripts<RealServerConf>},
    {"notify_down", false, no_scripts<RealServerConf>},
    {"alpha", false, set_alpha<RealServerConf>},
    {"retry", false, set_retry<RealServerConf>},
    {"delay_before_retry", false, delay_before_retry<RealServerConf>},
    {"warmup", false, warmup<RealServerConf>},
    {"connect_timeout", false, set_connect_timeout<RealServerConf>},
    {"delay_loop", false, set_delay_loop<RealServerConf>},
    {"smtp_alert", false, smtp_alert<RealServerConf>},
    {"virtualhost", false, set_virtualhost<RealServerConf>},
    {"snmp_name", false, snmp_name<RealServerConf>},
    {"TCP_CHECK", true, checker_block<CheckerKind::kTcp>},
    {"HTTP_GET", true, checker_block<CheckerKind::kHttp>},
    {"MISC_CHECK", true, checker_block<CheckerKind::kMisc>},
    {"SSL_GET", true, refused_checker},
    {"SMTP_CHECK", true, refused_checker},
    {"DNS_CHECK", true, refused_checker},
    {"UDP_CHECK", true, refused_checker},
    {"PING_CHECK", true, refused_checker},
    {"FILE_CHECK", true, refused_checker},
    {"BFD_CHECK", true, refused_checker},
    {"track_file", false, refused_checker},
    {"track_bfd", false, refused_checker},
};

// ---- virtual_server { } ----

void sched_flag(Translator& t, VirtualServerConf& vs, const Stmt& s) {
  bare(s);
  const std::string& f = s.key();
  const std::string now = vs.sched ? vs.sched->v : "";
  const bool flag_n = f.rfind("flag-", 0) == 0;
  if (flag_n || (f.rfind("sh-", 0) == 0 && now == "sh") || (f.rfind("mh-", 0) == 0 && now == "mh")) {
    vs.flags.push_back({f, s.where});
    return;
  }
  t.note("flag " + s.where.str(), s.where,
         f + " ignored, as keepalived ignores it: it applies when lb_algo " + f.substr(0, 2) + " comes before it");
}

void scheduler(Translator&, VirtualServerConf& vs, const Stmt& s) {
  const std::string& a = value(s, "a scheduler");
  for (const RefusedSched& r : kRefusedScheds)
    if (a == r.name) fail(s.where, s.key() + " " + a + ": " + std::string(r.why));
  if (std::find(std::begin(kScheds), std::end(kScheds), a) == std::end(kScheds))
    fail(s.where, s.key() + " " + quote(a) + ": unknown scheduler (drfwd imports rr, wrr, lc, wlc, sh, mh, sed, nq)");
  vs.sched = At<std::string>{a, s.where};
}

constexpr Keyword<VirtualServerConf> kVirtualServerKeywords[] = {
    {"ip_family", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       const std::string& f = value(s, "inet or inet6");
       if (f != "inet" && f != "inet6") fail(s.where, "ip_family " + quote(f) + ": expected inet or inet6");
       vs.ipv6 = At<bool>{f == "inet6", s.where};
     }},
    {"retry", false, set_retry<VirtualServerConf>},
    {"delay_before_retry", false, delay_before_retry<VirtualServerConf>},
    {"warmup", false, warmup<VirtualServerConf>},
    {"connect_timeout", false, set_connect_timeout<VirtualServerConf>},
    {"delay_loop", false, set_delay_loop<VirtualServerConf>},
    {"inhibit_on_failure", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       vs.inhibit = At<bool>{boolean(s), s.where};
     }},
    {"lb_algo", false, scheduler},
    {"lvs_sched", false, scheduler},
    {"hashed", false, [](Translator& t, VirtualServerConf&, const Stmt& s) {
       bare(s);
       t.note("hashed", s.where, "hashed ignored: it changes nothing in IPVS either");
     }},
    {"ops", false, [](Translator&, VirtualServerConf&, const Stmt& s) {
       refuse(s, "one-packet scheduling is not supported (as ipvsadm -o)");
     }},
    {"flag-1", false, sched_flag},
    {"flag-2", false, sched_flag},
    {"flag-3", false, sched_flag},
    {"sh-port", false, sched_flag},
    {"sh-fallback", false, sched_flag},
    {"mh-port", false, sched_flag},
    {"mh-fallback", false, sched_flag},
    {"lb_kind", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) { vs.method = forwarding(s); }},
    {"lvs_method", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) { vs.method = forwarding(s); }},
    {"nat_mask", false, [](Translator&, VirtualServerConf&, const Stmt& s) {
       refuse(s, "a NAT setting: drfwd forwards by direct routing only (DR)");
     }},
    {"persistence_engine", false, [](Translator&, VirtualServerConf&, const Stmt& s) {
       refuse(s, "persistence engines are not supported (as ipvsadm --pe)");
     }},
    {"persistence_timeout", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       // keepalived: without a value, IPVS_SVC_PERSISTENT_TIMEOUT (6 minutes).
       const uint32_t t =
           s.words.size() == 1 ? 360 : static_cast<uint32_t>(whole(s, value(s, "seconds"), 1, kMaxTimeout));
       vs.persist = At<uint32_t>{t, s.where};
     }},
    {"persistence_granularity", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       vs.granularity = At<std::string>{value(s, "a netmask (IPv4) or prefix length (IPv6)"), s.where};
     }},
    {"protocol", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       std::string p = value(s, "TCP or UDP");
       for (char& c : p) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
       if (p == "SCTP") refuse(s, "SCTP services are not supported (TCP and UDP are)");
       if (p != "TCP" && p != "UDP") fail(s.where, "protocol " + quote(s.words[1]) + ": expected TCP or UDP");
       vs.proto = At<uint8_t>{p == "TCP" ? net::kProtoTcp : net::kProtoUdp, s.where};
     }},
    {"ha_suspend", false, [](Translator& t, VirtualServerConf&, const Stmt& s) {
       bare(s);
       t.note("ha_suspend", s.where, "ha_suspend ignored: drfwd checks the real servers on every director, backup "
                                     "too, so a take-over starts with their state known");
     }},
    {"smtp_alert", false, smtp_alert<VirtualServerConf>},
    {"virtualhost", false, set_virtualhost<VirtualServerConf>},
    {"snmp_name", false, snmp_name<VirtualServerConf>},
    {"alpha", false, set_alpha<VirtualServerConf>},
    {"omega", false, [](Translator& t, VirtualServerConf&, const Stmt& s) {
       bare(s);
       t.note("omega", s.where, "omega ignored: it runs quorum_down and notify_down scripts at exit, and drfwd runs "
                                "no scripts");
     }},
    {"quorum_up", false, no_scripts<VirtualServerConf>},
    {"quorum_down", false, no_scripts<VirtualServerConf>},
    {"quorum", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       vs.quorum = At<uint32_t>{static_cast<uint32_t>(whole(s, value(s, "a weight"), 1, 0xffffffffu)), s.where};
     }},
    {"hysteresis", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       vs.hysteresis = At<uint32_t>{static_cast<uint32_t>(whole(s, value(s, "a weight"), 0, 0xffffffffu)), s.where};
     }},
    {"weight", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       vs.weight = At<uint32_t>{static_cast<uint32_t>(whole(s, value(s, "a weight"), 1, kMaxWeight)), s.where};
     }},
    {"sorry_server", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       if (s.words.size() < 2 || s.words.size() > 3) fail(s.where, "sorry_server needs an address and a port");
       if (vs.sorry) fail(s.where, "a second sorry_server (the first at " + vs.sorry->where.str() + ")");
       SorryServer ss{s.where, address(s, s.words[1], "sorry server"), std::nullopt, {}};
       if (s.words.size() == 3) ss.port = port(s, s.words[2]);
       vs.sorry = ss;
     }},
    {"sorry_server_inhibit", false, [](Translator& t, VirtualServerConf& vs, const Stmt& s) {
       boolean(s);
       if (!vs.sorry) fail(s.where, "sorry_server_inhibit before (or without) sorry_server");
       t.note("sorry_server_inhibit", s.where,
              "sorry_server_inhibit: drfwd's sorry server keeps its connections when the real servers return (it "
              "only stops taking new ones), which is what inhibit gives in keepalived");
     }},
    {"sorry_server_lvs_method", false, [](Translator&, VirtualServerConf& vs, const Stmt& s) {
       if (!vs.sorry) fail(s.where, "sorry_server_lvs_method before (or without) sorry_server");
       vs.sorry->method = forwarding(s);
     }},
    {"real_server", true, [](Translator& t, VirtualServerConf& vs, const Stmt& s) {
       if (s.words.size() < 2 || s.words.size() > 3) fail(s.where, "real_server needs an address and a port");
       RealServerConf r;
       r.where = s.where;
       r.ip = address(s, s.words[1], "real server");
       if (s.words.size() == 3) r.port = port(s, s.words[2]);
       for (const RealServerConf& other : vs.rs)
         if (other.ip == r.ip)
           fail(s.where,
                "real server " + net::to_string(r.ip) + " is listed twice (first at " + other.where.str() + ")");
       for (const Stmt& k : s.block) t.apply(kRealServerKeywords, r, k, "real_server");
       vs.rs.push_back(std::move(r));
     }},
};

// ---- Translation -------------------------------------------------------------------------

struct SkippedSection {
  std::string_view name, why;
};
constexpr std::string_view kVrrp = "VRRP stays in keepalived, running next to drfwd on its kernel interface "
                                   "(docs/redundancy.md)";
constexpr std::string_view kHostSetup = "keepalived sets these on the host; keep them there (or in the host's "
                                        "network configuration)";
constexpr std::string_view kKeepalivedOwn = "keepalived's own process settings do not apply to drfwd";
constexpr SkippedSection kSkipped[] = {
    {"global_defs", "keepalived's global settings (notification mail, router_id, script users, ...) do not apply "
                    "to drfwd, which has its own options"},
    {"vrrp_instance", kVrrp},
    {"vrrp_sync_group", kVrrp},
    {"vrrp_script", kVrrp},
    {"vrrp_track_process", kVrrp},
    {"vrrp_track_file", kVrrp},
    {"track_file", kVrrp},
    {"garp_group", kVrrp},
    {"linkbeat_use_polling", kVrrp},
    {"static_ipaddress", kHostSetup},
    {"static_routes", kHostSetup},
    {"static_rules", kHostSetup},
    {"bfd_instance", "BFD sessions stay in keepalived"},
    {"SSL", "it configures SSL_GET checks, which drfwd does not run"},
    {"net_namespace", kKeepalivedOwn},
    {"net_namespace_ipvs", kKeepalivedOwn},
    {"instance", kKeepalivedOwn},
    {"use_pid_dir", kKeepalivedOwn},
};

// One group entry: "IP", "IP-N" (last octet, or last IPv6 group in hex), "IP-IP" or
// "IP/len", then the port.
constexpr uint64_t kMaxGroupAddresses = 1024;

std::vector<net::IpAddr> expand_range(const Stmt& s) {
  const std::string& spec = s.words[0];
  auto low_bits = [](const net::IpAddr& a) {  // the low 64 bits, and whether the rest is zero-extended alike
    uint64_t lo = 0;
    for (int i = 8; i < 16; ++i) lo = lo << 8 | a.a.bytes[i];
    return lo;
  };
  auto high_equal = [](const net::IpAddr& a, const net::IpAddr& b) {
    return std::equal(a.a.bytes.begin(), a.a.bytes.begin() + 8, b.a.bytes.begin());
  };
  auto with_low = [](net::IpAddr a, uint64_t lo) {
    for (int i = 15; i >= 8; --i, lo >>= 8) a.a.bytes[i] = static_cast<uint8_t>(lo);
    return a;
  };
  auto range = [&](const net::IpAddr& first, const net::IpAddr& last) {
    const uint64_t a = low_bits(first), b = low_bits(last);
    if (first.is_v4() != last.is_v4() || !high_equal(first, last) || b < a)
      fail(s.where, quote(spec) + ": the range's end must be an address of the same family after its start");
    if (b - a + 1 > kMaxGroupAddresses)
      fail(s.where, quote(spec) + " expands to " + std::to_string(b - a + 1) + " addresses: the import takes up to " +
                        std::to_string(kMaxGroupAddresses) + " per entry (each becomes a service)");
    std::vector<net::IpAddr> out;
    for (uint64_t v = a; v <= b; ++v) out.push_back(with_low(first, v));
    return out;
  };
  if (const size_t slash = spec.find('/'); slash != std::string::npos) {
    const net::IpAddr base = address(s, spec.substr(0, slash), "virtual_server_group");
    const auto len = net::parse_uint(spec.substr(slash + 1), base.max_len());
    if (!len || *len == 0) fail(s.where, quote(spec) + ": bad prefix length");
    const unsigned host_bits = base.max_len() - static_cast<unsigned>(*len);
    if (host_bits > 10) fail(s.where, quote(spec) + ": the import takes up to " + std::to_string(kMaxGroupAddresses) +
                                          " addresses per entry (each becomes a service)");
    const uint64_t mask = (uint64_t{1} << host_bits) - 1;
    if (low_bits(base) & mask) fail(s.where, quote(spec) + ": the address has bits set beyond its prefix length");
    return range(base, with_low(base, low_bits(base) | mask));
  }
  if (const size_t dash = spec.find('-'); dash != std::string::npos) {
    const net::IpAddr first = address(s, spec.substr(0, dash), "virtual_server_group");
    const std::string end = spec.substr(dash + 1);
    if (end.find_first_of(".:") != std::string::npos) return range(first, address(s, end, "virtual_server_group"));
    // The last octet (IPv4, decimal) or the last 16-bit group (IPv6, hexadecimal).
    uint64_t last = 0;
    const bool v4 = first.is_v4();
    for (char c : end) {
      const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                    : !v4 && std::isxdigit(static_cast<unsigned char>(c)) ? std::tolower(c) - 'a' + 10
                                                                          : -1;
      if (d < 0 || end.size() > 4) fail(s.where, quote(spec) + ": bad range end");
      last = last * (v4 ? 10 : 16) + static_cast<uint64_t>(d);
    }
    const uint64_t field = v4 ? 0xff : 0xffff;
    if (end.empty() || last > field) fail(s.where, quote(spec) + ": bad range end");
    const uint64_t lo = low_bits(first);
    if ((lo & field) >= last) fail(s.where, quote(spec) + ": the range's end is not after its start");
    return range(first, with_low(first, (lo & ~field) | last));
  }
  return {address(s, spec, "virtual_server_group")};
}

void Translator::group(const Stmt& s) {
  if (s.words.size() != 2) fail(s.where, "virtual_server_group needs a name");
  if (!s.has_block) fail(s.where, "virtual_server_group needs a { } block");
  const std::string& name = s.words[1];
  if (auto it = groups_.find(name); it != groups_.end())
    fail(s.where, "virtual_server_group " + name + " is defined twice (first at " + it->second.where.str() + ")");
  Group g{s.where, {}};
  for (const Stmt& e : s.block) {
    if (e.has_block) fail(e.where, "a virtual_server_group entry takes no { } block");
    if (e.key() == "fwmark")
      fail(e.where, "fwmark entries are not supported: drfwd services are an address, a protocol and a port");
    if (e.words.size() > 2) fail(e.where, "unexpected " + quote(e.words[2]) + " (an entry is an address and a port)");
    if (e.words.size() < 2) fail(e.where, quote(e.key()) + " needs a port");
    const uint16_t p = port(e, e.words[1]);
    for (const net::IpAddr& ip : expand_range(e)) g.addrs.emplace_back(ip, p);
    if (g.addrs.size() > kMaxGroupAddresses)
      fail(e.where, "virtual_server_group " + name + " has more than " + std::to_string(kMaxGroupAddresses) +
                        " addresses (each becomes a service)");
  }
  if (g.addrs.empty()) fail(s.where, "virtual_server_group " + name + " has no entries");
  groups_.emplace(name, std::move(g));
}

void Translator::virtual_server(const Stmt& s) {
  if (!s.has_block) fail(s.where, "virtual_server needs a { } block");
  VirtualServerConf vs;
  vs.where = s.where;
  if (s.words.size() >= 2 && s.words[1] == "fwmark")
    fail(s.where, "firewall-mark services are not supported: drfwd services are an address, a protocol and a port "
                  "(as ipvsadm -f)");
  if (s.words.size() >= 2 && s.words[1] == "group") {
    if (s.words.size() != 3) fail(s.where, "virtual_server group needs the group's name");
    const auto it = groups_.find(s.words[2]);
    if (it == groups_.end()) fail(s.where, "no virtual_server_group " + quote(s.words[2]));
    vs.addrs = it->second.addrs;
  } else {
    if (s.words.size() < 2) fail(s.where, "virtual_server needs an address and a port");
    if (s.words.size() > 3) fail(s.where, "virtual_server: unexpected " + quote(s.words[3]));
    const net::IpAddr ip = address(s, s.words[1], "virtual server");
    if (s.words.size() == 2)
      fail(s.where, "virtual_server without a port (a persistent service on every port) is not supported: a drfwd "
                    "service has one port");
    vs.addrs.emplace_back(ip, port(s, s.words[2]));
  }
  for (const Stmt& k : s.block) apply(kVirtualServerKeywords, vs, k, "virtual_server");
  emit(vs);
}

std::string shell_word(const std::string& w) {
  if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") ==
                        std::string::npos)
    return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

template <class T>
const At<T>* inherited(const Opt<T>& checker, const Opt<T>& rs, const Opt<T>& vs) {
  if (checker) return &*checker;
  if (rs) return &*rs;
  if (vs) return &*vs;
  return nullptr;
}

constexpr uint64_t kDefaultDelayLoopUs = 60 * kUsPerS;  // keepalived's KEEPALIVED_DEFAULT_DELAY
constexpr uint64_t kDefaultConnectTimeoutUs = 5 * kUsPerS;
constexpr uint32_t kMinCheckMs = 50, kMaxCheckMs = 3600000;  // drfwd's check durations

std::string Translator::check_words(const VirtualServerConf& vs, const RealServerConf& rs) {
  if (!rs.checker) return "check none";
  const Checker& c = *rs.checker;
  const Inherited &ci = c.inherit, &ri = rs.inherit, &vi = vs.inherit;

  const At<uint64_t>* dl = inherited(ci.delay_loop, ri.delay_loop, vi.delay_loop);
  const uint64_t interval_us = dl ? dl->v : kDefaultDelayLoopUs;
  const uint32_t interval = static_cast<uint32_t>(std::min<uint64_t>((interval_us + 500) / 1000, 0xffffffffu));
  if (interval < kMinCheckMs || interval > kMaxCheckMs)
    fail(dl ? dl->where : c.where, "delay_loop " + seconds_text(interval_us) + ": drfwd checks every 50ms to 3600s");

  // MISC_CHECK's timeout is misc_timeout, else the virtual server's own delay_loop.
  uint64_t timeout_us = kDefaultConnectTimeoutUs;
  Where timeout_where = c.where;
  std::string timeout_name = "connect_timeout";
  if (c.kind == CheckerKind::kMisc) {
    timeout_name = "misc_timeout";
    if (c.misc_timeout && c.misc_timeout->v) {
      timeout_us = c.misc_timeout->v;
      timeout_where = c.misc_timeout->where;
    } else {
      timeout_us = vi.delay_loop ? vi.delay_loop->v : kDefaultDelayLoopUs;
      timeout_name = "misc_timeout (by default the virtual server's delay_loop)";
    }
  } else if (const At<uint64_t>* ct = inherited(ci.connect_timeout, ri.connect_timeout, vi.connect_timeout)) {
    timeout_us = ct->v;
    timeout_where = ct->where;
  }
  uint32_t timeout = static_cast<uint32_t>(std::min<uint64_t>((timeout_us + 500) / 1000, 0xffffffffu));
  if (timeout < kMinCheckMs)
    fail(timeout_where, timeout_name + " " + seconds_text(timeout_us) + ": drfwd's timeouts start at 50ms");
  if (timeout > interval) {
    note("timeout>interval", timeout_where,
         timeout_name + " " + seconds_text(timeout_us) + " is longer than the check interval " +
             format_duration_ms(interval) + ": drfwd probes at a fixed pace and refuses a timeout above the interval, "
             "so the timeout is cut to the interval");
    timeout = interval;
  }

  const At<uint32_t>* retry = inherited(ci.retry, ri.retry, vi.retry);
  // keepalived 2.x: TCP_CHECK and HTTP_GET retry once by default, MISC_CHECK not at all.
  const uint32_t retries = retry ? retry->v : c.kind == CheckerKind::kMisc ? 0 : 1;
  if (retries > 99) fail(retry->where, "retry " + std::to_string(retries) + ": drfwd's fall goes up to 100 (retry 99)");
  const At<bool>* alpha = inherited(ci.alpha, ri.alpha, vi.alpha);

  std::string w;
  auto add = [&](const std::string& part) { w += " " + part; };
  switch (c.kind) {
    case CheckerKind::kTcp: w = "check tcp"; break;
    case CheckerKind::kHttp: w = "check http"; break;
    case CheckerKind::kMisc: w = "check exec"; break;
  }
  if (c.connect_port) add("port " + std::to_string(c.connect_port->v));
  if (c.kind == CheckerKind::kHttp) {
    add("path " + c.path);
    if (!c.expect)
      note("status_code", c.url_where,
           "url without status_code: keepalived accepts any 2xx status, drfwd's http check expects 200");
    add("expect " + std::to_string(c.expect ? c.expect->v : 200));
    const At<std::string>* host = c.url_host ? &*c.url_host : inherited(ci.virtualhost, ri.virtualhost, vi.virtualhost);
    if (host) {
      const auto unsendable = [](char ch) { return static_cast<unsigned char>(ch) < 0x21 || ch == 0x7f || ch == '#'; };
      if (host->v.empty() || host->v.size() > 253 || std::any_of(host->v.begin(), host->v.end(), unsendable))
        fail(host->where, "virtualhost " + quote(host->v) + " is not a host name drfwd can send");
      add("host " + host->v);
    }
  }
  add("interval " + format_duration_ms(interval));
  add("timeout " + format_duration_ms(timeout));
  add("rise 1");
  add("fall " + std::to_string(retries + 1));
  if (alpha && alpha->v) add("initial down");
  if (c.kind == CheckerKind::kMisc) {
    std::string cmd;
    for (const std::string& a : c.argv) cmd += (cmd.empty() ? "" : " ") + shell_word(a);
    add("command " + cmd);
  }
  return w;
}

// What keepalived assumes where a virtual_server does not say: the forwarding method
// (NAT: refused), the protocol (UDP) and the scheduler (wlc).
void Translator::defaults(VirtualServerConf& vs) {
  const bool every_server_dr =
      std::all_of(vs.rs.begin(), vs.rs.end(), [](const RealServerConf& r) { return r.method.has_value(); }) &&
      (!vs.sorry || vs.sorry->method);
  if (!vs.method && !every_server_dr)
    fail(vs.where, "virtual_server without lb_kind (lvs_method): keepalived then forwards by NAT, and drfwd by direct "
                   "routing only: add 'lb_kind DR' if the real servers hold the VIP (LVS-DR)");
  if (!vs.proto) {
    note("no protocol", vs.where, "virtual_server without protocol: UDP, as keepalived (and IPVS) default");
    vs.proto = At<uint8_t>{net::kProtoUdp, vs.where};
  }
  if (!vs.sched) {
    note("no lb_algo", vs.where, "virtual_server without lb_algo: wlc, as keepalived (and IPVS) default");
    vs.sched = At<std::string>{"wlc", vs.where};
  }
}

// sh-* and mh-* for their own scheduler; flag-1 and flag-2 are the fallback and port
// flags of sh or mh. Others mean nothing to the scheduler: noted.
uint32_t Translator::sched_flags(const VirtualServerConf& vs) {
  const std::string& sched = vs.sched->v;
  uint32_t flags = 0;
  for (const FlagSeen& f : vs.flags) {
    const bool flag_n = f.name.rfind("flag-", 0) == 0;
    const std::string fam = flag_n ? sched : f.name.substr(0, 2);
    if ((fam != "sh" && fam != "mh") || fam != sched || f.name == "flag-3") {
      note("flag " + f.where.str(), f.where, f.name + " ignored: it means nothing to lb_algo " + sched);
      continue;
    }
    flags |= parse_sched_flags(f.name == "flag-1" ? fam + "-fallback" : f.name == "flag-2" ? fam + "-port" : f.name);
  }
  return flags;
}

// keepalived lowers a quorum above the real servers' total weight to it, and a
// hysteresis of the quorum or more to quorum - 1 (noted). Nothing when neither is named,
// or a hysteresis alone comes to nothing.
std::optional<std::pair<uint32_t, uint32_t>> Translator::quorum(const VirtualServerConf& vs) {
  if (!vs.quorum && !vs.hysteresis) return std::nullopt;
  uint64_t total = 0;
  for (const RealServerConf& r : vs.rs) total += r.weight ? r.weight->v : vs.weight ? vs.weight->v : 1;
  uint32_t q = vs.quorum ? vs.quorum->v : 1, h = vs.hysteresis ? vs.hysteresis->v : 0;
  if (q > total) {
    note("quorum " + vs.quorum->where.str(), vs.quorum->where,
         "quorum " + std::to_string(q) + " is above the real servers' total weight " + std::to_string(total) +
             ": lowered to it, as keepalived does");
    q = static_cast<uint32_t>(total);
  }
  if (h >= q && h > 0) {
    const uint32_t lowered = q > 0 ? q - 1 : 0;
    note("hysteresis " + vs.hysteresis->where.str(), vs.hysteresis->where,
         "hysteresis " + std::to_string(h) + " is not below the quorum " + std::to_string(q) + ": lowered to " +
             std::to_string(lowered) + ", as keepalived does");
    h = lowered;
  }
  if (!vs.quorum && h == 0) return std::nullopt;
  return std::make_pair(q, h);
}

std::string Translator::vip_line(const VirtualServerConf& vs, const ServiceWords& sw, const std::string& svc,
                                 const net::IpAddr& vip) {
  if (vs.ipv6 && vs.ipv6->v != vip.is_v6())
    fail(vs.ipv6->where, "ip_family " + std::string(vs.ipv6->v ? "inet6" : "inet") + " but the virtual server " +
                             net::to_string(vip) + " is " + std::string(net::family_name(vip)));
  std::string l = "vip add " + svc + " sched " + vs.sched->v;
  if (sw.flags) l += " flags " + sched_flags_to_string(sw.flags);
  if (vs.persist || vs.granularity) l += " persist " + std::to_string(vs.persist ? vs.persist->v : 360);
  if (vs.granularity) {
    const std::string& g = vs.granularity->v;
    const bool ok = vip.is_v4() ? g.find('.') != std::string::npos && net::parse_netmask(g).has_value()
                                : net::parse_uint(g, 128).value_or(0) > 0;
    if (!ok)
      fail(vs.granularity->where, "persistence_granularity " + quote(g) + ": expected " +
                                      (vip.is_v4() ? "an IPv4 netmask, e.g. 255.255.255.0" : "a prefix length, 1-128") +
                                      " for " + net::to_string(vip));
    l += " netmask " + g;
  }
  if (sw.quorum)
    l += " quorum " + std::to_string(sw.quorum->first) + " hysteresis " + std::to_string(sw.quorum->second);
  if (vs.inhibit && vs.inhibit->v) l += " on-failure inhibit";
  return l;
}

std::string Translator::rs_line(const VirtualServerConf& vs, const RealServerConf& r, const std::string& svc,
                                const net::IpAddr& vip, uint16_t vport) {
  if (r.ip.is_v4() != vip.is_v4())
    fail(r.where, "real server " + net::to_string(r.ip) + " is " + std::string(net::family_name(r.ip)) +
                      " and the virtual server " + net::to_string(vip) + " " + std::string(net::family_name(vip)) +
                      ": direct routing keeps the packet as it is");
  if (r.port && *r.port != vport)
    fail(r.where, "real server port " + std::to_string(*r.port) + " differs from the service port " +
                      std::to_string(vport) + ": direct routing forwards to the same port and cannot translate it "
                      "(keepalived resets it with a warning)");
  std::string l = "rs add " + svc + " " + net::to_string(r.ip);
  l += " weight " + std::to_string(r.weight ? r.weight->v : vs.weight ? vs.weight->v : 1);
  if (r.uthreshold) l += " uthreshold " + std::to_string(r.uthreshold->v);
  if (r.lthreshold) l += " lthreshold " + std::to_string(r.lthreshold->v);
  const bool vs_inhibit = vs.inhibit && vs.inhibit->v;
  if (r.inhibit && r.inhibit->v != vs_inhibit) l += r.inhibit->v ? " on-failure inhibit" : " on-failure reschedule";
  return l + " " + check_words(vs, r);
}

std::string Translator::sorry_line(const VirtualServerConf& vs, const std::string& svc, const net::IpAddr& vip,
                                   uint16_t vport) {
  const SorryServer& ss = *vs.sorry;
  if (ss.ip.is_v4() != vip.is_v4())
    fail(ss.where, "sorry server " + net::to_string(ss.ip) + " is " + std::string(net::family_name(ss.ip)) +
                       " and the virtual server " + std::string(net::family_name(vip)));
  if (ss.port && *ss.port != vport)
    fail(ss.where, "sorry server port " + std::to_string(*ss.port) + " differs from the service port " +
                       std::to_string(vport) + ": direct routing cannot translate ports");
  for (const RealServerConf& r : vs.rs)
    if (r.ip == ss.ip)
      fail(ss.where,
           "sorry server " + net::to_string(ss.ip) + " is also a real server of this service (" + r.where.str() + ")");
  return "rs add " + svc + " " + net::to_string(ss.ip) + " sorry check none";
}

// One service per address (a group's), its real servers, then its sorry server.
void Translator::emit(VirtualServerConf& vs) {
  if (vs.rs.empty()) {
    note("no real_server " + vs.where.str(), vs.where,
         "virtual_server without real_server skipped, as keepalived ignores it");
    return;
  }
  defaults(vs);
  const ServiceWords sw{sched_flags(vs), quorum(vs)};
  for (const auto& [vip, vport] : vs.addrs) {
    const std::string svc =
        net::to_string(vip) + " " + std::string(proto_name(vs.proto->v)) + " " + std::to_string(vport);
    lines.push_back({vip_line(vs, sw, svc, vip), vs.where.str()});
    for (const RealServerConf& r : vs.rs) lines.push_back({rs_line(vs, r, svc, vip, vport), r.where.str()});
    if (vs.sorry) lines.push_back({sorry_line(vs, svc, vip, vport), vs.sorry->where.str()});
  }
}

void Translator::run(const std::vector<Stmt>& top) {
  for (const Stmt& s : top)
    if (s.key() == "virtual_server_group") group(s);
  for (const Stmt& s : top) {
    const std::string& k = s.key();
    if (k == "virtual_server_group") continue;
    if (k == "virtual_server") {
      virtual_server(s);
      continue;
    }
    const auto skipped =
        std::find_if(std::begin(kSkipped), std::end(kSkipped), [&](const SkippedSection& x) { return x.name == k; });
    if (skipped == std::end(kSkipped))
      fail(s.where, "unknown keyword " + quote(k) + " (the import takes virtual_server and virtual_server_group, and "
                    "skips VRRP and global sections: docs/migration.md)");
    note("section " + k, s.where, k + " skipped: " + std::string(skipped->why));
  }
}

}  // namespace

// ---- Files -------------------------------------------------------------------------------

KeepalivedFiles keepalived_disk_files() {
  KeepalivedFiles f;
  f.glob = [](const std::string& pattern) {
    std::vector<std::string> out;
    glob_t g{};
    if (::glob(pattern.c_str(), GLOB_BRACE, nullptr, &g) == 0) {  // braces too, as keepalived
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        struct stat st{};
        if (::stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) out.emplace_back(g.gl_pathv[i]);
      }
    }
    ::globfree(&g);
    return out;
  };
  f.read = [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return text.str();
  };
  f.identity = [](const std::string& path) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(path, ec);
    return ec ? fs::path(path).lexically_normal().string() : p.string();
  };
  return f;
}

KeepalivedFiles keepalived_memory_files(std::map<std::string, std::string> files) {
  auto shared = std::make_shared<const std::map<std::string, std::string>>(std::move(files));
  auto normal = [](const std::string& p) { return fs::path(p).lexically_normal().generic_string(); };
  KeepalivedFiles f;
  f.glob = [shared, normal](const std::string& pattern) {
    std::vector<std::string> out;
    const std::string pat = normal(pattern);
    for (const auto& [name, text] : *shared)
      if (::fnmatch(pat.c_str(), normal(name).c_str(), FNM_PATHNAME) == 0) out.push_back(name);
    return out;
  };
  f.read = [shared](const std::string& path) -> std::optional<std::string> {
    for (const auto& [name, text] : *shared)
      if (fs::path(name).lexically_normal() == fs::path(path).lexically_normal()) return text;
    return std::nullopt;
  };
  f.identity = normal;
  return f;
}

// ---- Entry points ------------------------------------------------------------------------

KeepalivedConfig translate_keepalived_text(const std::string& name, const std::string& text,
                                           const KeepalivedFiles& files) {
  Notes notes;
  const std::vector<Line> lines = Reader(files, notes).read(name, text);
  const std::vector<Stmt> top = StatementParser(lines).parse();
  Translator t(notes);
  t.run(top);
  return KeepalivedConfig{std::move(t.lines), notes.render()};
}

KeepalivedConfig translate_keepalived(const std::string& path) {
  const KeepalivedFiles files = keepalived_disk_files();
  const auto text = files.read(path);
  if (!text) throw ConfigError(path + ": cannot open keepalived configuration");
  return translate_keepalived_text(path, *text, files);
}

void load_translated(const KeepalivedConfig& config, Model& model) {
  Model next = model;
  for (const TranslatedLine& l : config.lines) {
    try {
      if (auto c = parse_line(l.text)) next.apply(*c);
    } catch (const ConfigError& e) {
      throw ConfigError(l.where + ": " + e.what() + " (translated to '" + l.text + "')", e.usage());
    }
  }
  model = std::move(next);
}

void load_keepalived(const std::string& path, Model& model) { load_translated(translate_keepalived(path), model); }

std::vector<KeepalivedKeyword> keepalived_keywords() {
  std::vector<KeepalivedKeyword> out;
  auto add = [&](std::string_view block, const auto& table) {
    for (const auto& k : table) out.push_back({block, k.name});
  };
  out.push_back({"", "include"});
  out.push_back({"", "virtual_server"});
  out.push_back({"", "virtual_server_group"});
  for (const SkippedSection& s : kSkipped) out.push_back({"", s.name});
  add("virtual_server", kVirtualServerKeywords);
  add("real_server", kRealServerKeywords);
  add("checkers", kCheckerKeywords);
  add("TCP_CHECK and HTTP_GET", kConnectKeywords);
  add("HTTP_GET", kHttpKeywords);
  add("url", kUrlKeywords);
  add("MISC_CHECK", kMiscKeywords);
  return out;
}

}  // namespace drfwd::config
