// The command line's contract with other tools: global options before or after the subcommand,
// one-line errors with a non-zero exit.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

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
  // With --json, the checkpoint's parts and the note; without, the note's text alone.
  CHECK(before.out.rfind("{\"origin\":\"kirjuri.local/", 0) == 0);
  CHECK(before.out.find("\"size\":0,") != std::string::npos);
  Run note = Kirjuri("checkpoint --master-key " + key + " --data " + data);
  REQUIRE(note.exit_code == 0);
  CHECK(note.out.rfind("kirjuri.local/", 0) == 0);
  CHECK(before.out.find(note.out.substr(0, note.out.find('\n'))) != std::string::npos);

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

TEST_CASE("exit codes: 1 when the command refuses what it was asked, 2 when it cannot run") {
  kirjuri::testing::TempDir root("kirjuri-cli-exit");
  const std::string data = (root.path() / "data").string();
  const std::string key = (root.path() / "master.key").string();
  const std::string on = " --data " + data + " --master-key " + key;
  REQUIRE(Kirjuri("init" + on).exit_code == 0);
  const std::string nobody = "0123456789abcdef0123456789abcdef";
  const std::string report_dir = (root.path() / "report").string();
  const fs::path line = root.path() / "person.jsonl";
  kirjuri::testing::WriteText(
      line,
      R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
      R"("actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"web_form",)"
      R"("data":{"city":"Oulu"}})");
  Run appended = Kirjuri("append --json " + line.string() + on);
  REQUIRE(appended.exit_code == 0);
  const std::string person = appended.out.substr(appended.out.find("\"subject\":\"") + 11, 32);
  const std::string erase = "erase " + person + " --request REQ-1 --actor dpo-1";
  REQUIRE(Kirjuri(erase + on).exit_code == 0);

  // Refused (1): a malformed id, a person or seq the ledger does not hold, what a rule forbids.
  const std::vector<std::string> refused = {
      "export not-an-id",
      "export " + nobody,
      "query customer " + nobody,
      "report deletion " + nobody + " --out " + report_dir,
      "prove inclusion 3",
      "prove inclusion 0 --size 99",  // a tree larger than the log
      "prove consistency 1 99",
      "prove consistency 2 1",
      erase,  // already erased (it exited 2, as if Kirjuri could not run)
      "request extend REQ-404 --months 1 --reason busy --actor dpo-1",
      "query customers --as-of 2020-01-01T00:00:00Z",  // before the first event (it exited 2)
  };
  for (const std::string& asked : refused) {
    Run r = Kirjuri(asked + on);
    INFO(asked << ": " << r.out);
    CHECK(r.exit_code == 1);
    CHECK(r.out.starts_with("kirjuri: "));
  }
  // A number is decimal: 010 is ten (CLI11 alone reads it as octal eight).
  Run octal = Kirjuri("prove inclusion 010" + on);
  CHECK(octal.exit_code == 1);
  CHECK(octal.out == "kirjuri: seq 10 is not in a tree of 2 events\n");
  CHECK(Kirjuri("prove inclusion 0 --size 99" + on).out ==
        "kirjuri: tree size 99 is beyond the log (2 events)\n");

  // Cannot run (2): a usage error (a negative or hexadecimal number among them: CLI11 alone
  // wraps -1 to 2^64 - 1), no ledger, no master key.
  const std::vector<std::string> cannot_run = {
      "export " + nobody + on + " --no-such-option",
      "erase " + nobody + " --request REQ-2" + on,  // locally, who erases must be named
      "prove inclusion -1" + on,
      "log --from 0x10" + on,
      "export " + nobody + " --data " + (root.path() / "elsewhere").string() + " --master-key " +
          key,
      "export " + nobody + " --data " + data + " --master-key " + (root.path() / "no-key").string(),
  };
  for (const std::string& broken : cannot_run) {
    Run r = Kirjuri(broken);
    INFO(broken << ": " << r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.starts_with("kirjuri: "));
  }
  CHECK(Kirjuri("prove inclusion -1" + on).out ==
        "kirjuri: seq: '-1' is not a decimal number (digits only)\n");
}

