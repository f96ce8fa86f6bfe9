/// \file hardware.cpp
/// \brief Hardware profiles: parsing the JSON format, the compiled-in set, lookups by name.
#include "atp/sim/cost/hardware.hpp"

#include "cost_data.hpp"
#include "json_fields.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace atp::cost {

using detail::FieldPath;
using detail::figure_at;
using detail::object_at;
using nlohmann::json;

const char* to_string(GpuArch arch) {
  switch (arch) {
    case GpuArch::Volta: return "volta";
    case GpuArch::Ampere: return "ampere";
    case GpuArch::Hopper: return "hopper";
    case GpuArch::Blackwell: return "blackwell";
  }
  return "?";
}

const char* to_string(LinkKind link) { return link == LinkKind::NVLink ? "nvlink" : "pci"; }

int HardwareProfile::nodes_for(int p) const {
  if (p < 1 || p > max_ranks())
    throw std::invalid_argument("tp " + std::to_string(p) + " does not fit hardware profile '" + name + "' (" +
                                std::to_string(nodes) + " node" + (nodes > 1 ? "s" : "") + " of " +
                                std::to_string(gpus_per_node) + " GPUs); valid tp: 1.." + std::to_string(max_ranks()));
  return (p + gpus_per_node - 1) / gpus_per_node;
}

const NcclGraphs& HardwareProfile::graphs_for(int p) const {
  return nodes_for(p) == 1 ? nccl_one_node : *nccl_nodes;
}

const sim::LinkProfile& HardwareProfile::book_for(int p) const {
  return nodes_for(p) == 1 ? book_one_node : *book_nodes;
}

namespace {

GpuArch parse_arch(const std::string& text, const std::string& where) {
  for (GpuArch a : {GpuArch::Volta, GpuArch::Ampere, GpuArch::Hopper, GpuArch::Blackwell})
    if (text == to_string(a)) return a;
  throw std::invalid_argument(where + " is '" + text + "'; valid: volta, ampere, hopper, blackwell");
}

LinkKind parse_link(const std::string& text, const std::string& where) {
  if (text == "nvlink") return LinkKind::NVLink;
  if (text == "pci") return LinkKind::PCI;
  throw std::invalid_argument(where + " is '" + text + "'; valid: nvlink, pci");
}

NcclGraph graph(const json& parent, const std::string& key, const FieldPath& where, bool required) {
  NcclGraph g;
  if (!parent.contains(key)) {
    if (required) throw std::invalid_argument(where.at(key) + " is missing (NCCL always has a " + key + " graph)");
    return g;
  }
  const json& j = object_at(parent, key, where);
  const FieldPath w = where.child(key);
  g.present = true;
  g.channels = figure_at(j, "channels", w);
  g.bw_intra_GBps = figure_at(j, "bw_intra_GBps", w);
  g.bw_inter_GBps = figure_at(j, "bw_inter_GBps", w);
  if (g.channels.value != static_cast<double>(static_cast<int>(g.channels.value)))
    throw std::invalid_argument(w.at("channels") + " is " + std::to_string(g.channels.value) +
                                "; it must be a whole number");
  return g;
}

NcclGraphs graphs(const json& parent, const std::string& key, const FieldPath& where) {
  const json& j = object_at(parent, key, where);
  const FieldPath w = where.child(key);
  NcclGraphs g;
  g.ring = graph(j, "ring", w, true);
  g.tree = graph(j, "tree", w, true);
  g.nvls = graph(j, "nvls", w, false);
  g.latency_inter_us = j.contains("latency_inter_us") ? figure_at(j, "latency_inter_us", w, false)
                                                       : Figure{0.0, "graph latencyInter: 0 (not set)"};
  return g;
}

/// parent[key] = {"link": {"value": NAME, "source": ...}}: a link of simulator/data/hardware.json; or the
/// same with the link's own description, bandwidth_GBps, step_latency_us and launch_latency_us, for a
/// link that file does not have.
sim::LinkProfile alpha_beta(const json& parent, const std::string& key, const FieldPath& where) {
  const json& j = object_at(parent, key, where);
  const FieldPath w = where.child(key);
  std::string name;
  detail::text_figure_at(j, "link", w, name);
  if (j.contains("bandwidth_GBps")) {
    sim::LinkProfile l;
    l.name = name;
    l.description = detail::string_at(j, "description", w);
    l.bandwidth_GBps = figure_at(j, "bandwidth_GBps", w);
    l.step_latency_us = figure_at(j, "step_latency_us", w);
    l.launch_latency_us = figure_at(j, "launch_latency_us", w);
    return l;
  }
  try {
    return sim::link_profile(name);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where.child(key).at("link") + ": " + e.what() + " (links of simulator/data/hardware.json)");
  }
}

