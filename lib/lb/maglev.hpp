// Maglev lookup-table construction (Eisenbud et al., NSDI 2016), with weights.
// A pure function of (backends, weights, size): the table does not depend on the order
// backends are given in, so instances with the same RS set build the same table.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace drfwd::lb {

struct MaglevBackend {
  uint64_t id = 0;      // stable identity (e.g. the RS address); unique in the set
  uint32_t weight = 1;  // > 0
};

bool is_prime(uint32_t n);

// Returns `size` entries, each an index into `backends`. `size` must be prime and at
// least backends.size(); backends must be non-empty with non-zero weights.
std::vector<uint16_t> maglev_build(std::span<const MaglevBackend> backends, uint32_t size);

}  // namespace drfwd::lb
