// Writing the files that reports and exports hand out, and reading them back to verify them.
// Private to projections/.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include "kirjuri/status.h"

namespace kirjuri {

// Writes `bytes` to `path` through a temporary file renamed into place, so that a reader sees
// the old file or the new one, never half of one. IOError naming the path on failure.
inline Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IOError("cannot create " + tmp.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return Status::IOError("cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status::IOError("cannot write " + path.string());
  }
  return Status::Ok();
}

// Reads the whole of `path` (a report or its signature) into `*out`. A file that cannot be read
// (missing, not permitted) is IOError naming the path and the system's reason: not a verdict on
// the report. One over `max_bytes` is InvalidArgument (no report is that large).
inline Status ReadReportFile(const std::filesystem::path& path, size_t max_bytes,
                             std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path.string() + ": " + std::strerror(errno));
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IOError("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes) {
    return Status::InvalidArgument(path.filename().string() + ": too large for a report (" +
                                   std::to_string(size) + " bytes)");
  }
  out->assign(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) return Status::IOError("cannot read " + path.string());
  return Status::Ok();
}

}  // namespace kirjuri
