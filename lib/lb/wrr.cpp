#include "lb/wrr.hpp"

#include <numeric>
#include <stdexcept>

namespace drfwd::lb {

std::vector<uint16_t> wrr_sequence(std::span<const uint32_t> weights, uint32_t max_len) {
  const size_t n = weights.size();
  if (n == 0 || n > 65535) throw std::invalid_argument("wrr: need 1..65535 weights");
  uint64_t g = 0;
  for (uint32_t w : weights) {
    if (w == 0) throw std::invalid_argument("wrr: zero weight");
    g = std::gcd(g, uint64_t{w});
  }
  std::vector<uint64_t> w(n);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += (w[i] = weights[i] / g);
  if (total > max_len) {
    uint64_t scaled = 0;
    for (size_t i = 0; i < n; ++i) {
      w[i] = std::max<uint64_t>(1, (w[i] * max_len + total / 2) / total);
      scaled += w[i];
    }
    total = scaled;
  }

  std::vector<uint16_t> seq;
  seq.reserve(total);
  std::vector<int64_t> current(n, 0);
  for (uint64_t step = 0; step < total; ++step) {
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
      current[i] += static_cast<int64_t>(w[i]);
      if (current[i] > current[best]) best = i;
    }
    current[best] -= static_cast<int64_t>(total);
    seq.push_back(static_cast<uint16_t>(best));
  }
  return seq;
}

}  // namespace drfwd::lb
