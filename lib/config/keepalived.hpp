// keepalived.conf import. Reads keepalived's configuration syntax (blocks, '#' and '!'
// comments, quoted strings, include globs) and translates its LVS part — virtual_server,
// virtual_server_group, real_server and the checkers — into native drfwd command lines,
// each carrying the keepalived file:line it comes from. VRRP and global sections are
// skipped with one note per kind (VRRP stays in keepalived, next to drfwd); whatever
// drfwd cannot do as keepalived does is refused, naming the line and the reason. The
// keyword-by-keyword mapping is docs/migration.md.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace drfwd::config {

struct TranslatedLine {
  std::string text;   // one native command line
  std::string where;  // "path:line" of the keepalived statement it comes from
};

struct KeepalivedConfig {
  std::vector<TranslatedLine> lines;
  std::vector<std::string> notes;  // "path:line: ..." what was skipped or mapped loosely
};

// The files an import reads: the file system, or files held in memory (tests).
struct KeepalivedFiles {
  // The files a glob names, sorted; a relative pattern arrives joined to the including
  // file's directory.
  std::function<std::vector<std::string>(const std::string& pattern)> glob;
  // A file's text; nullopt if it cannot be read.
  std::function<std::optional<std::string>(const std::string& path)> read;
  // The same string for every name of one file (include loops are found by it).
  std::function<std::string(const std::string& path)> identity;
};
KeepalivedFiles keepalived_disk_files();
KeepalivedFiles keepalived_memory_files(std::map<std::string, std::string> files);

// Translates `path` (and what it includes). Throws ConfigError "path:line: ..." naming
// the keepalived line of the first keyword it refuses; nothing is translated then.
KeepalivedConfig translate_keepalived(const std::string& path);
KeepalivedConfig translate_keepalived_text(const std::string& name, const std::string& text,
                                           const KeepalivedFiles& files);

// Parses and applies every translated line to `model`, all or nothing. A refused line
// throws ConfigError "path:line: <why> (translated to '<line>')" with the keepalived line.
void load_translated(const KeepalivedConfig& config, Model& model);
// translate_keepalived, then load_translated.
void load_keepalived(const std::string& path, Model& model);

// Every keyword the import knows, by the block it belongs to ("virtual_server",
// "real_server", "TCP_CHECK", ...): the list docs/migration.md's table covers.
struct KeepalivedKeyword {
  std::string_view block;
  std::string_view name;
};
std::vector<KeepalivedKeyword> keepalived_keywords();

}  // namespace drfwd::config
