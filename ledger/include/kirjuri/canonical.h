// Canonical Cap'n Proto bytes (capnp::canonicalize: one segment, no segment table), the form in
// which Kirjuri stores and signs every struct, and reading them back. One piece of code for the
// ledger's records and the views' rows alike.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <sodium.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "kirjuri/status.h"

namespace kirjuri {

// The canonical words of a struct `reader`, exactly as capnp::canonicalize computes them (a
// canonical deep copy, PointerBuilder::setStruct(…, canonical = true), into a new message whose
// root pointer is its first word), but made in `scratch` rather than on the heap: without
// canonicalize's size pass, its two heap arrays and its self-check pass, which together cost as
// much as the copy on the append path. A copy that does not fit in `scratch` is made by
// capnp::canonicalize itself.
//
// REQUIRES: `scratch` is zeroed and outlives the copy, and nothing else uses it meanwhile. The
// copy zeroes what it used when destroyed, so the scratch can serve again and a plaintext copied
// into it does not linger (a heap fallback is wiped too).
class CanonicalCopy {
 public:
  template <typename Reader>
  CanonicalCopy(Reader reader, kj::ArrayPtr<capnp::word> scratch) : builder_(scratch) {
    capnp::_::PointerHelpers<capnp::AnyPointer>::getInternalBuilder(
        builder_.initRoot<capnp::AnyPointer>())
        .setStruct(capnp::_::PointerHelpers<capnp::FromReader<Reader>>::getInternalReader(reader),
                   /*canonical=*/true);
    auto segments = builder_.getSegmentsForOutput();
    if (segments.size() == 1) {
      words_ = segments[0];
    } else {
      fallback_ = capnp::canonicalize(reader);
      words_ = fallback_.asPtr();
    }
  }
  ~CanonicalCopy() {
    if (fallback_.size() > 0) sodium_memzero(fallback_.begin(), fallback_.asBytes().size());
  }
  CanonicalCopy(const CanonicalCopy&) = delete;
  CanonicalCopy& operator=(const CanonicalCopy&) = delete;

  kj::ArrayPtr<const capnp::word> words() const { return words_; }
  kj::ArrayPtr<const kj::byte> bytes() const { return words_.asBytes(); }

 private:
  capnp::MallocMessageBuilder builder_;
  kj::Array<capnp::word> fallback_;
  kj::ArrayPtr<const capnp::word> words_;
};

// A zeroed scratch segment of this thread's for CanonicalBytes (never nested: each call is done
// with it before it returns).
inline kj::ArrayPtr<capnp::word> CanonicalBytesScratch() {
  constexpr size_t kWords = 1024;
  thread_local std::unique_ptr<capnp::word[]> words(new capnp::word[kWords]());  // zeroed
  return kj::arrayPtr(words.get(), kWords);
}

// The canonical bytes of `reader` (a struct Reader).
template <typename Reader>
std::string CanonicalBytes(Reader reader) {
  CanonicalCopy copy(reader, CanonicalBytesScratch());
  auto bytes = copy.bytes();
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
