// The text of a file in docs/, for the unit tests that keep the docs true. meson sets
// DRFWD_DOCS to the docs directory.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace drfwd::test {

// docs/<name>'s text; a test failure and "" when it cannot be read.
inline std::string read_doc(const std::string& name) {
  const char* dir = std::getenv("DRFWD_DOCS");
  if (dir == nullptr) {
    ADD_FAILURE() << "DRFWD_DOCS is not set (meson test sets it to the docs directory)";
    return "";
  }
  std::ifstream f(std::string(dir) + "/" + name);
  if (!f) {
    ADD_FAILURE() << "cannot read " << dir << "/" << name;
    return "";
  }
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace drfwd::test
