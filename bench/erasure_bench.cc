// erasure_bench: what erasure and sealing cost, beside the raw cost of the same work, measured
// on the same machine in the same run.
//
//   Kirjuri                                      raw baseline
//   Ledger::Erase of a subject with 10, 10,000   the key store's share done by hand: one synced
//     and 100,000 events (median of --repeats)     RocksDB delete batch + flush + forced full
//                                                  compaction + purge + reading every file, on the
//                                                  very key store the erasures ran on
//                                                (context) Ledger::Append of 1 event, synced
//   Ledger::Append with seal = true              Ledger::Append with seal = false (same events,
//                                                  runs alternated a, b, a, b)
//                                                (context) XChaCha20-Poly1305 of the same fields
//
// Goals (issue): erasure flat — the largest subject's erasure within 2x the smallest's;
// sealing adds under 15% to append time, (t_sealed - t_unsealed) / t_sealed.
//
// The sealing goal is measured on a register-like mix: each person is recorded once (a profile
// event: two new data keys, three blind-index entries) and then has 9 more events (usage), 10 in
// all. That is the workload the goal is stated for, not the cheapest one. The worst case, every
// event a new person (a key store write for every event), is `--seal-per-subject 1`.
//
// Usage: erasure_bench [--sizes A,B,C] [--repeats N] [--background N] [--between N]
//                      [--seal-events N] [--seal-pairs N] [--seal-per-subject N]
//                      [--payload BYTES] [--dir PATH] [--keep] [--quick] [--json-only]
// Prints a table, then exactly one JSON line (the last line of stdout). Progress goes to stderr
// when stderr is a terminal.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "kirjuri/ledger.h"

namespace fs = std::filesystem;
using kirjuri::Ledger;
using kirjuri::NewEvent;
using kirjuri::Status;
using kirjuri::SubjectId;

namespace {

// ---------------------------------------------------------------------------------------------
// Small utilities (as in ledger_bench)

using namespace kirjuri::bench;  // Now, Die, Check, Fmt, Thousands, ... (bench_util.h)

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


// ---------------------------------------------------------------------------------------------
// The events


// Size of the `data` JSON object of an event: {"k":v,...}
size_t DataJsonSize(const NewEvent& e) {
  size_t n = 2;
  for (const auto& [k, v] : e.data) n += k.size() + 3 + v.size() + 1;
  return e.data.empty() ? 2 : n - 1;
}

// Grows the JSON string value data[field] until data JSON + ip JSON reach `payload` bytes.
void PadTo(NewEvent* e, size_t field, size_t payload) {
  static const char kPad[] =
      " toimipiste Jyvaskyla, Sepankatu 4, 40100 Jyvaskyla; hankintaosasto ja asiakaspalvelu;";
  const size_t have = DataJsonSize(*e) + (e->ip ? e->ip->size() : 0);
  if (have >= payload) return;
  std::string& v = e->data[field].second;
  v.pop_back();  // closing quote
  for (size_t i = 0; i < payload - have; ++i) v += kPad[i % (sizeof kPad - 1)];
  v += '"';
}

// Customer-register events of one subject: "profile" (the identifiers that get blind indexes,
// the same for every profile event of a subject, as a person's email does not change with each
// event) and "usage"; each with an "ip" (sealed under the "network" category) and `payload` bytes
// of personal data in all (data JSON object + ip JSON value). `n` numbers the subject, `i` the
// event; both only change fixed-width digits, so every event of a kind has the same size.
class Workload {
 public:
  explicit Workload(size_t payload) : payload_(payload) {}

  void Profile(uint64_t n, uint64_t i, NewEvent* e) const {
    Envelope(e, "profile");
    char id[16];
    std::snprintf(id, sizeof id, "%07llu", static_cast<unsigned long long>(n % 10000000));
    e->data = {
        {"name", JsonString(std::string("Aino Virtanen ") + id)},
        {"title", JsonString("Senior procurement specialist")},
        {"organisation", JsonString("Almerin Asiakas Oy")},
        {"email", JsonString(std::string("aino.virtanen.") + id + "@example.fi")},
        {"phone", JsonString(std::string("+358 40 ") + id)},
        {"username", JsonString(std::string("avirtanen") + id)},
        {"password_hash", JsonString("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MDA$"
                                     "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eGNvcmdl")},
        {"city", JsonString("Jyvaskyla")},
    };
    e->ip = Ip(n, i);
    PadTo(e, 2, payload_);
  }

  void Usage(uint64_t n, uint64_t i, NewEvent* e) const {
    Envelope(e, "usage");
    char seq[16];
    std::snprintf(seq, sizeof seq, "%09llu", static_cast<unsigned long long>(i % 1000000000));
    e->data = {
        {"kind", JsonString("course_session")},
        {"result", JsonString("passed")},
        {"observation", JsonString(std::string("session ") + seq + " completed on time")},
        {"analytics", JsonString("page_views=14;duration_s=1260;device=desktop")},
        {"badge", JsonString("procurement-basics")},
        {"activity", JsonString("quiz")},
        {"comment", JsonString("Asked for the slides of module 3")},
        {"content", JsonString("module-3")},
    };
    e->ip = Ip(n, i);
    PadTo(e, 7, payload_);
  }

  // Event i of a subject: every tenth a profile event (the first of all), the rest usage.
  void Make(uint64_t n, uint64_t i, NewEvent* e) const {
    if (i % 10 == 0) Profile(n, i, e);
    else Usage(n, i, e);
  }

  size_t payload() const { return payload_; }

