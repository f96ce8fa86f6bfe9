/// \file block_time.hpp
/// \brief Chapter 4, section 8: communication against compute for one
///        transformer block per rank, in time, from the alpha-beta model and
///        the published figures of simulator/data/hardware.json.
///
/// Legend: T = tokens, H = hidden, b = bytes per value (bf16: 2), p = ranks,
/// P_blk = 12 H^2 weights of a GPT-style block (attention 4 H^2, MLP 8 H^2
/// with I = 4H), F = flop rate, M = memory bandwidth, B = link bandwidth.
/// Leaves out: attention's T^2 work, the KV cache, overlap of communication
/// with compute, kernel efficiency (every rate is a peak).
#pragma once

namespace atp::ch04 {

/// Prints the per-block model: prefill ratio over p and links, the decode
/// picture (weights read per rank against two all-reduce latencies), and a
/// worked example at H = 8192 in bf16.
void print_block_time();

}  // namespace atp::ch04
