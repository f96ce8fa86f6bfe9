/// \file vocab_parallel_embedding.cpp
/// \brief VocabParallelEmbedding on one GPU rank (chapter 6): host checks,
///        the masked lookup kernel, its out-of-range flag, the all-reduce.
#include "atp/cuda/layers/vocab_parallel_embedding.hpp"

#include "atp/cuda/check.hpp"
#include "atp/cuda/embedding_kernels.hpp"

#include <climits>
#include <stdexcept>
#include <string>

namespace atp::cuda {

VocabParallelEmbedding VocabParallelEmbedding::from_master(const Matrix& table, int rank, int p) {
  const Matrix shard = atp::sim::vocab_shard(table, p, rank);  // checks V, p (and V_pad) and the rank
  return VocabParallelEmbedding(std::make_shared<const DeviceMatrix>(to_device(shard)), table.rows(), rank, p);
}

VocabParallelEmbedding VocabParallelEmbedding::from_shard(const Matrix& shard, std::int64_t V, int rank, int p) {
  (void)atp::sim::vocab_range(V, p, rank);  // checks V, p and the rank
  atp::sim::check_vocab_shard(shard, V, p, rank, "VocabParallelEmbedding::from_shard");
  return VocabParallelEmbedding(std::make_shared<const DeviceMatrix>(to_device(shard)), V, rank, p);
}

DeviceMatrix VocabParallelEmbedding::partial_embeddings(const std::vector<std::int64_t>& ids,
                                                        cudaStream_t stream) const {
  atp::sim::check_token_ids(ids, V_);  // first line: the host names the id, its position and V
  const auto T = static_cast<std::int64_t>(ids.size());
  DeviceMatrix out(T, hidden_size());
  if (T == 0) return out;
  const DeviceBuffer<std::int64_t> d_ids = DeviceBuffer<std::int64_t>::from_host(ids, stream);
  const int no_bad = INT_MAX;
  DeviceBuffer<int> bad(1);
  bad.upload(&no_bad, 1, stream);
  const atp::sim::VocabRange mine = range();
  launch_vocab_embedding_lookup(weight().data(), rows_per_rank(), hidden_size(), d_ids.data(), static_cast<int>(T),
                                mine.start, mine.end, V_, out.data(), bad.data(), stream);
  int first_bad = INT_MAX;
  bad.download(&first_bad, 1, stream);  // synchronises the stream
  if (first_bad != INT_MAX)  // second line: the kernel skipped an id it must not read
    throw std::invalid_argument("token id " + std::to_string(ids[static_cast<std::size_t>(first_bad)]) +
                                " at position " + std::to_string(first_bad) + " is outside the vocabulary [0, " +
                                std::to_string(V_) + ") (flagged by the lookup kernel on rank " +
                                std::to_string(rank_) + ")");
  return out;
}

DeviceMatrix VocabParallelEmbedding::forward(Communicator& comm, const std::vector<std::int64_t>& ids,
                                             AllReduceForm form) const {
  if (comm.rank() != rank_ || comm.world_size() != p_)
    throw std::invalid_argument("VocabParallelEmbedding::forward: the layer is rank " + std::to_string(rank_) +
                                " of " + std::to_string(p_) + " but the communicator is " + comm.describe());
  DeviceMatrix x = partial_embeddings(ids, comm.stream());
  all_reduce(comm, x, form);
  return x;
}

}  // namespace atp::cuda
