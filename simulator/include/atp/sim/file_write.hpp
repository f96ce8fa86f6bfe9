/// \file file_write.hpp
/// \brief Writing an output file so that nothing else is ever written: no
///        symbolic link followed, no half-written file left, every error seen.
///
/// Dumps (.npy, manifest.json) and golden files go into folders a user names
/// on the command line. A plain `std::ofstream(path)` follows a symbolic link
/// planted at `path` (overwriting its target), truncates the old file before
/// the new bytes exist, and reports nothing when the final flush fails (a full
/// disk leaves a 0-byte file and a normal return). write_file_replacing()
/// instead:
///
///  1. refuses a `path` that is a symbolic link or an existing non-regular
///     file (a directory, a FIFO, /dev/full);
///  2. creates a sibling `path.tmp.<pid>.<n>` with O_CREAT | O_EXCL | O_NOFOLLOW,
///     so it never opens an existing file or a link planted in its place;
///  3. writes every byte (short writes and EINTR retried), checks close();
///  4. renames the temporary over `path`: readers see the old file or the
///     whole new one, never part of it, and rename replaces a link planted
///     in the meantime instead of following it.
///
/// Leaves out: fsync (a crash of the machine may lose the file; no reader is
/// fooled by that), Windows.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string_view>

namespace atp::sim {

/// Writes the concatenation of `pieces` to `path` as described above.
/// `what` names the file in messages ("npy file", "dump manifest").
/// \throws std::invalid_argument if `path` is a symbolic link or not a regular file;
///         std::runtime_error if it cannot be created, written, closed or renamed
///         (the temporary is removed; `path` is unchanged).
void write_file_replacing(const std::filesystem::path& path, std::initializer_list<std::string_view> pieces,
                          std::string_view what);

}  // namespace atp::sim
