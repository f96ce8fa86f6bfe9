/// \file chapter_registry.hpp
/// \brief The chapters that have a GPU half: their binaries, options and
/// canonical configurations, in one table.
///
/// `atp-compare`, the golden-digest test and `scripts/gpu-verify.sh` all need
/// to know, for chapter NN: where its CPU binary and GPU worker are, which
/// options (besides --tp and --seed) pick a configuration and their defaults,
/// whether the GPU worker runs as p ranks under atp-launch, and which dumped
/// tensors only the CPU computes. A new chapter adds one row to the table in
/// chapter_registry.cpp. Leaves out: the chapters' own logic.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace atp::sim {

/// One chapter with a GPU half.
struct ChapterSpec {
  int number = 0;                        ///< NN
  std::string folder;                    ///< "01-ranks-and-collectives", the folder under chapters/
  bool gpu_runs_as_ranks = true;         ///< the GPU worker is p processes under atp-launch (else one process)
  nlohmann::json options;                ///< options besides --tp/--seed and their canonical values, e.g. {"rows": 2}
  std::vector<int> canonical_p;          ///< the p of the canonical configurations
  std::vector<std::string> cpu_only;     ///< dumped tensors the GPU worker does not produce
  std::vector<std::string> cpu_extra_args;  ///< extra CPU arguments that do not change the dumped tensors
};

/// Every chapter with a GPU half, in chapter order.
const std::vector<ChapterSpec>& chapter_specs();

/// The spec of chapter `number`; throws std::invalid_argument naming the valid numbers.
const ChapterSpec& chapter_spec(int number);

/// "atp-ch01-ranks-and-collectives": the CPU binary's file name (the GPU worker adds "-gpu").
std::string chapter_binary_name(const ChapterSpec& spec);

}  // namespace atp::sim
