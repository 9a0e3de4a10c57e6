// The event codec's shortcuts: the signed message taken straight from a stored leaf must be
// byte-identical to "kirjuri/event/v1\n" || capnp::canonicalize(event), and the leaf assembled
// from canonical(event) identical to capnp::canonicalize(SignedEvent), for every kind of event.
#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "event_codec.h"
#include "kirjuri/canonical.h"
#include "kirjuri/ledger.h"

namespace fs = std::filesystem;
using namespace kirjuri;

TEST_CASE("the signed message read from a stored leaf equals the re-encoded one") {
  char tmpl[] = "/tmp/kirjuri-codec-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const fs::path root(tmpl);
  InitOptions init;
  init.master_key_file = root / "master.key";
  REQUIRE(Ledger::Init(root / "data", init).ok());
  OpenOptions open;
  open.master_key_file = root / "master.key";
  std::unique_ptr<Ledger> ledger;
  REQUIRE(Ledger::Open(root / "data", open, &ledger).ok());

  // Events of every shape: sealed groups (one or two), no data, a request, and an erasure.
  const std::string head =
      R"({"register":"customer","type":"recorded","category":"profile","actor":"emp-1",)"
      R"("purpose":"service_delivery","basis":"consent","source":"web_form",)";
  std::vector<NewEvent> events;
  REQUIRE(ledger->ParseLines(head + R"("subject":"new","data":{"name":"A","city":"B"},"ip":"192.0.2.9"})" "\n" +
                                 head + R"("subject":"new","data":{"email":"x@example.fi"},"request":"R-1"})",
                             &events).ok());
  std::vector<Appended> out;
  REQUIRE(ledger->Append(events, &out).ok());
  const std::string id = SubjectIdHex(out[0].subject);
  REQUIRE(ledger->ParseLines(
      R"({"register":"customer","subject":")" + id + R"(","type":"marketing_objected",)"
      R"("category":"consents","actor":"emp-1","purpose":"marketing","basis":"consent",)"
      R"("source":"contact"})", &events).ok());
  REQUIRE(ledger->Append(events, &out).ok());
  uint64_t seq;
  REQUIRE(ledger->Erase({out[0].subject, "R-2", "dpo-01", 0}, &seq).ok());

  int checked = 0;
  std::set<std::string> nonces;
  REQUIRE(ledger->ReadEvents(0, ledger->size(), [&](const EventView& e) {
    DecodedLeaf leaf;
    REQUIRE(leaf.Decode(e.leaf).ok());
    auto canonical = capnp::canonicalize(e.signed_event.getEvent());
    auto bytes = canonical.asBytes();
    std::string expected = "kirjuri/event/v1\n";
    expected.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    std::string shortcut;
    REQUIRE(leaf.SignedMessageFromLayout(&shortcut));  // the shortcut, not the fallback
    CHECK(shortcut == expected);
    CHECK(leaf.SignedMessage() == expected);
    CHECK(CheckEventSignature(leaf, ledger->public_key()));
    // The leaf is assembled from canonical(event) without a second canonicalisation: it must be
    // exactly what capnp::canonicalize makes of the whole SignedEvent.
    auto whole_words = capnp::canonicalize(e.signed_event);
    auto whole = whole_words.asBytes();
    CHECK(std::string(reinterpret_cast<const char*>(whole.begin()), whole.size()) ==
          std::string(reinterpret_cast<const char*>(e.leaf.data()), e.leaf.size()));
    // Sealing nonces are drawn many at once; each group must still get its own.
    for (auto group : e.signed_event.getEvent().getSealed()) {
      auto n = group.getNonce();
      CHECK(n.size() == 24);
      CHECK(nonces.insert(std::string(reinterpret_cast<const char*>(n.begin()), n.size())).second);
    }
    ++checked;
    return Status::Ok();
  }).ok());
  CHECK(checked == 4);
  ledger.reset();
  fs::remove_all(root);
}

