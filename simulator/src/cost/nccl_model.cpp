/// \file nccl_model.cpp
/// \brief NCCL's latency + bandwidth model (tuning.cc), re-derived for the
///        Tree, Ring and NVLS algorithms: constants from nccl_tuning.json,
///        graphs from the hardware profile.
#include "atp/sim/cost/nccl_model.hpp"

#include "cost_data.hpp"
#include "json_fields.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace atp::cost {

using nlohmann::json;

const char* to_string(NcclCollective c) {
  switch (c) {
    case NcclCollective::AllReduce: return "all_reduce";
    case NcclCollective::AllGather: return "all_gather";
    case NcclCollective::ReduceScatter: return "reduce_scatter";
    case NcclCollective::Broadcast: return "broadcast";
  }
  return "?";
}

const char* to_string(NcclAlgorithm a) {
  switch (a) {
    case NcclAlgorithm::Tree: return "tree";
    case NcclAlgorithm::Ring: return "ring";
    case NcclAlgorithm::NVLS: return "nvls";
  }
  return "?";
}

const char* to_string(NcclProtocol p) {
  switch (p) {
    case NcclProtocol::LL: return "LL";
    case NcclProtocol::LL128: return "LL128";
    case NcclProtocol::Simple: return "Simple";
  }
  return "?";
}

std::string NcclEstimate::name() const { return std::string(to_string(algorithm)) + "/" + to_string(protocol); }

namespace {

constexpr int kTree = 0, kRing = 1, kNvls = 2;
constexpr int kLL = 0, kLL128 = 1, kSimple = 2;
constexpr int kNvlinkHw = 0, kPciHw = 1, kNetHw = 2;
const char* kAlgos[] = {"tree", "ring", "nvls"};
const char* kArchs[] = {"volta", "ampere", "hopper", "blackwell"};

template <std::size_t N>
std::array<double, N> numbers(const json& j, const std::string& where) {
  if (!j.is_array() || j.size() != N)
    throw std::invalid_argument(where + " must be an array of " + std::to_string(N) + " numbers");
  std::array<double, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    if (!j[i].is_number()) throw std::invalid_argument(where + "[" + std::to_string(i) + "] is not a number");
    out[i] = j[i].get<double>();
  }
  return out;
}

const json& value_of(const json& root, const std::string& key, const std::string& origin) {
  const detail::FieldPath top{origin, ""};
  const json& f = detail::object_at(root, key, top);
  if (!f.contains("value") || !f.contains("source") || !f.at("source").is_string())
    throw std::invalid_argument(top.at(key) + " needs \"value\" and \"source\"");
  return f.at("value");
}

std::array<std::array<double, 3>, 4> per_arch(const json& root, const std::string& key, const std::string& origin) {
  const json& v = value_of(root, key, origin);
  std::array<std::array<double, 3>, 4> out{};
  for (int a = 0; a < 4; ++a) {
    if (!v.contains(kArchs[a])) throw std::invalid_argument(origin + ": " + key + " has no row '" + kArchs[a] + "'");
    out[a] = numbers<3>(v.at(kArchs[a]), origin + ": " + key + "." + kArchs[a]);
  }
  return out;
}

int log2_down(double bytes) {  // bitops.h log2Down: -1 for 0
  const auto n = static_cast<unsigned long long>(bytes);
  if (n == 0) return -1;
  int k = -1;
  for (unsigned long long x = n; x != 0; x >>= 1) ++k;
  return k;
}

int log2i(int n) { return log2_down(static_cast<double>(n)); }

}  // namespace

