/// \file atp_cost.cpp
/// \brief atp-cost: what one request costs on real hardware, from a dry run
///        of the book's layers at real model sizes. Prints the time to first
///        token (or one decode step), every rank's compute, communication and
///        idle time, the time per stage, and writes the per-rank timeline as
///        Chrome/Perfetto JSON and SVG.
///
/// Run: `atp-cost --model llava-1.5-7b --strategy C --tp 8 --hw h100-sxm --images 4`
///      `atp-cost --model llama-2-7b --phase decode --context 4096 --tp 2`
///      `atp-cost --list` (models and hardware), `atp-cost --hw a100-sxm --sources`
///
/// Options are strict: an unknown model, profile, strategy or a tp the model
/// cannot split stops the run with a message naming the value and the valid
/// ones (exit status 2). Leaves out: measuring anything (the model has no GPU
/// half; chapter 10's README says how it is checked), batching requests.
#include "cost_report.hpp"

#include "atp/sim/cost/models.hpp"
#include "atp/sim/cost/nccl_model.hpp"
#include "atp/sim/cost/scenario.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace cost = atp::cost;

namespace {

void print_list() {
  const cost::ModelCatalog& c = cost::model_catalog();
  std::printf("vision-language models (--model):\n");
  for (const auto& v : c.vlms) std::printf("  %-22s %s\n", v.name.c_str(), v.source.c_str());
  std::printf("text-only decoders (--model):\n");
  for (const auto& d : c.decoders) std::printf("  %-22s %s\n", d.shape.name.c_str(), d.source.c_str());
  std::printf("hardware profiles (--hw):\n");
  for (const auto& h : cost::hardware_profiles()) std::printf("  %-22s %s\n", h.name.c_str(), h.description.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"atp-cost: the time one request takes on p GPUs, from a dry run of the book's layers at real sizes."};
  cost::Scenario s;
  std::string strategy = "C", hw_name = "h100-sxm", hw_file, phase = "prefill", collectives = "nccl",
              order = "rank-order", dtype = "bf16", logits = "all-gather", sizes, out_dir = ".";
  int images = -1;
  bool no_files = false, list = false, sources = false, nccl_table = false;
  app.add_option("--model", s.model, "a vision-language model or a text-only decoder (see --list)");
  app.add_option("--strategy", strategy, "vision encoder: A (one rank), B (weights sharded), C (images across ranks)");
  app.add_option("--tp", s.tp, "ranks p")->check(CLI::Range(1, 1024));
  app.add_option("--hw", hw_name, "a compiled-in hardware profile (see --list)");
  app.add_option("--hw-file", hw_file, "a hardware profile JSON file instead of --hw")->excludes("--hw");
  app.add_option("--images", images, "images in the request (default: 4 for a VLM, 0 for a decoder)");
  app.add_option("--image-sizes", sizes, "HEIGHTxWIDTH,... in pixels, cycled over the images (native-resolution encoders)");
  app.add_option("--text-tokens", s.text_tokens, "prompt text tokens");
  app.add_option("--phase", phase, "prefill (time to first token) or decode (one step)");
  app.add_option("--context", s.context, "decode: tokens already in the KV cache");
  app.add_option("--collectives", collectives, "nccl (NCCL's own model) or book (the book's forms, alpha-beta)");
  app.add_option("--order", order, "the book's all-reduce in the trace: rank-order or ring");
  app.add_option("--logits", logits, "all-gather (every rank) or gather (rank 0)");
  app.add_option("--dtype", dtype, "bf16 or fp32 elements");
  app.add_option("--out", out_dir, "folder for the timeline files (must exist)");
  app.add_flag("--no-files", no_files, "print only, write no timeline files");
  app.add_flag("--list", list, "list the models and hardware profiles, then exit");
  app.add_flag("--sources", sources, "print every figure of the hardware profile with its source");
  app.add_flag("--nccl-table", nccl_table, "print NCCL's latency/bandwidth table for this profile and tp");
  CLI11_PARSE(app, argc, argv);

  try {
    if (list) {
      print_list();
      return 0;
    }
    const cost::HardwareProfile hw = atp::ch10::choose_profile(hw_name, hw_file);
    s.strategy = atp::sim::dry::parse_strategy(strategy);
    s.phase = cost::parse_phase(phase);
    s.order = atp::sim::parse_reduce_order(order);
    s.logits = atp::sim::parse_logits_collective(logits);
    cost::CostOptions o;
    o.collectives = cost::parse_collective_model(collectives);
    if (dtype != "bf16" && dtype != "fp32")
      throw std::invalid_argument("dtype '" + dtype + "' is unknown; valid: bf16, fp32");
    o.element_bytes = dtype == "bf16" ? 2 : 4;
    bool is_vlm = false;
    for (const auto& v : cost::model_catalog().vlms) is_vlm = is_vlm || v.name == s.model;
    if (s.phase == cost::Phase::Decode && (images > 0 || !sizes.empty()))
      throw std::invalid_argument("a decode step runs no vision encoder; drop --images / --image-sizes, or use "
                                  "--phase prefill");
    if (s.phase == cost::Phase::Prefill && s.context != 0)
      throw std::invalid_argument("--context " + std::to_string(s.context) +
                                  " applies to --phase decode; a prefill starts from an empty cache");
    if (app.count("--images") > 0 && images < 0)
      throw std::invalid_argument("images " + std::to_string(images) + " is out of range; valid: 0..64");
    s.images = app.count("--images") > 0 ? images : (is_vlm && s.phase == cost::Phase::Prefill ? 4 : 0);
    if (!sizes.empty()) s.image_sizes = atp::ch10::parse_image_sizes(sizes);

    if (sources) std::printf("%s\n", hw.describe_sources().c_str());
    if (nccl_table) {
      hw.nodes_for(s.tp);
      std::printf("NCCL's tables for %d ranks on %s (latency us / algorithm bandwidth GB/s):\n%s\n", s.tp,
                  hw.name.c_str(), cost::NcclTuningModel(hw, s.tp).table().c_str());
    }
    const cost::ScenarioResult r = cost::run_scenario(s, hw, o);
    atp::ch10::print_report(s, hw, o, r);
    if (!no_files)
      atp::ch10::write_timeline_files(out_dir, atp::ch10::scenario_slug(s, hw),
                                      "atp-cost " + atp::ch10::scenario_slug(s, hw), r.timeline);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "atp-cost: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