namespace {

template <typename Reader>
std::string ViaCanonicalize(Reader reader) {
  auto words = capnp::canonicalize(reader);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

bool AllZero(kj::ArrayPtr<const capnp::word> words) {
  auto bytes = words.asBytes();
  return std::all_of(bytes.begin(), bytes.end(), [](kj::byte b) { return b == 0; });
}

}  // namespace

// CanonicalCopy stands in for capnp::canonicalize on the append path (events, sealing contexts,
// sealed plaintexts): a byte of difference would make signatures and sealed data unreadable.
TEST_CASE("CanonicalCopy makes exactly the bytes capnp::canonicalize makes (in the scratch or beside it)") {
  std::vector<capnp::word> scratch_words(512);  // value-initialised: zero
  auto scratch = kj::arrayPtr(scratch_words.data(), scratch_words.size());
  auto check = [&](auto reader) {
    {
      CanonicalCopy copy(reader, scratch);
      auto bytes = copy.bytes();
      CHECK(std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size()) ==
            ViaCanonicalize(reader));
      CHECK(CanonicalBytes(reader) == ViaCanonicalize(reader));
    }
    // Zeroed again once the copy is gone: the scratch serves the next copy, and no plaintext
    // copied into it stays behind.
    CHECK(AllZero(scratch));
  };

  // Canonical form drops trailing zero data words and null pointers: seq 0 and type 0
  // ("recorded") leave no data word at all; a missing names list drops the last pointer.
  for (uint64_t seq : {uint64_t{0}, uint64_t{7}, ~uint64_t{0}}) {
    for (auto type : {schema::EventType::RECORDED, schema::EventType::SUBJECT_ERASED}) {
      for (unsigned names : {0u, 1u, 9u}) {
        capnp::MallocMessageBuilder message;
        auto ctx = message.initRoot<schema::SealContext>();
        ctx.setSeq(seq);
        ctx.setType(type);
        const uint8_t subject[16] = {1, 2, 3};
        ctx.setSubject(kj::arrayPtr(subject, sizeof subject));
        ctx.setRegister("customer");
        ctx.setCategory(names ? "profile" : "");
        ctx.setGroupCategory("network");
        if (names) {
          auto list = ctx.initNames(names);
          for (unsigned i = 0; i < names; ++i) list.set(i, std::string(i * 5, 'n'));
        }
        INFO("seq " << seq << ", type " << static_cast<int>(type) << ", names " << names);
        check(ctx.asReader());
      }
    }
  }

  // Sealed plaintexts, one value to many, and one too big for the scratch: made by
  // capnp::canonicalize itself, the scratch still left zeroed.
  for (size_t values : {size_t{1}, size_t{8}, size_t{300}}) {
    capnp::MallocMessageBuilder message;
    auto list = message.initRoot<schema::FieldValues>().initValues(static_cast<unsigned>(values));
    for (size_t i = 0; i < values; ++i) list.set(static_cast<unsigned>(i), "\"value " + std::to_string(i) + "\"");
    INFO(values << " values");
    check(message.getRoot<schema::FieldValues>().asReader());
  }
}