NcclConstants parse_nccl_constants(const std::string& json_text, const std::string& origin) {
  const json root = detail::parse_json(json_text, origin);
  detail::check_format(root, "atp-cost-nccl-tuning", 1, origin);
  NcclConstants c;
  c.source = root.value("about", std::string());
  const json& base = value_of(root, "base_latency_us", origin);
  for (int a = 0; a < 3; ++a)
    c.base_latency_us[a] = numbers<3>(base.at(kAlgos[a]), origin + ": base_latency_us." + kAlgos[a]);
  const json& hw = value_of(root, "hw_latency_us", origin);
  const char* links[] = {"nvlink", "pci", "net"};
  for (int h = 0; h < 3; ++h)
    for (int a = 0; a < 3; ++a)
      c.hw_latency_us[h][a] =
          numbers<3>(hw.at(links[h]).at(kAlgos[a]), origin + ": hw_latency_us." + links[h] + "." + kAlgos[a]);
  c.ll_max_bw_GBps = per_arch(root, "ll_max_bw_GBps", origin);
  c.per_channel_max_ring_ll128_bw_GBps = per_arch(root, "per_channel_max_ring_ll128_bw_GBps", origin);
  c.per_channel_max_tree_ll128_bw_GBps = per_arch(root, "per_channel_max_tree_ll128_bw_GBps", origin);
  c.per_channel_max_tree_bw_GBps = per_arch(root, "per_channel_max_tree_bw_GBps", origin);
  const json& nvls = value_of(root, "nvls_efficiency", origin);
  for (int a = 0; a < 4; ++a) c.nvls_efficiency[a] = nvls.at(kArchs[a]).get<double>();
  const json& tc = value_of(root, "tree_correction_factor", origin);
  const char* protos[] = {"ll", "ll128", "simple"};
  for (int p = 0; p < 3; ++p)
    c.tree_correction[p] = numbers<24>(tc.at(protos[p]), origin + ": tree_correction_factor." + protos[p]);
  const json& r = value_of(root, "refinements", origin);
  auto get = [&](const char* k) {
    if (!r.contains(k) || !r.at(k).is_number())
      throw std::invalid_argument(origin + ": refinements." + k + " is missing or not a number");
    return r.at(k).get<double>();
  };
  c.ring_ll_bw_factor = get("ring_ll_bw_factor");
  c.ring_ll128_bw_factor = get("ring_ll128_bw_factor");
  c.tree_allreduce_bw_factor = get("tree_allreduce_bw_factor");
  c.tree_ll_bw_divisor = get("tree_ll_bw_divisor");
  c.tree_ll128_bw_factor_one_node = get("tree_ll128_bw_factor_one_node");
  c.tree_ll128_bw_factor_nodes = get("tree_ll128_bw_factor_nodes");
  c.tree_algbw_ratio = get("tree_algbw_ratio");
  c.net_overhead_us = get("net_overhead_us_intel");
  c.net_overhead_simple_factor = get("net_overhead_simple_factor");
  c.ring_simple_plateau_factor = get("ring_simple_plateau_factor_sm80_and_newer");
  return c;
}

const NcclConstants& nccl_constants() {
  static const NcclConstants c =
      parse_nccl_constants(detail::compiled_nccl_tuning_json(), "compiled in: nccl_tuning.json");
  return c;
}

