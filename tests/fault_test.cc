// Faults of the machine (issue 7, item 3): a full disk, a read-only data directory, files that
// cannot be read. Each must end in a clear one-line error, leave nothing half written, and the
// ledger must open, verify and take appends again once the fault is gone.
//
// A full disk and a read-only directory are real: a small tmpfs the test mounts itself (and
// remounts read-only), in a private mount namespace where the kernel allows one, unmounted at
// scope exit whatever happens. Mounting needs root or CAP_SYS_ADMIN (CI runs as root); without
// it these tests print "SKIPPED: <why>", which CTest reports as skipped (tests/CMakeLists.txt),
// never as passed. Root ignores file permissions, so unreadable files are made with a RocksDB
// FileSystem that fails reads of chosen files, as a bad disk or a permission would.
#include <fcntl.h>
#include <grp.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"
#include "service/service.h"

namespace kirjuri::test {
namespace {

using testing::CompleteLines;
using testing::ParseAck;
using testing::SplitArgs;
using testing::WriteText;

constexpr uint64_t kMiB = 1 << 20;

void RequireOk(const Status& s, std::string_view what) {
  INFO(what << ": " << s.ToString());
  REQUIRE(s.ok());
}

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// Mounts made by this process go into a mount namespace of its own, so that no other process
// sees them and none outlives it, even if it dies. Possible only while the process has a single
// thread (unshare(2)); otherwise the mounts stay in the shared namespace, and the Tmpfs guard
// alone removes them.
void PrivateMountNamespaceOnce() {
  static const bool done = [] {
    if (::unshare(CLONE_NEWNS) != 0) return false;
    return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
  }();
  static_cast<void>(done);
}

// A tmpfs of `bytes` mounted at `dir` (created) for the scope's life.
class Tmpfs {
 public:
  Tmpfs(fs::path dir, uint64_t bytes)
      : dir_(std::move(dir)), options_("size=" + std::to_string(bytes) + ",mode=0700") {
    PrivateMountNamespaceOnce();
    fs::create_directories(dir_);
    if (::mount("kirjuri-test", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options_.c_str()) ==
        0) {
      mounted_ = true;
    } else {
      why_not_ = "cannot mount a tmpfs at " + dir_.string() + " (" + std::strerror(errno) +
                 "): the test needs root or CAP_SYS_ADMIN to make a small file system";
    }
  }
  ~Tmpfs() {
    if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  const fs::path& path() const { return dir_; }

  // Remounts read-only or read-write. REQUIRES: no file on it open for writing.
  void SetReadOnly(bool read_only) {
    const int rc = ::mount(nullptr, dir_.c_str(), nullptr,
                           MS_REMOUNT | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0),
                           options_.c_str());
    INFO("remount " << (read_only ? "ro" : "rw") << ": " << std::strerror(errno));
    REQUIRE(rc == 0);
  }

  uint64_t FreeBytes() const {
    struct statvfs st {};
    REQUIRE(::statvfs(dir_.c_str(), &st) == 0);
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }

 private:
  fs::path dir_;
  std::string options_;
  bool mounted_ = false;
  std::string why_not_;
};

// Returns from the test case, saying why, if `tmpfs` could not be mounted.
#define KIRJURI_SKIP_UNLESS_MOUNTED(tmpfs)                            \
  do {                                                                \
    if (!(tmpfs).mounted()) {                                         \
      std::printf("SKIPPED: %s\n", (tmpfs).why_not().c_str());        \
      std::fflush(stdout);                                            \
      WARN("SKIPPED: " << (tmpfs).why_not());                         \
      return;                                                         \
    }                                                                 \
  } while (0)

// Writes the file `path` (on `disk`) until no more than `leave_free` bytes are left free, or
// the file system is full.
void FillWithBallast(const Tmpfs& disk, const fs::path& path, uint64_t leave_free) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  const std::string chunk(256 << 10, 'b');
  while (true) {
    const uint64_t free = disk.FreeBytes();
    if (free <= leave_free) break;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), free - leave_free));
    const ssize_t w = ::write(fd, chunk.data(), n);
    if (w < 0 && errno == ENOSPC) break;
    INFO("writing the ballast: " << std::strerror(errno));
    REQUIRE(w > 0);
  }
  ::close(fd);
}

// `kirjuri` with --data and --master-key set; its output files in `scratch` (not on the disk
// under test, which may be full or read-only).
struct Cli {
  fs::path scratch, data, key;
  RunResult Run(const std::string& args) const {
    std::vector<std::string> a = {"--data", data.string(), "--master-key", key.string()};
    for (std::string& s : SplitArgs(args)) a.push_back(std::move(s));
    return RunKirjuri(a, scratch);
  }
};

