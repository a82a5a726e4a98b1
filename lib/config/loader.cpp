#include "config/loader.hpp"

#include <fstream>
#include <sstream>

#include "config/keepalived.hpp"

namespace drfwd::config {

namespace {

std::string read_config_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path + ": cannot open configuration file");
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) throw ConfigError(path + ": read error");
  return text.str();
}

}  // namespace

void load_file(const std::string& path, Model& model) { load_text(path, read_config_file(path), model); }

void load_text(const std::string& name, const std::string& text, Model& model, std::vector<std::string>* errors) {
  Model next = model;
  bool failed = false;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    try {
      if (auto c = parse_line(line)) next.apply(*c);
    } catch (const ConfigError& e) {
      std::string where = name + ":" + std::to_string(lineno) + ": " + e.what();
      if (!errors) throw ConfigError(where, e.usage());
      errors->push_back(std::move(where));
      failed = true;
    }
  }
  // Checking (errors given): the good lines stay, so that the files after this one are
  // checked against them; the caller keeps or drops the whole.
  if (!failed || errors) model = std::move(next);
}

void load_ipvsadm_save(const std::string& path, Model& model, std::vector<std::string>* errors) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path + ": cannot open ipvsadm rules file");
  std::ostringstream text;
  std::string line;
  while (std::getline(f, line)) {
    const auto words = tokenize(line);
    text << (words.empty() || words[0] == "ipvsadm" ? "" : "ipvsadm ") << line << "\n";
  }
  load_text(path, text.str(), model, errors);
}

namespace {

// load_files and check_files: errors == nullptr stops at the first error (throws).
void read_files(const ConfigFiles& files, Model& model, std::vector<std::string>& notes,
                std::vector<std::string>* errors) {
  Model next = model;
  auto guard = [&](auto&& step) {
    try {
      step();
    } catch (const ConfigError& e) {
      if (!errors) throw;
      errors->push_back(e.what());
    }
  };
  auto services = [&] { return std::to_string(next.services().size()) + " service(s)"; };
  if (!files.config.empty())
    guard([&] {
      load_text(files.config, read_config_file(files.config), next, errors);
      notes.push_back(files.config + ": " + services() + " loaded");
    });
  if (!files.ipvsadm.empty())
    guard([&] {
      load_ipvsadm_save(files.ipvsadm, next, errors);
      notes.push_back(files.ipvsadm + ": ipvsadm rules imported (" + services() + " now)");
    });
  if (!files.keepalived.empty())
    guard([&] {
      const KeepalivedConfig k = translate_keepalived(files.keepalived);
      notes.insert(notes.end(), k.notes.begin(), k.notes.end());
      load_translated(k, next);
      notes.push_back(files.keepalived + ": keepalived configuration imported: " + std::to_string(k.lines.size()) +
                      " command(s), " + std::to_string(k.notes.size()) + " note(s) (" + services() + " now)");
    });
  if (!errors || errors->empty()) model = std::move(next);
}

}  // namespace

void load_files(const ConfigFiles& files, Model& model, std::vector<std::string>& notes) {
  read_files(files, model, notes, nullptr);
}

std::vector<std::string> check_files(const ConfigFiles& files, Model& model, std::vector<std::string>& notes) {
  std::vector<std::string> errors;
  read_files(files, model, notes, &errors);
  return errors;
}

}  // namespace drfwd::config