 private:
  static void Envelope(NewEvent* e, const char* category) {
    e->register_name = "customer";
    e->subject.reset();
    e->type = "recorded";
    e->category = category;
    e->actor = "staff:bench-01";
    e->purpose = "service_delivery";
    e->basis = "consent";
    e->source = "web_form";
  }
  static std::string Ip(uint64_t n, uint64_t i) {
    return JsonString(Fmt("10.%03u.%03u.%03u", static_cast<unsigned>(n % 250),
                          static_cast<unsigned>((n / 250) % 250), static_cast<unsigned>(i % 250)));
  }
  size_t payload_;
};

// Appends `subjects` new subjects with `per_subject` events each, batches of at most `batch`.
// A subject's id is chosen by the ledger when its first event is appended, so each round's batch
// holds the first events of k = batch / per_subject new subjects and the other per_subject - 1
// events of the previous round's k subjects: every batch but the first and last is `batch` events,
// and every subject gets exactly per_subject events (key creation included, as in live use).
struct MixResult {
  std::vector<SubjectId> subjects;
  uint64_t events = 0;
  double append_secs = 0;  // time inside Ledger::Append only
  double append_cpu_secs = 0;  // the process's CPU time (all threads) inside Ledger::Append
};

void AppendMix(Ledger* ledger, const Workload& w, uint64_t subjects, uint64_t per_subject,
               uint64_t batch, uint64_t number_base, Progress* progress, uint64_t* progress_done,
               MixResult* r) {
  const uint64_t k = std::max<uint64_t>(1, batch / per_subject);
  const uint64_t rounds = (subjects + k - 1) / k;
  std::vector<NewEvent> events;
  std::vector<kirjuri::Appended> out;
  std::vector<SubjectId> previous;  // the previous round's subjects
  uint64_t prev_first = 0;          // number of the first of them
  for (uint64_t round = 0; round <= rounds; ++round) {
    CheckInterrupted();
    events.clear();
    const uint64_t first = round * k;
    const uint64_t fresh = round < rounds ? std::min(k, subjects - first) : 0;
    for (uint64_t s = 0; s < fresh; ++s) {
      events.emplace_back();
      w.Make(number_base + first + s, 0, &events.back());
    }
    for (uint64_t i = 1; i < per_subject; ++i) {
      for (size_t s = 0; s < previous.size(); ++s) {
        events.emplace_back();
        w.Make(number_base + prev_first + s, i, &events.back());
        events.back().subject = previous[s];
      }
    }
    if (events.empty()) continue;
    const double t0 = Now(), c0 = ProcessCpuSeconds();
    Check(ledger->Append(events, &out), "append");
    r->append_secs += Now() - t0;
    r->append_cpu_secs += ProcessCpuSeconds() - c0;
    r->events += events.size();
    previous.clear();
    for (uint64_t s = 0; s < fresh; ++s) previous.push_back(out[s].subject);
    r->subjects.insert(r->subjects.end(), previous.begin(), previous.end());
    prev_first = first;
    if (progress) progress->Update(*progress_done += events.size());
  }
}

// One subject with `n` events, appended in batches of `batch`; returns its id.
SubjectId AppendSubject(Ledger* ledger, const Workload& w, uint64_t number, uint64_t n,
                        uint64_t batch, Progress* progress, uint64_t* progress_done) {
  std::vector<NewEvent> events(1);
  std::vector<kirjuri::Appended> out;
  w.Make(number, 0, &events[0]);
  Check(ledger->Append(events, &out), "append");
  const SubjectId id = out[0].subject;
  progress->Update(++*progress_done);
  for (uint64_t base = 1; base < n; base += batch) {
    CheckInterrupted();
    const uint64_t count = std::min(batch, n - base);
    events.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      w.Make(number, base + i, &events[i]);
      events[i].subject = id;
    }
    Check(ledger->Append(events, &out), "append");
    progress->Update(*progress_done += count);
  }
  kirjuri::SubjectSummary summary;
  Check(ledger->GetSubject(id, &summary), "GetSubject");
  if (summary.event_count != n) {
    Die("a target subject has " + std::to_string(summary.event_count) + " events, not " +
        std::to_string(n));
  }
  return id;
}

// Diagnostic: `n` events spread round-robin over `subjects` subjects that already exist (made by
// one untimed event each first), so that no data key or blind-index entry is new: what sealing
// costs per event once a subject's keys exist. Returns the time inside the timed Append calls.
double AppendExisting(Ledger* ledger, const Workload& w, uint64_t subjects, uint64_t n,
                      uint64_t batch, uint64_t number_base, Progress* progress) {
  std::vector<SubjectId> ids;
  std::vector<NewEvent> events;
  std::vector<kirjuri::Appended> out;
  for (uint64_t base = 0; base < subjects; base += batch) {
    events.resize(std::min(batch, subjects - base));
    for (uint64_t i = 0; i < events.size(); ++i) w.Make(number_base + base + i, 0, &events[i]);
    Check(ledger->Append(events, &out), "append");
    for (const auto& a : out) ids.push_back(a.subject);
  }
  double secs = 0;
  for (uint64_t base = 0; base < n; base += batch) {
    CheckInterrupted();
    events.resize(std::min(batch, n - base));
    for (uint64_t i = 0; i < events.size(); ++i) {
      const uint64_t e = base + i, s = e % subjects;
      w.Make(number_base + s, 1 + e / subjects, &events[i]);
      events[i].subject = ids[s];
    }
    const double t0 = Now();
    Check(ledger->Append(events, &out), "append");
    secs += Now() - t0;
    progress->Update(base + events.size());
  }
  return secs;
}

// ---------------------------------------------------------------------------------------------
// Ledgers

void InitLedger(const fs::path& dir, const fs::path& master_key, const std::string& origin) {
  kirjuri::InitOptions io;
  io.master_key_file = master_key;
  io.origin = origin;
  Check(Ledger::Init(dir, io), "init " + dir.string());
}

std::unique_ptr<Ledger> OpenLedger(const fs::path& dir, const fs::path& master_key, bool seal) {
  kirjuri::OpenOptions oo;
  oo.master_key_file = master_key;
  oo.threads = 0;  // all cores
  oo.seal = seal;
  std::unique_ptr<Ledger> ledger;
  Check(Ledger::Open(dir, oo, &ledger), "open " + dir.string());
  return ledger;
}

