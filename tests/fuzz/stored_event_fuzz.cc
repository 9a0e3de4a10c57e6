// Fuzz target: bytes read from disk. The same bytes as a stored leaf (the log's events column
// family: DecodedLeaf, then what readers do with a decoded event: the signed message, the
// signature check, the envelope JSON, opening its sealed fields) and as a view row (DecodeRow,
// with and without opening the sealed categories; StripRow, as erasure does). Nothing may
// crash; every error is a Status.
//
// Seeds: KIRJURI_FUZZ_MAKE_SEEDS=DIR stored_event_fuzz appends two events to a fresh ledger and
// writes their leaves and the subject's view row into DIR, then exits (tests/fuzz/corpus was
// made so).
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event_codec.h"
#include "fuzz_util.h"
#include "kirjuri/event_json.h"
#include "row_codec.h"

namespace {

void WriteSeed(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

[[noreturn]] void MakeSeeds(const std::string& dir) {
  kirjuri::Ledger& ledger = kirjuri::fuzz::SharedLedger();
  std::vector<kirjuri::NewEvent> events;
  kirjuri::Status s = ledger.ParseLines(
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile","actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form","data":{"name":"Aino","email":"aino@example.fi","city":"Jyväskylä"}})",
      &events);
  std::vector<kirjuri::Appended> appended;
  if (s.ok()) s = ledger.Append(events, &appended);
  if (s.ok()) {
    const std::string line =
        R"({"register":"customer","subject":")" + kirjuri::SubjectIdHex(appended[0].subject) +
        R"(","type":"consent_given","category":"consents","actor":"emp-0007","purpose":"marketing","basis":"consent","source":"web_form","data":{"notice":"privacy-notice-2026-01","method":"checkbox"}})";
    s = ledger.ParseLines(line, &events);
  }
  if (s.ok()) s = ledger.Append(events, &appended);
  kirjuri::SubjectView view;
  if (s.ok()) {
    s = ledger.ReadEvents(0, ledger.size(), [&](const kirjuri::EventView& e) {
      WriteSeed(dir + "/leaf-" + std::to_string(e.seq), std::string_view(
          reinterpret_cast<const char*>(e.leaf.data()), e.leaf.size()));
      std::vector<kirjuri::FieldValue> fields;
      KIRJURI_RETURN_IF_ERROR(ledger.ReadFields(e, &fields));
      view.Apply(e, fields);
      return kirjuri::Status::Ok();
    });
  }
  std::string row;
  if (s.ok()) s = kirjuri::views_internal::EncodeRow(ledger, view, &row);
  if (!s.ok()) kirjuri::fuzz::Die("making seeds", s);
  WriteSeed(dir + "/row-0", row);
  std::exit(0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("KIRJURI_FUZZ_MAKE_SEEDS")) MakeSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kirjuri::Ledger& ledger = kirjuri::fuzz::SharedLedger();
  if (size > (64u << 10)) return -1;
  const std::span<const uint8_t> bytes(data, size);

  kirjuri::DecodedLeaf leaf;
  if (leaf.Decode(bytes).ok()) {
    (void)leaf.SignedMessage();
    (void)kirjuri::CheckEventSignature(leaf, ledger.public_key());
    kirjuri::EventView view;
    view.seq = leaf.get().getEvent().getEnvelope().getSeq();
    view.leaf = bytes;
    view.signed_event = leaf.get();
    (void)kirjuri::EnvelopeJson(view, /*with_leaf=*/true);
    std::vector<kirjuri::FieldValue> fields;
    (void)ledger.ReadFields(view, &fields);
  }

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using kirjuri::views_internal::RowData;
  for (RowData data : {RowData::kSealed, RowData::kOpen}) {
    kirjuri::SubjectView row;
    if (!kirjuri::views_internal::DecodeRow(ledger, text, data, &row).ok()) continue;
    (void)row.ToJson();
    if (data != RowData::kSealed) continue;
    for (auto& [name, category] : row.categories) {
      if (!category.sealed.empty()) {
        (void)kirjuri::views_internal::OpenCategory(ledger, row, name, &category);
      }
    }
  }
  std::string stripped;
  uint64_t dropped = 0;
  (void)kirjuri::views_internal::StripRow(text, &stripped, &dropped);
  return 0;
}
