/// \file encoder_strategies.cpp
/// \brief Strategies A, B and C on one GPU rank.
#include "atp/cuda/vision/encoder_strategies.hpp"

#include "atp/cuda/row_blocks.hpp"
#include "atp/sim/collective_plan.hpp"

#include <numeric>
#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

void require_whole(const ParallelVisionTransformer& whole, const Communicator& local, const char* who) {
  if (whole.p() != 1 || local.world_size() != 1)
    throw std::invalid_argument(std::string(who) + ": needs a whole encoder (p = 1, now " + std::to_string(whole.p()) +
                                ") and a local world of one rank (now " + std::to_string(local.world_size()) + ")");
}

Eigen::Index total(const std::vector<Eigen::Index>& rows) {
  return std::accumulate(rows.begin(), rows.end(), Eigen::Index{0});
}

}  // namespace

CommunicatorConfig local_world_config(const Communicator& comm) {
  CommunicatorConfig c;
  c.rank = 0;
  c.world_size = 1;
  c.device = comm.device();
  c.timeout_s = comm.timeout_s();
  return c;
}

EncodedImages encode_one_rank(Communicator& comm, Communicator& local, const ParallelVisionTransformer& whole,
                              const std::vector<Image>& images) {
  require_whole(whole, local, "encode_one_rank");
  EncodedImages e;
  e.strategy = atp::sim::EncoderStrategy::OneRank;
  e.rows_per_image = atp::sim::vit_rows_per_image(whole.config(), images);
  const int p = comm.world_size();
  e.assignment.images_of_rank.assign(static_cast<std::size_t>(p), {});
  e.assignment.load.assign(static_cast<std::size_t>(p), 0);
  for (std::size_t i = 0; i < images.size(); ++i) {
    e.assignment.images_of_rank[0].push_back(static_cast<int>(i));
    e.assignment.load[0] += patch_grid(images[i], whole.config().patch).count();
  }
  if (comm.rank() == 0) {
    e.local = whole.forward(local, images);
    e.features = slice_rows(e.local, 0, e.local.rows(), comm.stream());
  } else {
    e.features = DeviceMatrix(total(e.rows_per_image), whole.config().hidden);  // the receive buffer
  }
  broadcast(comm, e.features, 0);
  e.plans.assign(static_cast<std::size_t>(p), {"broadcast vit.broadcast"});
  return e;
}

EncodedImages encode_weights(Communicator& comm, const ParallelVisionTransformer& sharded,
                             const std::vector<Image>& images) {
  EncodedImages e;
  e.strategy = atp::sim::EncoderStrategy::Weights;
  e.rows_per_image = atp::sim::vit_rows_per_image(sharded.config(), images);
  e.features = sharded.forward(comm, images);
  return e;
}

EncodedImages encode_data(Communicator& comm, Communicator& local, const ParallelVisionTransformer& whole,
                          const std::vector<Image>& images, atp::sim::DataParallelOptions options) {
  require_whole(whole, local, "encode_data");
  const int p = comm.world_size(), r = comm.rank();
  const Eigen::Index H = whole.config().hidden;
  const atp::sim::DataParallelLayout layout = atp::sim::data_parallel_layout(whole.config(), images, p);
  const Eigen::Index L = layout.padded_rows;
  EncodedImages e;
  e.strategy = atp::sim::EncoderStrategy::Data;
  e.rows_per_image = atp::sim::vit_rows_per_image(whole.config(), images);
  e.assignment = layout.assignment;
  // Every rank checks every rank's plan before its first call: a mismatch is an error here, not a hang later.
  e.plans = atp::sim::data_parallel_plans(layout, "vit", options);
  atp::sim::check_collective_plans(e.plans);
  std::vector<Image> mine;
  for (int i : e.assignment.images_of_rank[static_cast<std::size_t>(r)]) mine.push_back(images[static_cast<std::size_t>(i)]);
  e.local = mine.empty() ? DeviceMatrix(0, H) : whole.forward(local, mine);
  if (L == 0) {  // no image anywhere: every rank knows it, nobody calls the all-gather
    e.padded = DeviceMatrix(0, H);
    e.gathered = DeviceMatrix(0, H);
    e.features = DeviceMatrix(0, H);
    return e;
  }
  e.padded = DeviceMatrix(L, H);
  e.padded.buffer().fill_bytes(0, comm.stream());  // +0.0f everywhere, then this rank's rows on top
  copy_rows(e.local, 0, e.local.rows(), e.padded, 0, comm.stream());
  comm.wait("encode_data (padding)");
  e.gathered = all_gather(comm, e.padded, Axis::Rows);  // a rank without images still calls it
  e.features = DeviceMatrix(total(e.rows_per_image), H);
  for (std::size_t i = 0; i < images.size(); ++i)
    copy_rows(e.gathered, layout.gathered_row[i], e.rows_per_image[i], e.features, layout.output_row[i],
              comm.stream());
  comm.wait("encode_data (unpadding)");
  return e;
}

EncodedImages encode_images(Communicator& comm, Communicator& local, atp::sim::EncoderStrategy strategy,
                            const VitConfig& config, const VitWeights& weights, const std::vector<Image>& images,
                            AllReduceForm form) {
  switch (strategy) {
    case atp::sim::EncoderStrategy::OneRank:
      return encode_one_rank(comm, local, ParallelVisionTransformer::from_master(config, weights, 0, 1, form), images);
    case atp::sim::EncoderStrategy::Data:
      return encode_data(comm, local, ParallelVisionTransformer::from_master(config, weights, 0, 1, form), images);
    case atp::sim::EncoderStrategy::Weights: {
      const std::string why = atp::sim::weights_strategy_obstacle(config, comm.world_size());
      if (!why.empty())
        throw std::invalid_argument("encode_images: strategy B (weights) is impossible: " + why +
                                    "; use choose_encoder_strategy() to fall back to C (data)");
      return encode_weights(comm, ParallelVisionTransformer::from_master(config, weights, comm.rank(),
                                                                          comm.world_size(), form),
                            images);
    }
  }
  throw std::invalid_argument("encode_images: unknown strategy");
}

}  // namespace atp::cuda