// ---------------------------------------------------------------------------------------------
// Raw baselines

// The key store's RocksDB options (ledger/src/key_store.cc MakeDbOptions / MakeCfOptions), so
// that the raw erase cycle pays what KeyStore::Shred pays.
rocksdb::DBOptions KeyStoreDbOptions() {
  rocksdb::DBOptions o;
  o.create_if_missing = false;
  o.create_missing_column_families = false;
  o.paranoid_checks = true;
  o.recycle_log_file_num = 0;
  o.WAL_ttl_seconds = 0;
  o.WAL_size_limit_MB = 0;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.keep_log_file_num = 2;
  o.max_manifest_file_size = 1;
  o.avoid_unnecessary_blocking_io = false;
  return o;
}

rocksdb::ColumnFamilyOptions KeyStoreCfOptions() {
  rocksdb::ColumnFamilyOptions o;
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kNoCompression;
  o.compression_per_level.clear();
  o.enable_blob_files = false;
  return o;
}

struct RawKeyStore {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;  // default, datakeys, blind, subject_blind
  ~RawKeyStore() {
    if (!db) return;
    for (auto* h : cfs) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
};

std::string SubjectBytes(const SubjectId& s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

struct RawEraseCycle {
  double secs = 0;
  uint64_t deleted = 0;
  uint64_t files = 0, bytes = 0;
};

// Writes (untimed, one synced batch) the key store records of `fresh` new subjects — two data
// keys and three blind-index entries each, as a batch of `--between` events leaves behind — then
// times what KeyStore::Shred must do for `subject` with plain RocksDB: one synced batch deleting
// its data keys and blind-index entries, flush, forced compaction of every column family to the
// bottom level, purge of obsolete files, and reading every file under the directory (no search).
RawEraseCycle RawKeyStoreErase(RawKeyStore* ks, const fs::path& dir, const SubjectId& subject,
                               uint64_t fresh) {
  rocksdb::ColumnFamilyHandle* meta = ks->cfs[0];
  rocksdb::ColumnFamilyHandle* datakeys = ks->cfs[1];
  rocksdb::ColumnFamilyHandle* blind = ks->cfs[2];
  rocksdb::ColumnFamilyHandle* subject_blind = ks->cfs[3];
  rocksdb::WriteOptions wo;
  wo.sync = true;
  {
    rocksdb::WriteBatch wb;
    std::string value(16 + 24 + 48, '\0'), b(32, '\0');
    for (uint64_t i = 0; i < fresh; ++i) {
      SubjectId s;
      randombytes_buf(s.data(), s.size());
      for (const char* category : {"profile", "network"}) {
        randombytes_buf(value.data(), value.size());
        CheckRocks(wb.Put(datakeys, SubjectBytes(s) + category, value), "raw put");
      }
      for (char kind = 1; kind <= 3; ++kind) {
        randombytes_buf(b.data(), b.size());
        CheckRocks(wb.Put(blind, std::string(1, kind) + b + SubjectBytes(s), ""), "raw put");
        CheckRocks(wb.Put(subject_blind, SubjectBytes(s) + std::string(1, kind) + b, ""),
                   "raw put");
      }
    }
    CheckRocks(ks->db->Write(wo, &wb), "raw fresh keys");
  }

  RawEraseCycle r;
  const double t0 = Now();
  rocksdb::WriteBatch wb;
  const std::string prefix = SubjectBytes(subject);
  for (const char* category : {"profile", "usage", "network"}) {
    std::string v;
    rocksdb::Status s = ks->db->Get(rocksdb::ReadOptions(), datakeys, prefix + category, &v);
    if (s.IsNotFound()) continue;
    CheckRocks(s, "raw get");
    CheckRocks(wb.Delete(datakeys, prefix + category), "raw delete");
    ++r.deleted;
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(ks->db->NewIterator(rocksdb::ReadOptions(), subject_blind));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string forward = it->key().ToString().substr(16) + prefix;
      CheckRocks(wb.Delete(blind, forward), "raw delete");
      CheckRocks(wb.Delete(subject_blind, it->key()), "raw delete");
      ++r.deleted;
    }
    CheckRocks(it->status(), "raw iterate");
  }
  CheckRocks(ks->db->Write(wo, &wb), "raw delete batch");
  rocksdb::FlushOptions fo;
  fo.wait = true;
  fo.allow_write_stall = true;
  CheckRocks(ks->db->Flush(fo, ks->cfs), "raw flush");
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.exclusive_manual_compaction = true;
  for (auto* h : {datakeys, blind, subject_blind, meta}) {
    CheckRocks(ks->db->CompactRange(co, h, nullptr, nullptr), "raw compaction");
  }
  CheckRocks(ks->db->DisableFileDeletions(), "raw purge");
  CheckRocks(ks->db->EnableFileDeletions(/*force=*/true), "raw purge");
  std::vector<char> buf(1 << 16);
  unsigned char acc = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    if (!in) continue;  // deleted meanwhile
    ++r.files;
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
      r.bytes += static_cast<uint64_t>(in.gcount());
      acc ^= static_cast<unsigned char>(buf[0]);
    }
  }
  asm volatile("" : : "r"(acc) : "memory");
  r.secs = Now() - t0;
  return r;
}

