// Configuration files: one command per line, '#' comments, both grammars.
#pragma once

#include <string>
#include <vector>

#include "config/model.hpp"

namespace drfwd::config {

// Applies every line of `path` to `model`, all or nothing. On error throws ConfigError
// whose message starts with "path:line: " (and carries the command's usage).
void load_file(const std::string& path, Model& model);

// The same over text already read (name is used in messages). With `errors`, a line in
// error is recorded ("name:line: message") and skipped, the rest read on, and the good
// lines applied (a configuration check lists every error, checking what follows against
// what went before).
void load_text(const std::string& name, const std::string& text, Model& model,
               std::vector<std::string>* errors = nullptr);

// An ipvsadm-save (ipvsadm -S) file: lines of ipvsadm options ("-A -t ..."), each read as
// if it started with "ipvsadm". All or nothing, errors as load_file's.
void load_ipvsadm_save(const std::string& path, Model& model, std::vector<std::string>* errors = nullptr);

// The files drfwd is started with, read in this order at start, by a reload (SIGHUP) and
// by a configuration check (--check-config): -f, --import-ipvsadm, --import-keepalived.
struct ConfigFiles {
  std::string config;      // native commands and ipvsadm lines
  std::string ipvsadm;     // an ipvsadm-save file
  std::string keepalived;  // keepalived.conf (its LVS part)
  bool empty() const { return config.empty() && ipvsadm.empty() && keepalived.empty(); }
};

// Every file into `model`, all or nothing: throws ConfigError naming file:line (the
// keepalived statement's for an import). `notes` gets a line per file read and the
// import's notes (what it skipped or mapped loosely), for the log.
void load_files(const ConfigFiles& files, Model& model, std::vector<std::string>& notes);

// The same, going on past errors: every error found (file:line: message), none if the
// files are good. An import stops at its first error (it is translated whole).
std::vector<std::string> check_files(const ConfigFiles& files, Model& model, std::vector<std::string>& notes);

}  // namespace drfwd::config
