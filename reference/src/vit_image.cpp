/// \file vit_image.cpp
/// \brief Images, patch grids, patchify and the direct stride = kernel convolution.
#include "atp/vit_image.hpp"

#include "atp/numerics.hpp"
#include "atp/rng.hpp"

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atp {

Image random_image(int channels, int height, int width, std::uint64_t seed, std::uint64_t stream) {
  if (channels < 1 || height < 1 || width < 1)
    throw std::invalid_argument("random_image: channels " + std::to_string(channels) + ", height " +
                                std::to_string(height) + " and width " + std::to_string(width) +
                                " must all be >= 1");
  Image img;
  img.channels = channels;
  img.height = height;
  img.width = width;
  img.pixels = random_matrix(static_cast<Eigen::Index>(channels) * height, width, seed, stream);
  return img;
}

PatchGrid patch_grid(const Image& image, int patch) {
  const std::string size = std::to_string(image.height) + "x" + std::to_string(image.width);
  if (patch < 1) throw std::invalid_argument("patch size " + std::to_string(patch) + " must be >= 1");
  if (image.channels < 1 || image.height < 1 || image.width < 1)
    throw std::invalid_argument("image " + size + " with " + std::to_string(image.channels) +
                                " channels: every dimension must be >= 1");
  if (image.height % patch != 0 || image.width % patch != 0)
    throw std::invalid_argument("image " + size + " is not a whole number of " + std::to_string(patch) + "x" +
                                std::to_string(patch) + " patches; height and width must be multiples of the "
                                "patch size " + std::to_string(patch));
  if (image.pixels.rows() != static_cast<Eigen::Index>(image.channels) * image.height ||
      image.pixels.cols() != image.width)
    throw std::invalid_argument("image " + size + ": pixels are " + shape_string(image.pixels) + ", expected " +
                                shape_string(static_cast<Eigen::Index>(image.channels) * image.height, image.width) +
                                " = (channels * height, width)");
  return {image.height / patch, image.width / patch};
}

std::vector<std::pair<int, int>> parse_image_sizes(const std::string& text) {
  std::vector<std::pair<int, int>> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const auto x = item.find('x');
    std::size_t used_h = 0, used_w = 0;
    int h = 0, w = 0;
    bool ok = x != std::string::npos && x > 0 && x + 1 < item.size();
    try {
      if (ok) {
        h = std::stoi(item.substr(0, x), &used_h);
        w = std::stoi(item.substr(x + 1), &used_w);
        ok = used_h == x && used_w == item.size() - x - 1 && h >= 1 && w >= 1;
      }
    } catch (const std::exception&) {
      ok = false;
    }
    if (!ok)
      throw std::invalid_argument("image size '" + item + "' in '" + text +
                                  "' is not HEIGHTxWIDTH with two positive integers, e.g. 32x32,16x24");
    out.emplace_back(h, w);
  }
  if (out.empty()) throw std::invalid_argument("image sizes '" + text + "' list no image; e.g. 32x32,16x24");
  return out;
}

Matrix patchify(const Image& image, int patch) {
  const PatchGrid g = patch_grid(image, patch);
  const int P = patch, C = image.channels, h = image.height;
  Matrix out(g.count(), static_cast<Eigen::Index>(C) * P * P);
  for (int i = 0; i < g.rows; ++i)
    for (int j = 0; j < g.cols; ++j)
      for (int c = 0; c < C; ++c)
        for (int a = 0; a < P; ++a)
          for (int b = 0; b < P; ++b)
            out(static_cast<Eigen::Index>(i) * g.cols + j, (static_cast<Eigen::Index>(c) * P + a) * P + b) =
                image.pixels(static_cast<Eigen::Index>(c) * h + i * P + a, j * P + b);
  return out;
}

Matrix conv2d_patch_embedding_direct(const Image& image, const Matrix& W_flat, const Matrix* bias, int patch) {
  const PatchGrid g = patch_grid(image, patch);
  const int P = patch, C = image.channels, h = image.height;
  const Eigen::Index H = W_flat.rows();
  if (W_flat.cols() != static_cast<Eigen::Index>(C) * P * P)
    throw std::invalid_argument("conv2d_patch_embedding_direct: W_flat is " + shape_string(W_flat) + ", expected (H, " +
                                std::to_string(C * P * P) + ") = (H, channels " + std::to_string(C) + " * patch " +
                                std::to_string(P) + " * patch " + std::to_string(P) + ")");
  if (bias != nullptr && (bias->rows() != 1 || bias->cols() != H))
    throw std::invalid_argument("conv2d_patch_embedding_direct: bias is " + shape_string(*bias) + ", expected " +
                                shape_string(1, H));
  Matrix out(g.count(), H);
  for (Eigen::Index o = 0; o < H; ++o)
    for (int i = 0; i < g.rows; ++i)
      for (int j = 0; j < g.cols; ++j) {
        float acc = 0.0f;  // the kernel window at (i, j): it touches this patch only
        for (int c = 0; c < C; ++c)
          for (int a = 0; a < P; ++a)
            for (int b = 0; b < P; ++b)
              acc = atp::fma(W_flat(o, (static_cast<Eigen::Index>(c) * P + a) * P + b),
                             image.pixels(static_cast<Eigen::Index>(c) * h + i * P + a, j * P + b), acc);
        out(static_cast<Eigen::Index>(i) * g.cols + j, o) = bias != nullptr ? acc + (*bias)(0, o) : acc;
      }
  return out;
}

}  // namespace atp
