// Local reads of personal data through the CLI are in the access log, as the service's are.
#include <catch2/catch.hpp>

#include "service_util.h"

using namespace kirjuri::testing;

TEST_CASE("query and export on the command line leave access events that log --access lists",
          "[cli][access]") {
  ServiceLedger ledger;
  const std::string subject = JsonString(ledger.Append(NewCustomerLine()), "subject");
  REQUIRE(subject.size() == 32);

  RunResult none = ledger.Kirjuri({"log", "--subject", subject, "--access", "--json"});
  REQUIRE(none.code == 0);
  CHECK(none.out.empty());  // appending is not reading

  REQUIRE(ledger.Kirjuri({"--actor", "emp-0042", "query", "customer", subject}).code == 0);
  REQUIRE(ledger.Kirjuri({"--actor", "emp-0043", "export", subject, "--json"}).code == 0);
  REQUIRE(ledger.Kirjuri({"query", "customers"}).code == 0);

  RunResult log = ledger.Kirjuri({"log", "--subject", subject, "--access", "--json"});
  INFO(Describe(log));
  REQUIRE(log.code == 0);
  const std::vector<std::string> lines = Lines(log.out);
  REQUIRE(lines.size() == 3);
  CHECK(JsonString(lines[0], "actor") == "emp-0042");
  CHECK(JsonString(lines[0], "operation") == "query");
  CHECK(JsonString(lines[1], "actor") == "emp-0043");
  CHECK(JsonString(lines[1], "operation") == "export");
  CHECK(JsonString(lines[2], "actor").rfind("cli:", 0) == 0);  // the login name, or cli:local
  for (const std::string& line : lines) {
    CHECK(JsonString(line, "type") == "data_accessed");
    CHECK(JsonString(line, "via") == "cli");
    CHECK(JsonString(line, "role") == "local");
    CHECK(line.find(R"("categories":["profile"])") != std::string::npos);
    CHECK(line.find("Aino") == std::string::npos);
  }
  CHECK(ledger.Kirjuri({"verify"}).code == 0);
}

TEST_CASE("a local read names each category it showed once, consents included",
          "[cli][access]") {
  ServiceLedger ledger;
  const std::string subject = JsonString(ledger.Append(NewCustomerLine()), "subject");
  ledger.Append(R"({"register":"customer","subject":")" + subject +
                R"(","type":"consent_given","category":"consents","actor":"emp-0007",)"
                R"("purpose":"marketing","basis":"consent","source":"web_form",)"
                R"("data":{"notice":"privacy-notice-2026-01","method":"checkbox"}})"
                "\n");
  REQUIRE(ledger.Kirjuri({"query", "customer", subject, "--json"}).code == 0);
  RunResult log = ledger.Kirjuri({"log", "--subject", subject, "--access", "--json"});
  REQUIRE(log.code == 0);
  const std::vector<std::string> lines = Lines(log.out);
  REQUIRE(lines.size() == 1);
  INFO(lines[0]);
  CHECK(lines[0].find(R"("categories":["consents","profile"])") != std::string::npos);
}

TEST_CASE("reading an erased person logs the look-up, never a category whose key is gone, and "
          "a history of shredded values is no read",
          "[cli][access]") {
  ServiceLedger ledger;
  const std::string subject = JsonString(ledger.Append(NewCustomerLine()), "subject");
  REQUIRE(ledger.Kirjuri({"erase", subject, "--request", "REQ-1", "--actor", "dpo-01"}).code ==
          0);
  REQUIRE(ledger.Kirjuri({"export", subject, "--json"}).code == 0);
  REQUIRE(ledger.Kirjuri({"query", "customer", subject}).code == 0);
  // The history's values are all shredded (shown as null): nothing of the person was shown.
  RunResult history = ledger.Kirjuri({"history", "--subject", subject, "--with-data", "--json"});
  REQUIRE(history.code == 0);
  CHECK(history.out.find("\"name\":null") != std::string::npos);
  RunResult log = ledger.Kirjuri({"log", "--subject", subject, "--access", "--json"});
  INFO(Describe(log));
  REQUIRE(log.code == 0);
  const std::vector<std::string> lines = Lines(log.out);
  REQUIRE(lines.size() == 2);
  CHECK(JsonString(lines[0], "operation") == "export");
  CHECK(JsonString(lines[1], "operation") == "query");
  for (const std::string& line : lines) CHECK(line.find(R"("categories":[])") != std::string::npos);
}

TEST_CASE("no trace, no read: a local read whose access event cannot be written shows nothing, "
          "says why in one line and exits non-zero", "[cli][access]") {
  ServiceLedger ledger;
  const std::string subject = JsonString(ledger.Append(NewCustomerLine()), "subject");
  // An actor the access log refuses (not an id): each read must fail before showing anything.
  const std::vector<std::vector<std::string>> reads = {
      {"query", "customer", subject},
      {"query", "customer", subject, "--json"},
      {"query", "customers"},
      {"query", "customers", "--json"},
      {"export", subject},
      {"export", subject, "--json"},
      {"history", "--subject", subject, "--with-data"},
      {"history", "--with-data", "--json"},
  };
  for (std::vector<std::string> args : reads) {
    args.insert(args.begin(), {"--actor", "not an id"});
    RunResult r = ledger.Kirjuri(args);
    INFO(Describe(r));
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(Lines(r.err).size() == 1);
    CHECK(r.err.find("nothing is shown") != std::string::npos);
    CHECK(r.err.find("Aino") == std::string::npos);
  }
  RunResult log = ledger.Kirjuri({"log", "--subject", subject, "--access", "--json"});
  REQUIRE(log.code == 0);
  CHECK(log.out.empty());
  // Envelopes are no personal data: history without --with-data needs no access event.
  RunResult envelopes = ledger.Kirjuri({"--actor", "not an id", "history", "--subject", subject});
  INFO(Describe(envelopes));
  CHECK(envelopes.code == 0);
  CHECK(envelopes.out.find(subject) != std::string::npos);
}