// A refusal as the command line promises it: non-zero exit, one line "kirjuri: <reason>" on
// stderr holding `reason_part`, and no personal data.
void CheckOneLineError(const RunResult& r, std::string_view reason_part) {
  INFO(Describe(r));
  CHECK(r.code != 0);
  CHECK(CompleteLines(r.err).size() == 1);
  CHECK(r.err.starts_with("kirjuri: "));
  CHECK(Contains(r.err, reason_part));
  CHECK_FALSE(Contains(r.err, "Test Person"));
}

void CheckOneLineStatus(const Status& s, std::string_view reason_part) {
  INFO(s.ToString());
  CHECK_FALSE(s.ok());
  CHECK_FALSE(Contains(s.message(), "\n"));
  CHECK(Contains(s.message(), reason_part));
  CHECK_FALSE(Contains(s.message(), "Test Person"));
}

// Appends the input file with `--json`, adding each acknowledgement to *acked.
RunResult AppendAcked(const Cli& cli, const fs::path& input, std::map<uint64_t, std::string>* acked) {
  RunResult r = cli.Run("--json append " + input.string());
  for (const std::string& line : CompleteLines(r.out)) {
    uint64_t seq = 0;
    std::string subject;
    INFO("acknowledgement: " << line);
    REQUIRE(ParseAck(line, &seq, &subject));
    REQUIRE(acked->emplace(seq, subject).second);
  }
  return r;
}

std::string SubjectHex(const EventView& e) {
  auto s = e.signed_event.getEvent().getEnvelope().getSubject();
  return HexEncode({s.begin(), s.size()});
}

// How the tests open a ledger in process: master key `key`, both cores.
OpenOptions InProcess(const fs::path& key) {
  OpenOptions o;
  o.master_key_file = key;
  o.threads = 2;
  return o;
}

// A new ledger in `data` (master key `key`), open in process.
std::unique_ptr<Ledger> NewLedger(const fs::path& data, const fs::path& key) {
  InitOptions init;
  init.master_key_file = key;
  RequireOk(Ledger::Init(data, init), "init");
  std::unique_ptr<Ledger> ledger;
  RequireOk(Ledger::Open(data, InProcess(key), &ledger), "open");
  return ledger;
}

// Opens the ledger in process and requires it to hold exactly the acknowledged events (each at
// its sequence number, for its subject: an append is whole or absent, so nothing else) and to
// verify.
void CheckHoldsExactly(const Cli& cli, const std::map<uint64_t, std::string>& acked) {
  std::unique_ptr<Ledger> ledger;
  RequireOk(Ledger::Open(cli.data, InProcess(cli.key), &ledger), "opening after the fault");
  CHECK(ledger->size() == acked.size());
  RequireOk(ledger->ReadEvents(0, ledger->size(), [&](const EventView& e) {
    auto it = acked.find(e.seq);
    if (it == acked.end() || it->second != SubjectHex(e)) {
      return Status::Corruption("seq " + std::to_string(e.seq) + " was not acknowledged so");
    }
    return Status::Ok();
  }), "reading the log");
  VerifyResult vr;
  RequireOk(ledger->Verify(VerifyOptions{}, &vr), "verify");
}

std::string VerifiedLine(uint64_t events) { return "ok: " + std::to_string(events) + " events"; }

TEST_CASE("a full disk: kirjuri append fails with a one-line error, loses nothing acknowledged, "
          "and the ledger verifies and takes appends once space is freed", "[fault]") {
  TempDir tmp("kirjuri-fault");
  Tmpfs disk(tmp / "disk", 8 * kMiB);
  KIRJURI_SKIP_UNLESS_MOUNTED(disk);
  const Cli cli{tmp.path(), disk.path() / "data", tmp / "master-key"};
  RunResult init = cli.Run("init");
  INFO(Describe(init));
  REQUIRE(init.code == 0);
  const fs::path input = tmp / "batch.jsonl";
  WriteText(input, ValidLines(0, 200));
  std::map<uint64_t, std::string> acked;
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);

  // A ballast leaves a little room; the ledger fills the rest, append after append.
  const fs::path ballast = disk.path() / "ballast";
  FillWithBallast(disk, ballast, 1 * kMiB);
  RunResult failed;
  int appended_after_ballast = 0;
  for (int i = 0; i < 200; ++i) {
    RunResult r = AppendAcked(cli, input, &acked);
    if (r.code != 0) {
      failed = r;
      break;
    }
    ++appended_after_ballast;
  }
  INFO("appends that fitted: " << appended_after_ballast);
  REQUIRE(failed.code != -1);
  CHECK(appended_after_ballast > 0);
  CheckOneLineError(failed, "No space left on device");
  CHECK(failed.out.empty());  // nothing acknowledged
  // Still full: refused again, as clearly, and so is verify's open or it verifies.
  CheckOneLineError(AppendAcked(cli, input, &acked), "No space left on device");

  fs::remove(ballast);
  RunResult v = cli.Run("verify");
  INFO(Describe(v));
  REQUIRE(v.code == 0);
  CHECK(v.out.starts_with(VerifiedLine(acked.size())));
  CheckHoldsExactly(cli, acked);
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  v = cli.Run("verify");
  REQUIRE(v.code == 0);
  CHECK(v.out.starts_with(VerifiedLine(acked.size())));
  CheckHoldsExactly(cli, acked);
}

