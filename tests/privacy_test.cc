// No personal data in logs or error messages (DESIGN.md decision 9): the CLI is run at the most
// verbose log level over inputs full of recognisable personal data, and what it prints on stderr
// must not contain any of it.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

// Runs the CLI on dir/data at the most verbose log level.
Run Kirjuri(const fs::path& dir, const std::string& args) {
  std::vector<std::string> argv = {"--data", (dir / "data").string()};
  for (std::string& a : kirjuri::testing::SplitArgs(args)) argv.push_back(std::move(a));
  kirjuri::testing::RunResult r = kirjuri::testing::RunKirjuri(argv, dir, "/dev/null", {"KIRJURI_LOG_LEVEL=trace"});
  return Run{r.code, r.out, r.err};
}

// Personal values that appear in the inputs below; none may be echoed on stderr.
const char* const kPersonal[] = {"Aino Virtanen", "aino.virtanen@example.fi", "Jyväskylä",
                                 "040-1234567", "198.51.100.7", "hunter2"};

void CheckNoPersonalData(const std::string& text) {
  for (const char* p : kPersonal) {
    INFO("stderr was: " << text);
    CHECK(text.find(p) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("logs and error messages carry no personal data, even at trace level") {
  char tmpl[] = "/tmp/kirjuri-privacy-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  fs::path dir(tmpl);
  REQUIRE(Kirjuri(dir, "init").exit_code == 0);

  const std::string good =
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form",)"
      R"("data":{"name":"Aino Virtanen","email":"aino.virtanen@example.fi","city":"Jyväskylä",)"
      R"("phone":"040-1234567"},"ip":"198.51.100.7"})";
  std::ofstream(dir / "good.jsonl") << good << "\n";
  Run appended = Kirjuri(dir, "append " + (dir / "good.jsonl").string());
  REQUIRE(appended.exit_code == 0);
  CHECK(appended.err.find("trace") != std::string::npos);  // the log level really was trace
  CheckNoPersonalData(appended.err);

  // Refused inputs: the reason names the field, never its value.
  const std::string bad_lines[] = {
      // an undeclared field holding personal data
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form",)"
      R"("data":{"nickname":"Aino Virtanen"}})",
      // a cleartext password
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form",)"
      R"("data":{"email":"aino.virtanen@example.fi","password":"hunter2"}})",
      // an email address where an actor id belongs
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"aino.virtanen@example.fi","purpose":"service_delivery","basis":"consent",)"
      R"("source":"web_form","data":{"city":"Jyväskylä"}})",
      // a value of the wrong type
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form",)"
      R"("data":{"name":{"first":"Aino Virtanen"}}})",
      // malformed JSON right after a personal value
      R"({"register":"customer","data":{"name":"Aino Virtanen",)",
      // a bad time next to personal data
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form",)"
      R"("at":"Jyväskylä","data":{"city":"Jyväskylä"}})",
  };
  for (const std::string& line : bad_lines) {
    std::ofstream(dir / "bad.jsonl") << line << "\n";
    Run refused = Kirjuri(dir, "append " + (dir / "bad.jsonl").string());
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find("line 1:") != std::string::npos);
    CheckNoPersonalData(refused.err);
  }

  Run verified = Kirjuri(dir, "verify");
  CHECK(verified.exit_code == 0);
  CheckNoPersonalData(verified.err);
  Run log = Kirjuri(dir, "log");
  CHECK(log.exit_code == 0);
  CheckNoPersonalData(log.out + log.err);
  fs::remove_all(dir);
}
