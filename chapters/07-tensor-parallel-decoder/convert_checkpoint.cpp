/// \file convert_checkpoint.cpp
/// \brief atp-convert-checkpoint: a decoder checkpoint from llama2.c's format
///        to safetensors or back, every tensor's bits kept (chapter 7).
///
/// Run: `atp-convert-checkpoint --in data/fortune-llama.bin --out fortune.safetensors`
///      `atp-convert-checkpoint --in fortune.safetensors --out back.bin [--to llama2c]`
///
/// The input's format is detected from its bytes; the output's comes from
/// --to, or from the extension of --out (.safetensors or .bin). The config
/// travels as safetensors metadata (atp.* keys); llama2.c can store only a
/// Llama with eps 1e-5, theta 10000 and interleaved rotary pairs, so other
/// configs are refused with the reason. The output is written to a temporary
/// file beside --out and renamed, so a failure never leaves half a file.
/// Leaves out: BF16 output, Hugging Face config.json, sharded files.
#include "atp/sim/checkpoint/checkpoint.hpp"
#include "atp/sim/checkpoint/llama2c.hpp"
#include "atp/sim/checkpoint/safetensors.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
namespace sim = atp::sim;

int main(int argc, char** argv) {
  CLI::App app{"atp-convert-checkpoint: llama2.c <-> safetensors, bit for bit"};
  std::string in, out, to;
  app.add_option("--in", in, "input checkpoint (llama2.c .bin or .safetensors)")->required();
  app.add_option("--out", out, "output file")->required();
  app.add_option("--to", to, "output format (default: from the --out extension)")
      ->check(CLI::IsMember({"safetensors", "llama2c"}));
  CLI11_PARSE(app, argc, argv);
  try {
    if (to.empty()) {
      const std::string ext = fs::path(out).extension().string();
      if (ext == ".safetensors") to = "safetensors";
      else if (ext == ".bin") to = "llama2c";
      else
        throw std::invalid_argument("--out '" + out + "' has extension '" + ext +
                                    "'; use .safetensors or .bin, or say --to safetensors|llama2c");
    }
    std::error_code ec;
    if (fs::exists(out) && fs::equivalent(in, out, ec))
      throw std::invalid_argument("--out '" + out + "' is the input file; write the conversion elsewhere");
    const sim::Checkpoint source = sim::Checkpoint::open(in);
    const std::vector<std::byte> bytes =
        to == "safetensors" ? sim::write_decoder_safetensors(source) : sim::write_llama2c(source);
    // Parse what we are about to write: a converter must never produce a file its own reader refuses.
    const sim::CheckpointContents check = sim::parse_checkpoint(bytes, out);
    if (!(check.config == source.config()))
      throw std::runtime_error("the converted config (" + check.config.describe() + ") differs from the input's (" +
                               source.config().describe() + ")");
    const fs::path tmp = fs::path(out + ".partial");
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      if (!f) throw std::runtime_error("cannot write '" + tmp.string() + "'");
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!f) throw std::runtime_error("writing '" + tmp.string() + "' failed");
    }
    fs::rename(tmp, out);
    std::printf("%s (%s, %lld bytes) -> %s (%s, %zu bytes): %zu tensors, %s\n", in.c_str(), source.format().c_str(),
                static_cast<long long>(source.size_bytes()), out.c_str(), to.c_str(), bytes.size(),
                check.tensors.size(), source.config().describe().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atp-convert-checkpoint: %s\n", e.what());
    return 1;
  }
  return 0;
}