int whole_number(const Figure& f, const std::string& where) {
  if (f.value < 1 || f.value != static_cast<double>(static_cast<int>(f.value)))
    throw std::invalid_argument(where + " is " + std::to_string(f.value) + "; it must be a whole number >= 1");
  return static_cast<int>(f.value);
}

void check_fraction(const Figure& f, const std::string& where) {
  if (f.value > 1.0)
    throw std::invalid_argument(where + " is " + std::to_string(f.value) + "; an efficiency is a fraction in (0, 1]");
}

}  // namespace

HardwareProfile parse_hardware_profile(const std::string& json_text, const std::string& origin) {
  const json j = detail::parse_json(json_text, origin);
  detail::check_format(j, "atp-cost-hardware", 1, origin);
  const FieldPath top{origin, ""};
  HardwareProfile h;
  h.origin = origin;
  h.name = detail::string_at(j, "name", top);
  h.description = detail::string_at(j, "description", top);

  const json& gpu = object_at(j, "gpu", top);
  const FieldPath g = top.child("gpu");
  h.gpu_model = detail::string_at(gpu, "model", g);
  std::string arch;
  h.arch_figure = detail::text_figure_at(gpu, "arch", g, arch);
  h.arch = parse_arch(arch, g.at("arch"));
  h.bf16_dense_tflops = figure_at(gpu, "bf16_dense_tflops", g);
  h.hbm_tbps = figure_at(gpu, "hbm_tbps", g);
  h.memory_gb = figure_at(gpu, "memory_gb", g);

  const json& topo = object_at(j, "topology", top);
  const FieldPath t = top.child("topology");
  h.gpus_per_node = whole_number(figure_at(topo, "gpus_per_node", t), t.at("gpus_per_node"));
  h.nodes = whole_number(figure_at(topo, "nodes", t), t.at("nodes"));
  std::string link;
  h.intra_link = detail::text_figure_at(topo, "intra_link", t, link);
  h.intra = parse_link(link, t.at("intra_link"));
  h.link_GBps_per_direction = figure_at(topo, "link_GBps_per_direction", t);
  if (topo.contains("net_GBps_per_gpu")) h.net_GBps_per_gpu = figure_at(topo, "net_GBps_per_gpu", t);

  h.nccl_one_node = graphs(j, "nccl_one_node", top);
  h.book_one_node = alpha_beta(j, "book_forms", top);
  if (h.nodes > 1) {
    if (!j.contains("nccl_nodes") || !j.contains("book_forms_nodes") || !h.net_GBps_per_gpu)
      throw std::invalid_argument(origin + ": a profile of " + std::to_string(h.nodes) +
                                  " nodes needs nccl_nodes, book_forms_nodes and topology.net_GBps_per_gpu");
    h.nccl_nodes = graphs(j, "nccl_nodes", top);
    h.book_nodes = alpha_beta(j, "book_forms_nodes", top);
  }

  const json& eff = object_at(j, "efficiency", top);
  const FieldPath e = top.child("efficiency");
  h.efficiency = {figure_at(eff, "gemm_compute", e), figure_at(eff, "gemm_memory", e),
                  figure_at(eff, "attention_compute", e), figure_at(eff, "attention_memory", e),
                  figure_at(eff, "kernel_floor_us", e, false)};
  for (const char* k : {"gemm_compute", "gemm_memory", "attention_compute", "attention_memory"})
    check_fraction(figure_at(eff, k, e), e.at(k));
  return h;
}

