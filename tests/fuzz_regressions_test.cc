// What the fuzz targets (tests/fuzz) found, replayed through the normal build's code: each
// reproducer kept in tests/fuzz/regressions/ must now end in a clean Status. The seed corpus
// goes through the same decoders, so that a fix never refuses what the ledger itself writes.
#include <catch2/catch.hpp>
#include <filesystem>
#include <span>
#include <string>

#include "event_codec.h"
#include "kirjuri/ledger.h"
#include "kirjuri/subject_view.h"
#include "row_codec.h"
#include "test_util.h"

namespace {

const std::filesystem::path kFuzzDir = std::filesystem::path(KIRJURI_SOURCE_DIR) / "tests/fuzz";

std::string Bytes(const std::filesystem::path& path) {
  std::string bytes = kirjuri::testing::ReadFile(path.string());
  REQUIRE(!bytes.empty());
  return bytes;
}

kirjuri::Status DecodeLeaf(const std::string& bytes) {
  kirjuri::DecodedLeaf leaf;
  return leaf.Decode({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

}  // namespace

TEST_CASE("a stored event whose text lacks its NUL terminator is Corruption on decode",
          "[fuzz]") {
  // A leaf the ledger wrote, with one bit flipped in the terminator of a sealed field's name:
  // still canonical, but reading that name threw out of EnvelopeJson (kirjuri log) uncaught.
  const std::string bytes = Bytes(kFuzzDir / "regressions/stored_event-text-without-nul");
  kirjuri::Status s = DecodeLeaf(bytes);
  CHECK(s.IsCorruption());
  CHECK(s.message() == "stored event does not decode");
}

TEST_CASE("a view row whose list holds millions of empty entries is Corruption, not gigabytes",
          "[fuzz]") {
  // 1200 bytes: a consent list of zero-sized elements with a count in the millions, which
  // capnp's default traversal limit (64 MiB of reads) let through into gigabytes of entries.
  const std::string bytes = Bytes(kFuzzDir / "regressions/view_row-empty-list-of-millions");
  kirjuri::testing::TempDir dir("kirjuri-fuzz-regression");
  kirjuri::InitOptions init;
  init.master_key_file = dir / "master.key";
  REQUIRE(kirjuri::Ledger::Init(dir / "data", init).ok());
  kirjuri::OpenOptions open;
  open.master_key_file = init.master_key_file;
  std::unique_ptr<kirjuri::Ledger> ledger;
  REQUIRE(kirjuri::Ledger::Open(dir / "data", open, &ledger).ok());
  using kirjuri::views_internal::RowData;
  for (RowData data : {RowData::kSealed, RowData::kOpen}) {
    kirjuri::SubjectView view;
    kirjuri::Status s = kirjuri::views_internal::DecodeRow(*ledger, bytes, data, &view);
    CHECK(s.IsCorruption());
    CHECK(s.message() == "a view row does not decode");
    CHECK(view.consent_history.empty());
  }
}

TEST_CASE("the leaves in the fuzz seed corpus, written by the ledger, still decode", "[fuzz]") {
  for (const char* name : {"leaf-0", "leaf-1"}) {
    INFO(name);
    CHECK(DecodeLeaf(Bytes(kFuzzDir / "corpus/stored_event_fuzz" / name)).ok());
  }
}

TEST_CASE("the view row in the fuzz seed corpus, written by the views, still decodes", "[fuzz]") {
  // Its sealed categories need the key of the ledger that wrote it: decoded, kept sealed.
  const std::string bytes = Bytes(kFuzzDir / "corpus/stored_event_fuzz/row-0");
  kirjuri::testing::TempDir dir("kirjuri-fuzz-regression");
  kirjuri::InitOptions init;
  init.master_key_file = dir / "master.key";
  REQUIRE(kirjuri::Ledger::Init(dir / "data", init).ok());
  kirjuri::OpenOptions open;
  open.master_key_file = init.master_key_file;
  std::unique_ptr<kirjuri::Ledger> ledger;
  REQUIRE(kirjuri::Ledger::Open(dir / "data", open, &ledger).ok());
  kirjuri::SubjectView view;
  kirjuri::Status s = kirjuri::views_internal::DecodeRow(
      *ledger, bytes, kirjuri::views_internal::RowData::kSealed, &view);
  INFO(s.ToString());
  CHECK(s.ok());
  CHECK(view.register_name == "customer");
  CHECK(view.consents.count("marketing") == 1);
}
