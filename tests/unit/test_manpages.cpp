// The manual page drfwd.conf(5) and drfwdctl's bash completion never drift from the
// command table (config::commands(), the source of help and tab completion): every
// command form is listed in the man page with its exact usage and nothing else is, the
// ipvsadm forms of `help ipvsadm` are there, and the completion offers exactly the
// table's command words. drfwd(8) and drfwdctl(8) are checked against --help by
// tests/package/test_manpages.py (the option descriptions live in the binaries).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/grammar.hpp"
#include "docs.hpp"

namespace drfwd {
namespace {

// Drops troff's font escapes and turns its character escapes back into the characters.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == '-') out += '-';
    else if (c == 'e') out += '\\';
    else if (c == '&') continue;
    else if (c == 'f' && i + 1 < s.size()) {
      if (s[i + 1] == '(' && i + 3 < s.size()) i += 3;  // \f(CR
      else ++i;                                         // \fB \fI \fR \fP
    } else if (c == '(' && i + 2 < s.size()) {
      const std::string name = s.substr(i + 1, 2);
      i += 2;
      out += name == "dq" ? "\"" : name == "em" ? "--" : "";
    } else {
      out += '\\';
      out += c;
    }
  }
  return out;
}

// A macro line's arguments: quoted or blank-separated words.
std::vector<std::string> macro_args(const std::string& rest) {
  std::vector<std::string> args;
  size_t i = 0;
  while (i < rest.size()) {
    if (rest[i] == ' ') {
      ++i;
      continue;
    }
    std::string a;
    if (rest[i] == '"') {
      for (++i; i < rest.size() && rest[i] != '"'; ++i) a += rest[i];
      ++i;
    } else {
      for (; i < rest.size() && rest[i] != ' '; ++i) a += rest[i];
    }
    args.push_back(a);
  }
  return args;
}

struct ManLine {
  std::string section;  // the .SH it is under
  bool heading;         // the line after .TP
  std::string text;     // as shown, fonts dropped
};

// The text lines of a man page as the reader sees them (one per source line), fonts
// dropped: .B/.I join their arguments with blanks, .BI/.BR/... alternate without.
std::vector<ManLine> man_lines(const std::string& page) {
  std::vector<ManLine> lines;
  std::istringstream in(page);
  std::string l, section;
  bool after_tp = false;
  while (std::getline(in, l)) {
    if (l.rfind(".\\\"", 0) == 0) continue;
    std::string text;
    if (!l.empty() && l[0] == '.') {
      const size_t sp = l.find(' ');
      const std::string macro = l.substr(1, sp == std::string::npos ? std::string::npos : sp - 1);
      const std::vector<std::string> args = macro_args(sp == std::string::npos ? "" : l.substr(sp + 1));
      if (macro == "SH") {
        section.clear();
        for (const std::string& a : args) section += (section.empty() ? "" : " ") + a;
        continue;
      }
      if (macro == "TP") {
        after_tp = true;
        continue;
      }
      static const std::set<std::string> kJoin = {"B", "I"};
      static const std::set<std::string> kAlternate = {"BI", "IB", "BR", "RB", "IR", "RI"};
      if (kJoin.count(macro)) {
        for (const std::string& a : args) text += (text.empty() ? "" : " ") + a;
      } else if (kAlternate.count(macro)) {
        for (const std::string& a : args) text += a;
      } else {
        continue;  // .PP, .nf, .ft, ...
      }
    } else {
      text = l;
    }
    lines.push_back({section, after_tp, unescape(text)});
    after_tp = false;
  }
  return lines;
}

bool is_command_section(const std::string& section) {
  return section == "CONFIGURATION COMMANDS" || section == "QUERIES AND ACTIONS";
}

TEST(ManPages, ConfPageListsEveryCommandFormWithItsUsage) {
  const std::vector<ManLine> lines = man_lines(test::read_doc("man/drfwd.conf.5"));
  ASSERT_FALSE(lines.empty());
  std::multiset<std::string> headings;
  for (const ManLine& m : lines)
    if (m.heading && is_command_section(m.section)) headings.insert(m.text);
  std::set<std::string> usages;
  for (const config::CommandForm& f : config::commands()) {
    usages.insert(f.usage());
    EXPECT_EQ(headings.count(f.usage()), 1u)
        << "docs/man/drfwd.conf.5 should list `" << f.usage() << "` once under CONFIGURATION COMMANDS "
        << "or QUERIES AND ACTIONS (as .BI \"name \" \"args\" after .TP)";
  }
  for (const std::string& h : headings)
    EXPECT_TRUE(usages.count(h)) << "docs/man/drfwd.conf.5 lists `" << h << "`, which is no command form";
}

TEST(ManPages, ConfPageHasEveryDetailLine) {
  const std::vector<ManLine> lines = man_lines(test::read_doc("man/drfwd.conf.5"));
  std::set<std::string> texts;
  for (const ManLine& m : lines) texts.insert(m.text);
  size_t details = 0;
  for (const config::CommandForm& f : config::commands()) {
    std::istringstream d{std::string(f.detail)};
    std::string l;
    while (std::getline(d, l)) {
      ++details;
      EXPECT_TRUE(texts.count(l)) << "docs/man/drfwd.conf.5 lacks `help " << f.name << "`'s line: " << l;
    }
  }
  EXPECT_GT(details, 0u);  // ipvsadm's forms
}

// debian/drfwdctl.bash-completion: `local commands="..."` and `    WORD) words="..." ;;`.
TEST(ManPages, BashCompletionOffersTheTableWords) {
  const std::string text = test::read_doc("../debian/drfwdctl.bash-completion");
  ASSERT_FALSE(text.empty());
  auto words_of = [](const std::string& s) {
    std::set<std::string> w;
    std::istringstream in(s);
    for (std::string x; in >> x;) w.insert(x);
    return w;
  };
  std::set<std::string> first;
  std::map<std::string, std::set<std::string>> second;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    const size_t q = l.find('"');
    const size_t q2 = l.rfind('"');
    if (q == std::string::npos || q2 == q) continue;
    const std::string quoted = l.substr(q + 1, q2 - q - 1);
    if (l.find("local commands=\"") != std::string::npos) first = words_of(quoted);
    const size_t paren = l.find(") words=\"");
    if (paren != std::string::npos) {
      const std::string key = words_of(l.substr(0, paren)).empty() ? "" : *words_of(l.substr(0, paren)).begin();
      second[key] = words_of(quoted);
    }
  }
  std::set<std::string> want_first;
  std::map<std::string, std::set<std::string>> want_second;
  for (const config::CommandForm& f : config::commands()) {
    std::istringstream n{std::string(f.name)};
    std::string w1, w2;
    n >> w1 >> w2;
    want_first.insert(w1);
    if (!w2.empty()) want_second[w1].insert(w2);
  }
  EXPECT_EQ(first, want_first) << "the completion's `local commands=` should be the table's first words";
  for (const auto& [w1, w2s] : want_second)
    EXPECT_EQ(second[w1], w2s) << "the completion's words after `" << w1 << "`";
  for (const auto& [w1, w2s] : second) {
    if (w1 == "help" || w1 == "ipvsadm") continue;  // the command words; ipvsadm's options
    EXPECT_TRUE(want_second.count(w1)) << "the completion offers words after `" << w1 << "`, which takes none";
  }
}

}  // namespace
}  // namespace drfwd