TEST_CASE("a full disk under the Ledger API: the append that does not fit is refused whole, "
          "and appends go on once space is freed", "[fault]") {
  TempDir tmp("kirjuri-fault");
  Tmpfs disk(tmp / "disk", 8 * kMiB);
  KIRJURI_SKIP_UNLESS_MOUNTED(disk);
  const Cli cli{tmp.path(), disk.path() / "data", tmp / "master-key"};
  std::unique_ptr<Ledger> ledger = NewLedger(cli.data, cli.key);
  OpenOptions o = InProcess(cli.key);

  const fs::path ballast = disk.path() / "ballast";
  FillWithBallast(disk, ballast, 1 * kMiB);
  std::map<uint64_t, std::string> acked;
  uint64_t person = 0;
  auto append = [&](int n) {
    std::vector<NewEvent> events;
    for (int i = 0; i < n; ++i) events.push_back(ValidEvent(person++));
    std::vector<Appended> out;
    Status s = ledger->Append(events, &out);
    if (s.ok()) {
      for (const Appended& a : out) {
        REQUIRE(acked.emplace(a.seq, SubjectIdHex(a.subject)).second);
      }
    }
    return s;
  };
  Status failed;
  for (int i = 0; i < 1000 && failed.ok(); ++i) failed = append(50);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.code() == Status::Code::kIOError);
  CheckOneLineStatus(failed, "No space left on device");
  CHECK(ledger->size() == acked.size());
  CHECK(acked.size() > 0);
  Status again = append(1);
  CheckOneLineStatus(again, "No space left on device");
  CHECK(ledger->size() == acked.size());

  fs::remove(ballast);
  // The open ledger: RocksDB stops writing after an I/O error until it has recovered (its space
  // watcher polls), so the first append after the space came back may still be refused; it must
  // say why, and the ledger must not have moved.
  Status after = append(5);
  if (!after.ok()) {
    CheckOneLineStatus(after, "No space left on device");
    CHECK(ledger->size() == acked.size());
    WARN("the open ledger still refuses appends after space was freed: " << after.ToString());
  }
  ledger.reset();
  CheckHoldsExactly(cli, acked);
  RequireOk(Ledger::Open(cli.data, o, &ledger), "reopen");
  RequireOk(append(5), "an append after reopening");
  ledger.reset();
  CheckHoldsExactly(cli, acked);
}

// Runs `args` on a disk with only `headroom` bytes free, then on one with twice as much, and so
// on, until the command succeeds (or `done_part` in its error says an earlier, failed attempt
// finished the work on the way): the command is cut short by the full disk at many points. Each
// failure must be a clear one-line error. Returns the number of failed attempts.
int RunWithGrowingHeadroom(const Cli& cli, const Tmpfs& disk, const std::string& args,
                           std::string_view done_part) {
  const fs::path ballast = disk.path() / "ballast";
  int failures = 0;
  for (uint64_t headroom = 0;; headroom = headroom ? headroom * 2 : 4096) {
    INFO("`" << args << "` with " << headroom << " bytes free");
    REQUIRE(headroom <= 8 * kMiB);
    FillWithBallast(disk, ballast, headroom);
    RunResult r = cli.Run(args);
    fs::remove(ballast);
    if (r.code == 0 || (!done_part.empty() && Contains(r.err, done_part))) break;
    CheckOneLineError(r, "No space left on device");
    ++failures;
  }
  return failures;
}

