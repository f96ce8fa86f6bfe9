/// \file ops.cpp
/// \brief Shape checks and allocation for the DeviceMatrix operations of
///        ops.hpp; the arithmetic is in the kernels (matmul.cu, rows.cu,
///        pointwise.cu). Host code only, so Eigen stays out of nvcc.
#include "atp/cuda/ops.hpp"

#include <stdexcept>
#include <string>

namespace atp::cuda {
namespace {

void require_shape(const DeviceMatrix& m, int rows, int cols, const char* who, const char* name) {
  if (m.rows() != rows || m.cols() != cols)
    throw std::invalid_argument(std::string(who) + ": " + name + " is " + m.shape() + "; expected " +
                                shape_string(rows, cols));
}

void check_linear(const DeviceMatrix& x, const DeviceMatrix& W, const DeviceMatrix* bias, const char* who) {
  if (x.cols() != W.cols())
    throw std::invalid_argument(std::string(who) + ": x " + x.shape() + " and W " + W.shape() +
                                " disagree on the reduced dimension K (x.cols() must equal W.cols())");
  if (bias != nullptr) require_shape(*bias, 1, W.rows(), who, "bias");
}

}  // namespace

void matmul_nt_into(const DeviceMatrix& A, const DeviceMatrix& B, DeviceMatrix& C, cudaStream_t stream,
                    MatmulKernel kernel) {
  if (A.cols() != B.cols())
    throw std::invalid_argument("matmul_nt: A " + A.shape() + " and B " + B.shape() +
                                " need the same number of columns K (C = A B^T)");
  require_shape(C, A.rows(), B.rows(), "matmul_nt", "C");
  launch_matmul_nt(A.data(), B.data(), nullptr, C.data(), A.rows(), B.rows(), A.cols(), stream, kernel);
}

DeviceMatrix matmul_nt(const DeviceMatrix& A, const DeviceMatrix& B, cudaStream_t stream, MatmulKernel kernel) {
  if (A.cols() != B.cols())
    throw std::invalid_argument("matmul_nt: A " + A.shape() + " and B " + B.shape() +
                                " need the same number of columns K (C = A B^T)");
  DeviceMatrix C(A.rows(), B.rows());
  matmul_nt_into(A, B, C, stream, kernel);
  return C;
}

void linear_into(const DeviceMatrix& x, const DeviceMatrix& W, const DeviceMatrix* bias, DeviceMatrix& y,
                 cudaStream_t stream, MatmulKernel kernel) {
  check_linear(x, W, bias, "linear");
  require_shape(y, x.rows(), W.rows(), "linear", "y");
  launch_matmul_nt(x.data(), W.data(), bias != nullptr ? bias->data() : nullptr, y.data(), x.rows(), W.rows(),
                   x.cols(), stream, kernel);
}

DeviceMatrix linear(const DeviceMatrix& x, const DeviceMatrix& W, const DeviceMatrix* bias, cudaStream_t stream,
                    MatmulKernel kernel) {
  check_linear(x, W, bias, "linear");
  DeviceMatrix y(x.rows(), W.rows());
  linear_into(x, W, bias, y, stream, kernel);
  return y;
}

DeviceMatrix row_sum(const DeviceMatrix& x, cudaStream_t stream) {
  DeviceMatrix out(x.rows(), 1);
  launch_row_sum(x.data(), out.data(), x.rows(), x.cols(), stream);
  return out;
}

DeviceMatrix softmax_rows(const DeviceMatrix& x, cudaStream_t stream) {
  DeviceMatrix y(x.rows(), x.cols());
  launch_softmax_rows(x.data(), y.data(), x.rows(), x.cols(), stream);
  return y;
}

DeviceMatrix layernorm_rows(const DeviceMatrix& x, const DeviceMatrix& gamma, const DeviceMatrix& beta, float eps,
                            cudaStream_t stream) {
  require_shape(gamma, 1, x.cols(), "layernorm_rows", "gamma");
  require_shape(beta, 1, x.cols(), "layernorm_rows", "beta");
  DeviceMatrix y(x.rows(), x.cols());
  launch_layernorm_rows(x.data(), gamma.data(), beta.data(), eps, y.data(), x.rows(), x.cols(), stream);
  return y;
}

DeviceMatrix rmsnorm_rows(const DeviceMatrix& x, const DeviceMatrix& gamma, float eps, cudaStream_t stream) {
  require_shape(gamma, 1, x.cols(), "rmsnorm_rows", "gamma");
  DeviceMatrix y(x.rows(), x.cols());
  launch_rmsnorm_rows(x.data(), gamma.data(), eps, y.data(), x.rows(), x.cols(), stream);
  return y;
}

DeviceMatrix elementwise(Elementwise fn, const DeviceMatrix& x, cudaStream_t stream) {
  DeviceMatrix y(x.rows(), x.cols());
  launch_elementwise(fn, x.data(), y.data(), x.size(), stream);
  return y;
}

}  // namespace atp::cuda
