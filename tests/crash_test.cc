// Crash consistency (issue 7, items 1 and 2).
//
// 1. The real `kirjuri` binary runs appends, erasures, view rebuilds and master-key rotations in
//    a loop on one data directory, writing each acknowledgement to a file the moment it has it;
//    the test SIGKILLs the loop (the shell and the kirjuri it runs) at random moments, reopens the
//    ledger in process and checks that nothing acknowledged was lost and nothing is half done.
// 2. The ledger runs on a RocksDB FileSystem that remembers what was synced, the power is cut at
//    random points, everything written since each file's last sync is dropped, and every
//    acknowledged append must still be there.
//
// KIRJURI_CRASH_KILLS=N runs N kills in test 1 and N power cuts in test 2, for a longer run.
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"

namespace kirjuri::test {
namespace {

using testing::CompleteLines;
using testing::HasRunningChild;
using testing::KillGroup;
using testing::kSanitized;
using testing::ParseAck;
using testing::SpawnShellGroup;
using testing::WriteText;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Where the crash tests keep their ledgers: a tmpfs if there is one. Neither a SIGKILL nor the
// simulated power cut needs the disk's fsync, which would only make each round slower.
const char* ScratchParent() {
  std::error_code ec;
  return fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

// KIRJURI_CRASH_KILLS, else `fallback`.
int KillsWanted(int fallback) {
  const char* v = std::getenv("KIRJURI_CRASH_KILLS");
  if (v == nullptr || *v == '\0') return fallback;
  int n = std::atoi(v);
  return n > 0 ? n : fallback;
}

SubjectId ParseSubject(std::string_view hex) {
  SubjectId id{};
  Status s = ParseSubjectId(hex, &id);
  INFO(std::string(hex) << ": " << s.ToString());
  REQUIRE(s.ok());
  return id;
}

// Opens the ledger in `data` with `key`, waiting for a killed kirjuri to release its lock.
Status OpenWhenUnlocked(const fs::path& data, const fs::path& key, std::unique_ptr<Ledger>* out) {
  OpenOptions o;
  o.master_key_file = key;
  o.threads = 2;
  Status s;
  for (int attempt = 0; attempt < 200; ++attempt) {
    s = Ledger::Open(data, o, out);
    if (s.code() != Status::Code::kIOError) break;  // IOError: RocksDB's LOCK is still held
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return s;
}

void RequireOk(const Status& s, std::string_view what) {
  INFO(what << ": " << s.ToString());
  REQUIRE(s.ok());
}

// What one round of the loop acknowledged, from its acknowledgement file.
struct Acks {
  std::map<uint64_t, std::string> appended;      // seq -> subject hex
  std::vector<std::string> erasing, erased;      // subject hex, in order
  std::string rotating, rotated;                 // the last key files named
  std::string last_line;                         // what the loop was doing when killed
};

Acks ParseAcks(const std::string& text) {
  Acks a;
  for (const std::string& line : CompleteLines(text)) {
    INFO("acknowledgement line: " << line);
    a.last_line = line;
    uint64_t seq = 0;
    std::string subject;
    if (ParseAck(line, &seq, &subject)) {
      REQUIRE(a.appended.emplace(seq, subject).second);
    } else if (StartsWith(line, "erasing ")) {
      a.erasing.push_back(line.substr(8));
    } else if (StartsWith(line, "erased ")) {
      a.erased.push_back(line.substr(7));
    } else if (StartsWith(line, "rotating ")) {
      a.rotating = line.substr(9);
    } else if (StartsWith(line, "rotated ")) {
      a.rotated = line.substr(8);
      REQUIRE(a.rotated == a.rotating);
    } else {
      FAIL("an acknowledgement line the loop does not write");
    }
  }
  return a;
}

// Which step the loop was in when it was killed, from the last complete line it wrote and the
// step it started at.
const char* Phase(const Acks& a, const char* start) {
  if (a.last_line.empty()) return start;
  if (StartsWith(a.last_line, "{")) return "erase";    // after an append: erasing next
  if (StartsWith(a.last_line, "erasing ")) return "erase";
  if (StartsWith(a.last_line, "erased ")) return "rebuild";
  if (StartsWith(a.last_line, "rotating ")) return "rotate";
  return "append";                                     // rotated: the next append
}

// The loop the child runs. $0 = kirjuri, $1 = DATA, $2 = the input of each append, $3 = the
// acknowledgement file, $4 = the master key in force, $5 = the prefix of new master key files,
// $6 = a prefix for request references, $7 = the step to start at (append, rebuild or rotate:
// so that the kills, which come early, reach every step). Each acknowledgement is written the
// moment the command that earned it has exited successfully; intentions ("erasing S",
// "rotating K") just before it starts.
constexpr const char* kLoop = R"SH(K="$4"; i=0; start="$7"
while :; do
  i=$((i+1))
  if [ "$start" = append ]; then
    "$0" --data "$1" --master-key "$K" --json append "$2" >> "$3" || exit 3
    s=$(tail -n 1 "$3" | sed -n 's/.*"subject":"\([0-9a-f]*\)".*/\1/p')
    [ -n "$s" ] || exit 7
    echo "erasing $s" >> "$3"
    "$0" --data "$1" --master-key "$K" erase "$s" --request "$6-$i" --actor emp-0001 > /dev/null || exit 4
    echo "erased $s" >> "$3"
  fi
  if [ "$start" != rotate ]; then
    "$0" --data "$1" --master-key "$K" rebuild > /dev/null || exit 5
  fi
  start=append
  echo "rotating $5-$i" >> "$3"
  "$0" --data "$1" --master-key "$K" keys rotate-master --new "$5-$i" > /dev/null || exit 6
  echo "rotated $5-$i" >> "$3"
  K="$5-$i"
done
)SH";

// The state the checks carry from round to round of one ledger.
struct Expected {
  std::map<uint64_t, std::string> appended;  // every acknowledged append so far
  std::set<std::string> erased;              // subjects erased (acknowledged or found done)
  uint64_t size = 0;                         // log size at the last check
  uint64_t signatures_checked = 0;           // signatures verified up to here
};

// Opens the views (which catch up with the log, as every command does), and requires each to
// equal a fresh rebuild from the log byte for byte.
void CheckViewsEqualRebuild(Ledger& ledger, const fs::path& data) {
  std::unique_ptr<Views> views;
  RequireOk(Views::Open(&ledger, data, nullptr, &views), "opening the views");
  std::map<std::string, std::string> kept, rebuilt;
  for (const std::string& name : views->Names()) {
    RequireOk(views->Dump(name, &kept[name]), "dumping a view");
  }
  RequireOk(views->Rebuild(""), "rebuilding the views");
  for (const std::string& name : views->Names()) {
    RequireOk(views->Dump(name, &rebuilt[name]), "dumping a rebuilt view");
    INFO("view " << name);
    CHECK(kept[name] == rebuilt[name]);
  }
}

// An erasure is whole (keys gone, the subjectErased event in the log naming the subject) or
// absent (keys and data all there). Returns whether it happened.
bool CheckErasureWholeOrAbsent(Ledger& ledger, const std::string& hex) {
  INFO("subject " << hex);
  const SubjectId subject = ParseSubject(hex);
  SubjectSummary summary;
  RequireOk(ledger.GetSubject(subject, &summary), "the subject's summary");
  std::vector<std::pair<std::string, std::string>> keys;
  RequireOk(ledger.DataKeys(subject, &keys), "the subject's data keys");
  if (summary.erased_at_seq) {
    CHECK(keys.empty());  // the customer's profile has no retention duty
    bool seen = false;
    RequireOk(ledger.ReadEvents(*summary.erased_at_seq, *summary.erased_at_seq + 1,
                                [&](const EventView& e) {
                                  auto env = e.signed_event.getEvent().getEnvelope();
                                  CHECK(env.getType() == schema::EventType::SUBJECT_ERASED);
                                  auto s = env.getSubject();
                                  CHECK(HexEncode({s.begin(), s.size()}) == hex);
                                  seen = true;
                                  return Status::Ok();
                                }),
              "reading the erasure event");
    CHECK(seen);
    return true;
  }
  CHECK_FALSE(keys.empty());
  return false;
}

// Every personal field opens: erased subjects' as shredded, everyone else's as written.
void CheckFieldsOpen(Ledger& ledger, const std::set<std::string>& erased) {
  RequireOk(ledger.ReadEvents(0, ledger.size(), [&](const EventView& e) {
    auto env = e.signed_event.getEvent().getEnvelope();
    if (env.getType() != schema::EventType::RECORDED) return Status::Ok();
    auto s = env.getSubject();
    const bool gone = erased.count(HexEncode({s.begin(), s.size()})) > 0;
    std::vector<FieldValue> values;
    KIRJURI_RETURN_IF_ERROR(ledger.ReadFields(e, &values).Prefixed("seq " + std::to_string(e.seq)));
    for (const FieldValue& v : values) {
      const bool ok = gone ? !v.json.has_value()
                           : v.json.has_value() && StartsWith(*v.json, "\"Test Person ");
      if (!ok) return Status::Corruption("seq " + std::to_string(e.seq) + ": field " + v.name +
                                         (gone ? " of an erased subject opens"
                                               : " does not open"));
    }
    return Status::Ok();
  }), "reading every field");
}

TEST_CASE("SIGKILL of kirjuri appending, erasing, rebuilding views and rotating the master key "
          "at random moments loses nothing acknowledged and leaves nothing half done",
          "[crash]") {
  const int kills = KillsWanted(kSanitized ? 30 : 150);
  const int rounds_per_ledger = 20;  // then a fresh ledger, so that the checks stay cheap
  const uint64_t batch = 6;
  std::mt19937 rng(std::random_device{}());
  std::map<std::string, int> kills_by_phase;
  int kills_during_a_command = 0;
  int rotations_found_done = 0, rotations_found_undone = 0;
  int erasures_found_done = 0, erasures_retried = 0;
  // How long a loop step takes, measured on the fly, so that kills spread over every step.
  double step_ms = kSanitized ? 600 : 120;

  for (int done = 0; done < kills;) {
    TempDir tmp("kirjuri-crash", ScratchParent());
    const fs::path data = tmp / "data";
    const fs::path keys_dir = tmp / "keys";
    fs::create_directories(keys_dir);
    fs::path key = keys_dir / "k-0";
    {
      InitOptions init;
      init.master_key_file = key;
      RequireOk(Ledger::Init(data, init), "init");
    }
    const std::string input = (tmp / "batch.jsonl").string();
    WriteText(input, ValidLines(0, batch));
    Expected expected;

    for (int round = 0; round < rounds_per_ledger && done < kills; ++round, ++done) {
      INFO("kill " << done << " (round " << round << " of this ledger)");
      const std::string tag = "r" + std::to_string(round);
      const std::string ack_path = (tmp.path() / ("acks-" + tag)).string();
      const std::string err_path = (tmp.path() / ("stderr-" + tag)).string();
      const char* start = std::array{"append", "append", "rebuild", "rotate"}[done % 4];
      const auto started = std::chrono::steady_clock::now();
      const pid_t pid = SpawnShellGroup(
          kLoop,
          {data.string(), input, ack_path, key.string(), (keys_dir / ("k-" + tag)).string(),
           "REQ-" + tag, start},
          err_path);
      // Mostly in the first step or two, sometimes later.
      const int max_ms = static_cast<int>(step_ms * (done % 5 == 4 ? 6 : 2.5));
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::uniform_int_distribution<int>(1, std::max(2, max_ms))(rng)));
      int status = 0;
      const pid_t early = waitpid(pid, &status, WNOHANG);
      INFO("the loop's stderr: " << ReadFile(err_path));
      REQUIRE(early == 0);  // still running: it must not have stopped on an error
      if (std::optional<bool> busy = HasRunningChild(pid); busy && *busy) {
        ++kills_during_a_command;
      }
      KillGroup(pid);
      const double ran_ms = std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - started).count();

      const Acks acks = ParseAcks(ReadFile(ack_path));
      ++kills_by_phase[Phase(acks, start)];
      const size_t steps = acks.appended.size() / batch + acks.erasing.size() +
                           acks.erased.size() + (acks.rotating.empty() ? 0 : 1);
      if (steps >= 2) step_ms = 0.7 * step_ms + 0.3 * (ran_ms / static_cast<double>(steps));

      // The master key: the new one if the rotation it was in got as far as its write, else
      // the old one; one of them opens, and all the data reads.
      if (!acks.rotated.empty()) key = acks.rotated;
      std::unique_ptr<Ledger> ledger;
      Status opened = OpenWhenUnlocked(data, key, &ledger);
      if (!opened.ok() && acks.rotating != acks.rotated && opened.IsInvalidArgument()) {
        opened = OpenWhenUnlocked(data, acks.rotating, &ledger);
        if (opened.ok()) key = acks.rotating;
        if (opened.ok()) ++rotations_found_done;
      } else if (opened.ok() && acks.rotating != acks.rotated) {
        ++rotations_found_undone;
      }
      INFO("opening after the kill (key " << key << "): " << opened.ToString());
      REQUIRE(opened.ok());

      // Every acknowledged append is there, as acknowledged; appends are whole.
      for (const auto& [seq, subject] : acks.appended) {
        REQUIRE(expected.appended.emplace(seq, subject).second);
      }
      const uint64_t size = ledger->size();
      CHECK(size >= expected.size);
      if (!expected.appended.empty()) REQUIRE(size > expected.appended.rbegin()->first);
      RequireOk(ledger->ReadEvents(0, size, [&](const EventView& e) {
        auto it = expected.appended.find(e.seq);
        if (it == expected.appended.end()) return Status::Ok();
        auto s = e.signed_event.getEvent().getEnvelope().getSubject();
        if (HexEncode({s.begin(), s.size()}) != it->second) {
          return Status::Corruption("seq " + std::to_string(e.seq) +
                                    " holds another subject than was acknowledged");
        }
        return Status::Ok();
      }), "reading the acknowledged events");

      // Erasures: acknowledged ones done; interrupted ones done or not at all, and retryable.
      for (const std::string& s : acks.erased) expected.erased.insert(s);
      for (const std::string& s : acks.erasing) {
        const bool happened = CheckErasureWholeOrAbsent(*ledger, s);
        if (expected.erased.count(s)) {
          CHECK(happened);
        } else if (happened) {
          ++erasures_found_done;
          expected.erased.insert(s);
        } else {
          uint64_t seq = 0;
          EraseRequest retry{ParseSubject(s), "REQ-retry-" + tag, "emp-0001", 0};
          RequireOk(ledger->Erase(retry, &seq), "retrying the interrupted erasure");
          CHECK(CheckErasureWholeOrAbsent(*ledger, s));
          expected.erased.insert(s);
          ++erasures_retried;
        }
      }

      // The log verifies (signatures of the events new since the last check; the tree, the
      // checkpoints and the subject index in full), and every field opens under the key in force.
      VerifyOptions vo;
      vo.signatures_from = expected.signatures_checked;
      VerifyResult vr;
      RequireOk(ledger->Verify(vo, &vr), "verify");
      CHECK(vr.events == ledger->size());
      expected.signatures_checked = ledger->size();
      CheckFieldsOpen(*ledger, expected.erased);
      CheckViewsEqualRebuild(*ledger, data);
      expected.size = ledger->size();
    }

