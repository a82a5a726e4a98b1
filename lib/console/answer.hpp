// The answer to one request from the console or the control socket, and how it is
// delivered: a Reply runs once, right away or later (answers that need the workers).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace drfwd::console {

struct Answer {
  bool ok = true;
  std::string text;
};
using Reply = std::function<void(Answer)>;
using Handler = std::function<void(std::string_view line, Reply reply)>;
using BatchHandler = std::function<void(const std::vector<std::string>& lines, Reply reply)>;

}  // namespace drfwd::console