NcclTuningModel::NcclTuningModel(const HardwareProfile& hw, int p, const NcclConstants& k)
    : p_(p), nodes_(hw.nodes_for(p)), constants_(&k) {
  if (p <= 1) return;  // NCCL: 'if (nRanks <= 1) return ncclSuccess'
  const NcclGraphs& graphs = hw.graphs_for(p);
  const NcclGraph* graph[3] = {&graphs.tree, &graphs.ring, &graphs.nvls};
  ring_channels_ = static_cast<int>(graphs.ring.channels.value);
  const int nNodes = nodes_, nRanks = p;
  const double ppn = static_cast<double>(nRanks) / nNodes;
  const int arch = static_cast<int>(hw.arch);
  const int index2 = nNodes <= 2 ? nNodes - 1 : 2;
  // LL bandwidth cap: by GPU on one node, by CPU vendor across nodes (the profiles assume Intel, row 0).
  const double llMaxBw = k.ll_max_bw_GBps[nNodes == 1 ? arch : 0][index2];
  const double perChMaxTreeBw = k.per_channel_max_tree_bw_GBps[arch][index2];
  const double perChMaxRingLL128Bw = k.per_channel_max_ring_ll128_bw_GBps[arch][index2];
  const double perChMaxTreeLL128Bw = k.per_channel_max_tree_ll128_bw_GBps[arch][index2];
  const int intraHw = hw.intra == LinkKind::NVLink ? kNvlinkHw : kPciHw;
  const int ringHw = nNodes == 1 ? intraHw : kNetHw;
  // LL128 is on by default only where every GPU pair talks over NVLink (tuning.cc: typeIntra <= PATH_NVB).
  const bool ll128 = hw.intra == LinkKind::NVLink;
  // NVLS: a graph, one node (across nodes it needs CollNet), and here only the full node, the graph we have.
  const bool nvls = graphs.nvls.present && nNodes == 1 && nRanks == hw.gpus_per_node && k.nvls_efficiency[arch] > 0;

  for (int c = 0; c < 4; ++c) {
    const auto coll = static_cast<NcclCollective>(c);
    const bool gather_like = coll == NcclCollective::AllGather || coll == NcclCollective::ReduceScatter;
    const int nsteps = coll == NcclCollective::AllReduce ? 2 * (nRanks - 1) : gather_like ? nRanks - 1 : nRanks;
    for (int a = 0; a < 3; ++a) {
      if (coll == NcclCollective::Broadcast && a != kRing) continue;
      if (gather_like && a == kTree) continue;
      if (a == kNvls && !nvls) continue;
      const NcclGraph& g = *graph[a];
      if (!g.present) continue;
      const double nCh = g.channels.value;
      for (int pr = 0; pr < 3; ++pr) {
        if (a == kNvls && pr != kSimple) continue;
        if (pr == kLL128 && !ll128) continue;
        double bw = nNodes <= 2 ? g.bw_intra_GBps.value : g.bw_inter_GBps.value;
        if (a == kNvls) {
          if (nCh < 2) continue;
          double intraBw = g.bw_intra_GBps.value * k.nvls_efficiency[arch] * (nCh - 1) / nCh;
          intraBw *= coll == NcclCollective::AllReduce ? 2.0 : (ppn - 1) / ppn;  // all-reduce pipelines two operations
          bw = std::min(intraBw, g.bw_inter_GBps.value);
        }
        double busBw = nCh * bw;
        if (a == kRing && pr == kLL) busBw = std::min(llMaxBw, busBw * k.ring_ll_bw_factor);
        if (a == kRing && pr == kLL128) busBw = std::min(busBw * k.ring_ll128_bw_factor, nCh * perChMaxRingLL128Bw);
        if (a == kTree && coll == NcclCollective::AllReduce)
          busBw = std::min(busBw * k.tree_allreduce_bw_factor, nCh * perChMaxTreeBw);
        if (a == kTree && pr == kLL) busBw = std::min(busBw / k.tree_ll_bw_divisor, llMaxBw);
        if (a == kTree && pr == kLL128)
          busBw = std::min(busBw * (nNodes == 1 ? k.tree_ll128_bw_factor_one_node : k.tree_ll128_bw_factor_nodes),
                           nCh * perChMaxTreeLL128Bw);
        // Bus bandwidth -> algorithm bandwidth.
        if (!(a != kRing && gather_like)) busBw *= (a == kRing || a == kNvls) ? double(nRanks) / nsteps : k.tree_algbw_ratio;
        bw_[c][a][pr] = busBw;

        double lat = k.base_latency_us[a][pr];
        double intraLat = k.hw_latency_us[intraHw][a][pr];
        double interLat = (ppn == 1 ? k.hw_latency_us[kNetHw][kTree][pr] : k.hw_latency_us[kNetHw][a][pr]) +
                          graphs.latency_inter_us.value * (pr == kSimple ? 2 : 1);
        if (a == kRing) {
          if (coll == NcclCollective::Broadcast) {
            lat += k.hw_latency_us[ringHw][a][pr];  // sameChannels rings: one step of latency
          } else {
            double netOverhead = 0;
            if (nNodes > 1) netOverhead = k.net_overhead_us * (pr == kSimple ? k.net_overhead_simple_factor : 1.0);
            intraLat = std::max(intraLat, netOverhead);
            const int nInterSteps = nNodes == 1 ? 0 : coll == NcclCollective::AllReduce ? 2 * (nNodes - 1) : nNodes - 1;
            lat += (nsteps - nInterSteps) * intraLat + nInterSteps * interLat;
          }
        } else if (a == kTree) {
          lat += 2 * ((nRanks / nNodes - 1) * intraLat + log2i(nNodes) * interLat);
        } else {  // NVLS
          lat = intraLat + (nNodes > 1 ? interLat : 0.0);
        }
        lat_[c][a][pr] = lat;
      }
    }
  }
}