    // Once more in full, with every signature.
    std::unique_ptr<Ledger> ledger;
    RequireOk(OpenWhenUnlocked(data, key, &ledger), "the last open");
    VerifyResult vr;
    RequireOk(ledger->Verify(VerifyOptions{}, &vr), "the full verify");
  }

  std::ostringstream summary;
  summary << "crash harness: " << kills << " kills; by step: append " << kills_by_phase["append"]
          << ", erase " << kills_by_phase["erase"] << ", rebuild " << kills_by_phase["rebuild"]
          << ", rotate " << kills_by_phase["rotate"] << "; while a kirjuri ran "
          << kills_during_a_command << "; interrupted rotations found done "
          << rotations_found_done << ", not done " << rotations_found_undone
          << "; interrupted erasures found done " << erasures_found_done << ", retried "
          << erasures_retried << "; a step took ~" << static_cast<int>(step_ms) << " ms";
  WARN(summary.str());
  CHECK(kills_during_a_command > 0);
  if (kills >= 100) {
    for (const char* phase : {"append", "erase", "rebuild", "rotate"}) {
      INFO(phase);
      CHECK(kills_by_phase[phase] > 0);
    }
  }
}


// ---- lost writes: a file system that forgets what was not synced ----

// A RocksDB FileSystem that remembers, per file it writes, how much was written and how much of
// it was synced, and whether the file's directory was synced since the file was created. After
// a "power cut" (Cut, or the n-th writing operation when CutAfter(n) was set) every writing
// operation fails; ApplyCut then makes the files on disk what the power cut would leave:
// each file truncated to its last Sync/Fsync, and files whose directory was never synced
// since they were created removed. A rename is taken as durable at once, together with every
// earlier change to its directory, as a file system that journals metadata in order (ext4)
// keeps them: RocksDB renames CURRENT into place and then syncs the directory, and a CURRENT
// that survived names a MANIFEST whose creation survived too. The renamed file keeps the
// synced length of its content.
// Thread-safe: RocksDB writes from its background threads too.
class PowerCutFs : public rocksdb::FileSystemWrapper {
 public:
  PowerCutFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "PowerCutFs"; }
  const char* Name() const override { return kClassName(); }

  // Cuts the power at the n-th writing operation from now (it fails; n = 0: never).
  void CutAfter(uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    countdown_ = n;
  }
  void Cut() {
    std::lock_guard<std::mutex> lock(mu_);
    cut_ = true;
  }
  bool cut() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cut_;
  }
  uint64_t operations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return operations_;
  }

  // REQUIRES: whatever used this file system is closed (the ledger destroyed).
  void ApplyCut() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, f] : files_) {
      std::error_code ec;
      if (!f.dir_synced) {
        fs::remove(name, ec);
        ++files_removed_;
      } else if (fs::exists(name, ec)) {
        const uint64_t on_disk = fs::file_size(name, ec);
        if (f.synced < on_disk) {
          bytes_dropped_ += on_disk - f.synced;
          fs::resize_file(name, f.synced, ec);
        }
      }
      INFO(name << ": " << ec.message());
      REQUIRE(!ec);
    }
    files_.clear();
    cut_ = false;
    countdown_ = 0;
  }
  uint64_t bytes_dropped() const { return bytes_dropped_; }
  uint64_t files_removed() const { return files_removed_; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* out,
                                    rocksdb::IODebugContext* dbg) override {
    if (!Operate()) return PowerIsOff();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(name, o, &file, dbg);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      files_[name] = FileState{};
    }
    out->reset(new File(std::move(file), this, name));
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* out,
                                       rocksdb::IODebugContext* dbg) override {
    if (!Operate()) return PowerIsOff();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReopenWritableFile(name, o, &file, dbg);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!files_.count(name)) {  // what was there before is durable
        std::error_code ec;
        const uint64_t size = fs::file_size(name, ec);
        files_[name] = FileState{size, size, true};
      }
    }
    out->reset(new File(std::move(file), this, name));
    return s;
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string&, const std::string&,
                                      const rocksdb::FileOptions&,
                                      std::unique_ptr<rocksdb::FSWritableFile>*,
                                      rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerCutFs: recycled files are not tracked");
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string&, const rocksdb::FileOptions&,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>*,
                                    rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerCutFs: random writes are not tracked");
  }
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* out,
                                 rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSDirectory> dir;
    rocksdb::IOStatus s = target()->NewDirectory(name, o, &dir, dbg);
    if (s.ok()) out->reset(new Directory(std::move(dir), this, name));
    return s;
  }
  rocksdb::IOStatus DeleteFile(const std::string& name, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override {
    if (!Operate()) return PowerIsOff();
    rocksdb::IOStatus s = target()->DeleteFile(name, o, dbg);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      files_.erase(name);
    }
    return s;
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override {
    if (!Operate()) return PowerIsOff();
    rocksdb::IOStatus s = target()->RenameFile(from, to, o, dbg);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(from);
      if (it != files_.end()) {
        FileState moved = it->second;
        files_.erase(it);
        files_[to] = moved;
      } else {
        files_.erase(to);
      }
      // The rename is taken as durable at once, and with it every earlier change to the
      // directory (see the class comment).
      DirSyncedLocked(to.substr(0, to.find_last_of('/')));
    }
    return s;
  }
  rocksdb::IOStatus LinkFile(const std::string&, const std::string&, const rocksdb::IOOptions&,
                             rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerCutFs: links are not tracked");
  }

 private:
  struct FileState {
    uint64_t written = 0;
    uint64_t synced = 0;
    bool dir_synced = false;
  };

  static rocksdb::IOStatus PowerIsOff() { return rocksdb::IOStatus::IOError("power cut"); }

  // Counts a writing operation; false once the power is off (this one included).
  bool Operate() {
    std::lock_guard<std::mutex> lock(mu_);
    ++operations_;
    if (countdown_ > 0 && --countdown_ == 0) cut_ = true;
    return !cut_;
  }
  void Wrote(const std::string& name, uint64_t end) {
    std::lock_guard<std::mutex> lock(mu_);
    FileState& f = files_[name];
    f.written = std::max(f.written, end);
  }
  void Synced(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(name);
    if (it != files_.end()) it->second.synced = it->second.written;
  }
  void Truncated(const std::string& name, uint64_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    FileState& f = files_[name];
    f.written = size;
    f.synced = std::min(f.synced, size);
  }
  void DirSynced(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    DirSyncedLocked(dir);
  }
  void DirSyncedLocked(const std::string& dir) {
    const fs::path d = fs::path(dir).lexically_normal();
    for (auto& [name, f] : files_) {
      if (fs::path(name).lexically_normal().parent_path() == d) f.dir_synced = true;
    }
  }

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& t, PowerCutFs* fs, std::string name)
        : FSWritableFileOwnerWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (!fs_->Operate()) return PowerIsOff();
      rocksdb::IOStatus s = target()->Append(data, o, dbg);
      if (s.ok()) fs_->Wrote(name_, target()->GetFileSize(o, dbg));
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo&,
                             rocksdb::IODebugContext* dbg) override {
      return Append(data, o, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override {
      if (!fs_->Operate()) return PowerIsOff();
      rocksdb::IOStatus s = target()->PositionedAppend(data, offset, o, dbg);
      if (s.ok()) fs_->Wrote(name_, offset + data.size());
      return s;
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& o,
                                       const rocksdb::DataVerificationInfo&,
                                       rocksdb::IODebugContext* dbg) override {
      return PositionedAppend(data, offset, o, dbg);
    }
    rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override {
      if (!fs_->Operate()) return PowerIsOff();
      rocksdb::IOStatus s = target()->Truncate(size, o, dbg);
      if (s.ok()) fs_->Truncated(name_, size);
      return s;
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (!fs_->Operate()) return PowerIsOff();
      return target()->Flush(o, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (!fs_->Operate()) return PowerIsOff();
      rocksdb::IOStatus s = target()->Sync(o, dbg);
      if (s.ok()) fs_->Synced(name_);
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (!fs_->Operate()) return PowerIsOff();
      rocksdb::IOStatus s = target()->Fsync(o, dbg);
      if (s.ok()) fs_->Synced(name_);
      return s;
    }
    rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* dbg) override {
      // Starts write-back; promises nothing about durability.
      if (!fs_->Operate()) return PowerIsOff();
      return target()->RangeSync(offset, nbytes, o, dbg);
    }

   private:
    PowerCutFs* fs_;
    std::string name_;
  };

  class Directory : public rocksdb::FSDirectoryWrapper {
   public:
    Directory(std::unique_ptr<rocksdb::FSDirectory>&& t, PowerCutFs* fs, std::string name)
        : FSDirectoryWrapper(std::move(t)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      return FsyncWithDirOptions(o, dbg, rocksdb::DirFsyncOptions());
    }
    rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o,
                                          rocksdb::IODebugContext* dbg,
                                          const rocksdb::DirFsyncOptions& d) override {
      if (!fs_->Operate()) return PowerIsOff();
      rocksdb::IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, d);
      if (s.ok()) fs_->DirSynced(name_);
      return s;
    }

   private:
    PowerCutFs* fs_;
    std::string name_;
  };

  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;  // guarded by mu_
  bool cut_ = false;                        // guarded by mu_
  uint64_t countdown_ = 0;                  // guarded by mu_
  uint64_t operations_ = 0;                 // guarded by mu_
  uint64_t bytes_dropped_ = 0, files_removed_ = 0;
};

