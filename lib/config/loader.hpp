// Configuration files: one command per line, '#' comments, both grammars.
#pragma once

#include <string>

#include "config/model.hpp"

namespace drfwd::config {

// Applies every line of `path` to `model`, all or nothing. On error throws ConfigError
// whose message starts with "path:line: " (and carries the command's usage).
void load_file(const std::string& path, Model& model);

// The same over text already read (name is used in messages).
void load_text(const std::string& name, const std::string& text, Model& model);

// An ipvsadm-save (ipvsadm -S) file: lines of ipvsadm options ("-A -t ..."), each read as
// if it started with "ipvsadm". All or nothing, errors as load_file's.
void load_ipvsadm_save(const std::string& path, Model& model);

}  // namespace drfwd::config