TEST_CASE("a full disk during an erasure: a one-line error, and once space is freed the erasure "
          "is whole and the ledger verifies", "[fault]") {
  TempDir tmp("kirjuri-fault");
  Tmpfs disk(tmp / "disk", 8 * kMiB);
  KIRJURI_SKIP_UNLESS_MOUNTED(disk);
  const Cli cli{tmp.path(), disk.path() / "data", tmp / "master-key"};
  REQUIRE(cli.Run("init").code == 0);
  const fs::path input = tmp / "batch.jsonl";
  WriteText(input, ValidLines(0, 100));
  std::map<uint64_t, std::string> acked;
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  const std::string erased = acked.at(42);

  const int failures = RunWithGrowingHeadroom(
      cli, disk, "erase " + erased + " --request REQ-1 --actor emp-0001", "already erased");
  CHECK(failures > 0);
  RunResult v = cli.Run("verify");
  INFO(Describe(v));
  REQUIRE(v.code == 0);

  OpenOptions o = InProcess(cli.key);
  std::unique_ptr<Ledger> ledger;
  RequireOk(Ledger::Open(cli.data, o, &ledger), "open");
  SubjectId id{};
  RequireOk(ParseSubjectId(erased, &id), "subject id");
  SubjectSummary summary;
  RequireOk(ledger->GetSubject(id, &summary), "the erased subject");
  CHECK(summary.erased_at_seq.has_value());
  std::vector<std::pair<std::string, std::string>> keys;
  RequireOk(ledger->DataKeys(id, &keys), "its keys");
  CHECK(keys.empty());
  // Exactly one erasure event, and everyone else's data still opens.
  int erasure_events = 0;
  RequireOk(ledger->ReadEvents(0, ledger->size(), [&](const EventView& e) {
    auto env = e.signed_event.getEvent().getEnvelope();
    if (env.getType() == schema::EventType::SUBJECT_ERASED) {
      ++erasure_events;
      return Status::Ok();
    }
    if (env.getType() != schema::EventType::RECORDED) return Status::Ok();
    std::vector<FieldValue> values;
    KIRJURI_RETURN_IF_ERROR(ledger->ReadFields(e, &values));
    const bool should_open = SubjectHex(e) != erased;
    for (const FieldValue& f : values) {
      if (f.json.has_value() != should_open) {
        return Status::Corruption("seq " + std::to_string(e.seq) + ": field " + f.name +
                                  (should_open ? " does not open" : " opens after erasure"));
      }
    }
    return Status::Ok();
  }), "reading every field");
  CHECK(erasure_events == 1);
  ledger.reset();
  RunResult report = cli.Run("report deletion " + erased + " --out " + (tmp / "report").string());
  INFO(Describe(report));
  CHECK(report.code == 0);
}

TEST_CASE("a full disk under the service: no trace, no read. Reads of personal data are refused "
          "while their access events cannot be written, and every read answered is in the log "
          "once space is freed", "[fault][access]") {
  TempDir tmp("kirjuri-fault");
  Tmpfs disk(tmp / "disk", 256 * kMiB);
  KIRJURI_SKIP_UNLESS_MOUNTED(disk);
  const fs::path data = disk.path() / "data";
  std::unique_ptr<Ledger> ledger = NewLedger(data, tmp / "master-key");
  std::vector<NewEvent> people;
  for (uint64_t i = 0; i < 50; ++i) people.push_back(ValidEvent(i));
  std::vector<Appended> appended;
  RequireOk(ledger->Append(people, &appended), "append");
  std::unique_ptr<Views> views;
  RequireOk(Views::Open(ledger.get(), data, nullptr, &views), "views");
  RequireOk(views->CatchUp(), "views catch up");
  const uint64_t before = ledger->size();
  const service::Caller staff{"emp-0042", "staff", "test"};
  // Each read answered, by subject: the access log must end up with exactly these.
  std::map<std::string, int> answered;
  Status refused;
  {
    service::Service svc(*ledger, *views);
    RequireOk(svc.Health(), "health before");
    const fs::path ballast = disk.path() / "ballast";
    FillWithBallast(disk, ballast, 0);
    // The log takes reads' events until its files cannot grow (the write-ahead log was given
    // its space when opened); then reads must be refused. Each read's event is written after
    // it is answered, so some are answered first: the lists, 50 people a read, get there fast.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (refused.ok() && std::chrono::steady_clock::now() < give_up) {
      ViewFilter all;
      all.limit = service::Service::kMaxSubjectsPerCall;
      std::string ndjson;
      refused = svc.ListSubjects(staff, "customer", all, "", "", &ndjson);
      if (!refused.ok()) break;
      for (const Appended& a : appended) ++answered[SubjectIdHex(a.subject)];
      CHECK(std::count(ndjson.begin(), ndjson.end(), '\n') == 50);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    INFO(refused.ToString());
    REQUIRE(refused.code() == Status::Code::kUnavailable);
    CHECK(service::HttpStatus(refused) == 503);  // over RPC too: {"error":…,"code":503}
    CHECK(Contains(refused.message(), "access log"));
    CHECK(Contains(refused.message(), "No space left on device"));
    CHECK_FALSE(Contains(refused.message(), "Test Person"));
    CHECK(svc.Health().code() == Status::Code::kUnavailable);
    std::string json;
    CHECK(svc.GetSubject(staff, "customer", SubjectIdHex(appended[0].subject), "", "", &json)
              .code() == Status::Code::kUnavailable);
    CHECK(json.empty());
    CHECK(Contains(svc.Metrics(), "\nkirjuri_access_log_blocked 1\n"));

    // Space again: the kept events are written (RocksDB resumes once its space watcher sees
    // room), and reads are served again.
    fs::remove(ballast);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!svc.Health().ok() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    RequireOk(svc.Health(), "health once space is freed");
    const std::string id = SubjectIdHex(appended[1].subject);
    RequireOk(svc.GetSubject(staff, "customer", id, "", "", &json), "a read after");
    ++answered[id];
    CHECK(Contains(svc.Metrics(), "\nkirjuri_access_log_blocked 0\n"));
    CHECK(Contains(svc.Metrics(), "\nkirjuri_access_records_failed_total 0\n"));
  }  // the service's shutdown writes what is pending
  std::map<std::string, int> logged;
  RequireOk(ledger->ReadEvents(before, ledger->size(), [&](const EventView& e) {
    if (e.signed_event.getEvent().getEnvelope().getType() == schema::EventType::DATA_ACCESSED) {
      ++logged[SubjectHex(e)];
    }
    return Status::Ok();
  }), "reading the access log");
  CHECK(logged == answered);
  VerifyResult vr;
  RequireOk(ledger->Verify(VerifyOptions{}, &vr), "verify");
}

