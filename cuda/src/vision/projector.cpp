/// \file projector.cpp
/// \brief GPU LLaVA projector and patch merger: column, GELU, row + all-reduce.
#include "atp/cuda/vision/projector.hpp"

#include "atp/cuda/layers/parallel_mlp.hpp"
#include "atp/cuda/ops.hpp"
#include "atp/sim/vision/projector.hpp"

namespace atp::cuda {
namespace {

DeviceMatrix two_layers(Communicator& comm, const ColumnParallelLinear& l1, const RowParallelLinear& l2,
                        const DeviceMatrix& x) {
  const DeviceMatrix h = l1.forward(comm, x);
  const DeviceMatrix a = gelu(GeluForm::Erf, h, comm.stream());  // on this rank's columns only
  comm.wait("projector (gelu)");
  return l2.forward(comm, a);
}

RowParallelOptions row_options(AllReduceForm form) {
  RowParallelOptions ro;
  ro.form = form;
  return ro;
}

}  // namespace

ParallelLlavaProjector ParallelLlavaProjector::from_master(const ProjectorWeights& w, int rank, int p,
                                                           AllReduceForm form) {
  (void)atp::sim::ParallelLlavaProjector::from_master(w, p, sim_order(form));  // the simulator validates
  return ParallelLlavaProjector(ColumnParallelLinear::from_master(w.W1, &w.b1, rank, p),
                                RowParallelLinear::from_master(w.W2, &w.b2, rank, p, row_options(form)));
}

DeviceMatrix ParallelLlavaProjector::forward(Communicator& comm, const DeviceMatrix& x) const {
  return two_layers(comm, linear_1_, linear_2_, x);
}

ParallelPatchMerger ParallelPatchMerger::from_master(const ProjectorWeights& w, int merge, float eps, int rank, int p,
                                                     AllReduceForm form) {
  (void)atp::sim::ParallelPatchMerger::from_master(w, merge, eps, p, sim_order(form));  // the simulator validates
  return ParallelPatchMerger(to_device(w.norm_gamma), to_device(w.norm_beta),
                             ColumnParallelLinear::from_master(w.W1, &w.b1, rank, p),
                             RowParallelLinear::from_master(w.W2, &w.b2, rank, p, row_options(form)), merge, eps);
}

DeviceMatrix ParallelPatchMerger::forward(Communicator& comm, const DeviceMatrix& x,
                                          const std::vector<PatchGrid>& grids) const {
  const DeviceMatrix normed = layernorm_rows(x, gamma_, beta_, eps_, comm.stream());
  // The regrouping moves rows only: the simulator's own function on a host copy.
  const DeviceMatrix merged =
      to_device(atp::sim::merge_image_rows(to_host(normed, comm.stream()), grids, merge_), comm.stream());
  return two_layers(comm, mlp_0_, mlp_2_, merged);
}

}  // namespace atp::cuda
