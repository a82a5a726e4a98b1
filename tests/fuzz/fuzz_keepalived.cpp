// libFuzzer target: the keepalived.conf import. Input: up to three files separated by a
// NUL byte (keepalived.conf, then a.conf and b.conf, which it may include). Checks, per
// input: no crash or sanitizer report; every refusal names a file of the input and a
// line ("path:N: "); a refused load leaves the model untouched (all or nothing); what
// loads prints (show config) as a configuration that loads back into the same model.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "config/keepalived.hpp"
#include "config/loader.hpp"
#include "config/show_config.hpp"

using namespace drfwd::config;

namespace {
[[noreturn]] void fail(const char* what, const std::string& detail) {
  __builtin_fprintf(stderr, "fuzz_keepalived: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// "name:N: ..." with name one of the input's files and N a line number from 1.
void check_located(const std::string& msg, const std::map<std::string, std::string>& files) {
  for (const auto& [name, text] : files) {
    if (msg.rfind(name + ":", 0) != 0) continue;
    size_t i = name.size() + 1, digits = 0;
    while (i < msg.size() && msg[i] >= '0' && msg[i] <= '9') ++i, ++digits;
    if (digits > 0 && msg.compare(i, 2, ": ") == 0 && msg[name.size() + 1] != '0') return;
  }
  fail("a refusal does not name file and line", msg);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> files;
  const char* names[] = {"keepalived.conf", "a.conf", "b.conf"};
  size_t start = 0;
  for (const char* name : names) {
    const size_t nul = input.find('\0', start);
    files[name] = input.substr(start, nul == std::string::npos ? std::string::npos : nul - start);
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  KeepalivedConfig k;
  try {
    k = translate_keepalived_text("keepalived.conf", files["keepalived.conf"], keepalived_memory_files(files));
  } catch (const ConfigError& e) {
    check_located(e.what(), files);
    return 0;
  }
  Model m(1);
  const std::string empty = model_to_commands(m);
  try {
    load_translated(k, m);
  } catch (const ConfigError& e) {
    check_located(e.what(), files);
    if (model_to_commands(m) != empty) fail("a refused import changed the model", model_to_commands(m));
    return 0;
  }
  const std::string shown = model_to_commands(m);
  Model again(1);
  try {
    load_text("show config", shown, again);
  } catch (const ConfigError& e) {
    fail("show config of an import does not load back", std::string(e.what()) + "\n" + shown);
  }
  if (model_to_commands(again) != shown) fail("show config of an import is not a fixed point", shown);
  return 0;
}
