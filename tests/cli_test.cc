// The command line's contract with other tools: global options before or after the subcommand,
// one-line errors with a non-zero exit.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

struct Run {
  int exit_code = -1;
  std::string out;
};

// Runs the CLI with `args` (stderr folded into out).
Run Kirjuri(const std::string& args) {
  static kirjuri::testing::TempDir scratch("kirjuri-cli-out");
  kirjuri::testing::RunResult r = kirjuri::testing::RunKirjuri(kirjuri::testing::SplitArgs(args), scratch.path());
  return Run{r.code, r.out + r.err};
}

}  // namespace

TEST_CASE("global options work before and after the subcommand") {
  char tmpl[] = "/tmp/kirjuri-cli-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const fs::path root(tmpl);
  const std::string data = (root / "data").string();
  const std::string key = (root / "master.key").string();

  Run init = Kirjuri("init --data " + data + " --master-key " + key + " --json");
  INFO(init.out);
  REQUIRE(init.exit_code == 0);
  CHECK(init.out.rfind("{\"data\":", 0) == 0);  // JSON, as --json after `init` asked
  CHECK(fs::exists(key));

  Run before = Kirjuri("--data " + data + " --master-key " + key + " --json checkpoint");
  Run after = Kirjuri("checkpoint --json --master-key " + key + " --data " + data);
  CHECK(before.exit_code == 0);
  CHECK(after.exit_code == 0);
  CHECK(before.out == after.out);

  Run missing = Kirjuri("verify --data " + (root / "nothing-here").string());
  CHECK(missing.exit_code != 0);
  CHECK(missing.out.find("kirjuri: no ledger in") == 0);
  CHECK(missing.out.find('\n') == missing.out.size() - 1);  // one line

  // An empty range is a mistake, not an empty answer.
  Run inverted = Kirjuri("log --from 5 --to 2 --data " + data + " --master-key " + key);
  CHECK(inverted.exit_code == 1);
  CHECK(inverted.out == "kirjuri: --from 5 is after --to 2\n");
  fs::remove_all(root);
}