TEST_CASE("a full disk during a rebuild of the views: a one-line error, and once space is freed "
          "the views are as before", "[fault]") {
  TempDir tmp("kirjuri-fault");
  Tmpfs disk(tmp / "disk", 8 * kMiB);
  KIRJURI_SKIP_UNLESS_MOUNTED(disk);
  const Cli cli{tmp.path(), disk.path() / "data", tmp / "master-key"};
  REQUIRE(cli.Run("init").code == 0);
  const fs::path input = tmp / "batch.jsonl";
  WriteText(input, ValidLines(0, 150));
  std::map<uint64_t, std::string> acked;
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  const RunResult before = cli.Run("--json query customers");
  REQUIRE(before.code == 0);
  REQUIRE(CompleteLines(before.out).size() == 300);

  CHECK(RunWithGrowingHeadroom(cli, disk, "rebuild", "") > 0);
  RunResult after = cli.Run("--json query customers");
  INFO(Describe(after));
  REQUIRE(after.code == 0);
  CHECK(after.out == before.out);
  REQUIRE(cli.Run("rebuild").code == 0);
  after = cli.Run("--json query customers");
  CHECK(after.out == before.out);
  RunResult v = cli.Run("verify");
  INFO(Describe(v));
  CHECK(v.code == 0);
}

TEST_CASE("a read-only data directory: writing commands refuse with a one-line error, nothing is "
          "written, the reading ones (verify, audit, log, history, checkpoint, pubkey, retention "
          "list, the policy's documents, request list) work, and the ledger works once it is "
          "writable again", "[fault]") {
  TempDir tmp("kirjuri-fault");
  Tmpfs disk(tmp / "disk", 32 * kMiB);
  KIRJURI_SKIP_UNLESS_MOUNTED(disk);
  const Cli cli{tmp.path(), disk.path() / "data", tmp / "master-key"};
  REQUIRE(cli.Run("init").code == 0);
  const fs::path input = tmp / "batch.jsonl";
  WriteText(input, ValidLines(0, 20));
  std::map<uint64_t, std::string> acked;
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  const std::string subject = acked.at(3);
  const RunResult checkpoint = cli.Run("checkpoint");
  REQUIRE(checkpoint.code == 0);

  disk.SetReadOnly(true);  // binds root too, unlike a chmod
  CheckOneLineError(AppendAcked(cli, input, &acked), "Read-only file system");
  CheckOneLineError(cli.Run("erase " + subject + " --request REQ-1 --actor emp-0001"),
                    "Read-only file system");
  CheckOneLineError(cli.Run("rebuild"), "Read-only file system");
  OpenOptions o = InProcess(cli.key);
  std::unique_ptr<Ledger> ledger;
  Status opened = Ledger::Open(cli.data, o, &ledger);
  CHECK(opened.code() == Status::Code::kIOError);
  CheckOneLineStatus(opened, "Read-only file system");
  CHECK(acked.size() == 20);

  // An auditor's read-only copy: what only reads the log opens it read-only.
  RunResult v = cli.Run("verify");
  INFO(Describe(v));
  CHECK(v.code == 0);
  CHECK(v.out.starts_with(VerifiedLine(20)));
  RunResult r = cli.Run("checkpoint");
  CHECK(r.code == 0);
  CHECK(r.out == checkpoint.out);
  CHECK(cli.Run("pubkey --pem").out.starts_with("-----BEGIN PUBLIC KEY-----"));
  r = cli.Run("log --json");
  CHECK(r.code == 0);
  CHECK(CompleteLines(r.out).size() == 20);
  r = cli.Run("history --subject " + subject);
  CHECK(r.code == 0);
  CHECK(Contains(r.out, "recorded"));
  r = cli.Run("audit --out " + (tmp / "audit").string());
  INFO(Describe(r));
  CHECK(r.code == 0);
  CHECK(fs::exists(tmp / "audit" / "audit.json"));
  r = cli.Run("retention list");
  INFO(Describe(r));
  CHECK(r.code == 0);
  CHECK(Contains(r.out, "0 retained categories"));
  // What an auditor reads beside the log: the policy and the documents made from it, requests.
  for (const char* document : {"describe", "report processing", "policy show", "request list"}) {
    r = cli.Run(document);
    INFO(document << ": " << Describe(r));
    CHECK(r.code == 0);
    CHECK_FALSE(r.out.empty());
  }
  // A deletion report reads the log too: here it gets as far as its own refusal (nobody was
  // erased), not the file system's.
  r = cli.Run("report deletion " + subject + " --out " + (tmp / "deletion").string());
  INFO(Describe(r));
  CHECK(r.code == 1);
  CHECK(Contains(r.err, "has no erasure event"));
  r = cli.Run("find --email nobody@example.fi");  // the blind index is read, nothing written
  INFO(Describe(r));
  CHECK(r.code == 1);
  CHECK(r.err == "kirjuri: no subject found\n");
  o.read_only = true;
  REQUIRE(Ledger::Open(cli.data, o, &ledger).ok());
  CHECK(ledger->size() == 20);
  std::vector<Appended> none;
  Status refused = ledger->Append(std::vector<NewEvent>{ValidEvent(100)}, &none);
  CHECK(refused.code() == Status::Code::kFailedPrecondition);
  CheckOneLineStatus(refused, "read-only");
  ledger.reset();

  disk.SetReadOnly(false);
  CheckHoldsExactly(cli, acked);
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);
  v = cli.Run("verify");
  INFO(Describe(v));
  REQUIRE(v.code == 0);
  CHECK(v.out.starts_with(VerifiedLine(40)));
  CheckHoldsExactly(cli, acked);
}

