/// \file alpha_beta.cpp
/// \brief The alpha-beta all-reduce model and the parsing of the compiled-in
///        hardware figures (see alpha_beta.hpp).
#include "atp/sim/alpha_beta.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

namespace atp::sim {

namespace {

SourcedFigure figure(const nlohmann::json& j, const char* key, const std::string& owner) {
  if (!j.contains(key) || !j.at(key).contains("value") || !j.at(key).contains("source"))
    throw std::runtime_error("hardware.json: '" + owner + "' has no " + key + " {value, source}");
  SourcedFigure f{j.at(key).at("value").get<double>(), j.at(key).at("source").get<std::string>()};
  if (!(f.value > 0.0) || f.source.empty())
    throw std::runtime_error("hardware.json: '" + owner + "'." + key + " needs a positive value and a source");
  return f;
}

const nlohmann::json& hardware() {
  static const nlohmann::json j = nlohmann::json::parse(hardware_json_text());
  return j;
}

template <class T>
const T& find_named(const std::vector<T>& items, const std::string& name, const char* what) {
  std::string valid;
  for (const auto& item : items) {
    if (item.name == name) return item;
    valid += (valid.empty() ? "" : ", ") + item.name;
  }
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "'; valid: " + valid);
}

}  // namespace

const std::vector<AllReduceForm>& all_reduce_forms() {
  static const std::vector<AllReduceForm> forms = {AllReduceForm::Ring, AllReduceForm::OneShot,
                                                   AllReduceForm::TwoShot, AllReduceForm::Tree};
  return forms;
}

const char* to_string(AllReduceForm form) {
  switch (form) {
    case AllReduceForm::Ring: return "ring";
    case AllReduceForm::OneShot: return "one-shot";
    case AllReduceForm::TwoShot: return "two-shot";
    case AllReduceForm::Tree: return "tree";
  }
  return "?";
}

AllReduceTime all_reduce_time(AllReduceForm form, int p, double message_bytes, const LinkProfile& link) {
  if (p < 1) throw std::invalid_argument("all_reduce_time: p = " + std::to_string(p) + ", need p >= 1");
  if (!(message_bytes >= 0.0))
    throw std::invalid_argument("all_reduce_time: message of " + std::to_string(message_bytes) +
                                " bytes, need >= 0");
  AllReduceTime t;
  if (p == 1) return t;  // one rank: no call, nothing moves
  const double n = p, S = message_bytes;
  switch (form) {
    case AllReduceForm::Ring:
      t.steps = 2 * (p - 1);
      t.bytes_per_rank = 2.0 * (n - 1.0) / n * S;
      break;
    case AllReduceForm::OneShot:
      t.steps = 1;
      t.bytes_per_rank = (n - 1.0) * S;
      break;
    case AllReduceForm::TwoShot:
      t.steps = 2;
      t.bytes_per_rank = 2.0 * (n - 1.0) / n * S;
      break;
    case AllReduceForm::Tree: {
      int depth = 0;
      while ((1 << depth) < p) ++depth;  // ceil(log2 p)
      t.steps = 2 * depth;
      t.bytes_per_rank = t.steps * S;  // each level moves the whole message, not pipelined
      break;
    }
  }
  t.latency_s = link.launch_latency() + t.steps * link.step_latency();
  t.bandwidth_s = t.bytes_per_rank / link.bandwidth();
  return t;
}

double crossover_bytes(AllReduceForm a, AllReduceForm b, int p, const LinkProfile& link) {
  // t(S) = latency + S * (bytes per rank per byte of message) / B for both; the lines meet at
  // S* = (La - Lb) B / (kb - ka). The slopes come from the byte counts, exactly, so that forms
  // that move the same bytes (ring and two-shot) are recognised as parallel.
  const AllReduceTime a1 = all_reduce_time(a, p, 1.0, link), b1 = all_reduce_time(b, p, 1.0, link);
  const double ka = a1.bytes_per_rank, kb = b1.bytes_per_rank;
  if (ka == kb) return 0.0;
  const double s = (a1.latency_s - b1.latency_s) * link.bandwidth() / (kb - ka);
  return s > 0.0 ? s : 0.0;
}

const std::vector<LinkProfile>& link_profiles() {
  static const std::vector<LinkProfile> links = [] {
    std::vector<LinkProfile> out;
    for (const auto& j : hardware().at("links")) {
      LinkProfile l;
      l.name = j.at("name").get<std::string>();
      l.description = j.at("description").get<std::string>();
      l.bandwidth_GBps = figure(j, "bandwidth_GBps", l.name);
      l.step_latency_us = figure(j, "step_latency_us", l.name);
      l.launch_latency_us = figure(j, "launch_latency_us", l.name);
      out.push_back(l);
    }
    return out;
  }();
  return links;
}

const LinkProfile& link_profile(const std::string& name) { return find_named(link_profiles(), name, "link"); }

const std::vector<GpuProfile>& gpu_profiles() {
  static const std::vector<GpuProfile> gpus = [] {
    std::vector<GpuProfile> out;
    for (const auto& j : hardware().at("gpus")) {
      GpuProfile g;
      g.name = j.at("name").get<std::string>();
      g.description = j.at("description").get<std::string>();
      g.bf16_dense_TFLOPS = figure(j, "bf16_dense_TFLOPS", g.name);
      g.hbm_TBps = figure(j, "hbm_TBps", g.name);
      out.push_back(g);
    }
    return out;
  }();
  return gpus;
}

const GpuProfile& gpu_profile(const std::string& name) { return find_named(gpu_profiles(), name, "gpu"); }

}  // namespace atp::sim
