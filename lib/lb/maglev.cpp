#include "lb/maglev.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "lb/hash.hpp"

namespace drfwd::lb {

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint32_t d = 3; uint64_t{d} * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

std::vector<uint16_t> maglev_build(std::span<const MaglevBackend> backends, uint32_t size) {
  const size_t n = backends.size();
  if (n == 0 || n > 65535) throw std::invalid_argument("maglev: need 1..65535 backends");
  if (!is_prime(size) || size < n) throw std::invalid_argument("maglev: size must be a prime >= backends");

  // Canonical order: by id. Ties are impossible (ids are unique), so the fill order,
  // and therefore the table, is a function of the set alone.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return backends[a].id < backends[b].id; });

  // Each backend's preference list is the permutation offset + j*skip (mod size).
  std::vector<uint32_t> offset(n), skip(n), next(n, 0);
  uint32_t max_weight = 0;
  for (size_t i = 0; i < n; ++i) {
    if (backends[i].weight == 0) throw std::invalid_argument("maglev: zero weight");
    offset[i] = static_cast<uint32_t>(mix64(backends[i].id ^ 0x6a09e667f3bcc908ULL) % size);
    skip[i] = static_cast<uint32_t>(mix64(backends[i].id ^ 0xbb67ae8584caa73bULL) % (size - 1)) + 1;
    max_weight = std::max(max_weight, backends[i].weight);
  }

  // Weighted turns: every round each backend earns its weight in credit and takes a
  // slot each time its credit reaches the largest weight. Equal weights give the
  // paper's plain round-robin fill; a backend of weight w gets about w/sum of slots.
  constexpr uint16_t kEmpty = 0xffff;
  std::vector<uint16_t> table(size, kEmpty);
  std::vector<uint64_t> credit(n, 0);
  uint32_t filled = 0;
  for (;;) {
    for (uint32_t i : order) {
      credit[i] += backends[i].weight;
      if (credit[i] < max_weight) continue;
      credit[i] -= max_weight;
      uint32_t slot;
      do {
        slot = static_cast<uint32_t>((offset[i] + uint64_t{next[i]} * skip[i]) % size);
        ++next[i];
      } while (table[slot] != kEmpty);
      table[slot] = static_cast<uint16_t>(i);
      if (++filled == size) return table;
    }
  }
}

}  // namespace drfwd::lb
