// Status: the outcome of every fallible operation in Kirjuri's public API.
//
// A refused event, a failed verification and a wrong key are outcomes callers branch on, so they
// are returned, never thrown. The message names what failed and where ("line 3: unknown field
// 'emial'", "seq 41: signature does not verify"); it never contains personal data.
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace kirjuri {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kCorruption,       // stored data fails a check: a tampered or damaged ledger
    kInvalidArgument,  // the caller's input is wrong; nothing was written
    kIOError,
    kFailedPrecondition,  // the ledger is not in a state that allows this (e.g. already exists)
    kUnauthenticated,     // no credentials, or ones the ledger does not know (HTTP 401)
    kPermissionDenied,    // known caller, but its role may not do this (HTTP 403)
    kUnavailable,         // refused for now, nothing done; the same call may succeed later (503)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }
  static Status Unauthenticated(std::string msg) {
    return Status(Code::kUnauthenticated, std::move(msg));
  }
  static Status PermissionDenied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  const std::string& message() const { return message_; }

  // "Corruption: seq 41: signature does not verify"; "OK" on success.
  std::string ToString() const;

  // Returns a status of the same code with "prefix: " before the message.
  Status Prefixed(std::string_view prefix) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace kirjuri

// Returns from the enclosing function if `expr` yields a non-OK status.
#define KIRJURI_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::kirjuri::Status _kirjuri_s = (expr);     \
    if (!_kirjuri_s.ok()) return _kirjuri_s;   \
  } while (0)
