// Fuzz target: a Cap'n Proto message as it comes from the network (segment table first), read
// with FlatArrayMessageReader under explicit limits as the structs the service exchanges
// (SignedEvent, Event, DeletionReport): walked in full, canonicalised, encoded as JSON; and the
// same bytes as JSON text decoded into those structs with capnp's JSON codec. Malformed input
// must end in a kj::Exception (what our decode boundaries turn into a Status), never a crash.
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>
#include <kj/string.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kirjuri/schemas/event.capnp.h"
#include "kirjuri/schemas/report.capnp.h"

namespace {

// Limits as a server sets them for a peer's message: the traversal limit stops a small message
// from making us read far more than it holds (pointers aliasing one another), the nesting limit
// stops deep recursion.
capnp::ReaderOptions NetworkLimits(size_t words) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words * 8 + 1024;
  options.nestingLimit = 32;
  return options;
}

template <typename T>
void ReadAs(kj::ArrayPtr<const capnp::word> words) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::FlatArrayMessageReader reader(words, NetworkLimits(words.size()));
    auto root = reader.getRoot<T>();
    (void)kj::str(root);  // visits every field, through the schema
    (void)capnp::canonicalize(root);
    capnp::JsonCodec json;
    (void)json.encode(root);
  });
  (void)error;
}

template <typename T>
void DecodeJsonAs(kj::ArrayPtr<const char> text) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::JsonCodec json;
    json.setMaxNestingDepth(32);
    capnp::MallocMessageBuilder message;
    json.decode(text, message.initRoot<T>());
    (void)json.encode(message.getRoot<T>().asReader());
  });
  (void)error;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return -1;
  // The reader wants aligned words, as a network buffer gives them.
  auto words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  if (words.size() > 0) std::memcpy(words.begin(), data, words.size() * sizeof(capnp::word));
  ReadAs<kirjuri::schema::SignedEvent>(words);
  ReadAs<kirjuri::schema::Event>(words);
  ReadAs<kirjuri::schema::DeletionReport>(words);

  const auto text = kj::arrayPtr(reinterpret_cast<const char*>(data), size);
  DecodeJsonAs<kirjuri::schema::SignedEvent>(text);
  DecodeJsonAs<kirjuri::schema::DeletionReport>(text);
  return 0;
}
