// Tests for kirjuri/ledger.h: the append-only signed log on RocksDB, its atomic appends, its
// verification against tampering done directly inside RocksDB, the `kirjuri` command line, and
// its durability when the appending process is killed at random moments.
#include "kirjuri/ledger.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kirjuri/crypto.h"
#include "kirjuri/merkle.h"
#include "kirjuri/note.h"
#include "ledger_fixture.h"

extern char** environ;

namespace kirjuri::test {
namespace {

using testing::CompleteLines;
using testing::HasRunningChild;
using testing::kSanitized;
using testing::ParseAck;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}


void WriteFile(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// An input line as (key, raw JSON value) pairs, so that cases can change one part of it.
using Fields = std::vector<std::pair<std::string, std::string>>;

Fields LineFields(std::string_view person, std::string_view subject = "new") {
  return {{"register", Quoted("customer")},
          {"subject", Quoted(subject)},
          {"type", Quoted("recorded")},
          {"category", Quoted("profile")},
          {"actor", Quoted("emp-0001")},
          {"purpose", Quoted("service_delivery")},
          {"basis", Quoted("consent")},
          {"source", Quoted("web_form")},
          {"data", R"({"name":)" + Quoted(person) + "}"}};
}

Fields Set(Fields f, const std::string& key, const std::string& raw) {
  for (auto& [k, v] : f) {
    if (k == key) {
      v = raw;
      return f;
    }
  }
  f.emplace_back(key, raw);
  return f;
}

Fields Drop(Fields f, const std::string& key) {
  f.erase(std::remove_if(f.begin(), f.end(), [&](const auto& kv) { return kv.first == key; }),
          f.end());
  return f;
}

std::string ToLine(const Fields& f) {
  std::string out = "{";
  for (size_t i = 0; i < f.size(); ++i) {
    if (i) out += ",";
    out += Quoted(f[i].first) + ":" + f[i].second;
  }
  return out + "}";
}

SubjectId RandomSubject() {
  static std::mt19937_64 rng{std::random_device{}()};
  SubjectId id;
  for (auto& b : id) b = static_cast<uint8_t>(rng());
  return id;
}

// What a test needs of one stored event.
struct Stored {
  uint64_t seq = 0;
  uint64_t envelope_seq = 0;
  SubjectId subject{};
  std::string actor;
  std::string leaf;
  std::vector<std::pair<std::string, std::string>> fields;  // name -> JSON text, opened
};

std::vector<Stored> ReadAll(Ledger& ledger, uint64_t from = 0, uint64_t to = UINT64_MAX,
                            Status* status = nullptr) {
  std::vector<Stored> out;
  Status s = ledger.ReadEvents(from, to, [&](const EventView& e) {
    Stored st;
    st.seq = e.seq;
    auto env = e.signed_event.getEvent().getEnvelope();
    st.envelope_seq = env.getSeq();
    auto subj = env.getSubject();
    REQUIRE(subj.size() == 16);
    std::memcpy(st.subject.data(), subj.begin(), 16);
    st.actor = env.getActor();
    st.leaf.assign(reinterpret_cast<const char*>(e.leaf.data()), e.leaf.size());
    std::vector<FieldValue> values;
    Status fs = ledger.ReadFields(e, &values);
    INFO("seq " << e.seq << ": " << fs.ToString());
    REQUIRE(fs.ok());
    for (const FieldValue& v : values) {
      REQUIRE(v.json);
      st.fields.emplace_back(v.name, *v.json);
    }
    out.push_back(std::move(st));
    return Status::Ok();
  });
  if (status) {
    *status = s;
  } else {
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  return out;
}

std::vector<uint64_t> SubjectSeqs(Ledger& ledger, const SubjectId& subject) {
  std::vector<uint64_t> out;
  Status s = ledger.ReadSubjectEvents(subject, [&](const EventView& e) {
    out.push_back(e.seq);
    return Status::Ok();
  });
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

// RFC 9162 MTH over leaf hashes, computed here from the definition.
merkle::Hash Mth(std::span<const merkle::Hash> leaves) {
  if (leaves.empty()) return merkle::EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  size_t k = 1;
  while (k * 2 < leaves.size()) k *= 2;
  return merkle::NodeHash(Mth(leaves.first(k)), Mth(leaves.subspan(k)));
}

merkle::Hash HashFromHex(std::string_view hex) {
  std::vector<uint8_t> bytes;
  REQUIRE(HexDecode(hex, &bytes).ok());
  REQUIRE(bytes.size() == 32);
  merkle::Hash h;
  std::memcpy(h.data(), bytes.data(), 32);
  return h;
}

merkle::Hash SomeHash(uint8_t fill) {
  merkle::Hash h;
  h.fill(fill);
  return h;
}

// Changes an event's personal data (a bit of the first sealed group's ciphertext, or the first
// unsealed field's value) or the name of its first field, wherever the schema keeps them
// (looked up by name, so this follows the layout of schemas/event.capnp as it grows).
void AlterPersonalData(schema::SignedEvent::Builder e, bool name) {
  capnp::DynamicStruct::Builder event = capnp::toDynamic(e.getEvent());
  KJ_IF_MAYBE (sealed, event.getSchema().findFieldByName("sealed")) {
    if (event.has(*sealed)) {
      auto groups = event.get(*sealed).as<capnp::DynamicList>();
      if (groups.size() > 0) {
        auto group = groups[0].as<capnp::DynamicStruct>();
        if (name) {
          auto names = group.get("names").as<capnp::DynamicList>();
          REQUIRE(names.size() > 0);
          names.set(0, capnp::Text::Reader("email"));
        } else {
          auto ciphertext = group.get("ciphertext").as<capnp::Data>();
          REQUIRE(ciphertext.size() > 0);
          ciphertext[0] ^= 0x01;
        }
        return;
      }
    }
  }
  auto fields = e.getEvent().getFields();
  REQUIRE(fields.size() > 0);
  if (name) {
    fields[0].setName("email");
  } else {
    fields[0].setPlain("\"Someone Else\"");
  }
}

// The checks of a Verify that must fail on an event's fault at `seq`.
void RequireFaultAt(const std::pair<Status, VerifyResult>& r, uint64_t seq) {
  INFO("verify said: " << r.first.ToString());
  REQUIRE(r.first.IsCorruption());
  REQUIRE(r.second.first_bad_seq.has_value());
  CHECK(*r.second.first_bad_seq == seq);
  CHECK(StartsWith(r.first.message(), "seq " + std::to_string(seq) + ":"));
}

void RequireVerifyOk(const std::pair<Status, VerifyResult>& r) {
  INFO("verify said: " << r.first.ToString());
  REQUIRE(r.first.ok());
  CHECK_FALSE(r.second.first_bad_seq.has_value());
}

// Verify (full, then tree only) of the closed ledger in `f` must name `seq`. Leaves it closed.
void RequireBothModesFailAt(LedgerFixture& f, uint64_t seq) {
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  {
    INFO("full verification");
    RequireFaultAt(f.Verify(), seq);
  }
  {
    INFO("tree-only verification");
    RequireFaultAt(f.VerifyTreeOnly(), seq);
  }
  f.Close();
}

void RequireBothModesOk(LedgerFixture& f) {
  f.Reopen();
  RequireVerifyOk(f.Verify());
  RequireVerifyOk(f.VerifyTreeOnly());
  f.Close();
}

// A ledger of `n` events appended in batches of `batch` (so checkpoints at multiples of it).
void BuildLedger(LedgerFixture& f, uint64_t n, uint64_t batch) {
  f.InitAndOpen();
  f.AppendN(n, batch);
  REQUIRE(f.ledger().size() == n);
  f.Close();
}

// ---- running the CLI ----

// A parsed JSON object (Cap'n Proto's JSON codec, raw mode).
class JsonObject {
 public:
  explicit JsonObject(std::string_view text) {
    auto root = message_.initRoot<capnp::JsonValue>();
    capnp::JsonCodec codec;
    kj::Maybe<kj::Exception> error = kj::runCatchingExceptions(
        [&] { codec.decodeRaw(kj::ArrayPtr<const char>(text.data(), text.size()), root); });
    INFO("JSON: " << text);
    REQUIRE(error == nullptr);
    REQUIRE(root.isObject());
  }
  bool Has(std::string_view key) const {
    for (auto f : Root().getObject()) {
      if (std::string_view(f.getName().cStr()) == key) return true;
    }
    return false;
  }
  capnp::JsonValue::Reader Get(std::string_view key) const {
    for (auto f : Root().getObject()) {
      if (std::string_view(f.getName().cStr()) == key) return f.getValue();
    }
    FAIL("JSON object has no '" << key << "'");
    return {};
  }
  std::string Str(std::string_view key) const {
    auto v = Get(key);
    REQUIRE(v.isString());
    return v.getString();
  }
  uint64_t Num(std::string_view key) const {
    auto v = Get(key);
    REQUIRE(v.isNumber());
    return static_cast<uint64_t>(v.getNumber());
  }
  bool Bool(std::string_view key) const {
    auto v = Get(key);
    REQUIRE(v.isBoolean());
    return v.getBoolean();
  }
  std::vector<merkle::Hash> Hashes(std::string_view key) const {
    auto v = Get(key);
    REQUIRE(v.isArray());
    std::vector<merkle::Hash> out;
    for (auto h : v.getArray()) {
      REQUIRE(h.isString());
      out.push_back(HashFromHex(h.getString().cStr()));
    }
    return out;
  }

 private:
  capnp::JsonValue::Reader Root() const {
    return const_cast<capnp::MallocMessageBuilder&>(message_)
        .getRoot<capnp::JsonValue>()
        .asReader();
  }
  capnp::MallocMessageBuilder message_;
};

// ============================================================================================

TEST_CASE("Init creates an owner-only key file, and a second init fails leaving the ledger intact",
          "[ledger]") {
  LedgerFixture f;
  {
    Status s = f.Init();
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  struct stat st;
  REQUIRE(stat((f.data() / "ledger.key").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  REQUIRE(stat(f.log_dir().c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0700);

  f.Reopen();
  CHECK(f.ledger().size() == 0);
  f.AppendN(5, 2);
  std::string note_before;
  REQUIRE(f.ledger().LatestCheckpoint(&note_before).ok());
  f.Close();
  const std::string key_before = ReadFile(f.data() / "ledger.key");
  REQUIRE_FALSE(key_before.empty());

  Status again = f.Init();
  CHECK(again.code() == Status::Code::kFailedPrecondition);
  InitOptions other;
  other.origin = "kirjuri.example/another";
  CHECK(f.Init(other).code() == Status::Code::kFailedPrecondition);

  CHECK(ReadFile(f.data() / "ledger.key") == key_before);
  f.Reopen();
  CHECK(f.ledger().size() == 5);
  std::string note_after;
  REQUIRE(f.ledger().LatestCheckpoint(&note_after).ok());
  CHECK(note_after == note_before);
  RequireVerifyOk(f.Verify());
}

TEST_CASE("An origin that a signed note cannot carry is refused at init, and nothing is made",
          "[ledger]") {
  for (const char* origin :
       {"kirjuri.example/with space", "kirjuri.example/a+b", "kirjuri.example/\tx"}) {
    LedgerFixture f;
    InitOptions options;
    options.origin = origin;
    Status s = f.Init(options);
    INFO(s.ToString());
    CHECK(s.IsInvalidArgument());
    CHECK(s.message() == "an origin has no spaces, control characters or '+'");
    CHECK_FALSE(fs::exists(f.data()));
    CHECK_FALSE(fs::exists(DefaultMasterKeyPath(f.data())));
  }
}

TEST_CASE("A master key file inside the data directory is refused, at init and at rotation",
          "[ledger][keys]") {
  SECTION("init, the file absent: nothing is made") {
    LedgerFixture f;
    InitOptions options;
    options.master_key_file = f.data() / "master.key";
    Status s = f.Init(options);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message() == "the master key file must be kept outside the data directory");
    CHECK_FALSE(fs::exists(f.data()));
  }
  SECTION("init, the file there already, or reached through a link: no ledger is made") {
    LedgerFixture f;
    fs::create_directories(f.data());
    const std::string key = "0123456789abcdef0123456789abcdef";
    testing::WriteText(f.data() / "master.key", key);
    const fs::path link = f.data().parent_path() / "link-to-data";
    fs::create_directory_symlink(f.data(), link);
    for (const fs::path& file : {f.data() / "master.key", link / "another.key"}) {
      InitOptions options;
      options.master_key_file = file;
      Status s = f.Init(options);
      INFO(file << ": " << s.ToString());
      CHECK(s.IsInvalidArgument());
      CHECK_FALSE(fs::exists(f.log_dir()));
      CHECK_FALSE(fs::exists(f.data() / "ledger.key"));
    }
    CHECK_FALSE(fs::exists(f.data() / "another.key"));
    CHECK(ReadFile(f.data() / "master.key") == key);
  }
  SECTION("rotation: the key in force stays") {
    LedgerFixture f;
    f.InitAndOpen();
    f.AppendN(3, 3);
    const fs::path inside = f.data() / "rotated.key";
    Status s = f.ledger().RotateMasterKey(inside);
    CHECK(s.IsInvalidArgument());
    CHECK_FALSE(fs::exists(inside));
    f.Reopen();  // with the key it had
    RequireVerifyOk(f.Verify());
  }
}

TEST_CASE("Opening a directory that holds no ledger is NotFound", "[ledger]") {
  TempDir dir;
  std::unique_ptr<Ledger> ledger;
  Status s = Ledger::Open(dir.path() / "nothing-here", OpenOptions(), &ledger);
  CHECK(s.IsNotFound());
  CHECK_FALSE(ledger);
}

TEST_CASE("Appended events get gap-free sequence numbers from 0 and read back in order",
          "[ledger]") {
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<Appended> appended = f.AppendN(10, 3);
  REQUIRE(appended.size() == 10);
  for (uint64_t i = 0; i < appended.size(); ++i) CHECK(appended[i].seq == i);
  CHECK(f.ledger().size() == 10);

  std::vector<Stored> all = ReadAll(f.ledger());
  REQUIRE(all.size() == 10);
  for (uint64_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].seq == i);
    CHECK(all[i].envelope_seq == i);
    CHECK(all[i].subject == appended[i].subject);
    REQUIRE(all[i].fields.size() == 1);
    CHECK(all[i].fields[0].first == "name");
    CHECK(all[i].fields[0].second == "\"" + PersonName(i) + "\"");
  }

  SECTION("a sub-range, and a range past the end, are clamped") {
    std::vector<Stored> part = ReadAll(f.ledger(), 3, 7);
    REQUIRE(part.size() == 4);
    CHECK(part.front().seq == 3);
    CHECK(part.back().seq == 6);
    CHECK(ReadAll(f.ledger(), 8, 1000).size() == 2);
    CHECK(ReadAll(f.ledger(), 10, 20).empty());
  }
  SECTION("a callback's error stops the read and is returned") {
    int calls = 0;
    Status s = f.ledger().ReadEvents(0, 10, [&](const EventView&) {
      return ++calls == 4 ? Status::NotFound("stop") : Status::Ok();
    });
    CHECK(s.IsNotFound());
    CHECK(calls == 4);
  }
  SECTION("after reopening, the sequence continues where it stopped") {
    f.Reopen();
    CHECK(f.ledger().size() == 10);
    std::vector<Appended> more = f.AppendN(4, 4);
    for (uint64_t i = 0; i < more.size(); ++i) CHECK(more[i].seq == 10 + i);
    CHECK(ReadAll(f.ledger()).size() == 14);
    RequireVerifyOk(f.Verify());
  }
  SECTION("an empty append writes nothing") {
    std::vector<Appended> out;
    REQUIRE(f.ledger().Append({}, &out).ok());
    CHECK(out.empty());
    REQUIRE(f.AppendLines("\n  \n").ok());
    CHECK(f.ledger().size() == 10);
  }
}

TEST_CASE(
    "New subjects get distinct random 16-byte ids and ReadSubjectEvents returns one subject's "
    "events",
    "[ledger]") {
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<Appended> first = f.AppendN(4, 4);  // seqs 0..3
  std::set<SubjectId> ids;
  for (const Appended& a : first) {
    CHECK(a.subject != SubjectId{});
    ids.insert(a.subject);
  }
  CHECK(ids.size() == 4);

  const SubjectId s1 = first[1].subject;
  const std::string s1_hex = SubjectIdHex(s1);
  CHECK(s1_hex.size() == 32);
  SubjectId parsed;
  REQUIRE(ParseSubjectId(s1_hex, &parsed).ok());
  CHECK(parsed == s1);

  // Existing-subject appends, mixed with a new subject.
  std::vector<Appended> out;
  Status s = f.AppendLines(
      ValidLine(100, s1_hex) + "\n" + ValidLine(101) + "\n" + ValidLine(102, s1_hex) + "\n", &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(out.size() == 3);
  CHECK(out[0].seq == 4);
  CHECK(out[0].subject == s1);
  CHECK(out[1].subject != s1);
  CHECK_FALSE(ids.count(out[1].subject));
  CHECK(out[2].seq == 6);
  CHECK(out[2].subject == s1);

  CHECK(SubjectSeqs(f.ledger(), s1) == std::vector<uint64_t>{1, 4, 6});
  CHECK(SubjectSeqs(f.ledger(), first[0].subject) == std::vector<uint64_t>{0});
  CHECK(SubjectSeqs(f.ledger(), out[1].subject) == std::vector<uint64_t>{5});
  // Every event returned carries the subject asked for.
  Status rs = f.ledger().ReadSubjectEvents(s1, [&](const EventView& e) {
    auto subj = e.signed_event.getEvent().getEnvelope().getSubject();
    CHECK(std::equal(subj.begin(), subj.end(), s1.begin(), s1.end()));
    return Status::Ok();
  });
  REQUIRE(rs.ok());

  SECTION("an unknown subject id is refused and nothing is written") {
    SubjectId unknown = RandomSubject();
    CHECK(SubjectSeqs(f.ledger(), unknown).empty());
    Status bad =
        f.AppendLines(ValidLine(200) + "\n" + ValidLine(201, SubjectIdHex(unknown)) + "\n");
    INFO(bad.ToString());
    CHECK(bad.IsInvalidArgument());
    CHECK(StartsWith(bad.message(), "line 2:"));
    CHECK(Contains(bad.message(), "not in the ledger"));
    CHECK(f.ledger().size() == 7);
  }
  SECTION("an unknown subject id given through the API is named by event position") {
    NewEvent e = ValidEvent(300);
    e.subject = RandomSubject();
    std::vector<NewEvent> events = {ValidEvent(299), e};
    std::vector<Appended> o;
    Status bad = f.ledger().Append(events, &o);
    INFO(bad.ToString());
    CHECK(bad.IsInvalidArgument());
    CHECK(StartsWith(bad.message(), "event 2:"));
    CHECK(f.ledger().size() == 7);
  }
  SECTION("a subject of another register is refused") {
    Fields partner = Set(Set(LineFields("Test Person X", s1_hex), "register", Quoted("partner")),
                         "purpose", Quoted("partnership"));
    Status bad = f.AppendLines(ToLine(partner) + "\n");
    INFO(bad.ToString());
    CHECK(bad.IsInvalidArgument());
    CHECK(StartsWith(bad.message(), "line 1:"));
    CHECK(Contains(bad.message(), "customer register"));
    CHECK(f.ledger().size() == 7);
    // The same line with a new subject is fine: the refusal was about the subject.
    REQUIRE(f.AppendLines(ToLine(Set(partner, "subject", Quoted("new"))) + "\n").ok());
    CHECK(f.ledger().size() == 8);
  }
}

TEST_CASE("The column families hold exactly the documented keys", "[ledger][format]") {
  LedgerFixture f;
  constexpr uint64_t kN = 300;  // crosses 256, so byte order matters
  f.InitAndOpen();
  std::vector<Appended> appended = f.AppendN(kN, 100);
  f.Close();

  std::vector<std::pair<std::string, std::string>> events = f.ScanRaw(kEventsCf);
  REQUIRE(events.size() == kN);
  for (uint64_t i = 0; i < kN; ++i) {
    REQUIRE(events[i].first.size() == 8);
    CHECK(events[i].first == SeqKey(i));
    CHECK(ReadBigEndian64(events[i].first) == i);
  }

  // tree: one node per complete subtree; a leaf node is the leaf hash of the stored event.
  std::vector<std::pair<std::string, std::string>> tree = f.ScanRaw(kTreeCf);
  uint64_t nodes = 0;
  for (uint64_t n = kN; n; n >>= 1) nodes += n;
  CHECK(tree.size() == nodes);
  RawDb db = f.Raw();
  for (uint64_t i = 0; i < kN; ++i) {
    std::optional<std::string> leaf = db.Get(kTreeCf, NodeKey(0, i));
    REQUIRE(leaf);
    merkle::Hash h = merkle::LeafHash(AsBytes(events[i].second));
    CHECK(*leaf == std::string(reinterpret_cast<const char*>(h.data()), 32));
  }
  for (const auto& [key, value] : tree) {
    CHECK(key.size() == 9);
    CHECK(value.size() == 32);
  }

  // checkpoints: one per append, keyed by tree size (0 from init).
  std::vector<std::pair<std::string, std::string>> cps = db.Scan(kCheckpointsCf);
  REQUIRE(cps.size() == 4);
  for (size_t i = 0; i < cps.size(); ++i) CHECK(cps[i].first == SeqKey(i * 100));

  // subjects: subject id || seq, empty values.
  std::vector<std::pair<std::string, std::string>> subjects = db.Scan(kSubjectsCf);
  REQUIRE(subjects.size() == kN);
  std::set<std::string> expected;
  for (const Appended& a : appended) expected.insert(SubjectKey(a.subject, a.seq));
  for (const auto& [key, value] : subjects) {
    CHECK(key.size() == 24);
    CHECK(value.empty());
    CHECK(expected.count(key));
  }
}

// The line decoder matches keys itself (not through the codec's reflection): it must know
// every field of the documented contract, schema::InputLine, and take nothing else.
TEST_CASE("Every field of InputLine is read from a line, as a string (data: an object)",
          "[ledger][append]") {
  LedgerFixture f;
  f.InitAndOpen();
  const Fields base = LineFields("Test Person");
  for (capnp::StructSchema::Field field :
       capnp::Schema::from<kirjuri::schema::InputLine>().getFields()) {
    const std::string name = field.getProto().getName();
    INFO("field " << name);
    std::vector<NewEvent> events;
    Status s = f.ledger().ParseLines(ToLine(Set(base, name, "7")), &events);
    CHECK(s.IsInvalidArgument());
    CHECK(Contains(s.message(), name == "data" ? std::string("'data' must be a JSON object")
                                               : "field '" + name + "' must be a string"));
  }
  // null is absent: a required field missing, an optional one left out.
  std::vector<NewEvent> events;
  Status s = f.ledger().ParseLines(ToLine(Set(base, "purpose", "null")), &events);
  CHECK(Contains(s.message(), "missing field 'purpose'"));
  REQUIRE(f.ledger().ParseLines(ToLine(Set(base, "request", "null")), &events).ok());
  CHECK(events.at(0).request.empty());
  // Every field given: each lands where it belongs.
  Fields all = Set(base, "request", Quoted("REQ-1"));
  all = Set(all, "at", Quoted("2026-03-03T12:00:00Z"));
  all = Set(all, "ip", Quoted("192.0.2.7"));
  all = Set(all, "data", R"({"name":"Test Person","city":"Oulu"})");
  REQUIRE(f.ledger().ParseLines(ToLine(all), &events).ok());
  REQUIRE(events.size() == 1);
  const NewEvent& e = events[0];
  CHECK(e.register_name == "customer");
  CHECK_FALSE(e.subject.has_value());
  CHECK(e.type == "recorded");
  CHECK(e.category == "profile");
  CHECK(e.actor == "emp-0001");
  CHECK(e.purpose == "service_delivery");
  CHECK(e.basis == "consent");
  CHECK(e.source == "web_form");
  CHECK(e.request == "REQ-1");
  CHECK(e.occurred_at_micros == int64_t{1772539200} * 1000000);
  CHECK(e.ip == std::optional<std::string>("\"192.0.2.7\""));
  const Fields data = {{"name", "\"Test Person\""}, {"city", "\"Oulu\""}};
  CHECK(e.data == data);
}

TEST_CASE("A batch with one bad line appends nothing and names the line without personal data",
          "[ledger][append]") {
  const std::string kSecret = "Salainen Henkilo";
  const Fields base = LineFields(kSecret);
  struct Case {
    const char* name;
    std::string line;
    const char* reason;  // a part of the expected message
  };
  std::string truncated = ToLine(base);
  truncated.resize(truncated.size() - 3);
  const std::vector<Case> cases = {
      {"malformed JSON", truncated, "malformed JSON"},
      {"not a JSON object", "[" + Quoted(kSecret) + "]", "expected a JSON object"},
      {"unknown register", ToLine(Set(base, "register", Quoted("suppliers"))),
       "unknown register 'suppliers'"},
      {"unknown type", ToLine(Set(base, "type", Quoted("deleted"))), "unknown event type"},
      {"a type only Kirjuri writes", ToLine(Set(base, "type", Quoted("subject_erased"))),
       "unknown event type"},
      {"unknown category", ToLine(Set(base, "category", Quoted("medical_history"))),
       "category 'medical_history'"},
      {"unknown data field",
       ToLine(Set(base, "data", R"({"shoe_size":)" + Quoted(kSecret + " 44") + "}")),
       "field 'shoe_size' is not declared"},
      {"missing required field", ToLine(Drop(base, "purpose")), "missing field 'purpose'"},
      {"unknown top-level field",
       ToLine(Set(base, "email", Quoted("salainen.henkilo@example.com"))), "unknown field 'email'"},
      {"a top-level field given twice",
       "{\"purpose\":\"marketing\"," + ToLine(base).substr(1), "field 'purpose' given twice"},
      {"a top-level field that is not a string", ToLine(Set(base, "actor", "7")),
       "field 'actor' must be a string"},
      {"a lawful basis the policy does not declare",
       ToLine(Set(base, "basis", Quoted("vital_interest"))),
       "lawful basis 'vital_interest' is not declared in the policy"},
      {"a subject that is neither new nor an id", ToLine(Set(base, "subject", Quoted(kSecret))),
       "'subject' must be \"new\" or a subject id of 32 hex digits"},
      {"a request reference that is a name", ToLine(Set(base, "request", Quoted(kSecret))),
       "a request reference is 1-128 letters"},
      {"a disclosure without its country",
       ToLine(Set(Set(Set(base, "type", Quoted("disclosed")), "basis", Quoted("legal_obligation")),
                  "data", R"({"recipient":"Verohallinto"})")),
       "'disclosed' needs 'recipient' and 'country' in 'data'"},
      {"a password field",
       ToLine(Set(base, "data",
                  R"({"name":)" + Quoted(kSecret) + R"(,"password":"Salainen-hunter2"})")),
       "'password'"},
      {"a purpose not declared for the register",
       ToLine(Set(base, "purpose", Quoted("partnership"))), "purpose 'partnership'"},
      {"a data value that is an object",
       ToLine(Set(base, "data", R"({"name":{"first":)" + Quoted(kSecret) + "}}")),
       "field 'name' must be"},
      {"an actor that is an email address",
       ToLine(Set(base, "actor", Quoted("salainen.henkilo@example.com"))), "'actor'"},
      {"recorded without data", ToLine(Set(base, "data", "{}")), "non-empty 'data'"},
      {"a subject id that does not exist",
       ToLine(Set(base, "subject", Quoted(SubjectIdHex(RandomSubject())))), "not in the ledger"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("line 4 has " << c.name) {
      LedgerFixture f;
      f.InitAndOpen();
      f.AppendN(3, 3);
      std::string root_before;
      REQUIRE(f.ledger().LatestCheckpoint(&root_before).ok());

      std::string text = ValidLine(10) + "\n" + ValidLine(11) + "\n" + ValidLine(12) + "\n" +
                         c.line + "\n" + ValidLine(14) + "\n";
      Status s = f.AppendLines(text);
      INFO("line 4: " << c.line);
      INFO("status: " << s.ToString());
      CHECK(s.IsInvalidArgument());
      CHECK(StartsWith(s.message(), "line 4:"));
      CHECK(Contains(s.message(), c.reason));
      for (const char* personal :
           {"Salainen", "salainen", "hunter2", "Test Person", "example.com"}) {
        CHECK_FALSE(Contains(s.message(), personal));
      }
      CHECK(f.ledger().size() == 3);

      f.Reopen();
      CHECK(f.ledger().size() == 3);
      std::string root_after;
      REQUIRE(f.ledger().LatestCheckpoint(&root_after).ok());
      CHECK(root_after == root_before);
      RequireVerifyOk(f.Verify());
      // The ledger takes the good lines afterwards.
      REQUIRE(f.AppendLines(ValidLines(20, 2)).ok());
      CHECK(f.ledger().size() == 5);
    }
  }
  SECTION("blank lines count in line numbers") {
    LedgerFixture f;
    f.InitAndOpen();
    std::string text = ValidLine(1) + "\n\n" + ValidLine(3) + "\r\n" +
                       ToLine(Set(base, "type", Quoted("deleted"))) + "\n" + ValidLine(5) + "\n";
    Status s = f.AppendLines(text);
    INFO(s.ToString());
    CHECK(s.IsInvalidArgument());
    CHECK(StartsWith(s.message(), "line 4:"));
    CHECK(f.ledger().size() == 0);
  }
}

TEST_CASE("Verify passes on a fresh ledger appended in batches of various sizes",
          "[ledger][verify]") {
  LedgerFixture f;
  f.InitAndOpen();
  const std::vector<uint64_t> batches = {1, 7, 100, 1, 1, 7, 100, 13, 64, 5};
  uint64_t total = 0;
  for (uint64_t b : batches) {
    f.AppendN(b, b);
    total += b;
  }
  REQUIRE(f.ledger().size() == total);

  std::vector<std::pair<uint64_t, uint64_t>> progress;
  VerifyOptions options;
  options.progress = [&](uint64_t done, uint64_t of) { progress.emplace_back(done, of); };
  auto [s, result] = f.Verify(options);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(result.events == total);
  CHECK(result.checkpoints == batches.size() + 1);  // one per append, and init's
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back() == std::make_pair(total, total));

  // The recomputed root is the latest checkpoint's and the root of the leaves read back.
  std::string note;
  REQUIRE(f.ledger().LatestCheckpoint(&note).ok());
  Checkpoint cp;
  REQUIRE(OpenCheckpoint(note, f.ledger().public_key(), &cp).ok());
  CHECK(cp.size == total);
  CHECK(cp.origin == f.ledger().origin());
  CHECK(cp.root == result.root);
  std::vector<merkle::Hash> leaves;
  for (const Stored& e : ReadAll(f.ledger())) leaves.push_back(merkle::LeafHash(AsBytes(e.leaf)));
  CHECK(Mth(leaves) == result.root);

  auto [ts, tree_result] = f.VerifyTreeOnly();
  INFO(ts.ToString());
  REQUIRE(ts.ok());
  CHECK(tree_result.events == total);
  CHECK(tree_result.root == result.root);

  OpenOptions one_thread = LedgerFixture::DefaultOpenOptions();
  one_thread.threads = 1;
  f.Reopen(one_thread);
  auto [s1, r1] = f.Verify();
  REQUIRE(s1.ok());
  CHECK(r1.root == result.root);
}

TEST_CASE("Verify passes on a new, empty ledger", "[ledger][verify]") {
  LedgerFixture f;
  f.InitAndOpen();
  auto [s, r] = f.Verify();
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(r.events == 0);
  CHECK(r.checkpoints == 1);
  CHECK(r.root == merkle::EmptyRoot());
}

// ---- tampering inside RocksDB ----

// Bytes in the write-ahead log files (*.log) of the RocksDB store in `dir`: what the next open
// replays into memory before it can answer anything.
// RocksDB deletes an obsolete .log file from its own threads, so one listed here may be gone by
// the time its size is asked: it then counts for nothing (it no longer is on disk).
uint64_t WriteAheadLogBytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".log") continue;
    std::error_code gone;
    const uintmax_t size = fs::file_size(entry.path(), gone);
    if (!gone) total += size;
  }
  return total;
}

TEST_CASE("A ledger closed after a large append leaves no write-ahead log for the next open",
          "[ledger][store]") {
  // A read-only open (every CLI reader) cannot flush, so without this it replayed the whole
  // log again each time: seconds for a ledger of a few hundred thousand events.
  LedgerFixture f;
  f.InitAndOpen();
  // New people with an email, a username and a phone: a data key and blind-index entries each,
  // so that the key store, too, holds more than a little in memory.
  constexpr uint64_t kPeople = 3000;
  std::vector<NewEvent> events;
  for (uint64_t i = 0; i < kPeople; ++i) {
    NewEvent e = ValidEvent(i);
    const std::string n = std::to_string(i);
    e.data.emplace_back("email", "\"person." + n + "@example.fi\"");
    e.data.emplace_back("username", "\"person" + n + "\"");
    e.data.emplace_back("phone", "\"+358 40 " + std::string(7 - n.size(), '0') + n + "\"");
    events.push_back(std::move(e));
  }
  std::vector<Appended> out;
  for (size_t at = 0; at < events.size(); at += 500) {
    Status s = f.ledger().Append(std::span(events).subspan(at, 500), &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  const fs::path keys_dir = f.data() / "keys";
  CHECK(WriteAheadLogBytes(f.log_dir()) > (1u << 20));
  CHECK(WriteAheadLogBytes(keys_dir) > (1u << 20));

  f.Close();
  CHECK(WriteAheadLogBytes(f.log_dir()) == 0);
  CHECK(WriteAheadLogBytes(keys_dir) == 0);

  // Nothing was lost by it: everything reads back and verifies, read-only too.
  OpenOptions read_only = LedgerFixture::DefaultOpenOptions();
  read_only.read_only = true;
  f.Reopen(read_only);
  CHECK(f.ledger().size() == kPeople);
  auto [s, result] = f.Verify();
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(result.events == kPeople);
  std::vector<SubjectId> found;
  REQUIRE(f.ledger().Find(IndexKind::kEmail, "person.2999@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{out.back().subject});
}

TEST_CASE("The log keeps its write-ahead log short while it is written", "[ledger][store]") {
  // Past 32 MB RocksDB flushes what the log holds. Unbounded, the log grew until its largest
  // column family's memtable filled (64 MB of events here), and an open after a crash replayed
  // it all.
  LedgerFixture f;
  f.InitAndOpen();
  constexpr size_t kBytesPerEvent = 16 << 10;
  constexpr uint64_t kEvents = 5000;  // 80 MB of personal data
  const std::string filler(kBytesPerEvent, 'x');
  uint64_t largest = 0;
  std::vector<Appended> out;
  for (uint64_t done = 0; done < kEvents; done += 100) {
    std::vector<NewEvent> events;
    for (uint64_t i = done; i < done + 100; ++i) {
      events.push_back(ValidEvent(i));
      events.back().data.emplace_back("title", "\"" + filler + "\"");
    }
    Status s = f.ledger().Append(events, &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    largest = std::max(largest, WriteAheadLogBytes(f.log_dir()));
  }
  INFO("largest write-ahead log: " << largest << " bytes");
  // 32 MB, and what is written while the flush that frees the oldest file runs.
  CHECK(largest < (48u << 20));
  CHECK(f.ledger().size() == kEvents);
}

TEST_CASE("An event rewritten without re-signing is named at its seq", "[ledger][tamper]") {
  constexpr uint64_t kN = 40;
  struct Mutation {
    const char* name;
    std::function<void(schema::SignedEvent::Builder)> fn;
  };
  const std::vector<Mutation> mutations = {
      {"the actor", [](auto e) { e.getEvent().getEnvelope().setActor("emp-9999"); }},
      {"the purpose", [](auto e) { e.getEvent().getEnvelope().setPurpose("marketing"); }},
      {"the subject",
       [](auto e) {
         SubjectId other = RandomSubject();
         e.getEvent().getEnvelope().setSubject(kj::arrayPtr(other.data(), other.size()));
       }},
      {"personal data", [](auto e) { AlterPersonalData(e, /*name=*/false); }},
      {"a personal-data field's name", [](auto e) { AlterPersonalData(e, /*name=*/true); }},
      {"the recorded time",
       [](auto e) {
         auto env = e.getEvent().getEnvelope();
         env.setRecordedAtMicros(env.getRecordedAtMicros() - 86400000000LL);
       }},
      {"one bit of the signature",
       [](auto e) {
         auto sig = e.getSignature();
         sig[10] ^= 0x01;
       }},
  };
  LedgerFixture f;
  BuildLedger(f, kN, 7);
  for (const Mutation& m : mutations) {
    DYNAMIC_SECTION(m.name << " is changed") {
      for (uint64_t seq : {uint64_t{0}, uint64_t{17}, kN - 1}) {
        INFO("rewritten seq " << seq);
        std::string original = f.RewriteEvent(seq, m.fn);
        RequireBothModesFailAt(f, seq);
        // The log still reads (the event decodes), so only Verify can tell.
        f.Reopen(LedgerFixture::NoCheckOnOpen());
        uint64_t read = 0;
        REQUIRE(f.ledger()
                    .ReadEvents(0, kN,
                                [&](const EventView&) {
                                  ++read;
                                  return Status::Ok();
                                })
                    .ok());
        CHECK(read == kN);
        f.Close();
        f.PutRaw(kEventsCf, SeqKey(seq), original);
        RequireBothModesOk(f);
      }
    }
  }
}

TEST_CASE("A rewritten event is named at its seq across verification chunk boundaries",
          "[ledger][tamper][slow]") {
  // Verify reads the log in chunks of 4096 events; a fault on either side of a boundary, and in
  // the last partial chunk, must be named exactly.
  const uint64_t n = 2 * 4096 + 5;
  LedgerFixture f;
  BuildLedger(f, n, 1000);
  for (uint64_t seq : {uint64_t{4095}, uint64_t{4096}, uint64_t{8191}, n - 1}) {
    INFO("rewritten seq " << seq);
    std::string original =
        f.RewriteEvent(seq, [](auto e) { e.getEvent().getEnvelope().setActor("emp-9999"); });
    RequireBothModesFailAt(f, seq);
    f.PutRaw(kEventsCf, SeqKey(seq), original);
  }
  f.Reopen();
  auto [s, r] = f.Verify();
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(r.events == n);
}

TEST_CASE("A deleted event is named at its seq", "[ledger][tamper]") {
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  uint64_t seq = GENERATE(0, 17, 38);
  f.DeleteKey(kEventsCf, SeqKey(seq));
  RequireBothModesFailAt(f, seq);
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  Status s;
  ReadAll(f.ledger(), 0, 40, &s);
  CHECK(s.IsCorruption());
  CHECK(StartsWith(s.message(), "seq " + std::to_string(seq) + ":"));
}

TEST_CASE("Two swapped events are named at the lower seq", "[ledger][tamper]") {
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  auto [a, b] = GENERATE(std::make_pair(5, 23), std::make_pair(10, 11), std::make_pair(0, 39));
  f.SwapEvents(a, b);
  RequireBothModesFailAt(f, a);
}

TEST_CASE("An event replaced by a copy of another event's value is named at its seq",
          "[ledger][tamper]") {
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  auto [target, source] =
      GENERATE(std::make_pair(20, 3), std::make_pair(3, 20), std::make_pair(39, 38));
  std::optional<std::string> copy = f.GetRaw(kEventsCf, SeqKey(source));
  REQUIRE(copy);
  f.PutRaw(kEventsCf, SeqKey(target), *copy);
  RequireBothModesFailAt(f, target);
}

TEST_CASE("A single flipped byte anywhere in a stored event is named at its seq",
          "[ledger][tamper]") {
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  const uint64_t seq = 17;
  const std::string original = *f.GetRaw(kEventsCf, SeqKey(seq));
  const size_t size = original.size();
  REQUIRE(size > 80);
  std::vector<size_t> offsets = {0,        1,        4,         7,         8,        15,
                                 size / 4, size / 2, size - 70, size - 64, size - 9, size - 1};
  std::mt19937 rng(12345);
  for (int i = 0; i < 6; ++i) offsets.push_back(rng() % size);
  for (size_t i = 0; i < offsets.size(); ++i) {
    const size_t at = offsets[i];
    INFO("flipped byte " << at << " of " << size);
    std::string flipped = original;
    flipped[at] = static_cast<char>(flipped[at] ^ (i % 2 ? 0x80 : 0x01));
    f.PutRaw(kEventsCf, SeqKey(seq), flipped);
    RequireBothModesFailAt(f, seq);
  }
  f.PutRaw(kEventsCf, SeqKey(seq), original);
  RequireBothModesOk(f);
}

TEST_CASE("An altered checkpoint is detected and named", "[ledger][tamper]") {
  // 40 events in batches of 7: checkpoints at 0, 7, 14, 21, 28, 35 and 40.
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  f.Reopen();
  std::string origin = f.ledger().origin();
  f.Close();
  const std::string note14 = *f.GetRaw(kCheckpointsCf, SeqKey(14));
  const std::string note7 = *f.GetRaw(kCheckpointsCf, SeqKey(7));
  SigningKey key;
  REQUIRE(SigningKey::ReadFile(f.data() / "ledger.key", &key).ok());
  Checkpoint cp14;
  REQUIRE(OpenCheckpoint(note14, key.public_key(), &cp14).ok());
  Checkpoint cp7;
  REQUIRE(OpenCheckpoint(note7, key.public_key(), &cp7).ok());

  auto verify_names = [&](uint64_t at, std::string_view reason) {
    f.Reopen(LedgerFixture::NoCheckOnOpen());
    for (bool tree_only : {false, true}) {
      VerifyOptions o;
      o.tree_only = tree_only;
      auto [s, r] = f.Verify(o);
      INFO("tree_only " << tree_only << ": " << s.ToString());
      CHECK(s.IsCorruption());
      CHECK(Contains(s.message(), "checkpoint at tree size " + std::to_string(at)));
      CHECK(Contains(s.message(), reason));
    }
    f.Close();
  };

  SECTION("the size in a middle checkpoint's note is changed") {
    std::string bad = note14;
    size_t pos = bad.find("\n14\n");
    REQUIRE(pos != std::string::npos);
    bad.replace(pos, 4, "\n15\n");
    f.PutRaw(kCheckpointsCf, SeqKey(14), bad);
    verify_names(14, "");
    // The latest checkpoint is intact, so the check on open passes.
    f.Reopen();
  }
  SECTION("the root in a middle checkpoint's note is changed") {
    std::string bad = note14;
    std::string root14 = Base64Encode(cp14.root);
    size_t pos = bad.find(root14);
    REQUIRE(pos != std::string::npos);
    bad.replace(pos, root14.size(), Base64Encode(cp7.root));
    f.PutRaw(kCheckpointsCf, SeqKey(14), bad);
    verify_names(14, "");
  }
  SECTION("a middle checkpoint's signature is corrupted") {
    std::string bad = note14;
    size_t line = bad.rfind("\xe2\x80\x94 ");  // the signature line
    REQUIRE(line != std::string::npos);
    size_t at = bad.size() - 20;
    REQUIRE(at > line);
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    f.PutRaw(kCheckpointsCf, SeqKey(14), bad);
    verify_names(14, "");
  }
  SECTION("the latest checkpoint is corrupted: open's check and Verify both fail") {
    std::string bad = *f.GetRaw(kCheckpointsCf, SeqKey(40));
    size_t pos = bad.find("\n40\n");
    REQUIRE(pos != std::string::npos);
    bad.replace(pos, 4, "\n41\n");
    f.PutRaw(kCheckpointsCf, SeqKey(40), bad);
    Status s = f.Open();
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    verify_names(40, "");
  }
  SECTION("a checkpoint re-signed with the ledger key over a wrong root") {
    f.PutRaw(kCheckpointsCf, SeqKey(14),
             SignNote(CheckpointBody(Checkpoint{origin, 14, cp7.root}), origin, key));
    verify_names(14, "root does not match");
  }
  SECTION("a checkpoint re-signed with the ledger key for another size") {
    f.PutRaw(kCheckpointsCf, SeqKey(14),
             SignNote(CheckpointBody(Checkpoint{origin, 15, cp14.root}), origin, key));
    verify_names(14, "size 15");
  }
  SECTION("a checkpoint signed by another key") {
    SigningKey other = SigningKey::Generate();
    f.PutRaw(kCheckpointsCf, SeqKey(14), SignNote(CheckpointBody(cp14), origin, other));
    verify_names(14, "");
  }
  SECTION("a checkpoint for a size beyond the log is added") {
    f.PutRaw(kCheckpointsCf, SeqKey(50),
             SignNote(CheckpointBody(Checkpoint{origin, 50, SomeHash(7)}), origin, key));
    Status s = f.Open();
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    verify_names(50, "beyond");
  }
}

TEST_CASE("Events deleted from the end of the log are detected", "[ledger][tamper]") {
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  const uint64_t removed = GENERATE(1, 5, 40);
  for (uint64_t seq = 40 - removed; seq < 40; ++seq) f.DeleteKey(kEventsCf, SeqKey(seq));

  Status s = f.Open();
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK(Contains(s.message(), "removed"));

  f.Reopen(LedgerFixture::NoCheckOnOpen());
  CHECK(f.ledger().size() == 40 - removed);
  for (bool tree_only : {false, true}) {
    VerifyOptions o;
    o.tree_only = tree_only;
    auto [vs, r] = f.Verify(o);
    INFO("tree_only " << tree_only << ": " << vs.ToString());
    CHECK(vs.IsCorruption());
    CHECK(Contains(vs.message(), "removed"));
  }
  // A damaged ledger takes no appends.
  std::vector<NewEvent> events = {ValidEvent(1)};
  std::vector<Appended> out;
  CHECK_FALSE(f.ledger().Append(events, &out).ok());
  f.Close();
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  CHECK(f.ledger().size() == 40 - removed);
}

TEST_CASE("A tampered tree node is detected", "[ledger][tamper]") {
  // 40 leaves: the frontier (what open checks) is the subtrees (level 5, 0) and (level 3, 4).
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  const std::string bogus(32, '\x5a');

  SECTION("a leaf hash") {
    f.PutRaw(kTreeCf, NodeKey(0, 10), bogus);
    REQUIRE(f.Open().ok());  // not on the frontier
    f.Close();
    RequireBothModesFailAt(f, 10);
  }
  SECTION("an inner node is named at the seq that completes it") {
    f.PutRaw(kTreeCf, NodeKey(2, 1), bogus);  // leaves 4..7
    RequireBothModesFailAt(f, 7);
  }
  SECTION("a deleted node") {
    f.DeleteKey(kTreeCf, NodeKey(1, 6));  // leaves 12..13
    RequireBothModesFailAt(f, 13);
    f.Reopen(LedgerFixture::NoCheckOnOpen());
    CHECK(Contains(f.Verify().first.message(), "missing"));
  }
  SECTION("a node of the frontier: open's check fails too") {
    f.PutRaw(kTreeCf, NodeKey(3, 4), bogus);  // leaves 32..39
    Status s = f.Open();
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    RequireBothModesFailAt(f, 39);
  }
  SECTION("a node beyond the end of the log") {
    f.PutRaw(kTreeCf, NodeKey(0, 40), bogus);
    f.Reopen(LedgerFixture::NoCheckOnOpen());
    auto [s, r] = f.Verify();
    INFO(s.ToString());
    CHECK(s.IsCorruption());
  }
}

TEST_CASE("An event added outside the ledger is detected", "[ledger][tamper]") {
  LedgerFixture f;
  BuildLedger(f, 40, 7);
  std::optional<std::string> copy = f.GetRaw(kEventsCf, SeqKey(39));
  REQUIRE(copy);
  f.PutRaw(kEventsCf, SeqKey(40), *copy);
  CHECK(f.Open().IsCorruption());
  RequireBothModesFailAt(f, 40);
}

TEST_CASE("Concurrent appends get distinct gap-free seqs while verifiers see consistent prefixes",
          "[ledger][threads]") {
  LedgerFixture f;
  f.InitAndOpen();
  constexpr int kThreads = 4;
  const int per_thread = kSanitized ? 8 : 20;
  constexpr int kBatch = 3;
  std::vector<std::vector<Appended>> results(kThreads);
  std::atomic<bool> done{false};
  std::atomic<int> verify_failures{0};
  std::atomic<int> verifies{0};
  std::string verify_error;
  std::thread verifier([&] {
    while (!done.load()) {
      VerifyResult r;
      Status s = f.ledger().Verify(VerifyOptions{}, &r);
      ++verifies;
      if (!s.ok() && verify_failures++ == 0) verify_error = s.ToString();
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        std::vector<NewEvent> events;
        for (int j = 0; j < kBatch; ++j) events.push_back(ValidEvent(t * 1000 + i * 10 + j));
        std::vector<Appended> out;
        if (f.ledger().Append(events, &out).ok()) {
          results[t].insert(results[t].end(), out.begin(), out.end());
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  verifier.join();
  INFO(verify_error);
  CHECK(verify_failures.load() == 0);
  CHECK(verifies.load() > 0);

  const uint64_t total = uint64_t{kThreads} * per_thread * kBatch;
  REQUIRE(f.ledger().size() == total);
  std::vector<uint64_t> seqs;
  for (const auto& r : results) {
    REQUIRE(r.size() == static_cast<size_t>(per_thread * kBatch));
    for (size_t i = 0; i < r.size(); i += kBatch) {
      // A batch is consecutive.
      CHECK(r[i + 1].seq == r[i].seq + 1);
      CHECK(r[i + 2].seq == r[i].seq + 2);
    }
    for (const Appended& a : r) seqs.push_back(a.seq);
  }
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t i = 0; i < total; ++i) REQUIRE(seqs[i] == i);
  RequireVerifyOk(f.Verify());
}

TEST_CASE("ReadSubjectEvents never returns an event of another subject",
          "[ledger][tamper]") {
  // The subject index is the path of an access or erasure request. An index entry pointing at
  // another subject's event (a damaged or tampered index) must not hand that person's data out.
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<Appended> a = f.AppendN(4, 4);
  f.Close();
  f.PutRaw(kSubjectsCf, SubjectKey(a[0].subject, 2), "");  // seq 2 belongs to a[2].subject
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  std::vector<uint64_t> returned;
  Status s = f.ledger().ReadSubjectEvents(a[0].subject, [&](const EventView& e) {
    auto subj = e.signed_event.getEvent().getEnvelope().getSubject();
    CHECK(std::equal(subj.begin(), subj.end(), a[0].subject.begin(), a[0].subject.end()));
    returned.push_back(e.seq);
    return Status::Ok();
  });
  INFO(s.ToString());
  // Refused as Corruption once the foreign entry is reached, naming it.
  CHECK(s.IsCorruption());
  CHECK(s.message().find("seq 2") != std::string::npos);
  CHECK(returned == std::vector<uint64_t>{0});
}

TEST_CASE("Verify notices a subject index entry added, removed or altered", "[ledger][tamper]") {
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<Appended> a = f.AppendN(6, 3);
  f.Close();
  SECTION("an entry added (another subject's event listed for this one)") {
    f.PutRaw(kSubjectsCf, SubjectKey(a[0].subject, 4), "");
  }
  SECTION("an entry removed") {
    f.DeleteKey(kSubjectsCf, SubjectKey(a[3].subject, 3));
  }
  SECTION("an entry altered (moved to another seq)") {
    f.DeleteKey(kSubjectsCf, SubjectKey(a[1].subject, 1));
    f.PutRaw(kSubjectsCf, SubjectKey(a[1].subject, 2), "");
  }
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  for (bool tree_only : {false, true}) {
    auto [s, result] = tree_only ? f.VerifyTreeOnly() : f.Verify();
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK(s.message().find("subject index") != std::string::npos);
  }
}

// A subject summary (canonical schema::SubjectInfo) rewritten as someone with write access to
// the database could.
std::string EditedSummary(const std::string& stored,
                          const std::function<void(schema::SubjectInfo::Builder)>& edit) {
  REQUIRE(stored.size() % sizeof(capnp::word) == 0);
  auto words = kj::heapArray<capnp::word>(stored.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), stored.data(), stored.size());
  kj::ArrayPtr<const capnp::word> segments[1] = {words};
  capnp::SegmentArrayMessageReader reader(segments);
  capnp::MallocMessageBuilder message;
  message.setRoot(reader.getRoot<schema::SubjectInfo>());
  edit(message.getRoot<schema::SubjectInfo>());
  kj::Array<capnp::word> canonical =
      capnp::canonicalize(message.getRoot<schema::SubjectInfo>().asReader());
  auto bytes = canonical.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Appends check a person's register, erasure and rights against their summary: one altered in
// the database would let through what the log forbids, so verify folds the log and compares.
TEST_CASE("Verify notices a subject summary added, removed or altered", "[ledger][tamper]") {
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<Appended> a = f.AppendN(4, 2);
  uint64_t erasure_seq = 0;
  REQUIRE(f.ledger().Erase({a[3].subject, "REQ-1", "dpo-1", 0}, &erasure_seq).ok());
  f.Close();
  auto key = [](const SubjectId& s) { return SubjectKey(s, 0).substr(0, s.size()); };
  const std::optional<std::string> stored = f.GetRaw(kSubjectInfoCf, key(a[0].subject));
  REQUIRE(stored);
  std::string expected;
  SECTION("a consent added") {
    f.PutRaw(kSubjectInfoCf, key(a[0].subject), EditedSummary(*stored, [](auto info) {
               info.initConsents(1).set(0, "marketing");
             }));
    expected = "differs from the log in the consents";
  }
  SECTION("an erasure undone") {
    const std::optional<std::string> gone = f.GetRaw(kSubjectInfoCf, key(a[3].subject));
    REQUIRE(gone);
    f.PutRaw(kSubjectInfoCf, key(a[3].subject),
             EditedSummary(*gone, [](auto info) { info.setErasedAtSeq(-1); }));
    expected = "differs from the log in the erasure";
  }
  SECTION("a summary removed") {
    f.DeleteKey(kSubjectInfoCf, key(a[1].subject));
    expected = "has no summary of subject " + SubjectIdHex(a[1].subject);
  }
  SECTION("a summary added for a subject with no event") {
    const SubjectId stranger = RandomSubject();
    f.PutRaw(kSubjectInfoCf, key(stranger), *stored);
    expected = "holds a summary of subject " + SubjectIdHex(stranger);
  }
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  auto [s, result] = f.Verify();
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK(s.message().find("subject_info") != std::string::npos);
  CHECK(s.message().find(expected) != std::string::npos);
  // --tree-only reads no more of an event than its seq and subject: it leaves summaries alone.
  CHECK(f.VerifyTreeOnly().first.ok());
}

// ---- the command line ----

TEST_CASE("The CLI appends, verifies, proves and reports tampering", "[cli]") {
  LedgerFixture f;
  const fs::path scratch = f.tmp().path();
  const std::string data = f.data().string();
  auto run = [&](std::vector<std::string> args, const std::string& in = "/dev/null") {
    std::vector<std::string> full = {"--data", data};
    full.insert(full.end(), args.begin(), args.end());
    return RunKirjuri(full, scratch, in);
  };

  RunResult r = run({"--json", "init"});
  INFO(Describe(r));
  REQUIRE(r.code == 0);
  const std::string origin = JsonObject(r.out).Str("origin");
  const std::string vkey = JsonObject(r.out).Str("verifier_key");

  // Append 10 events from a file.
  const std::string good = (scratch / "good.jsonl").string();
  WriteFile(good, ValidLines(0, 10));
  r = run({"--json", "append", good});
  INFO(Describe(r));
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  std::vector<std::string> acks = CompleteLines(r.out);
  REQUIRE(acks.size() == 10);
  REQUIRE(r.out.back() == '\n');
  std::vector<std::string> subjects;
  for (size_t i = 0; i < acks.size(); ++i) {
    uint64_t seq = 0;
    std::string subject;
    INFO(acks[i]);
    REQUIRE(ParseAck(acks[i], &seq, &subject));
    CHECK(seq == i);
    subjects.push_back(subject);
  }

  auto log_lines = [&]() {
    RunResult l = run({"--json", "log"});
    INFO(Describe(l));
    REQUIRE(l.code == 0);
    return CompleteLines(l.out);
  };
  REQUIRE(log_lines().size() == 10);

  SECTION("a bad file is refused with one line naming the line, and nothing is appended") {
    const std::string bad = (scratch / "bad.jsonl").string();
    WriteFile(bad,
              ValidLine(20) + "\n" + ValidLine(21) + "\n" + ValidLine(22) + "\n" +
                  ToLine(Set(LineFields("Salainen Henkilo"), "register", Quoted("suppliers"))) +
                  "\n" + ValidLine(24) + "\n");
    for (bool from_stdin : {false, true}) {
      INFO("from stdin: " << from_stdin);
      RunResult b = from_stdin ? run({"--json", "append"}, bad) : run({"--json", "append", bad});
      INFO(Describe(b));
      CHECK(b.code == 1);
      CHECK(b.out.empty());
      REQUIRE_FALSE(b.err.empty());
      CHECK(b.err.back() == '\n');
      CHECK(std::count(b.err.begin(), b.err.end(), '\n') == 1);
      CHECK(StartsWith(b.err, "kirjuri: line 4:"));
      CHECK_FALSE(Contains(b.err, "Salainen"));
      CHECK_FALSE(Contains(b.err, "Test Person"));
      CHECK(log_lines().size() == 10);
    }
  }

  SECTION("verify passes on the untouched ledger") {
    RunResult v = run({"verify"});
    INFO(Describe(v));
    CHECK(v.code == 0);
    CHECK(StartsWith(v.out, "ok: 10 events"));
    v = run({"--json", "verify"});
    INFO(Describe(v));
    CHECK(v.code == 0);
    JsonObject j(v.out);
    CHECK(j.Bool("ok"));
    CHECK(j.Num("events") == 10);
    CHECK_FALSE(j.Has("first_bad_seq"));
  }

  SECTION("checkpoints and proofs verify against the published key") {
    // The key, two ways.
    RunResult p = run({"pubkey", "--pem"});
    INFO(Describe(p));
    REQUIRE(p.code == 0);
    PublicKey key;
    REQUIRE(ParsePublicKeyPem(p.out, &key).ok());
    RunResult pn = run({"pubkey", "--note"});
    REQUIRE(pn.code == 0);
    CHECK(pn.out == vkey + "\n");
    std::string name;
    PublicKey note_key;
    REQUIRE(ParseNoteVerifierKey(vkey, &name, &note_key).ok());
    CHECK(name == origin);
    CHECK(note_key == key);

    RunResult c = run({"checkpoint"});
    INFO(Describe(c));
    REQUIRE(c.code == 0);
    Checkpoint cp10;
    REQUIRE(OpenCheckpoint(c.out, key, &cp10).ok());
    CHECK(cp10.size == 10);
    CHECK(cp10.origin == origin);

    // 7 more events.
    const std::string more = (scratch / "more.jsonl").string();
    WriteFile(more, ValidLines(10, 7));
    RunResult a = run({"--json", "append", more});
    INFO(Describe(a));
    REQUIRE(a.code == 0);
    REQUIRE(CompleteLines(a.out).size() == 7);
    c = run({"checkpoint"});
    REQUIRE(c.code == 0);
    Checkpoint cp17;
    REQUIRE(OpenCheckpoint(c.out, key, &cp17).ok());
    CHECK(cp17.size == 17);

    // The leaves, from `log --json`.
    std::vector<std::string> lines = log_lines();
    REQUIRE(lines.size() == 17);
    std::vector<merkle::Hash> leaves;
    for (size_t i = 0; i < lines.size(); ++i) {
      JsonObject e(lines[i]);
      CHECK(e.Num("seq") == i);
      if (i < subjects.size()) CHECK(e.Str("subject") == subjects[i]);
      std::vector<uint8_t> leaf;
      REQUIRE(Base64Decode(e.Str("leaf"), &leaf).ok());
      leaves.push_back(merkle::LeafHash(leaf));
    }
    CHECK(Mth(leaves) == cp17.root);
    CHECK(Mth(std::span(leaves).first(10)) == cp10.root);

    // Inclusion of every event in the 17-tree.
    for (uint64_t i = 0; i < 17; ++i) {
      RunResult pi = run({"--json", "prove", "inclusion", std::to_string(i)});
      INFO(Describe(pi));
      REQUIRE(pi.code == 0);
      JsonObject j(pi.out);
      CHECK(j.Num("index") == i);
      CHECK(j.Num("tree_size") == 17);
      merkle::Hash leaf_hash = HashFromHex(j.Str("leaf_hash"));
      CHECK(leaf_hash == leaves[i]);
      CHECK(HashFromHex(j.Str("root")) == cp17.root);
      std::vector<merkle::Hash> path = j.Hashes("hashes");
      CHECK(merkle::VerifyInclusion(i, 17, leaf_hash, path, cp17.root));
      CHECK_FALSE(merkle::VerifyInclusion(i, 17, leaves[(i + 1) % 17], path, cp17.root));
    }
    // ... and in the older tree of 10, against the old checkpoint.
    RunResult pi = run({"--json", "prove", "inclusion", "3", "--size", "10"});
    INFO(Describe(pi));
    REQUIRE(pi.code == 0);
    JsonObject j3(pi.out);
    CHECK(j3.Num("tree_size") == 10);
    CHECK(merkle::VerifyInclusion(3, 10, leaves[3], j3.Hashes("hashes"), cp10.root));

    // The C2SP tlog-proof form carries its own checkpoint.
    RunResult pt = run({"prove", "inclusion", "5"});
    INFO(Describe(pt));
    REQUIRE(pt.code == 0);
    TlogProof proof;
    REQUIRE(ParseTlogProof(pt.out, &proof).ok());
    Checkpoint pcp;
    REQUIRE(OpenCheckpoint(proof.checkpoint_note, key, &pcp).ok());
    CHECK(proof.index == 5);
    CHECK(pcp == cp17);
    CHECK(merkle::VerifyInclusion(5, pcp.size, leaves[5], proof.hashes, pcp.root));

    // Consistency: the checkpointed sizes, and sizes between checkpoints.
    RunResult pc = run({"--json", "prove", "consistency", "10", "17"});
    INFO(Describe(pc));
    REQUIRE(pc.code == 0);
    JsonObject jc(pc.out);
    CHECK(HashFromHex(jc.Str("first_root")) == cp10.root);
    CHECK(HashFromHex(jc.Str("second_root")) == cp17.root);
    CHECK(merkle::VerifyConsistency(10, 17, cp10.root, cp17.root, jc.Hashes("hashes")));
    const std::vector<std::pair<uint64_t, uint64_t>> pairs = {{1, 17}, {3, 17},  {4, 13},
                                                              {7, 10}, {16, 17}, {10, 10}};
    for (auto [a_size, b_size] : pairs) {
      INFO("consistency " << a_size << " " << b_size);
      RunResult q =
          run({"--json", "prove", "consistency", std::to_string(a_size), std::to_string(b_size)});
      INFO(Describe(q));
      REQUIRE(q.code == 0);
      JsonObject jq(q.out);
      merkle::Hash first_root = Mth(std::span(leaves).first(a_size));
      merkle::Hash second_root = Mth(std::span(leaves).first(b_size));
      CHECK(HashFromHex(jq.Str("first_root")) == first_root);
      CHECK(HashFromHex(jq.Str("second_root")) == second_root);
      CHECK(
          merkle::VerifyConsistency(a_size, b_size, first_root, second_root, jq.Hashes("hashes")));
    }

    // Out-of-range proofs are refused.
    CHECK(run({"--json", "prove", "inclusion", "17"}).code != 0);
    CHECK(run({"--json", "prove", "consistency", "5", "18"}).code != 0);
  }
}

TEST_CASE("The CLI's verify names the seq of an event rewritten inside RocksDB", "[cli][tamper]") {
  LedgerFixture f;
  const fs::path scratch = f.tmp().path();
  const std::string data = f.data().string();
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> full = {"--data", data};
    full.insert(full.end(), args.begin(), args.end());
    return RunKirjuri(full, scratch);
  };
  REQUIRE(run({"init"}).code == 0);
  const std::string good = (scratch / "good.jsonl").string();
  WriteFile(good, ValidLines(0, 10));
  REQUIRE(run({"append", good}).code == 0);
  REQUIRE(run({"verify"}).code == 0);

  f.RewriteEvent(5, [](auto e) { e.getEvent().getEnvelope().setActor("emp-9999"); });
  for (const char* mode : {"", "--tree-only"}) {
    std::vector<std::string> args = {"verify"};
    if (*mode) args.push_back(mode);
    RunResult v = run(args);
    INFO(Describe(v));
    CHECK(v.code == 1);
    CHECK(std::count(v.err.begin(), v.err.end(), '\n') == 1);
    CHECK(StartsWith(v.err, "kirjuri: verification failed: seq 5:"));
  }
  RunResult v = run({"--json", "verify"});
  INFO(Describe(v));
  CHECK(v.code == 1);
  JsonObject j(v.out);
  CHECK_FALSE(j.Bool("ok"));
  CHECK(j.Num("first_bad_seq") == 5);
  CHECK(StartsWith(j.Str("error"), "seq 5:"));
}

// ---- crash safety ----


TEST_CASE("Every acknowledged append survives SIGKILL of the appending process at random moments",
          "[ledger][cli][crash]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.Close();
  const fs::path scratch = f.tmp().path();
  const uint64_t batch = kSanitized ? 400 : 2000;
  const int rounds = kSanitized ? 10 : 20;
  const std::string input = (scratch / "batch.jsonl").string();
  WriteFile(input, ValidLines(0, batch));

  // $0 = kirjuri, $1 = DATA, $2 = input, $3 = the round's acknowledgement file.
  const std::string script =
      "while :; do \"$0\" --data \"$1\" --json append \"$2\" >> \"$3\" || exit 3; done";
  std::mt19937 rng(std::random_device{}());
  std::map<uint64_t, std::string> acked;  // seq -> subject hex, over all rounds
  uint64_t size = 0;
  int kills_during_append = 0;
  bool children_known = true;
  int partial_ack_files = 0;

  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    const std::string ack_path = (scratch / ("acked-" + std::to_string(round) + ".jsonl")).string();
    const std::string err_path = (scratch / ("stderr-" + std::to_string(round))).string();
    const pid_t pid = testing::SpawnShellGroup(script, {f.data().string(), input, ack_path},
                                               err_path);
    // Mostly within the first append (~0.1-0.3 s for 2000 events); now and then after a few.
    // A sanitized kirjuri starts and runs a few times slower.
    const int scale = kSanitized ? 4 : 1;
    int delay_ms = round % 4 == 3 ? std::uniform_int_distribution<int>(150, 600)(rng)
                                  : std::uniform_int_distribution<int>(5, 150)(rng);
    delay_ms *= scale;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    int status = 0;
    pid_t early = waitpid(pid, &status, WNOHANG);
    INFO("child stderr: " << ReadFile(err_path));
    REQUIRE(early == 0);  // still appending: it must not have stopped on an error
    std::optional<bool> busy = HasRunningChild(pid);
    if (!busy) children_known = false;
    if (busy && *busy) ++kills_during_append;
    testing::KillGroup(pid);

    // What was acknowledged: complete lines only.
    std::string text = ReadFile(ack_path);
    if (!text.empty() && text.back() != '\n') ++partial_ack_files;
    uint64_t round_min = UINT64_MAX;
    for (const std::string& line : CompleteLines(text)) {
      uint64_t seq = 0;
      std::string subject;
      INFO(line);
      REQUIRE(ParseAck(line, &seq, &subject));
      REQUIRE(acked.emplace(seq, subject).second);  // never acknowledged twice
      round_min = std::min(round_min, seq);
    }

    // The killed kirjuri may take a moment to exit and release the lock.
    Status s;
    for (int attempt = 0; attempt < 100; ++attempt) {
      s = f.Open();
      if (s.ok() || s.IsCorruption()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    INFO("open: " << s.ToString());
    REQUIRE(s.ok());  // with the check on open
    const uint64_t now = f.ledger().size();
    const uint64_t size_before = size;
    CHECK(now >= size);
    CHECK(now % batch == 0);  // appends are all-or-nothing
    if (!acked.empty()) CHECK(now >= acked.rbegin()->first + 1);
    size = now;
    // Acknowledged events are stored as acknowledged, and their sealed data opens: the data
    // keys (in the key store, a second RocksDB) survived with the log that refers to them.
    // Everything stored since the last round, acknowledged or not, must open too.
    const uint64_t from = std::min(round_min, size_before);
    if (from < now) {
      Status rs = f.ledger().ReadEvents(from, now, [&](const EventView& e) {
        auto it = acked.find(e.seq);
        if (it != acked.end()) {
          auto subj = e.signed_event.getEvent().getEnvelope().getSubject();
          CHECK(HexEncode({subj.begin(), subj.size()}) == it->second);
        }
        std::vector<FieldValue> values;
        Status fs = f.ledger().ReadFields(e, &values);
        if (!fs.ok()) return fs.Prefixed("opening the fields");
        const std::string expected = "\"" + PersonName(e.seq % batch) + "\"";
        if (values.size() != 1 || !values[0].json || *values[0].json != expected) {
          return Status::Corruption("seq " + std::to_string(e.seq) + ": fields do not open");
        }
        return Status::Ok();
      });
      INFO(rs.ToString());
      REQUIRE(rs.ok());
    }
    RequireVerifyOk(f.VerifyTreeOnly());
    f.Close();
  }
  INFO("kills during an append: " << kills_during_append << " of " << rounds
                                  << "; partial acknowledgement files: " << partial_ack_files
                                  << "; events: " << size << "; acknowledged: " << acked.size());
  CHECK(size > 0);
  CHECK(acked.size() > 0);
  if (children_known) CHECK(kills_during_append > 0);
  // Acknowledged seqs form a prefix-closed set of whole batches.
  for (const auto& [seq, subject] : acked) CHECK(seq < size);

  f.Reopen();
  RequireVerifyOk(f.Verify());
  std::vector<Appended> more = f.AppendN(10, 5);
  CHECK(more.front().seq == size);
  CHECK(f.ledger().size() == size + 10);
  RequireVerifyOk(f.Verify());
}

}  // namespace
}  // namespace kirjuri::test