namespace {

// A pointer field reached from SignedEvent: the fields on the way (a list of structs is entered
// at its first element), and whether the wrong pointer goes in the field itself or, for a list
// of texts or data, in its first element.
struct PointerTarget {
  std::vector<capnp::StructSchema::Field> path;
  bool in_element = false;
  std::string Name() const {
    std::string name = "SignedEvent";
    for (const auto& f : path) name += "." + std::string(f.getProto().getName().cStr());
    return name + (in_element ? "[0]" : "");
  }
};

// Every pointer field the compiled schema lets a SignedEvent reach (union members included).
void CollectPointers(capnp::StructSchema schema, std::vector<capnp::StructSchema::Field> path,
                     std::vector<PointerTarget>* out) {
  REQUIRE(path.size() < 8);  // no recursive types in the schema
  for (capnp::StructSchema::Field field : schema.getFields()) {
    // A named group's fields share its struct: nothing here handles that yet.
    REQUIRE_FALSE(field.getProto().isGroup());
    std::vector<capnp::StructSchema::Field> here = path;
    here.push_back(field);
    const capnp::Type type = field.getType();
    switch (type.which()) {
      case capnp::schema::Type::TEXT:
      case capnp::schema::Type::DATA: out->push_back({here, false}); break;
      case capnp::schema::Type::STRUCT:
        out->push_back({here, false});
        CollectPointers(type.asStruct(), here, out);
        break;
      case capnp::schema::Type::LIST: {
        out->push_back({here, false});
        const capnp::Type element = type.asList().getElementType();
        if (element.isStruct()) {
          CollectPointers(element.asStruct(), here, out);
        } else if (element.isText() || element.isData()) {
          out->push_back({here, true});
        } else {
          // Lists of lists or of AnyPointer: extend this test (and the decoder's walk).
          REQUIRE((element.isVoid() || element.isBool() || element.isInt8() || element.isInt16() ||
                   element.isInt32() || element.isInt64() || element.isUInt8() ||
                   element.isUInt16() || element.isUInt32() || element.isUInt64() ||
                   element.isFloat32() || element.isFloat64() || element.isEnum()));
        }
        break;
      }
      case capnp::schema::Type::ANY_POINTER:
      case capnp::schema::Type::INTERFACE: FAIL("a field of a kind this test does not plant");
      default: break;  // scalars and enums: any bits are a value
    }
  }
}

// A SignedEvent whose structs on the way to the target exist and whose target holds a valid
// value (its union member chosen); with `plant`, the target's pointer then points at something
// of the wrong kind. Returned in canonical form, as a leaf is stored.
std::string EventWithTarget(const PointerTarget& t, bool plant) {
  capnp::MallocMessageBuilder message;
  capnp::DynamicStruct::Builder at = capnp::toDynamic(message.initRoot<schema::SignedEvent>());
  for (size_t i = 0; i + 1 < t.path.size(); ++i) {
    const capnp::Type type = t.path[i].getType();
    if (type.isList()) {
      at = at.init(t.path[i], 1).as<capnp::DynamicList>()[0].as<capnp::DynamicStruct>();
    } else {
      at = at.init(t.path[i]).as<capnp::DynamicStruct>();
    }
  }
  const capnp::StructSchema::Field field = t.path.back();
  const capnp::Type type = field.getType();
  const kj::byte bytes[3] = {'x', 'y', 'z'};  // as a Text: no NUL terminator
  const capnp::Data::Reader no_nul(bytes, sizeof bytes);
  if (type.isText()) at.set(field, capnp::Text::Reader("x"));
  else if (type.isData()) at.set(field, no_nul);
  else if (type.isStruct()) at.init(field);
  else at.init(field, 1);
  if (plant) {
    capnp::AnyStruct::Builder any = at;
    capnp::AnyPointer::Builder pointer =
        any.getPointerSection()[field.getProto().getSlot().getOffset()];
    if (t.in_element) {
      auto list = pointer.initAsAnyList(capnp::ElementSize::POINTER, 1)
                      .as<capnp::List<capnp::AnyPointer>>();
      if (type.asList().getElementType().isText()) list[0].setAs<capnp::Data>(no_nul);
      else list[0].initAsAnyStruct(1, 0);
    } else if (type.isText() || type.isStruct()) {
      pointer.setAs<capnp::Data>(no_nul);  // a text without NUL; a list where a struct belongs
    } else {
      pointer.initAsAnyStruct(1, 0);  // a struct where data or a list belongs
    }
  }
  return ViaCanonicalize(message.getRoot<schema::SignedEvent>().asReader());
}

}  // namespace

// Decoding reads every part of a stored event once, so that no reader trusting a decoded event
// meets a kj::Exception later. A canonical message can still hold a pointer of the wrong kind
// (isCanonical checks layout, not types): each one, in each pointer field the schema has, must
// make Decode refuse the event. A field added to the schema but not to the decoder fails here.
TEST_CASE("decoding a stored event refuses a wrong-typed pointer in any field the schema has") {
  std::vector<PointerTarget> targets;
  CollectPointers(capnp::Schema::from<schema::SignedEvent>(), {}, &targets);
  CHECK(targets.size() > 40);
  for (const PointerTarget& t : targets) {
    INFO(t.Name());
    const std::string valid = EventWithTarget(t, false);
    const std::string planted = EventWithTarget(t, true);
    REQUIRE(valid != planted);
    DecodedLeaf leaf;
    CHECK(leaf.Decode(AsSpan(valid)).ok());
    Status s = leaf.Decode(AsSpan(planted));
    CHECK(s.IsCorruption());
  }
}
