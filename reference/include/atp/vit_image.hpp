/// \file vit_image.hpp
/// \brief Images for the vision encoder (chapter 8): pixels, the patch grid,
///        patchify (an image as a matrix of flattened patches), and the
///        stride = kernel convolution written out as a convolution, to show
///        that it is the same arithmetic as one matmul.
///
/// Letters: C = channels, h, w = image height and width in pixels, P = patch
/// size (the convolution's kernel and stride), gh = h / P, gw = w / P,
/// n = gh * gw patches, H = hidden size.
///
/// Storage: an image is a (C * h, w) matrix, channel c's plane in rows
/// [c h, (c+1) h). A patch (i, j) covers pixel rows [i P, (i+1) P) and columns
/// [j P, (j+1) P) of every channel. Flattened in PyTorch's Conv2d weight order
/// (c, a, b), it becomes row i * gw + j of the (n, C P P) patch matrix:
///
///     patches(i gw + j, c P P + a P + b) = pixels(c h + i P + a, j P + b)
///
/// Because the kernel never overlaps itself (stride = kernel), every output
/// of the convolution reads one patch and nothing else: out(o, i, j) =
/// sum over (c, a, b) of W(o, c, a, b) * patch(i, j)(c, a, b), which is row
/// i gw + j of patches W_flat^T with W_flat (H, C P P) the weight flattened
/// in the same order. conv2d_patch_embedding_direct() computes it the
/// convolution's way (loops over the output channel and position, the kernel
/// window inside) with the canonical fma chain over (c, a, b) ascending; the
/// tests show it equals atp::linear(patchify(image), W_flat, bias) bit for bit.
///
/// Leaves out: overlapping convolutions (stride < kernel), padding, image
/// resizing and normalisation (the book's pixels are already normalised
/// values on [-1, 1)), Qwen2-VL's temporal patches.
#pragma once

#include "atp/tensor.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace atp {

/// One image: C channel planes of h x w pixels.
struct Image {
  int channels = 3;  ///< C
  int height = 0;    ///< h, pixels
  int width = 0;     ///< w, pixels
  Matrix pixels;     ///< (C h, w): channel c in rows [c h, (c+1) h)
};

/// The patch grid of an image: gh rows and gw columns of P x P patches.
struct PatchGrid {
  int rows = 0;  ///< gh = h / P
  int cols = 0;  ///< gw = w / P
  /// n = gh * gw, the number of patches.
  std::int64_t count() const { return static_cast<std::int64_t>(rows) * cols; }
};

/// An image of `channels` planes of height x width pixels uniform on [-1, 1)
/// from the counter-based generator (seed, stream).
/// \throws std::invalid_argument unless channels, height and width are >= 1.
Image random_image(int channels, int height, int width, std::uint64_t seed, std::uint64_t stream);

/// The grid of P x P patches of `image`.
/// \throws std::invalid_argument naming the size and P unless P >= 1 divides
///         both height and width, or if the pixel matrix is not (C h, w).
PatchGrid patch_grid(const Image& image, int patch);

/// "HxW" sizes such as "32x32,16x24" parsed into (height, width) pairs.
/// \throws std::invalid_argument naming the bad item and the expected form.
std::vector<std::pair<int, int>> parse_image_sizes(const std::string& text);

/// The (n, C P P) matrix of flattened patches, row i gw + j = patch (i, j) in
/// (c, a, b) order (see the file comment). A pure copy: no arithmetic.
/// \throws std::invalid_argument as patch_grid().
Matrix patchify(const Image& image, int patch);

/// The convolution with kernel = stride = P, computed as a convolution: for
/// each output channel o and position (i, j), acc = 0; for (c, a, b)
/// ascending: acc = fma(W_flat(o, c P P + a P + b), pixels(c h + i P + a, j P + b), acc);
/// then + bias(0, o) if given. Returns (n, H) with row i gw + j (PyTorch's
/// conv output flattened and transposed, as CLIP's embeddings do).
/// \throws std::invalid_argument naming the shapes unless W_flat is (H, C P P)
///         and bias (1, H) or null, and as patch_grid().
Matrix conv2d_patch_embedding_direct(const Image& image, const Matrix& W_flat, const Matrix* bias, int patch);

}  // namespace atp