TEST_CASE("an open refuses a ledger another process holds open, naming the lock and what to do, "
          "and the commands then say so on one line", "[fault]") {
  TempDir tmp("kirjuri-fault");
  const Cli cli{tmp.path(), tmp / "data", tmp / "master-key"};
  REQUIRE(cli.Run("init").code == 0);
  const fs::path input = tmp / "batch.jsonl";
  WriteText(input, ValidLines(0, 5));
  std::map<uint64_t, std::string> acked;
  REQUIRE(AppendAcked(cli, input, &acked).code == 0);

  // Another process takes the log's lock as RocksDB does for a writer (a POSIX write lock on
  // LOG/LOCK), and holds it until told to let go.
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const std::string lock_path = (cli.data / "log" / "LOCK").string();
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int fd = ::open(lock_path.c_str(), O_RDWR);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const char ok = fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0 ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
    char done;
    if (::read(release[0], &done, 1) < 0) ::_exit(1);
    ::_exit(0);
  }
  char locked = 0;
  REQUIRE(::read(ready[0], &locked, 1) == 1);
  REQUIRE(locked == 'y');

  OpenOptions o = InProcess(cli.key);
  o.read_only = true;
  std::unique_ptr<Ledger> ledger;
  Status opened = Ledger::Open(cli.data, o, &ledger);
  CHECK(opened.code() == Status::Code::kFailedPrecondition);
  CheckOneLineStatus(opened, lock_path + " is locked by another process");
  CheckOneLineError(cli.Run("verify"), "is locked by another process");

  // A writable open too; still an I/O error (a writer killed a moment ago lets go soon), said as
  // what to do, not as RocksDB's "Resource temporarily unavailable".
  o.read_only = false;
  opened = Ledger::Open(cli.data, o, &ledger);
  CHECK(opened.code() == Status::Code::kIOError);
  CheckOneLineStatus(opened, lock_path + " is locked by another process (kirjuri serve?)");
  CheckOneLineStatus(opened, "--server ADDR --token T");
  const RunResult refused = AppendAcked(cli, input, &acked);
  CheckOneLineError(refused, "is locked by another process");
  CHECK(acked.size() == 5);
  o.read_only = true;

  REQUIRE(::write(release[1], "x", 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  REQUIRE(Ledger::Open(cli.data, o, &ledger).ok());
  CHECK(ledger->size() == 5);
}

// A FileSystem on which the files whose path holds `dir` and ends with `suffix` (once Break()
// names them) cannot be opened for reading, and reads of those already open fail: a bad disk
// (EIO), or a file the process may not read.
class UnreadableFs : public rocksdb::FileSystemWrapper {
 public:
  UnreadableFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "UnreadableFs"; }
  const char* Name() const override { return kClassName(); }

  void Break(const fs::path& dir, std::string suffix) {
    std::lock_guard<std::mutex> lock(mu_);
    dir_ = dir.string() + "/";
    suffix_ = std::move(suffix);
  }
  void Heal() { Break("", ""); }
  uint64_t refused() const { return refused_; }

  rocksdb::IOStatus NewSequentialFile(const std::string& name, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* out,
                                      rocksdb::IODebugContext* dbg) override {
    if (Broken(name)) return Refuse(name);
    return target()->NewSequentialFile(name, o, out, dbg);
  }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& name, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* out,
                                        rocksdb::IODebugContext* dbg) override {
    if (Broken(name)) return Refuse(name);
    std::unique_ptr<rocksdb::FSRandomAccessFile> file;
    rocksdb::IOStatus s = target()->NewRandomAccessFile(name, o, &file, dbg);
    if (s.ok()) out->reset(new File(std::move(file), this, name));
    return s;
  }

 private:
  bool Broken(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    return dir_.size() > 1 && name.starts_with(dir_) && name.ends_with(suffix_);
  }
  rocksdb::IOStatus Refuse(const std::string& name) const {
    ++refused_;
    return rocksdb::IOStatus::IOError("while reading " + name + ": Input/output error");
  }

  class File : public rocksdb::FSRandomAccessFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSRandomAccessFile>&& t, const UnreadableFs* fs,
         std::string name)
        : FSRandomAccessFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& o,
                           rocksdb::Slice* result, char* scratch,
                           rocksdb::IODebugContext* dbg) const override {
      if (fs_->Broken(name_)) return fs_->Refuse(name_);
      return target()->Read(offset, n, o, result, scratch, dbg);
    }
    rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs,
                                const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* dbg) override {
      if (fs_->Broken(name_)) {
        for (size_t i = 0; i < num_reqs; ++i) reqs[i].status = fs_->Refuse(name_);
        return rocksdb::IOStatus::OK();
      }
      return target()->MultiRead(reqs, num_reqs, o, dbg);
    }

   private:
    const UnreadableFs* fs_;
    std::string name_;
  };

  mutable std::mutex mu_;
  std::string dir_, suffix_;  // guarded by mu_
  mutable std::atomic<uint64_t> refused_{0};
};

