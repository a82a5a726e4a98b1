// help and tab completion, both derived from the command table (config/grammar.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace drfwd::console {

// Every command with its form and what it does, or the commands whose name starts with
// `topic` ("help show"); `help ipvsadm` gives ipvsadm's forms, `help check` the check
// settings, `help version` the version.
std::string help_text(std::string_view topic = {});

// Words that can follow `words` (the complete words of a partial line).
std::vector<std::string> completions(const std::vector<std::string_view>& words);

}  // namespace drfwd::console
