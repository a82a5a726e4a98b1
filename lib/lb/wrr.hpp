// Weighted sequences for rr, wrr and hash: built once per change on the control core,
// walked (or indexed) by the workers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace drfwd::lb {

constexpr uint32_t kMaxSequence = 65536;

// Smooth weighted round robin (as nginx): each RS appears in proportion to its weight
// and the heaviest RS's turns are spread out, never bunched. Weights are divided by
// their gcd; when their sum still exceeds max_len they are scaled down proportionally
// (every non-zero weight keeps at least one turn). Values index `weights`; all weights
// must be non-zero.
std::vector<uint16_t> wrr_sequence(std::span<const uint32_t> weights,
                                   uint32_t max_len = kMaxSequence);

}  // namespace drfwd::lb
