// The running configuration as commands that rebuild it exactly (show config, save config).
#pragma once

#include <string>

#include "config/model.hpp"

namespace drfwd::config {

std::string model_to_commands(const Model& m);

}  // namespace drfwd::config