// XChaCha20-Poly1305 of `events` as Append seals them, on one thread: events/s. Each event is
// two sealed groups (its category's fields, then the network's), each one AEAD over the group's
// values laid out as a Cap'n Proto list of texts (a pointer word per value, each value padded to
// a word) under associated data of the ledger's size (random nonce). The pure cryptographic
// work that sealing adds to an append.
double SealGroupsRate(const std::vector<NewEvent>& events, double seconds) {
  unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  crypto_aead_xchacha20poly1305_ietf_keygen(key);
  std::string ad(17 + 136, 'a');  // "kirjuri/field/v1\n" || canonical SealContext (~136 B)
  std::vector<unsigned char> ct(8192);
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  // Each event's groups' plaintexts, laid out once (the layout is not the measured work).
  std::vector<std::pair<std::string, std::string>> groups;
  auto lay_out = [](std::string* plain, const std::string& value) {
    plain->append(8, '\0');  // the list's pointer to it
    plain->append(value);
    plain->append(8 - value.size() % 8, '\0');  // its NUL, padded to a word
  };
  for (const NewEvent& e : events) {
    std::string own(16, '\0'), network(16, '\0');  // root and list pointers
    for (const auto& [name, value] : e.data) lay_out(&own, value);
    if (e.ip) lay_out(&network, *e.ip);
    groups.emplace_back(std::move(own), e.ip ? std::move(network) : std::string());
  }
  uint64_t n = 0;
  const double start = Now();
  double t = start;
  while (t - start < seconds) {
    for (const auto& [own, network] : groups) {
      auto seal = [&](const std::string& plain) {
        randombytes_buf(nonce, sizeof nonce);
        unsigned long long len = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            ct.data(), &len, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce, key);
      };
      seal(own);
      if (!network.empty()) seal(network);
      ++n;
    }
    t = Now();
  }
  asm volatile("" : : "r"(ct[0]) : "memory");
  return static_cast<double>(n) / (t - start);
}

// ---------------------------------------------------------------------------------------------

struct Args {
  std::vector<uint64_t> sizes = {10, 10000, 100000};
  uint64_t repeats = 3;
  uint64_t background = 2000;
  uint64_t background_events = 5;
  uint64_t between = 1000;
  uint64_t seal_events = 200000;
  uint64_t seal_pairs = 2;
  uint64_t seal_per_subject = 10;
  bool seal_diag = true;
  size_t payload = 400;
  std::string dir;
  bool quick = false;
  bool json_only = false;
  bool keep = false;
};

[[noreturn]] void Usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: erasure_bench [--sizes A,B,C] [--repeats N] [--background N] [--between N]\n"
               "                     [--seal-events N] [--seal-pairs N] [--seal-per-subject N]\n"
               "                     [--payload BYTES]\n"
               "                     [--dir PATH] [--keep] [--quick] [--no-diag] [--json-only]\n"
               "  --sizes A,B,C      events of the erased subjects, smallest first (10,10000,100000)\n"
               "  --repeats N        subjects erased per size; the median is reported (3)\n"
               "  --background N     other subjects in the erasure ledger, 5 events each (2000)\n"
               "  --between N        events appended before each erasure, as in live use; 0: none (1000)\n"
               "  --seal-events N    events per sealing run (200000)\n"
               "  --seal-pairs N     sealed/unsealed run pairs, alternated (2)\n"
               "  --seal-per-subject N  events per new subject in the sealing runs; 1 is the\n"
               "                     worst case, every event a new person (10)\n"
               "  --payload BYTES    personal data per event: data JSON + ip (400)\n"
               "  --dir PATH         work directory (default: a fresh one under /tmp)\n"
               "  --keep             do not remove what the benchmark wrote\n"
               "  --quick            smoke run: sizes 10,1000,5000, 2 repeats, 200 background,\n"
               "                     10000 events per sealing run\n"
               "  --no-diag          skip the diagnostic sealing pair (existing subjects only)\n"
               "  --json-only        print only the JSON line\n");
  std::exit(code);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  std::optional<uint64_t> repeats, background, between, seal_events, seal_pairs;
  std::optional<std::vector<uint64_t>> sizes;
  ArgReader args(argc, argv, Usage);
  while (args.Next()) {
    const std::string& f = args.flag();
    if (f == "--sizes") {
      std::vector<uint64_t> s;
      std::string v = args.Value();
      for (size_t pos = 0; pos <= v.size();) {
        size_t comma = v.find(',', pos);
        if (comma == std::string::npos) comma = v.size();
        s.push_back(args.PositiveNumber(v.substr(pos, comma - pos)));
        pos = comma + 1;
      }
      if (s.size() < 2 || !std::is_sorted(s.begin(), s.end())) {
        args.Fail("--sizes wants 2 or more sizes, smallest first");
      }
      sizes = s;
    } else if (f == "--repeats") repeats = args.PositiveNumber();
    else if (f == "--background") background = args.PositiveNumber();
    else if (f == "--between") between = args.NumberOrZero();
    else if (f == "--seal-events") seal_events = args.PositiveNumber();
    else if (f == "--seal-pairs") seal_pairs = args.PositiveNumber();
    else if (f == "--seal-per-subject") a.seal_per_subject = args.PositiveNumber();
    else if (f == "--payload") a.payload = args.PositiveNumber();
    else if (f == "--dir") a.dir = args.Value();
    else if (f == "--quick") a.quick = true;
    else if (f == "--json-only") a.json_only = true;
    else if (f == "--keep") a.keep = true;
    else if (f == "--no-diag") a.seal_diag = false;
    else if (f == "-h" || f == "--help") Usage(0);
    else args.UnknownFlag();
  }
  if (a.quick) {
    a.sizes = {10, 1000, 5000};
    a.repeats = 2;
    a.background = 200;
    a.seal_events = 10000;
  }
  if (sizes) a.sizes = *sizes;
  if (repeats) a.repeats = *repeats;
  if (background) a.background = std::max<uint64_t>(2, *background);
  if (between) a.between = *between;
  if (seal_events) a.seal_events = *seal_events;
  if (seal_pairs) a.seal_pairs = *seal_pairs;
  // The raw erase cycles use background subjects the ledger did not erase: keep enough.
  a.background = std::max<uint64_t>(a.background, a.repeats * a.sizes.size() + 10);
  return a;
}

struct Goal {
  std::string key, name;
  double ratio, target;
  bool pass() const { return ratio <= target; }  // both goals are ceilings
};