// A ledger of `events` events in the fixture, closed, whose log and key store hold table files
// (each open flushes what the write-ahead log recovered).
void MakeLedgerWithTables(LedgerFixture& f, uint64_t events) {
  f.InitAndOpen();
  f.AppendN(events, 10);
  f.Reopen();
  f.Close();
}

TEST_CASE("unreadable files of the log or the key store: open refuses naming the file, nothing "
          "is written, and the ledger opens and verifies once they read again", "[fault]") {
  // Before the fixture: the ledger it holds must close before the Env goes.
  auto unreadable = std::make_shared<UnreadableFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(unreadable);
  LedgerFixture f;
  MakeLedgerWithTables(f, 40);
  OpenOptions o = LedgerFixture::DefaultOpenOptions();
  o.env = env.get();

  struct Case {
    const char* what;
    fs::path dir;
    const char* suffix;
    const char* named;  // what the error must name
  };
  for (const Case& c : {Case{"the log's table files", f.log_dir(), ".sst", ".sst"},
                        Case{"the log's MANIFEST", f.log_dir(), "", "MANIFEST-"},
                        Case{"the key store's table files", f.data() / "keys", ".sst", ".sst"},
                        Case{"the key store's MANIFEST", f.data() / "keys", "", "MANIFEST-"}}) {
    INFO(c.what);
    // An empty suffix: the MANIFEST, named by CURRENT.
    std::string suffix = c.suffix;
    if (suffix.empty()) {
      suffix = ReadFile(c.dir / "CURRENT");
      REQUIRE(suffix.starts_with("MANIFEST-"));
      suffix.pop_back();  // '\n'
    }
    unreadable->Break(c.dir, suffix);
    const uint64_t refused_before = unreadable->refused();
    Status s = f.Open(o);
    CHECK(unreadable->refused() > refused_before);
    CHECK(s.code() == Status::Code::kIOError);
    CheckOneLineStatus(s, "Input/output error");
    CHECK(Contains(s.message(), c.dir.string()));
    CHECK(Contains(s.message(), c.named));
    f.Close();
    unreadable->Heal();
    f.Reopen(o);
    CHECK(f.ledger().size() == 40);
    CHECK(f.Verify().first.ok());
    f.Close();
  }
  f.Reopen(o);
  f.AppendN(5);
  CHECK(f.Verify().first.ok());
  CHECK(f.ledger().size() == 45);
}

