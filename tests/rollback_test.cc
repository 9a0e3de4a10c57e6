// A log that lost acknowledged writes must never be taken for a whole one. RocksDB recovers a
// cut write-ahead log by stopping at the first bad record (kPointInTimeRecovery), and a restored
// backup of DATA/log is a consistent, signed, shorter log: neither can be noticed from inside
// RocksDB. The latest checkpoint is therefore also kept beside the log (DATA/checkpoint), and
// opening or verifying a log it covers more of is refused, naming the loss.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

TEST_CASE("a log restored from an older copy is refused on open and by verify") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(10, 5);
  f.Close();
  const fs::path old_copy = f.tmp().path() / "log-at-10";
  fs::copy(f.log_dir(), old_copy, fs::copy_options::recursive);
  f.Reopen();
  f.AppendN(5);
  f.Close();
  fs::remove_all(f.log_dir());
  fs::copy(old_copy, f.log_dir(), fs::copy_options::recursive);

  Status s = f.Open();
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK(s.message().find("acknowledged events were lost") != std::string::npos);
  CHECK(s.message().find("15") != std::string::npos);

  RunResult v = RunKirjuri({"--data", f.data().string(), "verify"}, f.tmp().path());
  CHECK(v.code == 1);
  CHECK(v.err.find("acknowledged events were lost") != std::string::npos);
  // Nothing was appended meanwhile: the refused ledger is as it was.
  OpenOptions o = LedgerFixture::NoCheckOnOpen();
  f.Reopen(o);
  CHECK(f.ledger().size() == 10);
  std::vector<Appended> out;
  CHECK_FALSE(f.AppendLines(ValidLines(100, 1), &out).ok());
  CHECK(f.ledger().size() == 10);
}

TEST_CASE("the checkpoint beside the log: kept current, its loss or a stranger's noticed") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(7, 3);
  std::string latest;
  REQUIRE(f.ledger().LatestCheckpoint(&latest).ok());
  CHECK(ReadFile(f.data() / "checkpoint") == latest);
  CHECK(f.Verify().first.ok());
  f.Close();

  SECTION("missing") {
    fs::remove(f.data() / "checkpoint");
    Status s = f.Open();
    CHECK(s.IsCorruption());
    CHECK(s.message().find("missing") != std::string::npos);
  }
  SECTION("another ledger's") {
    LedgerFixture other;
    other.InitAndOpen();
    other.AppendN(2);
    other.Close();
    fs::copy_file(other.data() / "checkpoint", f.data() / "checkpoint",
                  fs::copy_options::overwrite_existing);
    Status s = f.Open();
    CHECK(s.IsCorruption());
    CHECK(s.message().find("not a checkpoint of this ledger") != std::string::npos);
  }
  SECTION("behind the log, as after a crash between the batch and the copy: fine") {
    f.Reopen();
    std::string at3;
    REQUIRE(f.ledger().CheckpointAt(3, &at3).ok());
    f.Close();
    {
      std::ofstream out(f.data() / "checkpoint", std::ios::binary | std::ios::trunc);
      out << at3;
    }
    Status s = f.Open();
    INFO(s.ToString());
    CHECK(s.ok());
    CHECK(f.Verify().first.ok());
  }
}
