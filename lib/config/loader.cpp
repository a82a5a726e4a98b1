#include "config/loader.hpp"

#include <fstream>
#include <sstream>

namespace drfwd::config {

void load_text(const std::string& name, const std::string& text, Model& model) {
  Model next = model;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    try {
      if (auto c = parse_line(line)) next.apply(*c);
    } catch (const ConfigError& e) {
      throw ConfigError(name + ":" + std::to_string(lineno) + ": " + e.what(), e.usage());
    }
  }
  model = std::move(next);
}

void load_ipvsadm_save(const std::string& path, Model& model) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path + ": cannot open ipvsadm rules file");
  std::ostringstream text;
  std::string line;
  while (std::getline(f, line)) {
    const auto words = tokenize(line);
    text << (words.empty() || words[0] == "ipvsadm" ? "" : "ipvsadm ") << line << "\n";
  }
  load_text(path, text.str(), model);
}

void load_file(const std::string& path, Model& model) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path + ": cannot open configuration file");
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) throw ConfigError(path + ": read error");
  load_text(path, text.str(), model);
}

}  // namespace drfwd::config