TEST_CASE("a master key kept inside the data directory still opens the ledger, with a warning") {
  // init refuses to put it there; one moved there by hand must not lock its owner out, but every
  // copy of the directory would carry the key that opens it, so each command says so.
  kirjuri::testing::TempDir root("kirjuri-cli-key-inside");
  const fs::path data = root.path() / "data";
  const fs::path outside = root.path() / "master.key";
  const std::string on_data = " --data " + data.string() + " --master-key ";
  REQUIRE(Kirjuri("init" + on_data + outside.string()).exit_code == 0);
  Run kept_apart = Kirjuri("verify" + on_data + outside.string());
  INFO(kept_apart.out);
  CHECK(kept_apart.exit_code == 0);
  CHECK(kept_apart.out.find("inside the data directory") == std::string::npos);

  const fs::path inside = data / "master.key";
  fs::rename(outside, inside);
  for (const std::string command : {"verify", "query customers"}) {
    Run r = Kirjuri(command + on_data + inside.string());
    INFO(command << ": " << r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("the master key " + inside.string() + " is inside the data directory") !=
          std::string::npos);
  }
}

TEST_CASE("retention list shows what erasures kept and until when, and what retention run will "
          "shred") {
  kirjuri::testing::TempDir root("kirjuri-cli-retention");
  const std::string on = " --data " + (root.path() / "data").string() + " --master-key " +
                         (root.path() / "master.key").string();
  REQUIRE(Kirjuri("init" + on).exit_code == 0);
  const std::string envelope =
      R"("register":"customer","actor":"emp-1","purpose":"service_delivery","basis":"contract",)"
      R"("source":"web_form",)";
  const fs::path person = root.path() / "person.jsonl";
  kirjuri::testing::WriteText(person, "{" + envelope +
                                          R"("subject":"new","type":"recorded",)"
                                          R"("category":"profile","data":{"city":"Oulu"}})");
  Run appended = Kirjuri("append --json " + person.string() + on);
  REQUIRE(appended.exit_code == 0);
  const std::string id = appended.out.substr(appended.out.find("\"subject\":\"") + 11, 32);
  const fs::path bill = root.path() / "bill.jsonl";
  kirjuri::testing::WriteText(bill, "{" + envelope + R"("subject":")" + id +
                                        R"(","type":"recorded","category":"billing",)"
                                        R"("data":{"order_id":"O-1"}})");
  REQUIRE(Kirjuri("append " + bill.string() + on).exit_code == 0);

  Run none = Kirjuri("retention list --json" + on);
  CHECK(none.exit_code == 0);
  CHECK(none.out.empty());  // nothing is kept before an erasure
  REQUIRE(Kirjuri("erase " + id + " --request REQ-1 --actor dpo-1" + on).exit_code == 0);

  // Billing is kept (the Accounting Act), for years: not due now.
  Run kept = Kirjuri("retention list --json" + on);
  INFO(kept.out);
  REQUIRE(kept.exit_code == 0);
  CHECK(kept.out.starts_with("{\"subject\":\"" + id + "\",\"category\":\"billing\",\"until\":\""));
  CHECK(kept.out.ends_with("\",\"due\":false}\n"));
  const size_t at = kept.out.find("\"until\":\"") + 9;
  const std::string until = kept.out.substr(at, kept.out.find('"', at) - at);
  CHECK(until > "2030-01-01T00:00:00Z");
  Run table = Kirjuri("retention list" + on);
  CHECK(table.out.find(id + " billing          " + until.substr(0, 10) + " kept") !=
        std::string::npos);
  CHECK(table.out.find("1 retained category, 0 due") != std::string::npos);

  // --until before its date leaves it out; --now at its date calls it due.
  CHECK(Kirjuri("retention list --json --until 2030-01-01T00:00:00Z" + on).out.empty());
  Run due = Kirjuri("retention list --json --now " + until + on);
  CHECK(due.out.ends_with("\",\"due\":true}\n"));
  CHECK(Kirjuri("retention list --until someday" + on).out ==
        "kirjuri: --until: not an RFC 3339 time (e.g. 2026-03-03T14:05:00Z)\n");

  // The list only reads: the item is still there until retention run shreds it, then gone.
  REQUIRE(Kirjuri("retention run --now " + until + on).exit_code == 0);
  CHECK(Kirjuri("retention list --json" + on).out.empty());
}
