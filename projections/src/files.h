// Writing the files that reports and exports hand out. Private to projections/.
#pragma once

#include <filesystem>
#include <fstream>
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

}  // namespace kirjuri