double NcclTuningModel::latency_us(NcclCollective c, NcclAlgorithm a, NcclProtocol p) const {
  return lat_[static_cast<int>(c)][static_cast<int>(a)][static_cast<int>(p)];
}

double NcclTuningModel::bandwidth_GBps(NcclCollective c, NcclAlgorithm a, NcclProtocol p) const {
  return bw_[static_cast<int>(c)][static_cast<int>(a)][static_cast<int>(p)];
}

NcclEstimate NcclTuningModel::estimate(NcclCollective c, NcclAlgorithm a, NcclProtocol p, double bytes) const {
  if (!(bytes >= 0)) throw std::invalid_argument("NcclTuningModel: message of " + std::to_string(bytes) + " bytes; need >= 0");
  NcclEstimate e;
  e.algorithm = a;
  e.protocol = p;
  double bw = bandwidth_GBps(c, a, p);
  double lat = latency_us(c, a, p);
  if (bw <= 0) return e;
  e.available = true;
  const int logSize = log2_down(std::floor(bytes / 64));
  if (a == NcclAlgorithm::Tree && c == NcclCollective::AllReduce && logSize >= 0 && logSize < 23)
    bw *= constants_->tree_correction[static_cast<int>(p)][logSize];
  if (a == NcclAlgorithm::Ring && p == NcclProtocol::Simple && nodes_ > 1 && c == NcclCollective::AllReduce &&
      bytes / (ring_channels_ * p_) >= 64)
    lat *= constants_->ring_simple_plateau_factor;  // "Plateau effect of ring"
  e.latency_us = lat;
  e.bandwidth_GBps = bw;
  e.time_us = lat + bytes / (1000.0 * bw);
  return e;
}

NcclEstimate NcclTuningModel::best(NcclCollective c, double bytes) const {
  if (!(bytes >= 0)) throw std::invalid_argument("NcclTuningModel: message of " + std::to_string(bytes) + " bytes; need >= 0");
  if (p_ == 1) {
    NcclEstimate none;
    none.available = true;
    return none;
  }
  NcclEstimate best;
  best.time_us = std::numeric_limits<double>::infinity();
  for (int a = 0; a < 3; ++a)
    for (int p = 0; p < 3; ++p) {
      const NcclEstimate e = estimate(c, static_cast<NcclAlgorithm>(a), static_cast<NcclProtocol>(p), bytes);
      if (e.available && e.time_us < best.time_us) best = e;
    }
  if (!best.available)
    throw std::logic_error(std::string("NcclTuningModel: no algorithm available for ") + to_string(c));
  return best;
}

std::string NcclTuningModel::table() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-15s", "latency/algbw");
  out += line;
  for (int a = 0; a < 3; ++a)
    for (int p = 0; p < 3; ++p) {
      std::snprintf(line, sizeof line, " | %6s/%-6s", kAlgos[a], to_string(static_cast<NcclProtocol>(p)));
      out += line;
    }
  out += "\n";
  for (int c = 0; c < 4; ++c) {
    std::snprintf(line, sizeof line, "%-15s", to_string(static_cast<NcclCollective>(c)));
    out += line;
    for (int a = 0; a < 3; ++a)
      for (int p = 0; p < 3; ++p) {
        if (bw_[c][a][p] > 0)
          std::snprintf(line, sizeof line, " | %5.1f/%6.1f", lat_[c][a][p], bw_[c][a][p]);
        else
          std::snprintf(line, sizeof line, " | %12s", "-");
        out += line;
      }
    out += "\n";
  }
  return out;
}

}  // namespace atp::cost