TEST_CASE("the log's table files unreadable while the ledger is open: reads and verify fail "
          "naming the file, and succeed once the files read again", "[fault]") {
  // Before the fixture: the ledger it holds must close before the Env goes.
  auto unreadable = std::make_shared<UnreadableFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(unreadable);
  LedgerFixture f;
  MakeLedgerWithTables(f, 40);
  OpenOptions o = LedgerFixture::DefaultOpenOptions();
  o.env = env.get();
  f.Reopen(o);

  unreadable->Break(f.log_dir(), ".sst");
  auto [verified, result] = f.Verify();
  CHECK(verified.code() == Status::Code::kIOError);
  CheckOneLineStatus(verified, "Input/output error");
  CHECK(Contains(verified.message(), f.log_dir().string()));
  CHECK(Contains(verified.message(), ".sst"));
  Status read = f.ledger().ReadEvents(0, 40, [](const EventView&) { return Status::Ok(); });
  CHECK(read.code() == Status::Code::kIOError);
  CheckOneLineStatus(read, ".sst");

  unreadable->Heal();
  CHECK(f.Verify().first.ok());
  CHECK(f.ledger().ReadEvents(0, 40, [](const EventView&) { return Status::Ok(); }).ok());
  f.AppendN(3);
  CHECK(f.ledger().size() == 43);
  f.Close();
  f.Reopen();
  CHECK(f.Verify().first.ok());
}

// Runs `kirjuri args` as the unprivileged user nobody (65534), for whom file permissions hold;
// as this process's own user if that is not root already. Output through files in `scratch`.
RunResult RunUnprivileged(const std::vector<std::string>& args, const fs::path& scratch) {
  if (geteuid() != 0) return RunKirjuri(args, scratch);
  std::vector<std::string> storage = {KIRJURI_BIN};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out_path = (scratch / "nobody.stdout").string();
  const std::string err_path = (scratch / "nobody.stderr").string();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls from here on
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
        setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) REQUIRE(errno == EINTR);
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  REQUIRE(r.code != 126);  // could not become nobody
  return r;
}

TEST_CASE("for an unprivileged user, a table file it may not read and a log directory it may "
          "not write give one-line errors, and all works once the permissions are back",
          "[fault]") {
  TempDir tmp("kirjuri-fault");
  const fs::path data = tmp / "data";
  const fs::path key = tmp / "master-key";
  {
    std::unique_ptr<Ledger> ledger = NewLedger(data, key);
    std::vector<NewEvent> events;
    for (int i = 0; i < 30; ++i) events.push_back(ValidEvent(i));
    std::vector<Appended> out;
    RequireOk(ledger->Append(events, &out), "append");
    ledger.reset();
    RequireOk(Ledger::Open(data, InProcess(key), &ledger), "reopen");  // the log in table files
  }
  const fs::path input = tmp / "batch.jsonl";
  WriteText(input, ValidLines(100, 1));
  if (geteuid() == 0) {
    REQUIRE(::chown(tmp.path().c_str(), 65534, 65534) == 0);
    for (const auto& entry : fs::recursive_directory_iterator(tmp.path())) {
      REQUIRE(::lchown(entry.path().c_str(), 65534, 65534) == 0);
    }
  }
  auto run = [&](const std::string& command) {
    std::vector<std::string> args = {"--data", data.string(), "--master-key", key.string()};
    for (std::string& a : SplitArgs(command)) args.push_back(std::move(a));
    return RunUnprivileged(args, tmp.path());
  };
  fs::path table;
  for (const auto& entry : fs::directory_iterator(data / "log")) {
    if (entry.path().extension() == ".sst" &&
        (table.empty() || fs::file_size(entry.path()) > fs::file_size(table))) {
      table = entry.path();
    }
  }
  REQUIRE(!table.empty());

  const fs::perms table_perms = fs::status(table).permissions();
  fs::permissions(table, fs::perms::none);
  RunResult r = run("verify");
  CheckOneLineError(r, "Permission denied");
  CHECK(Contains(r.err, table.string()));
  fs::permissions(table, table_perms);
  r = run("verify");
  INFO(Describe(r));
  REQUIRE(r.code == 0);
  CHECK(r.out.starts_with(VerifiedLine(30)));

  const fs::perms dir_perms = fs::status(data / "log").permissions();
  fs::permissions(data / "log", fs::perms::owner_read | fs::perms::owner_exec);
  CheckOneLineError(run("append " + input.string()), "Permission denied");
  fs::permissions(data / "log", dir_perms);
  r = run("verify");
  REQUIRE(r.code == 0);
  CHECK(r.out.starts_with(VerifiedLine(30)));  // nothing was written
  REQUIRE(run("append " + input.string()).code == 0);
  r = run("verify");
  REQUIRE(r.code == 0);
  CHECK(r.out.starts_with(VerifiedLine(31)));
}

}  // namespace
}  // namespace kirjuri::test
