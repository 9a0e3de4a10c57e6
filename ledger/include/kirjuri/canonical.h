// Canonical Cap'n Proto bytes (capnp::canonicalize: one segment, no segment table), the form in
// which Kirjuri stores and signs every struct, and reading them back. One piece of code for the
// ledger's records and the views' rows alike.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <string>
#include <string_view>

#include "kirjuri/status.h"

namespace kirjuri {

// The canonical bytes of `reader` (a struct Reader).
template <typename Reader>
std::string CanonicalBytes(Reader reader) {
  kj::Array<capnp::word> words = capnp::canonicalize(reader);  // kept alive for the copy
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Reads `bytes` as one segment and calls fn(root) with the root as a T::Reader; returns what fn
// returns. Corruption "<what> has an impossible size" or "<what> does not decode" otherwise
// (a Cap'n Proto exception inside fn counts as not decoding). `max_bytes` bounds the size.
template <typename T, typename Fn>
Status ReadCanonical(std::string_view bytes, std::string_view what, Fn&& fn,
                     size_t max_bytes = size_t{64} << 20) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0 || bytes.size() > max_bytes) {
    return Status::Corruption(std::string(what) + " has an impossible size");
  }
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
  // The traversal limit follows the size: with capnp's default (64 MiB of reads) a list of
  // zero-sized elements, a few bytes long, decodes as millions of entries (found by fuzzing a
  // 1200-byte view row that made gigabytes of consents). fn may read each part a few times.
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words.size() * 64 + 4096;
  Status status = Status::Ok();
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1), options);
    status = fn(reader.getRoot<T>());
  });
  if (error != nullptr) return Status::Corruption(std::string(what) + " does not decode");
  return status;
}

}  // namespace kirjuri