struct EraseSample {
  uint64_t size;
  double secs;
  uint64_t files, bytes, blind_removed, shredded;
};

int Run(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  // The ledger logs on stdout through spdlog's default logger (info, and a warning for every
  // master key it creates): send it to stderr and keep only errors, so that stdout stays
  // parseable.
  spdlog::set_default_logger(spdlog::stderr_color_mt("kirjuri"));
  spdlog::set_level(spdlog::level::err);
  if (sodium_init() < 0) Die("sodium_init failed");

  Scratch scratch_dir(args.dir, "kirjuri-erasure-bench", args.keep);
  const fs::path root = scratch_dir.root();
  auto sub = [&](const std::string& name) { return scratch_dir.Sub(name); };
  auto drop = [&](const fs::path& p) { scratch_dir.Drop(p); };
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const Workload w(args.payload);
  const size_t nsizes = args.sizes.size();
  uint64_t next_number = 0;  // numbers subjects for their (fake) identifiers

  // ===========================================================================================
  // 1. Erasure latency.
  const fs::path edir = sub("erasure-ledger");
  const fs::path ekey = sub("erasure-ledger.master-key");
  InitLedger(edir, ekey, "bench.kirjuri.local/erasure");
  auto ledger = OpenLedger(edir, ekey, true);

  uint64_t setup_events = args.background * args.background_events;
  for (uint64_t s : args.sizes) setup_events += s * args.repeats;
  const double setup_start = Now();
  MixResult background;
  std::vector<std::vector<SubjectId>> targets(nsizes);
  {
    Progress progress("erasure ledger: appending", setup_events);
    uint64_t done = 0;
    AppendMix(ledger.get(), w, args.background, args.background_events, 1000, next_number,
              &progress, &done, &background);
    next_number += args.background;
    for (size_t k = 0; k < nsizes; ++k) {
      for (uint64_t r = 0; r < args.repeats; ++r) {
        targets[k].push_back(
            AppendSubject(ledger.get(), w, next_number++, args.sizes[k], 1000, &progress, &done));
      }
    }
  }
  const double setup_secs = Now() - setup_start;
  // Close and reopen, so that the erasures do not compete with compactions left from the setup.
  ledger.reset();
  ledger = OpenLedger(edir, ekey, true);

  // Before each erasure, `between` events as in live use: 1 in 10 the first event of a new
  // subject (new data keys, blind indexes), the rest usage events of background subjects.
  // Background subjects [0, reserved) are left alone: the raw erase cycles below use them.
  const uint64_t reserved = args.repeats * nsizes + 1;
  uint64_t bg_cursor = 0;
  auto between = [&]() {
    if (args.between == 0) return;
    std::vector<NewEvent> events;
    std::vector<kirjuri::Appended> out;
    const uint64_t fresh = std::max<uint64_t>(1, args.between / 10);
    for (uint64_t i = 0; i < args.between; ++i) {
      events.emplace_back();
      if (i < fresh) {
        w.Make(next_number++, 0, &events.back());
      } else {
        const uint64_t b = reserved + 1 + (bg_cursor++ % (background.subjects.size() - reserved - 1));
        w.Usage(b, 100 + i, &events.back());
        events.back().subject = background.subjects[b];
      }
    }
    Check(ledger->Append(events, &out), "append between erasures");
  };
  uint64_t request_no = 0;
  auto erase = [&](const SubjectId& subject, uint64_t size, EraseSample* sample) {
    kirjuri::EraseRequest req;
    req.subject = subject;
    req.request = "bench-req-" + std::to_string(++request_no);
    req.actor = "staff:bench-01";
    uint64_t seq = 0;
    const double t0 = Now();
    Check(ledger->Erase(req, &seq), "erase");
    sample->secs = Now() - t0;
    sample->size = size;
    Check(ledger->ReadEvents(seq, seq + 1, [&](const kirjuri::EventView& v) {
            auto er = v.signed_event.getEvent().getErasure();
            sample->files = er.getKeyStoreFilesChecked();
            sample->bytes = er.getKeyStoreBytesChecked();
            sample->blind_removed = er.getBlindIndexEntriesRemoved();
            sample->shredded = er.getShredded().size();
            if (er.getEventsUnreadable() != size) Die("the erasure event counts the wrong events");
            return Status::Ok();
          }),
          "reading the erasure event");
  };

  // A warm-up erasure of a background subject (its figure is reported, not counted), then
  // `repeats` rounds, each erasing one subject of every size in a rotated order.
  EraseSample warmup{};
  std::vector<EraseSample> samples;
  {
    Progress progress("erasing", 1 + args.repeats * nsizes);
    between();
    erase(background.subjects[reserved], args.background_events, &warmup);
    progress.Update(1);
    for (uint64_t r = 0; r < args.repeats; ++r) {
      for (size_t j = 0; j < nsizes; ++j) {
        CheckInterrupted();
        const size_t k = (j + r) % nsizes;
        between();
        EraseSample s{};
        erase(targets[k][r], args.sizes[k], &s);
        samples.push_back(s);
        progress.Update(samples.size() + 1);
      }
    }
  }
  for (size_t k = 0; k < nsizes; ++k) {
    for (const SubjectId& id : targets[k]) {
      kirjuri::SubjectSummary summary;
      Check(ledger->GetSubject(id, &summary), "GetSubject after erasure");
      if (!summary.erased_at_seq) Die("an erased subject is not marked erased");
    }
  }
  // Context: one synced single-event append to the same ledger (the log side of an erasure
  // is two synced log writes: the pending record, then the subjectErased event).
  std::vector<double> append1;
  for (uint64_t i = 0; i < std::max<uint64_t>(5, args.repeats * nsizes); ++i) {
    std::vector<NewEvent> one(1);
    std::vector<kirjuri::Appended> out;
    const uint64_t b = reserved + 1 + (bg_cursor++ % (background.subjects.size() - reserved - 1));
    w.Usage(b, 7, &one[0]);
    one[0].subject = background.subjects[b];
    const double t0 = Now();
    Check(ledger->Append(one, &out), "append 1");
    append1.push_back(Now() - t0);
  }
  ledger.reset();

  // Raw: the key store's part of an erasure by hand, on the same key store, same conditions.
  std::vector<double> raw_cycles;
  uint64_t raw_deleted = 0;
  {
    Progress progress("raw key-store erase cycles", 1 + args.repeats * nsizes);
    const fs::path kdir = edir / "keys";
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const char* n : {rocksdb::kDefaultColumnFamilyName.c_str(), "datakeys", "blind",
                          "subject_blind"}) {
      descriptors.emplace_back(n, KeyStoreCfOptions());
    }
    RawKeyStore ks;
    rocksdb::DB* raw = nullptr;
    CheckRocks(rocksdb::DB::Open(KeyStoreDbOptions(), kdir.string(), descriptors, &ks.cfs, &raw),
               "opening the key store " + kdir.string());
    ks.db.reset(raw);
    const uint64_t fresh = args.between ? std::max<uint64_t>(1, args.between / 10) : 0;
    for (uint64_t i = 0; i <= args.repeats * nsizes; ++i) {
      CheckInterrupted();
      RawEraseCycle c = RawKeyStoreErase(&ks, kdir, background.subjects[i], fresh);
      if (i > 0) raw_cycles.push_back(c.secs);  // the first is the warm-up
      raw_deleted = c.deleted;
      progress.Update(i + 1);
    }
  }
  drop(edir);
  drop(ekey);

  // ===========================================================================================
  // 2. Sealing cost: the same events into seal = true and seal = false ledgers, alternated.
  struct SealRun {
    bool sealed;
    double secs, rate, cpu_secs;
  };
  std::vector<SealRun> seal_runs;
  const uint64_t seal_subjects = std::max<uint64_t>(1, args.seal_events / args.seal_per_subject);
  uint64_t seal_events_done = 0;
  size_t leaf_sealed = 0, leaf_unsealed = 0;
  for (uint64_t run = 0; run < 2 * args.seal_pairs; ++run) {
    const bool sealed = run % 2 == 0;
    const std::string name = std::string(sealed ? "seal-on-" : "seal-off-") + std::to_string(run);
    const fs::path dir = sub(name);
    const fs::path key = sub(name + ".master-key");
    InitLedger(dir, key, "bench.kirjuri.local/" + name);
    auto l = OpenLedger(dir, key, sealed);
    MixResult r;
    {
      Progress progress(std::string("append, seal = ") + (sealed ? "true" : "false"),
                        seal_subjects * args.seal_per_subject);
      uint64_t done = 0;
      // The same subject numbers in every run: the same events, byte for byte.
      AppendMix(l.get(), w, seal_subjects, args.seal_per_subject, 1000, 1000000, &progress, &done,
                &r);
    }
    if (l->size() != r.events) Die("a sealing-run ledger has the wrong size");
    // Diagnostic: the stored size of the last event (a usage event) with and without sealing.
    Check(l->ReadEvents(l->size() - 1, l->size(), [&](const kirjuri::EventView& v) {
            (sealed ? leaf_sealed : leaf_unsealed) = v.leaf.size();
            return Status::Ok();
          }),
          "reading a sealing-run event");
    seal_events_done = r.events;
    seal_runs.push_back(
        {sealed, r.append_secs, static_cast<double>(r.events) / r.append_secs, r.append_cpu_secs});
    l.reset();
    drop(dir);
    drop(key);
  }
  // Diagnostic pair: the same number of events, all for subjects whose keys already exist.
  double diag_sealed = 0, diag_unsealed = 0;
  const uint64_t diag_subjects = 1000;
  for (int run = 0; run < 2 && args.seal_diag; ++run) {
    const bool sealed = run == 0;
    const std::string name = std::string(sealed ? "diag-seal-on" : "diag-seal-off");
    const fs::path dir = sub(name);
    const fs::path key = sub(name + ".master-key");
    InitLedger(dir, key, "bench.kirjuri.local/" + name);
    auto l = OpenLedger(dir, key, sealed);
    Progress progress(std::string("[diag] existing subjects, seal = ") + (sealed ? "true" : "false"),
                      seal_events_done);
    (sealed ? diag_sealed : diag_unsealed) =
        AppendExisting(l.get(), w, diag_subjects, seal_events_done, 1000, 2000000, &progress);
    l.reset();
    drop(dir);
    drop(key);
  }
  double t_sealed = 0, t_unsealed = 0, cpu_sealed = 0, cpu_unsealed = 0;
  for (const auto& r : seal_runs) {
    (r.sealed ? t_sealed : t_unsealed) += r.secs;
    (r.sealed ? cpu_sealed : cpu_unsealed) += r.cpu_secs;
  }
  // CPU per event (all threads, inside Append): whether sealing's cost is work or waiting.
  const double cpu_us_sealed = 1e6 * cpu_sealed / static_cast<double>(seal_events_done * args.seal_pairs);
  const double cpu_us_unsealed =
      1e6 * cpu_unsealed / static_cast<double>(seal_events_done * args.seal_pairs);
  const double sealed_rate = static_cast<double>(seal_events_done * args.seal_pairs) / t_sealed;
  const double unsealed_rate = static_cast<double>(seal_events_done * args.seal_pairs) / t_unsealed;
  const double seal_cost = (t_sealed - t_unsealed) / t_sealed;
  // Raw: the AEAD work of sealing those events (the 10 events of one subject).
  std::vector<NewEvent> sample_events(10);
  for (uint64_t i = 0; i < 10; ++i) w.Make(1000000, i, &sample_events[i]);
  double payload_sum = 0, fields_sum = 0;
  for (const auto& e : sample_events) {
    payload_sum += static_cast<double>(DataJsonSize(e) + (e.ip ? e.ip->size() : 0));
    fields_sum += static_cast<double>(e.data.size() + (e.ip ? 1 : 0));
  }
  const double aead_rate = SealGroupsRate(sample_events, args.quick ? 0.3 : 1.0);
  // If spread perfectly over all cores: AEAD time per event / sealed append time per event.
  const double aead_share = (1.0 / (aead_rate * hw)) / (1.0 / sealed_rate);

  // ===========================================================================================
  // 3. Report.
  std::vector<double> medians(nsizes);
  std::vector<std::vector<double>> per_size(nsizes);
  for (size_t k = 0; k < nsizes; ++k) {
    for (const auto& s : samples) {
      if (s.size == args.sizes[k]) per_size[k].push_back(s.secs);
    }
    medians[k] = Median(per_size[k]);
  }
  const double flat = medians.back() / medians.front();
  const double spread = *std::max_element(medians.begin(), medians.end()) /
                        *std::min_element(medians.begin(), medians.end());
  const double raw_cycle = Median(raw_cycles);
  const double append1_med = Median(append1);
  std::vector<double> all_erase;
  for (const auto& s : samples) all_erase.push_back(s.secs);
  const double erase_all_med = Median(all_erase);
  std::vector<double> ks_bytes, ks_files;
  for (const auto& s : samples) {
    ks_bytes.push_back(static_cast<double>(s.bytes));
    ks_files.push_back(static_cast<double>(s.files));
  }
  const double keystore_share = raw_cycle / erase_all_med;
  const double log_share = 2 * append1_med / erase_all_med;

  std::vector<Goal> goals = {
      {"erasure_flat", Fmt("erasure %s events within 2x of %s events",
                           Thousands(static_cast<double>(args.sizes.back())).c_str(),
                           Thousands(static_cast<double>(args.sizes.front())).c_str()),
       flat, 2.0},
      {"seal_cost", "sealing adds < 15% of append time", seal_cost, 0.15},
  };
  auto ms = [](double s) { return s * 1000.0; };

  if (!args.json_only) {
    std::printf("Kirjuri erasure and sealing benchmark: %u hardware threads, ledgers opened with all "
                "cores, payload ~%.0f B/event (data JSON + ip) in %.1f fields\n\n",
                hw, payload_sum / 10, fields_sum / 10);
    std::printf("Erasure: one ledger, %s background subjects x %llu events, %llu subject(s) per "
                "size; setup %s events in %.1f s\n",
                Thousands(static_cast<double>(background.subjects.size())).c_str(),
                static_cast<unsigned long long>(args.background_events),
                static_cast<unsigned long long>(args.repeats),
                Thousands(static_cast<double>(setup_events)).c_str(), setup_secs);
    std::printf("  every subject: profile (every 10th event, same email/phone/username) + usage "
                "events, ip on each -> 3 data keys, 3 blind-index entries\n");
    std::printf("  before each erasure %llu events are appended (1 in 10 a new subject); sizes "
                "erased in rotated order; 1 warm-up erasure not counted\n\n",
                static_cast<unsigned long long>(args.between));
    std::printf("  %-26s %10s %10s %10s  %s\n", "subject size (events)", "median ms", "min ms",
                "max ms", "samples ms");
    for (size_t k = 0; k < nsizes; ++k) {
      std::string list;
      for (double v : per_size[k]) list += Fmt("%s%.1f", list.empty() ? "" : " ", ms(v));
      std::printf("  %-26s %10.1f %10.1f %10.1f  %s\n",
                  Thousands(static_cast<double>(args.sizes[k])).c_str(), ms(medians[k]),
                  ms(*std::min_element(per_size[k].begin(), per_size[k].end())),
                  ms(*std::max_element(per_size[k].begin(), per_size[k].end())), list.c_str());
    }
    std::printf("  %-26s %10.1f\n", "warm-up (background subj.)", ms(warmup.secs));
    std::printf("  key store at erasure: %.0f files, %s bytes read by the physical check "
                "(median); %llu keys shredded, %llu blind entries removed per subject\n\n",
                Median(ks_files), Thousands(Median(ks_bytes)).c_str(),
                static_cast<unsigned long long>(samples.empty() ? 0 : samples[0].shredded),
                static_cast<unsigned long long>(samples.empty() ? 0 : samples[0].blind_removed));
    std::printf("Raw baselines (same machine, same run)\n");
    std::printf("  %-66s %9.1f ms\n",
                Fmt("key store erase cycle by hand, same store (%llu records deleted), median",
                    static_cast<unsigned long long>(raw_deleted))
                    .c_str(),
                ms(raw_cycle));
    std::printf("    (synced delete batch + flush + forced full compaction + purge + read all files)\n");
    std::printf("  %-66s %9.1f ms\n", "Ledger::Append of 1 event (synced), same ledger, median",
                ms(append1_med));
    std::printf("  %-66s %9s /s\n", "XChaCha20-Poly1305 of one event's sealed groups, 1 thread",
                Thousands(aead_rate).c_str());
    std::printf("\nWhere an erasure's time goes (median over all sizes: %.1f ms)\n",
                ms(erase_all_med));
    std::printf("  key store work (raw cycle above)          %7.1f ms  %5.1f%%\n", ms(raw_cycle),
                100 * keystore_share);
    std::printf("  log: 2 synced writes (est. 2 x append 1)  %7.1f ms  %5.1f%%\n",
                ms(2 * append1_med), 100 * log_share);
    std::printf("  rest (needle search, bookkeeping, noise)  %7.1f ms\n",
                ms(erase_all_med - raw_cycle - 2 * append1_med));
    std::printf("\nSealing: %s events per run (%s new subjects x %llu events: keys and blind "
                "indexes created as in live use), batch 1000, runs alternated\n",
                Thousands(static_cast<double>(seal_events_done)).c_str(),
                Thousands(static_cast<double>(seal_subjects)).c_str(),
                static_cast<unsigned long long>(args.seal_per_subject));
    for (size_t i = 0; i < seal_runs.size(); ++i) {
      std::printf("  run %zu  seal = %-5s  %8.2f s  %12s events/s\n", i + 1,
                  seal_runs[i].sealed ? "true" : "false", seal_runs[i].secs,
                  Thousands(seal_runs[i].rate).c_str());
    }
    std::printf("  %-40s %12s events/s\n", "sealed (all sealed runs)", Thousands(sealed_rate).c_str());
    std::printf("  %-40s %12s events/s\n", "unsealed (all unsealed runs) [baseline]",
                Thousands(unsealed_rate).c_str());
    std::printf("  added cost (t_sealed - t_unsealed) / t_sealed   %6.1f%%\n", 100 * seal_cost);
    if (args.seal_diag) {
      std::printf("  [diag] same count, %llu existing subjects (no new keys): seal %s /s, no seal "
                  "%s /s, added %.1f%%\n",
                  static_cast<unsigned long long>(diag_subjects),
                  Thousands(static_cast<double>(seal_events_done) / diag_sealed).c_str(),
                  Thousands(static_cast<double>(seal_events_done) / diag_unsealed).c_str(),
                  100 * (diag_sealed - diag_unsealed) / diag_sealed);
    }
    std::printf("  [diag] stored event (leaf) size: %zu B sealed, %zu B unsealed\n", leaf_sealed,
                leaf_unsealed);
    std::printf("  [diag] CPU per event inside Append (all threads): %.1f us sealed, %.1f us "
                "unsealed\n",
                cpu_us_sealed, cpu_us_unsealed);
    std::printf("  AEAD alone, spread over %u cores, as a share of sealed append time  %5.1f%%\n\n",
                hw, 100 * aead_share);
    std::printf("Goals\n");
    std::printf("  %-54s %7.2fx  (goal <= 2.00x)  %s\n", goals[0].name.c_str(), goals[0].ratio,
                goals[0].pass() ? "PASS" : "MISS");
    std::printf("  %-54s %6.1f%%   (goal < 15%%)     %s\n", goals[1].name.c_str(),
                100 * goals[1].ratio, goals[1].pass() ? "PASS" : "MISS");
    std::printf("  (max/min over all sizes: %.2fx)\n\n", spread);
  }

  std::string j = "{\"bench\":\"erasure\"";
  j += Fmt(",\"hardware_threads\":%u,\"quick\":%s,\"payload_bytes\":%.0f", hw,
           args.quick ? "true" : "false", payload_sum / 10);
  j += Fmt(",\"erasure\":{\"background_subjects\":%zu,\"between_events\":%llu,\"repeats\":%llu",
           background.subjects.size(), static_cast<unsigned long long>(args.between),
           static_cast<unsigned long long>(args.repeats));
  j += ",\"median_ms\":{";
  for (size_t k = 0; k < nsizes; ++k) {
    j += Fmt("%s\"%llu\":%.3f", k ? "," : "", static_cast<unsigned long long>(args.sizes[k]),
             ms(medians[k]));
  }
  j += "},\"samples_ms\":{";
  for (size_t k = 0; k < nsizes; ++k) {
    j += Fmt("%s\"%llu\":[", k ? "," : "", static_cast<unsigned long long>(args.sizes[k]));
    for (size_t i = 0; i < per_size[k].size(); ++i) j += Fmt("%s%.3f", i ? "," : "", ms(per_size[k][i]));
    j += "]";
  }
  j += Fmt("},\"warmup_ms\":%.3f,\"key_store_files\":%.0f,\"key_store_bytes\":%.0f}", ms(warmup.secs),
           Median(ks_files), Median(ks_bytes));
  j += Fmt(",\"sealing\":{\"events_per_run\":%llu,\"events_per_subject\":%llu,\"pairs\":%llu",
           static_cast<unsigned long long>(seal_events_done),
           static_cast<unsigned long long>(args.seal_per_subject),
           static_cast<unsigned long long>(args.seal_pairs));
  j += Fmt(",\"sealed_events_per_s\":%.1f,\"unsealed_events_per_s\":%.1f,\"runs_s\":[", sealed_rate,
           unsealed_rate);
  for (size_t i = 0; i < seal_runs.size(); ++i) {
    j += Fmt("%s{\"seal\":%s,\"s\":%.3f}", i ? "," : "", seal_runs[i].sealed ? "true" : "false",
             seal_runs[i].secs);
  }
  j += Fmt("],\"leaf_bytes_sealed\":%zu,\"leaf_bytes_unsealed\":%zu", leaf_sealed, leaf_unsealed);
  j += Fmt(",\"cpu_us_per_event_sealed\":%.2f,\"cpu_us_per_event_unsealed\":%.2f", cpu_us_sealed,
           cpu_us_unsealed);
  if (args.seal_diag) {
    j += Fmt(",\"diag_existing_subjects\":{\"sealed_events_per_s\":%.1f,"
             "\"unsealed_events_per_s\":%.1f,\"added_cost\":%.4f}",
             static_cast<double>(seal_events_done) / diag_sealed,
             static_cast<double>(seal_events_done) / diag_unsealed,
             (diag_sealed - diag_unsealed) / diag_sealed);
  }
  j += "}";
  j += Fmt(",\"raw\":{\"keystore_erase_cycle_ms\":%.3f,\"append_1_event_ms\":%.3f,"
           "\"aead_event_groups_1t_per_s\":%.1f}",
           ms(raw_cycle), ms(append1_med), aead_rate);
  j += Fmt(",\"shares\":{\"erase_keystore\":%.4f,\"erase_log_est\":%.4f,\"seal_aead\":%.4f}",
           keystore_share, log_share, aead_share);
  AppendGoalsJson(&j, goals, &Goal::ratio, kRatioGoalJson);
  PrintJsonLine(j + "}");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return RunMain("erasure_bench", Run, argc, argv); }
