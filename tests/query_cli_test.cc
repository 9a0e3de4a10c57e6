// The README's main job and the views' command line, end to end through the real binary:
// `kirjuri demo` builds the sample, `query` answers now and as of a past point, `rebuild`
// drops and refolds, and bad questions get one-line errors.
#include <catch2/catch.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

using kirjuri::testing::RunKirjuri;
using kirjuri::testing::SplitArgs;
using kirjuri::testing::TempDir;

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string JsonField(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":\"([^\"]*)\"");
  return std::regex_search(json, m, re) ? m[1].str() : "";
}

}  // namespace

TEST_CASE("the demo builds the registers, and query answers now and as of before a rectification") {
  TempDir dir("kirjuri-query-cli");
  const std::string k = "--data " + (dir.path() / "data").string();
  auto run = [&](const std::string& args) {
    kirjuri::testing::RunResult r = RunKirjuri(SplitArgs(k + " " + args), dir.path());
    INFO("kirjuri " << args << "\n" << r.out << r.err);
    return r;
  };

  auto demo = run("demo --customers 60 --partners 12 --reports " + (dir.path() / "reports").string());
  INFO(demo.out << demo.err);
  REQUIRE(demo.code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(demo.out, m, std::regex("as of seq ([0-9]+) \\(before the rectification\\)")));
  const std::string before = m[1].str();

  auto customers = run("query customers --json");
  REQUIRE(customers.code == 0);
  CHECK(Lines(customers.out).size() == 60);
  auto partners = run("query partners --json");
  REQUIRE(partners.code == 0);
  CHECK(Lines(partners.out).size() == 12);

  // The teacher who moved: the only one in Rovaniemi now, and not then.
  auto moved = run("query customers --city Rovaniemi --json");
  REQUIRE(Lines(moved.out).size() == 1);
  const std::string id = JsonField(moved.out, "subject");
  auto now = run("query customer " + id + " --json");
  REQUIRE(now.code == 0);
  CHECK(now.out.find("\"city\":{\"value\":\"Rovaniemi\"") != std::string::npos);
  auto then = run("query customer " + id + " --as-of " + before + " --json");
  REQUIRE(then.code == 0);
  CHECK(then.out.find("Rovaniemi") == std::string::npos);
  CHECK(then.out.find("\"city\":{\"value\":") != std::string::npos);
  CHECK(Lines(run("query customers --city Rovaniemi --as-of " + before + " --json").out).empty());

  // The erased teacher is listed as erased, with no data; never in the audience.
  int erased = 0;
  std::string erased_id;
  for (const std::string& line : Lines(customers.out)) {
    if (line.find("\"erased\":true") != std::string::npos) {
      ++erased;
      erased_id = JsonField(line, "subject");
      CHECK(line.find("\"data\":{}") != std::string::npos);
    }
  }
  CHECK(erased == 1);
  auto audience = run("query marketing-audience --json");
  REQUIRE(audience.code == 0);
  CHECK_FALSE(Lines(audience.out).empty());
  CHECK(audience.out.find(erased_id) == std::string::npos);
  for (const std::string& line : Lines(audience.out)) {
    CHECK(line.find("\"email\":\"") != std::string::npos);  // what a mailer needs
  }
  // The erased teacher was billed: the bills are kept under the Accounting Act, not due yet.
  auto retained = run("retention list --json");
  REQUIRE(retained.code == 0);
  REQUIRE(Lines(retained.out).size() == 1);
  CHECK(JsonField(retained.out, "subject") == erased_id);
  CHECK(JsonField(retained.out, "category") == "billing");
  CHECK(retained.out.find("\"due\":false") != std::string::npos);

  // A rebuild gives the same answers.
  auto rebuilt = run("rebuild");
  REQUIRE(rebuilt.code == 0);
  CHECK(run("query customers --json").out == customers.out);
  CHECK(run("query marketing-audience --json").out == audience.out);

  // Wrong questions: one line, non-zero, nothing else.
  for (const std::string& bad : std::vector<std::string>{
           "query partner " + id, "query customer " + id + " --as-of yesterday",
        "query customer " + id + " --as-of 999999999", "query people", "rebuild nobody",
        "query customer 00000000000000000000000000000000"}) {
    auto r = run(bad);
    INFO(bad);
    CHECK(r.code == 1);
    CHECK(Lines(r.err).size() == 1);
  }
}
