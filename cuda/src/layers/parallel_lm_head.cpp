/// \file parallel_lm_head.cpp
/// \brief ParallelLMHead on one GPU rank (chapter 6): local logits, the
///        logits gather with the padding trimmed, the greedy argmax pairs.
#include "atp/cuda/layers/parallel_lm_head.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/embedding_kernels.hpp"
#include "atp/cuda/ops.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {

namespace {

// The first V columns of full (T, V_pad): the padding ids V.. are the last columns.
DeviceMatrix trim_columns(const DeviceMatrix& full, std::int64_t V, cudaStream_t stream) {
  DeviceMatrix out(full.rows(), V);
  if (out.size() == 0) return out;
  ATP_CUDA_CHECK(cudaMemcpy2DAsync(out.data(), static_cast<std::size_t>(V) * sizeof(float), full.data(),
                                   static_cast<std::size_t>(full.cols()) * sizeof(float),
                                   static_cast<std::size_t>(V) * sizeof(float), static_cast<std::size_t>(full.rows()),
                                   cudaMemcpyDeviceToDevice, stream));
  ATP_CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

void check_comm(const Communicator& comm, int rank, int p, const char* what) {
  if (comm.rank() != rank || comm.world_size() != p)
    throw std::invalid_argument(std::string(what) + ": the layer is rank " + std::to_string(rank) + " of " +
                                std::to_string(p) + " but the communicator is " + comm.describe());
}

}  // namespace

ParallelLMHead ParallelLMHead::from_master(const Matrix& W, int rank, int p) {
  const Matrix shard = atp::sim::vocab_shard(W, p, rank);
  return ParallelLMHead(std::make_shared<const DeviceMatrix>(to_device(shard)), W.rows(), rank, p);
}

ParallelLMHead ParallelLMHead::from_shard(const Matrix& shard, std::int64_t V, int rank, int p) {
  (void)atp::sim::vocab_range(V, p, rank);
  atp::sim::check_vocab_shard(shard, V, p, rank, "ParallelLMHead::from_shard");
  return ParallelLMHead(std::make_shared<const DeviceMatrix>(to_device(shard)), V, rank, p);
}

ParallelLMHead ParallelLMHead::tied(const VocabParallelEmbedding& embedding) {
  return ParallelLMHead(embedding.shared_weight(), embedding.vocab_size(), embedding.rank(), embedding.p());
}

DeviceMatrix ParallelLMHead::local_logits(const DeviceMatrix& x, cudaStream_t stream) const {
  return matmul_nt(x, weight(), stream);
}

DeviceMatrix ParallelLMHead::gather_logits(Communicator& comm, const DeviceMatrix& local,
                                           LogitsCollective collective) const {
  check_comm(comm, rank_, p_, "ParallelLMHead::gather_logits");
  if (local.cols() != weight().rows())
    throw std::invalid_argument("ParallelLMHead::gather_logits: local logits " + local.shape() + " must have n = " +
                                std::to_string(weight().rows()) + " columns");
  if (collective == LogitsCollective::AllGather)
    return trim_columns(all_gather(comm, local, Axis::Cols), V_, comm.stream());
  const DeviceMatrix full = gather(comm, local, 0, Axis::Cols);
  if (rank_ != 0) return DeviceMatrix();
  return trim_columns(full, V_, comm.stream());
}

DeviceMatrix ParallelLMHead::forward(Communicator& comm, const DeviceMatrix& x, LogitsCollective collective) const {
  return gather_logits(comm, local_logits(x, comm.stream()), collective);
}

DeviceMatrix ParallelLMHead::local_argmax_pairs(const DeviceMatrix& local, cudaStream_t stream) const {
  if (V_ > atp::sim::kMaxArgmaxVocab)
    throw std::invalid_argument("ParallelLMHead::local_argmax_pairs: vocabulary " + std::to_string(V_) +
                                " exceeds 2^24; ids would not travel exactly as floats");
  const atp::sim::VocabRange mine = range();
  DeviceMatrix pairs(local.rows(), 2);
  launch_local_argmax_pairs(local.data(), local.rows(), local.cols(), static_cast<int>(mine.size()), mine.start, V_,
                            pairs.data(), stream);
  return pairs;
}

std::vector<std::int64_t> ParallelLMHead::argmax(Communicator& comm, const DeviceMatrix& local) const {
  check_comm(comm, rank_, p_, "ParallelLMHead::argmax");
  const DeviceMatrix pairs = local_argmax_pairs(local, comm.stream());
  const Matrix gathered = to_host(all_gather(comm, pairs, Axis::Cols), comm.stream());
  return atp::sim::combine_argmax_pairs(gathered);
}

}  // namespace atp::cuda
