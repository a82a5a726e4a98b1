#include "console/help.hpp"

#include <algorithm>

#include "config/check.hpp"
#include "config/grammar.hpp"

namespace drfwd::console {

namespace {

std::string indented(std::string_view text, std::string_view indent) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    out += std::string(indent) + std::string(text.substr(pos, nl - pos)) + "\n";
    pos = nl + 1;
  }
  return out;
}

const config::CommandForm* exact(std::string_view name) {
  for (const config::CommandForm& f : config::commands())
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

std::string help_text(std::string_view topic) {
  if (topic == "version") return "drfwd " DRFWD_VERSION "\n";
  if (topic == "check") return "  check ... = " + std::string(config::kCheckUsage) + "\n";
  if (const config::CommandForm* f = exact(topic); f && !f->detail.empty()) return indented(f->detail, "  ");
  std::string out;
  for (const config::CommandForm& f : config::commands())
    if (f.name.substr(0, topic.size()) == topic) out += "  " + f.usage() + "\n      " + std::string(f.help) + "\n";
  if (out.empty()) return "no command starts with '" + std::string(topic) + "': try help\n";
  if (!topic.empty()) return out;
  return "Commands (native grammar; a line starting with ipvsadm is read as ipvsadm's command line):\n" + out +
         "  check ... = " + std::string(config::kCheckUsage) + "\n";
}

std::vector<std::string> completions(const std::vector<std::string_view>& words) {
  std::vector<std::string> out;
  auto add = [&](std::string_view w) {
    if (std::find(out.begin(), out.end(), w) == out.end()) out.emplace_back(w);
  };
  // The next word of a command's name.
  for (const config::CommandForm& f : config::commands()) {
    const auto name = config::tokenize(f.name);
    if (name.size() > words.size() && std::equal(words.begin(), words.end(), name.begin())) add(name[words.size()]);
  }
  if (!out.empty()) return out;
  // After a whole name: the keyword choices of its first argument, or its options once
  // its positional arguments are given.
  size_t consumed = 0;
  const config::CommandForm* f = config::find_form(words, consumed);
  if (!f) return out;
  const size_t args = words.size() - consumed;
  if (args == 0 && !f->choices.empty())
    for (std::string_view c : f->choices) add(c);
  else if (args >= f->positional)
    for (std::string_view o : f->options) add(o);
  return out;
}

}  // namespace drfwd::console
