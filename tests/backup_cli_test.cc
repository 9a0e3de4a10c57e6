// `kirjuri backup` through the binary: a copy that opens with the same master key and verifies,
// and one-line refusals that leave nothing behind.
#include <catch2/catch.hpp>

#include "service_util.h"

using namespace kirjuri::testing;

TEST_CASE("kirjuri backup writes a copy that verifies with the same master key", "[cli]") {
  ServiceLedger ledger;
  const std::string subject = JsonString(ledger.Append(NewCustomerLine()), "subject");

  const std::string copy = (ledger.dir() / "backup").string();
  RunResult backup = ledger.Kirjuri({"backup", "--out", copy + "/", "--json"});  // "/" as typed
  INFO(Describe(backup));
  REQUIRE(backup.code == 0);
  CHECK(JsonNumber(backup.out, "events") == 1);
  CHECK(backup.out.find("Aino") == std::string::npos);

  // The copy is a data directory of its own: verify, and the person's data, with the same key.
  RunResult verify = RunKirjuri({"--data", copy, "--master-key", ledger.master_key(), "verify"},
                                ledger.dir());
  INFO(Describe(verify));
  CHECK(verify.code == 0);
  RunResult found = RunKirjuri(
      {"--data", copy, "--master-key", ledger.master_key(), "find", "--email", "aino@example.fi"},
      ledger.dir());
  CHECK(found.code == 0);
  CHECK(found.out.find(subject) != std::string::npos);
  // Without the master key it opens nothing.
  RunResult keyless = RunKirjuri({"--data", copy, "verify"}, ledger.dir());
  CHECK(keyless.code != 0);

  // Refusals: one line, a non-zero exit, nothing written.
  RunResult again = ledger.Kirjuri({"backup", "--out", copy});
  CHECK(again.code != 0);
  CHECK(again.err.find("exists") != std::string::npos);
  RunResult inside = ledger.Kirjuri({"backup", "--out", ledger.data() + "/backup"});
  CHECK(inside.code != 0);
  CHECK(inside.err.find("inside the data directory") != std::string::npos);
  CHECK(Lines(inside.err).size() == 1);
  CHECK_FALSE(std::filesystem::exists(ledger.data() + "/backup"));
}