TEST_CASE("A power cut at random points, dropping every write not synced, loses no acknowledged "
          "append", "[crash]") {
  const int cuts = KillsWanted(kSanitized ? 40 : 120);
  const int cuts_per_ledger = 30;
  const uint64_t batch = 4;
  std::mt19937 rng(std::random_device{}());
  auto fs = std::make_shared<PowerCutFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  int cuts_during_open = 0, cuts_during_append = 0, appends_acked = 0;
  uint64_t ops_max = 300;  // adjusted to what an open and a few appends take

  for (int done = 0; done < cuts;) {
    TempDir tmp("kirjuri-powercut", ScratchParent());
    const fs::path data = tmp / "data";
    const fs::path key = tmp / "master-key";
    {
      InitOptions init;
      init.master_key_file = key;
      RequireOk(Ledger::Init(data, init), "init");
    }
    std::map<uint64_t, SubjectId> acked;
    uint64_t size = 0, signatures_checked = 0, person = 0;

    for (int round = 0; round < cuts_per_ledger && done < cuts; ++round, ++done) {
      INFO("power cut " << done);
      const uint64_t before_open = fs->operations();
      fs->CutAfter(std::uniform_int_distribution<uint64_t>(1, ops_max)(rng));
      std::unique_ptr<Ledger> ledger;
      OpenOptions on_cut_fs;
      on_cut_fs.master_key_file = key;
      on_cut_fs.threads = 2;
      on_cut_fs.env = env.get();
      Status opened = Ledger::Open(data, on_cut_fs, &ledger);  // no other process: no retry
      if (!opened.ok()) {
        INFO(opened.ToString());
        REQUIRE(fs->cut());  // only the power cut may stop it
        ++cuts_during_open;
      } else {
        const uint64_t open_ops = fs->operations() - before_open;
        for (int i = 0; i < 40 && !fs->cut(); ++i) {
          std::vector<NewEvent> events;
          for (uint64_t j = 0; j < batch; ++j) events.push_back(ValidEvent(person++));
          std::vector<Appended> out;
          Status s = ledger->Append(events, &out);
          if (!s.ok()) {
            INFO(s.ToString());
            REQUIRE(fs->cut());
            ++cuts_during_append;
            break;
          }
          ++appends_acked;
          for (const Appended& a : out) REQUIRE(acked.emplace(a.seq, a.subject).second);
        }
        if (!fs->cut()) fs->Cut();  // forty appends and no cut yet: cut now
        ops_max = std::max<uint64_t>(ops_max, open_ops + 20);
      }
      ledger.reset();  // closing fails to write anything: the power is off
      fs->ApplyCut();

      // Back on the real file system.
      RequireOk(OpenWhenUnlocked(data, key, &ledger), "opening after the power cut");
      const uint64_t now = ledger->size();
      CHECK(now >= size);
      if (!acked.empty()) REQUIRE(now > acked.rbegin()->first);
      CHECK(now % batch == 0);  // appends are whole
      RequireOk(ledger->ReadEvents(0, now, [&](const EventView& e) {
        auto it = acked.find(e.seq);
        auto s = e.signed_event.getEvent().getEnvelope().getSubject();
        if (it != acked.end() &&
            (s.size() != it->second.size() ||
             !std::equal(it->second.begin(), it->second.end(), s.begin()))) {
          return Status::Corruption("seq " + std::to_string(e.seq) + ": another subject");
        }
        if (e.seq < size) return Status::Ok();
        std::vector<FieldValue> values;
        KIRJURI_RETURN_IF_ERROR(ledger->ReadFields(e, &values));
        if (values.size() != 1 || !values[0].json) {
          return Status::Corruption("seq " + std::to_string(e.seq) + ": the data does not open");
        }
        return Status::Ok();
      }), "reading the events");
      VerifyOptions vo;
      vo.signatures_from = signatures_checked;
      VerifyResult vr;
      RequireOk(ledger->Verify(vo, &vr), "verify");
      signatures_checked = size = now;
      // Events appended after the cut but never acknowledged must not come back as duplicates.
      for (auto it = acked.lower_bound(now); it != acked.end();) it = acked.erase(it);
    }
    std::unique_ptr<Ledger> ledger;
    RequireOk(OpenWhenUnlocked(data, key, &ledger), "the last open");
    VerifyResult vr;
    RequireOk(ledger->Verify(VerifyOptions{}, &vr), "the full verify");
  }
  WARN("power cuts: " << cuts << " (" << cuts_during_open << " while opening, "
                      << cuts_during_append << " while appending); appends acknowledged "
                      << appends_acked << "; bytes dropped " << fs->bytes_dropped()
                      << ", unsynced new files removed " << fs->files_removed());
  CHECK(cuts_during_append > 0);
  CHECK(fs->bytes_dropped() > 0);
}

}  // namespace
}  // namespace kirjuri::test
