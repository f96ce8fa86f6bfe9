/// \file replicated_norm.cpp
/// \brief GPU ReplicatedNorm and the residual add.
#include "atp/cuda/layers/replicated_norm.hpp"

#include "atp/cuda/kernels.hpp"
#include "atp/cuda/ops.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

void check_row(const Matrix& m, Eigen::Index H, const char* what) {
  if (m.rows() != 1 || m.cols() != H || H < 1)
    throw std::invalid_argument(std::string("ReplicatedNorm: the ") + what + " is " + shape_string(m) +
                                " but must be (1, " + std::to_string(H) + ")");
}

}  // namespace

ReplicatedNorm ReplicatedNorm::rms(const Matrix& weight, float eps) {
  check_row(weight, weight.cols(), "weight");
  return ReplicatedNorm(NormKind::RMSNorm, to_device(weight), DeviceMatrix(), eps);
}

ReplicatedNorm ReplicatedNorm::layer(const Matrix& weight, const Matrix& bias, float eps) {
  check_row(weight, weight.cols(), "weight");
  check_row(bias, weight.cols(), "bias");
  return ReplicatedNorm(NormKind::LayerNorm, to_device(weight), to_device(bias), eps);
}

DeviceMatrix ReplicatedNorm::forward(const DeviceMatrix& x, cudaStream_t stream) const {
  if (x.cols() != hidden())
    throw std::invalid_argument("ReplicatedNorm: x is " + x.shape() + " but must be (T, " + std::to_string(hidden()) +
                                ")");
  return kind_ == NormKind::RMSNorm ? rmsnorm_rows(x, weight_, eps_, stream)
                                    : layernorm_rows(x, weight_, bias_, eps_, stream);
}

DeviceMatrix residual_add(const DeviceMatrix& x, const DeviceMatrix& y, cudaStream_t stream) {
  if (x.rows() != y.rows() || x.cols() != y.cols())
    throw std::invalid_argument("residual_add: " + x.shape() + " + " + y.shape() + ": the shapes must be equal");
  DeviceMatrix out(x.rows(), x.cols());
  launch_add(x.data(), y.data(), out.data(), out.size(), stream);
  return out;
}

}  // namespace atp::cuda