HardwareProfile load_hardware_profile_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("cannot read hardware profile file '" + path +
                                "'; give a readable atp-cost-hardware JSON file, or a compiled-in name (" +
                                hardware_profile_names() + ")");
  std::stringstream s;
  s << in.rdbuf();
  return parse_hardware_profile(s.str(), path);
}

const std::vector<HardwareProfile>& hardware_profiles() {
  static const std::vector<HardwareProfile> profiles = [] {
    std::vector<HardwareProfile> out;
    for (const auto& [file, text] : detail::compiled_hardware_json())
      out.push_back(parse_hardware_profile(text, "compiled in: " + file));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }();
  return profiles;
}

std::string hardware_profile_names() {
  std::string out;
  for (const auto& h : hardware_profiles()) out += (out.empty() ? "" : ", ") + h.name;
  return out;
}

const HardwareProfile& hardware_profile(const std::string& name) {
  for (const auto& h : hardware_profiles())
    if (h.name == name) return h;
  throw std::invalid_argument("unknown hardware profile '" + name + "'; known profiles: " + hardware_profile_names() +
                              " (or --hw-file PATH for your own)");
}

std::string HardwareProfile::describe_sources() const {
  std::ostringstream s;
  auto line = [&](const std::string& field, const Figure& f, const std::string& unit) {
    s << "  " << field << " = " << f.value << unit << "  (" << f.source << ")\n";
  };
  auto text = [&](const std::string& field, const std::string& value, const Figure& f) {
    s << "  " << field << " = " << value << "  (" << f.source << ")\n";
  };
  auto graphs_lines = [&](const std::string& prefix, const NcclGraphs& g) {
    for (const auto& [alg, gr] : {std::pair<const char*, const NcclGraph*>{"ring", &g.ring}, {"tree", &g.tree},
                                  {"nvls", &g.nvls}}) {
      if (!gr->present) continue;
      line(prefix + alg + ".channels", gr->channels, "");
      line(prefix + alg + ".bw_intra", gr->bw_intra_GBps, " GB/s");
      line(prefix + alg + ".bw_inter", gr->bw_inter_GBps, " GB/s");
    }
  };
  s << name << ": " << description << "\n  from " << origin << "\n";
  text("gpu.arch", to_string(arch), arch_figure);
  line("gpu.bf16_dense", bf16_dense_tflops, " TFLOP/s");
  line("gpu.hbm", hbm_tbps, " TB/s");
  line("gpu.memory", memory_gb, " GB");
  s << "  topology = " << nodes << " x " << gpus_per_node << " GPUs\n";
  text("topology.intra_link", to_string(intra), intra_link);
  line("topology.link", link_GBps_per_direction, " GB/s per direction");
  if (net_GBps_per_gpu) line("topology.net", *net_GBps_per_gpu, " GB/s per GPU");
  graphs_lines("nccl_one_node.", nccl_one_node);
  if (nccl_nodes) graphs_lines("nccl_nodes.", *nccl_nodes);
  auto link_lines = [&](const std::string& prefix, const sim::LinkProfile& l) {
    s << "  " << prefix << " = link " << l.name << " (" << l.description << ")\n";
    line(prefix + ".bandwidth", l.bandwidth_GBps, " GB/s");
    line(prefix + ".step_latency", l.step_latency_us, " us");
    line(prefix + ".launch_latency", l.launch_latency_us, " us");
  };
  link_lines("book_forms", book_one_node);
  if (book_nodes) link_lines("book_forms_nodes", *book_nodes);
  line("efficiency.gemm_compute", efficiency.gemm_compute, "");
  line("efficiency.gemm_memory", efficiency.gemm_memory, "");
  line("efficiency.attention_compute", efficiency.attention_compute, "");
  line("efficiency.attention_memory", efficiency.attention_memory, "");
  line("efficiency.kernel_floor", efficiency.kernel_floor_us, " us");
  return s.str();
}

}  // namespace atp::cost
