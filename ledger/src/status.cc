#include "kirjuri/status.h"

namespace kirjuri {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kNotFound: name = "Not found"; break;
    case Code::kCorruption: name = "Corruption"; break;
    case Code::kInvalidArgument: name = "Invalid argument"; break;
    case Code::kIOError: name = "IO error"; break;
    case Code::kFailedPrecondition: name = "Failed precondition"; break;
    case Code::kUnauthenticated: name = "Unauthenticated"; break;
    case Code::kPermissionDenied: name = "Permission denied"; break;
    case Code::kUnavailable: name = "Unavailable"; break;
  }
  return std::string(name) + ": " + message_;
}

Status Status::Prefixed(std::string_view prefix) const {
  if (ok()) return *this;
  return Status(code_, std::string(prefix) + ": " + message_);
}

}  // namespace kirjuri
