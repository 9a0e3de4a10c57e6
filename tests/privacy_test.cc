// No personal data in logs or error messages (DESIGN.md decision 9): the CLI is run at the most
// verbose log level over inputs full of recognisable personal data, and what it prints on stderr
// must not contain any of it.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

Run Kirjuri(const fs::path& dir, const std::string& args) {
  fs::path err_file = dir / "stderr.txt";
  std::string cmd = "KIRJURI_LOG_LEVEL=trace " + std::string(KIRJURI_BIN) + " --data " +
                    (dir / "data").string() + " " + args + " 2>" + err_file.string();
  Run run;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) run.out.append(buf.data(), n);
  int status = pclose(p);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  run.err.assign(std::istreambuf_iterator<char>(in), {});
  return run;
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
