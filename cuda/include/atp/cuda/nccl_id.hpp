/// \file nccl_id.hpp
/// \brief The small NCCL helpers the launcher and the communicator share:
///        the ncclUniqueId as hex text (how ATP_NCCL_ID carries it) and the
///        NCCL version at run time.
///
/// Kept apart from communicator.hpp so the launcher does not pull in device
/// buffers and Eigen. Left out: any other way of distributing the id
/// (sockets, MPI, files).
#pragma once

#include <nccl.h>

#include <string>
#include <string_view>

namespace atp::cuda {

/// The 128-byte id as 256 lowercase hex digits (what ATP_NCCL_ID holds).
std::string nccl_id_to_hex(const ncclUniqueId& id);

/// Parses 256 hex digits back into an id.
/// \throws std::invalid_argument on a wrong length or a non-hex character (names its position).
ncclUniqueId nccl_id_from_hex(std::string_view hex);

/// The linked NCCL library's version code (ncclGetVersion), e.g. 22809 for 2.28.9.
int nccl_runtime_version();

/// "2.28.9" from a version code.
std::string nccl_version_string(int code);

}  // namespace atp::cuda
