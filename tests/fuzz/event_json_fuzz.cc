// Fuzz target: JSON event lines, as `kirjuri append` and POST /v1/events take them, decoded and
// checked against the shipped policy by Ledger::ParseLines. Any input: OK or a Status, no crash.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kirjuri::Ledger& ledger = kirjuri::fuzz::SharedLedger();
  if (size > (64u << 10)) return -1;  // the cost of an input stays small; not a corpus entry
  std::vector<kirjuri::NewEvent> events;
  kirjuri::Status s =
      ledger.ParseLines(std::string_view(reinterpret_cast<const char*>(data), size), &events);
  (void)s;
  return 0;
}
