// ledger_bench: Kirjuri's append and verify throughput beside the raw cost of the same work,
// measured on the same machine in the same run.
//
//   Kirjuri                                  raw baseline
//   Ledger::Append, batch 1/100/1000 synced  RocksDB synced WriteBatch of the same bytes, same batch
//   the same at batch 1000, 2 appenders      (the same; and the sign rate, for the goal)
//   Ledger::Verify (full)                    libsodium Ed25519 verify/s on all (2) cores
//   Ledger::Verify (tree_only)               iterating the events column family + SHA-256 each value
//   (goal only) Append at batch 1000         libsodium Ed25519 sign/s on all (2) cores
//
// Goals (issue): append@1000 >= 60% of 2-core sign rate (judged for one appender and for two,
// which lets the pipeline sign one batch while the other writes); full verify >= 80% of 2-core verify
// rate; tree-only verify >= 50% of raw iterate+hash.
//
// Beside the append goal, its ceiling on this machine: sign + SHA-256 of the leaf + the RocksDB
// write shaped like Append, per event, spread perfectly over the threads (no encoding, no
// sealing, no key store): no append that signs, hashes and stores each event can beat it.
//
// Usage: ledger_bench [--events N] [--events-batch1 N] [--payload BYTES] [--dir PATH] [--quick]
//                     [--crypto-seconds S] [--keep] [--json-only]
// Prints a table, then exactly one JSON line (the last line of stdout). Progress goes to stderr
// when stderr is a terminal.
#include <capnp/message.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
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
#include <ctime>
#include <filesystem>
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

namespace {

// ---------------------------------------------------------------------------------------------
// Small utilities

using namespace kirjuri::bench;  // Now, Die, Check, Fmt, Thousands, ... (bench_util.h)

void PutBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::string SeqKey(uint64_t seq) {
  std::string k(8, '\0');
  PutBigEndian64(seq, k.data());
  return k;
}

struct XorShift {
  uint64_t s;
  explicit XorShift(uint64_t seed) : s(seed | 1) {}
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  void Fill(char* p, size_t n) {
    while (n >= 8) {
      uint64_t v = Next();
      std::memcpy(p, &v, 8);
      p += 8;
      n -= 8;
    }
    if (n) {
      uint64_t v = Next();
      std::memcpy(p, &v, n);
    }
  }
};


// ---------------------------------------------------------------------------------------------
// The events


// A "recorded" profile event in the customer register with `payload_bytes` of personal data,
// counted as the length of its `data` JSON object. Every event has the same size; `i` varies the
// values (fixed-width digits).
class EventFactory {
 public:
  explicit EventFactory(size_t payload_bytes) {
    base_.register_name = "customer";
    base_.type = "recorded";
    base_.category = "profile";
    base_.actor = "staff:bench-01";
    base_.purpose = "service_delivery";
    base_.basis = "consent";
    base_.source = "web_form";
    base_.data = {
        {"name", JsonString("Aino Virtanen 0000000")},
        {"title", JsonString("Senior procurement specialist")},
        {"organisation", JsonString("Almerin Asiakas Oy")},
        {"email", JsonString("aino.virtanen.0000000@example.fi")},
        {"phone", JsonString("+358 40 0000000")},
        {"username", JsonString("avirtanen0000000")},
        {"password_hash",
         JsonString("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MDA$"
                    "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eGNvcmdl")},
        {"city", JsonString("Jyvaskyla")},
    };
    // Pad the organisation name to reach the payload size.
    static const char kPad[] =
        ", toimipiste Jyvaskyla, Sepankatu 4, 40100 Jyvaskyla; hankintaosasto ja asiakaspalvelu";
    size_t now = DataJsonSize();
    std::string& org = base_.data[2].second;
    org.pop_back();  // closing quote
    for (size_t i = 0; now < payload_bytes; ++i, ++now) org += kPad[i % (sizeof kPad - 1)];
    org += '"';
    payload_ = DataJsonSize();
  }

  size_t payload_bytes() const { return payload_; }

  void Make(uint64_t i, NewEvent* e) const {
    if (e->data.empty()) *e = base_;
    char d[8];
    std::snprintf(d, sizeof d, "%07llu", static_cast<unsigned long long>(i % 10000000));
    std::memcpy(e->data[0].second.data() + 15, d, 7);  // "Aino Virtanen NNNNNNN"
    std::memcpy(e->data[3].second.data() + 15, d, 7);  // "aino.virtanen.NNNNNNN@
    std::memcpy(e->data[4].second.data() + 9, d, 7);   // "+358 40 NNNNNNN"
    std::memcpy(e->data[5].second.data() + 10, d, 7);  // "avirtanenNNNNNNN"
  }

 private:
  size_t DataJsonSize() const {
    size_t n = 2;  // {}
    for (const auto& [k, v] : base_.data) n += k.size() + 3 + v.size() + 1;  // "k":v,
    return n - 1;
  }
  NewEvent base_;
  size_t payload_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Raw baselines

// Ed25519 operations per second on `threads` threads for ~`seconds`.
double Ed25519Rate(bool verify, unsigned threads, double seconds, size_t msg_len) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  constexpr size_t kMsgs = 64;
  std::vector<std::vector<unsigned char>> msgs(kMsgs, std::vector<unsigned char>(msg_len));
  std::vector<std::array<unsigned char, crypto_sign_BYTES>> sigs(kMsgs);
  for (size_t i = 0; i < kMsgs; ++i) {
    randombytes_buf(msgs[i].data(), msg_len);
    crypto_sign_detached(sigs[i].data(), nullptr, msgs[i].data(), msg_len, sk);
  }
  std::atomic<bool> go{false}, stop{false};
  std::vector<uint64_t> ops(threads, 0);
  std::vector<double> secs(threads, 0);
  std::atomic<int> bad{0};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<unsigned char> m = msgs[t % kMsgs];
      unsigned char sig[crypto_sign_BYTES];
      while (!go) std::this_thread::yield();
      double start = Now();
      uint64_t n = 0;
      while (!stop) {
        for (int k = 0; k < 16; ++k, ++n) {
          if (verify) {
            const size_t j = n % kMsgs;
            if (crypto_sign_verify_detached(sigs[j].data(), msgs[j].data(), msg_len, pk) != 0) {
              ++bad;
            }
          } else {
            std::memcpy(m.data(), &n, sizeof n);
            crypto_sign_detached(sig, nullptr, m.data(), msg_len, sk);
          }
        }
      }
      secs[t] = Now() - start;
      ops[t] = n;
    });
  }
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  if (bad) Die("libsodium verify failed in the baseline");
  double rate = 0;
  for (unsigned t = 0; t < threads; ++t) rate += static_cast<double>(ops[t]) / secs[t];
  return rate;
}

// libsodium SHA-256 of `bytes`-long messages per second on one thread, for ~`seconds`: what
// hashing one leaf costs.
double Sha256Rate(size_t bytes, double seconds) {
  std::vector<unsigned char> msg(bytes);
  randombytes_buf(msg.data(), msg.size());
  unsigned char digest[crypto_hash_sha256_BYTES] = {};
  uint64_t n = 0;
  const double start = Now();
  double t = start;
  while (t - start < seconds) {
    for (int k = 0; k < 256; ++k, ++n) {
      std::memcpy(msg.data(), &n, std::min(sizeof n, msg.size()));
      crypto_hash_sha256(digest, msg.data(), msg.size());
    }
    t = Now();
  }
  asm volatile("" : : "r"(digest[0]) : "memory");
  return static_cast<double>(n) / (t - start);
}

rocksdb::DBOptions RawDbOptions() {
  // The ledger's DBOptions (ledger_impl.h), so the baseline pays what the ledger pays.
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.paranoid_checks = true;
  o.recycle_log_file_num = 0;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.keep_log_file_num = 5;
  return o;
}

const std::vector<std::string>& LedgerCfNames() {
  // As ledger/src/store_format.h lists them (all must be named to open a ledger's log).
  static const std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, "events",
                                                 "tree", "checkpoints", "subjects",
                                                 "subject_info"};
  return names;
}

struct RawDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  ~RawDb() { Close(); }
  void Close() {
    if (!db) return;
    for (auto* h : cfs) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    cfs.clear();
    db->Close().PermitUncheckedError();
    db.reset();
  }
};

void OpenRaw(const fs::path& path, bool read_only, RawDb* out) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : LedgerCfNames()) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* raw = nullptr;
  rocksdb::DBOptions o = RawDbOptions();
  if (read_only) {
    o.create_if_missing = false;
    o.create_missing_column_families = false;
    CheckRocks(rocksdb::DB::OpenForReadOnly(o, path.string(), descriptors, &out->cfs, &raw),
               "opening " + path.string() + " read-only");
  } else {
    CheckRocks(rocksdb::DB::Open(o, path.string(), descriptors, &out->cfs, &raw),
               "opening " + path.string());
  }
  out->db.reset(raw);
}

// Plain synced RocksDB writes of `n` values shaped like the ledger's leaves, `batch` per
// WriteBatch. With `ledger_shape`, each batch also carries what Ledger::Append adds around the
// events (a subject index key per event, the completed tree nodes, a checkpoint) — no crypto.
double RawWrites(const fs::path& path, uint64_t n, uint64_t batch, const std::string& leaf,
                 size_t checkpoint_bytes, bool ledger_shape, const std::string& label) {
  RawDb db;
  OpenRaw(path, false, &db);
  rocksdb::ColumnFamilyHandle* events = db.cfs[1];
  rocksdb::ColumnFamilyHandle* tree = db.cfs[2];
  rocksdb::ColumnFamilyHandle* checkpoints = db.cfs[3];
  rocksdb::ColumnFamilyHandle* subjects = db.cfs[4];
  rocksdb::WriteOptions wo;
  wo.sync = true;
  XorShift rng(0x9e3779b97f4a7c15ull ^ batch);
  std::string value = leaf;
  std::string checkpoint(checkpoint_bytes, 'c');
  char hash[32];
  Progress progress(label, n);
  const double start = Now();
  for (uint64_t base = 0; base < n; base += batch) {
    CheckInterrupted();
    const uint64_t end = std::min(n, base + batch);
    rocksdb::WriteBatch wb;
    for (uint64_t seq = base; seq < end; ++seq) {
      // The leaf's random parts (subject id, signature) differ per event; mimic that.
      rng.Fill(value.data() + value.size() - 80, 80);
      std::memcpy(value.data(), &seq, sizeof seq);
      wb.Put(events, SeqKey(seq), value);
      if (ledger_shape) {
        std::string sk(24, '\0');
        rng.Fill(sk.data(), 16);
        PutBigEndian64(seq, sk.data() + 16);
        wb.Put(subjects, sk, rocksdb::Slice());
        // The leaf node, then one node per trailing 1-bit of seq (as Frontier::Append does).
        int level = 0;
        for (uint64_t s = seq;; s >>= 1, ++level) {
          std::string nk(9, '\0');
          PutBigEndian64(((seq >> level) + 1) << level, nk.data());
          nk[8] = static_cast<char>(level);
          rng.Fill(hash, sizeof hash);
          wb.Put(tree, nk, rocksdb::Slice(hash, sizeof hash));
          if (!(s & 1)) break;
        }
      }
    }
    if (ledger_shape) wb.Put(checkpoints, SeqKey(end), checkpoint);
    CheckRocks(db.db->Write(wo, &wb), "raw write");
    progress.Update(end);
  }
  const double secs = Now() - start;
  db.Close();
  return static_cast<double>(n) / secs;
}

// Iterates the events column family of a ledger's RocksDB (read-only, as Verify reads it) and
// SHA-256es each value, on one thread. Returns events/s; *count gets the number of events.
double RawIterateHash(const fs::path& log_dir, uint64_t expected, uint64_t* count) {
  RawDb db;
  OpenRaw(log_dir, true, &db);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 4 << 20;
  ro.verify_checksums = true;
  Progress progress("iterate + SHA-256", expected);
  unsigned char digest[crypto_hash_sha256_BYTES];
  unsigned char acc = 0;
  uint64_t n = 0;
  const double start = Now();
  {
    std::unique_ptr<rocksdb::Iterator> it(db.db->NewIterator(ro, db.cfs[1]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(it->value().data()),
                         it->value().size());
      acc ^= digest[0];
      if ((++n & 0xffff) == 0) {
        progress.Update(n);
        CheckInterrupted();
      }
    }
    CheckRocks(it->status(), "iterating events");
  }
  const double secs = Now() - start;
  // Keep the hashing from being optimised away.
  asm volatile("" : : "r"(acc) : "memory");
  *count = n;
  return static_cast<double>(n) / secs;
}

// Full manual compaction of every column family, so that read measurements (ledger verify and
// raw iterate alike) see the same settled files and no background compaction competes for cores.
void Settle(const fs::path& log_dir) {
  RawDb db;
  OpenRaw(log_dir, false, &db);
  Progress progress("settling (manual compaction)", 0);
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (auto* cf : db.cfs) CheckRocks(db.db->CompactRange(co, cf, nullptr, nullptr), "compacting");
}

// ---------------------------------------------------------------------------------------------
// Kirjuri measurements

void InitLedger(const fs::path& dir) {
  kirjuri::InitOptions io;
  io.origin = "bench.kirjuri.local/ledger";
  Check(Ledger::Init(dir, io), "init " + dir.string());
}

std::unique_ptr<Ledger> OpenLedger(const fs::path& dir) {
  kirjuri::OpenOptions oo;
  oo.threads = 0;  // all cores
  std::unique_ptr<Ledger> ledger;
  Check(Ledger::Open(dir, oo, &ledger), "open " + dir.string());
  return ledger;
}

// Appends n events in batches of `batch` to a fresh ledger in `dir`; events/s over the Append calls.
// *cpu_us (if given): the process's CPU time inside the Append calls, per event, in µs.
double AppendRate(const fs::path& dir, const EventFactory& factory, uint64_t n, uint64_t batch,
                  double* cpu_us = nullptr) {
  InitLedger(dir);
  auto ledger = OpenLedger(dir);
  std::vector<NewEvent> events(std::min(n, batch));
  std::vector<kirjuri::Appended> out;
  Progress progress("append batch " + std::to_string(batch), n);
  double in_append = 0, cpu = 0;
  for (uint64_t base = 0; base < n; base += batch) {
    CheckInterrupted();
    const uint64_t count = std::min(batch, n - base);
    events.resize(count);
    for (uint64_t i = 0; i < count; ++i) factory.Make(base + i, &events[i]);
    const double t0 = Now(), c0 = ProcessCpuSeconds();
    Check(ledger->Append(events, &out), "append");
    in_append += Now() - t0;
    cpu += ProcessCpuSeconds() - c0;
    progress.Update(base + count);
  }
  if (cpu_us) *cpu_us = cpu * 1e6 / static_cast<double>(n);
  if (ledger->size() != n) Die("ledger size " + std::to_string(ledger->size()) + " != " + std::to_string(n));
  return static_cast<double>(n) / in_append;
}

// As AppendRate, with `appenders` threads appending batches of `batch` at once: each batch is
// still one synced, atomic append, acknowledged when durable; the ledger signs the next batch
// while the previous one writes. Events/s over the wall time of the whole run.
double ConcurrentAppendRate(const fs::path& dir, const EventFactory& factory, uint64_t n,
                            uint64_t batch, unsigned appenders) {
  InitLedger(dir);
  auto ledger = OpenLedger(dir);
  Progress progress("append batch " + std::to_string(batch) + ", " + std::to_string(appenders) +
                        " appenders",
                    n);
  std::atomic<uint64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const double t0 = Now();
  for (unsigned t = 0; t < appenders; ++t) {
    threads.emplace_back([&] {
      std::vector<NewEvent> events;
      std::vector<kirjuri::Appended> out;
      for (;;) {
        const uint64_t base = next.fetch_add(batch);
        if (base >= n || failed || g_interrupted) return;
        const uint64_t count = std::min(batch, n - base);
        events.resize(count);
        for (uint64_t i = 0; i < count; ++i) factory.Make(base + i, &events[i]);
        if (!ledger->Append(events, &out).ok()) {
          failed = true;
          return;
        }
        done += count;
      }
    });
  }
  while (done < n && !failed && !g_interrupted) {
    progress.Update(done);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& t : threads) t.join();
  const double secs = Now() - t0;
  CheckInterrupted();
  if (failed) Die("a concurrent append failed");
  if (ledger->size() != n) Die("ledger size " + std::to_string(ledger->size()) + " != " + std::to_string(n));
  return static_cast<double>(n) / secs;
}

double VerifyRate(const fs::path& dir, bool tree_only, uint64_t n) {
  auto ledger = OpenLedger(dir);
  Progress progress(tree_only ? "verify --tree-only" : "verify", n);
  kirjuri::VerifyOptions vo;
  vo.tree_only = tree_only;
  vo.progress = [&](uint64_t done, uint64_t) { progress.Update(done); };
  kirjuri::VerifyResult result;
  const double t0 = Now();
  Check(ledger->Verify(vo, &result), tree_only ? "verify --tree-only" : "verify");
  const double secs = Now() - t0;
  if (result.events != n) Die("verify checked " + std::to_string(result.events) + " events");
  return static_cast<double>(result.events) / secs;
}

// ---------------------------------------------------------------------------------------------

struct Args {
  uint64_t events = 1000000;
  uint64_t events_batch1 = 20000;
  size_t payload = 400;
  double crypto_seconds = 2.0;
  std::string dir;
  bool quick = false;
  bool json_only = false;
  uint64_t append_only = 0;  // --append-only N: only Append at batch 1000, for profiling
  bool keep = false;
};

[[noreturn]] void Usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: ledger_bench [--events N] [--events-batch1 N] [--payload BYTES]\n"
               "                    [--crypto-seconds S] [--dir PATH] [--keep] [--quick] [--json-only]\n"
               "  --events N          events for append at batch 100 and 1000, and verify (1000000)\n"
               "  --events-batch1 N   events for append at batch 1 (20000)\n"
               "  --payload BYTES     size of each event's data JSON object (400)\n"
               "  --crypto-seconds S  duration of each Ed25519 rate measurement (2)\n"
               "  --dir PATH          work directory (default: a fresh one under /tmp)\n"
               "  --keep              do not remove what the benchmark wrote\n"
               "  --quick             smoke run: 20000 / 2000 events, 0.5 s crypto\n"
               "  --json-only         print only the JSON line\n"
               "  --append-only N     only append N events at batch 1000 and print the rate (profiling)\n");
  std::exit(code);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  std::optional<uint64_t> events, events1;
  std::optional<double> crypto;
  ArgReader args(argc, argv, Usage);
  while (args.Next()) {
    const std::string& f = args.flag();
    if (f == "--events") events = args.PositiveNumber();
    else if (f == "--events-batch1") events1 = args.PositiveNumber();
    else if (f == "--payload") a.payload = args.PositiveNumber();
    else if (f == "--crypto-seconds") crypto = args.PositiveSeconds();
    else if (f == "--dir") a.dir = args.Value();
    else if (f == "--quick") a.quick = true;
    else if (f == "--json-only") a.json_only = true;
    else if (f == "--append-only") a.append_only = args.PositiveNumber();
    else if (f == "--keep") a.keep = true;
    else if (f == "-h" || f == "--help") Usage(0);
    else args.UnknownFlag();
  }
  if (a.quick) {
    a.events = 20000;
    a.events_batch1 = 2000;
    a.crypto_seconds = 0.5;
  }
  if (events) a.events = *events;
  if (events1) a.events_batch1 = *events1;
  if (crypto) a.crypto_seconds = std::max(0.05, *crypto);
  return a;
}

struct Row {
  std::string name;
  uint64_t events;
  double rate;
  std::string base_name;
  double base_rate;
};

struct Goal {
  std::string key, name;
  double ratio, target;
  bool pass() const { return ratio >= target; }
};

int Run(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  spdlog::set_level(spdlog::level::warn);  // the ledger logs init/verify at info, on stdout
  if (sodium_init() < 0) Die("sodium_init failed");

  Scratch scratch_dir(args.dir, "kirjuri-bench", args.keep);
  const fs::path root = scratch_dir.root();
  auto sub = [&](const std::string& name) { return scratch_dir.Sub(name); };
  if (args.append_only) {
    EventFactory factory(args.payload);
    std::printf("append batch 1000: %.0f ev/s\n",
                AppendRate(sub("ledger-append-only"), factory, args.append_only, 1000));
    return 0;
  }
  auto drop = [&](const fs::path& p) { scratch_dir.Drop(p); };
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned two = 2;  // the "two cores"

  // 1. A real encoded event: its leaf size and the size of the message its signature covers.
  EventFactory factory(args.payload);
  std::string leaf;
  size_t signed_bytes = 0, checkpoint_bytes = 0;
  {
    fs::path scratch = sub("scratch");
    InitLedger(scratch);
    auto ledger = OpenLedger(scratch);
    std::vector<NewEvent> one(1);
    factory.Make(0, &one[0]);
    std::vector<kirjuri::Appended> out;
    Check(ledger->Append(one, &out), "append to the scratch ledger");
    Check(ledger->ReadEvents(0, 1, [&](const kirjuri::EventView& v) {
            leaf.assign(reinterpret_cast<const char*>(v.leaf.data()), v.leaf.size());
            auto canonical = capnp::canonicalize(v.signed_event.getEvent());
            signed_bytes = std::strlen("kirjuri/event/v1\n") + canonical.asBytes().size();
            return Status::Ok();
          }),
          "reading the scratch ledger");
    std::string note;
    Check(ledger->LatestCheckpoint(&note), "reading the scratch checkpoint");
    checkpoint_bytes = note.size();
    ledger.reset();
    drop(scratch);
  }
  if (leaf.empty()) Die("the scratch ledger holds no event");

  // 2. Ed25519 on one and two threads.
  auto crypto = [&](bool verify, unsigned threads) {
    Progress p(std::string("ed25519 ") + (verify ? "verify" : "sign") + ", " +
                   std::to_string(threads) + " thread(s)",
               0);
    return Ed25519Rate(verify, threads, args.crypto_seconds, signed_bytes);
  };
  // Measured now and again after the ledger runs; the better of the two is kept (the stricter
  // baseline: a busy neighbour can only slow a measurement down).
  double sign1 = crypto(false, 1), sign2 = crypto(false, two);
  double verify1 = crypto(true, 1), verify2 = crypto(true, two);
  double sha1 = Sha256Rate(leaf.size(), args.crypto_seconds);
  CheckInterrupted();

  // 3. Appends, each beside plain RocksDB writes of the same bytes at the same batch size.
  struct AppendCase {
    uint64_t batch, n;
    double raw = 0, ledger = 0, cpu_us = 0;
  };
  std::vector<AppendCase> cases = {{1, args.events_batch1}, {100, args.events}, {1000, args.events}};
  fs::path big;
  for (auto& c : cases) {
    const std::string b = std::to_string(c.batch);
    fs::path raw_dir = sub("rocksdb-b" + b);
    c.raw = RawWrites(raw_dir, c.n, c.batch, leaf, checkpoint_bytes, false, "rocksdb batch " + b);
    drop(raw_dir);
    fs::path ledger_dir = sub("ledger-b" + b);
    c.ledger = AppendRate(ledger_dir, factory, c.n, c.batch, &c.cpu_us);
    if (c.batch == 1000) big = ledger_dir;
    else drop(ledger_dir);
  }
  // Batch 1000 again with two appenders in flight at once (the pipeline group commit uses).
  double append1000x2 = 0;
  {
    fs::path ledger_dir = sub("ledger-b1000x2");
    append1000x2 = ConcurrentAppendRate(ledger_dir, factory, args.events, 1000, 2);
    drop(ledger_dir);
  }
  // Diagnostic: RocksDB alone with everything Append writes per batch of 1000 (no crypto).
  double shaped1000 = 0;
  {
    fs::path raw_dir = sub("rocksdb-shaped-b1000");
    shaped1000 = RawWrites(raw_dir, args.events, 1000, leaf, checkpoint_bytes, true,
                           "rocksdb ledger-shaped batch 1000");
    drop(raw_dir);
  }

  // 4. Reads over the batch-1000 ledger: raw iterate + hash, verify, verify --tree-only.
  Settle(big / "log");
  uint64_t iterated = 0;
  RawIterateHash(big / "log", args.events, &iterated);  // warm-up pass
  double iterate_hash = RawIterateHash(big / "log", args.events, &iterated);
  if (iterated != args.events) Die("iterated " + std::to_string(iterated) + " events");
  double verify_full = VerifyRate(big, false, args.events);
  const double verify_tree = VerifyRate(big, true, args.events);
  // The better of two, as for each baseline below.
  verify_full = std::max(verify_full, VerifyRate(big, false, args.events));
  // Iterate again after the verifies and keep the better figure (the stricter baseline).
  iterate_hash = std::max(iterate_hash, RawIterateHash(big / "log", args.events, &iterated));
  sign1 = std::max(sign1, crypto(false, 1));
  sign2 = std::max(sign2, crypto(false, two));
  verify1 = std::max(verify1, crypto(true, 1));
  verify2 = std::max(verify2, crypto(true, two));
  sha1 = std::max(sha1, Sha256Rate(leaf.size(), args.crypto_seconds));

  // The ceiling of any append that signs each event, hashes its leaf and writes what Append
  // writes: those three costs per event on one thread (from the rates above), spread perfectly
  // over the threads, which together do sign2 / sign1 times one thread's work. As a share of the
  // two-thread sign rate it is sign's share of those three costs, whatever the thread count:
  // the goal's 60% is out of reach wherever hashing and writing alone cost more than 2/3 of a
  // signature, before any encoding, sealing, key store or index work.
  const double floor_us = 1e6 / sign1 + 1e6 / sha1 + 1e6 / shaped1000;
  const double ceiling = (sign2 / sign1) * 1e6 / floor_us;
  // What one appended event costs in CPU (batch 1000: the process's CPU time inside Append, all
  // threads), and signing's share of it — the goal presumes ~75%. A signature's CPU is taken
  // with both threads busy (two / sign2), as the append's threads are.
  const double append_cpu_us = cases[2].cpu_us;
  const double sign_share = (two * 1e6 / sign2) / append_cpu_us;

  // 5. Report.
  std::vector<Row> rows;
  for (const auto& c : cases) {
    rows.push_back({"append batch " + std::to_string(c.batch) + " (synced)", c.n, c.ledger,
                    "rocksdb synced write, batch " + std::to_string(c.batch), c.raw});
  }
  rows.push_back({"append batch 1000, 2 appenders", args.events, append1000x2,
                  "rocksdb synced write, batch 1000", cases[2].raw});
  rows.push_back({"verify (full)", args.events, verify_full,
                  "ed25519 verify, " + std::to_string(two) + " threads", verify2});
  rows.push_back({"verify --tree-only", args.events, verify_tree, "iterate events + SHA-256, 1 thread",
                  iterate_hash});
  const double append1000 = cases[2].ledger;
  std::vector<Goal> goals = {
      {"append_b1000_vs_sign_2t", "append batch 1000 >= 60% of 2-thread ed25519 sign",
       append1000 / sign2, 0.60},
      {"append_b1000_2appenders_vs_sign_2t",
       "append batch 1000, 2 appenders >= 60% of 2-thread sign", append1000x2 / sign2, 0.60},
      {"verify_vs_verify_2t", "verify (full) >= 80% of 2-thread ed25519 verify", verify_full / verify2,
       0.80},
      {"tree_only_vs_iterate_hash", "verify --tree-only >= 50% of iterate + SHA-256",
       verify_tree / iterate_hash, 0.50},
  };

  if (!args.json_only) {
    std::printf("Kirjuri ledger benchmark: %u hardware threads, payload %zu B, leaf %zu B, signed "
                "message %zu B\n",
                hw, factory.payload_bytes(), leaf.size(), signed_bytes);
    std::printf("  events: %s (batch 100, 1000, verify), %s (batch 1); ledgers opened with all "
                "cores\n\n",
                Thousands(static_cast<double>(args.events)).c_str(),
                Thousands(static_cast<double>(args.events_batch1)).c_str());
    std::printf("Raw baselines (same machine, same run; ed25519 and iterate: best of 2 rounds)\n");
    std::printf("  %-52s %12s /s\n", "ed25519 sign, 1 thread", Thousands(sign1).c_str());
    std::printf("  %-52s %12s /s\n", "ed25519 sign, 2 threads", Thousands(sign2).c_str());
    std::printf("  %-52s %12s /s\n", "ed25519 verify, 1 thread", Thousands(verify1).c_str());
    std::printf("  %-52s %12s /s\n", "ed25519 verify, 2 threads", Thousands(verify2).c_str());
    for (const auto& c : cases) {
      std::printf("  %-52s %12s /s\n",
                  ("rocksdb synced write, batch " + std::to_string(c.batch) + ", " +
                   std::to_string(leaf.size()) + " B values")
                      .c_str(),
                  Thousands(c.raw).c_str());
    }
    std::printf("  %-52s %12s /s\n", "rocksdb batch 1000 shaped like Append (no crypto) [diag]",
                Thousands(shaped1000).c_str());
    std::printf("  %-52s %12s /s\n", "iterate events CF + SHA-256, 1 thread",
                Thousands(iterate_hash).c_str());
    std::printf("  %-52s %12s /s\n", ("SHA-256 of one leaf (" + std::to_string(leaf.size()) +
                                        " B), 1 thread").c_str(),
                Thousands(sha1).c_str());
    std::printf("\nCeiling of an append (sign + SHA-256 leaf + RocksDB write shaped like Append,\n"
                "per event on one thread: %.1f + %.1f + %.1f us; spread perfectly over %u threads)\n"
                "  %-52s %12s /s  = %.1f%% of 2-thread sign\n",
                1e6 / sign1, 1e6 / sha1, 1e6 / shaped1000, hw, "no encoding, sealing or key store",
                Thousands(ceiling).c_str(), 100.0 * ceiling / sign2);
    std::printf("  %-52s %9.1f us   signing %.0f%% of it\n",
                "CPU per event of append batch 1000 (all threads)", append_cpu_us,
                100.0 * sign_share);
    std::printf("\n%-30s %9s %13s  %-36s %13s %7s\n", "Kirjuri", "events", "events/s",
                "raw baseline", "raw /s", "ratio");
    for (const auto& r : rows) {
      std::printf("%-30s %9s %13s  %-36s %13s %6.1f%%\n", r.name.c_str(),
                  Thousands(static_cast<double>(r.events)).c_str(), Thousands(r.rate).c_str(),
                  r.base_name.c_str(), Thousands(r.base_rate).c_str(), 100.0 * r.rate / r.base_rate);
    }
    std::printf("\nGoals\n");
    for (const auto& g : goals) {
      std::printf("  %-54s %6.1f%%  (goal %3.0f%%)  %s\n", g.name.c_str(), 100.0 * g.ratio,
                  100.0 * g.target, g.pass() ? "PASS" : "MISS");
    }
    std::printf("\n");
  }

  std::string j = "{\"bench\":\"ledger\"";
  j += Fmt(",\"hardware_threads\":%u,\"events\":%llu,\"events_batch1\":%llu", hw,
           static_cast<unsigned long long>(args.events),
           static_cast<unsigned long long>(args.events_batch1));
  j += Fmt(",\"payload_bytes\":%zu,\"leaf_bytes\":%zu,\"signed_message_bytes\":%zu,\"quick\":%s",
           factory.payload_bytes(), leaf.size(), signed_bytes, args.quick ? "true" : "false");
  j += Fmt(",\"raw\":{\"ed25519_sign_1t\":%.1f,\"ed25519_sign_2t\":%.1f,\"ed25519_verify_1t\":%.1f,"
           "\"ed25519_verify_2t\":%.1f",
           sign1, sign2, verify1, verify2);
  for (const auto& c : cases) {
    j += Fmt(",\"rocksdb_sync_b%llu\":%.1f", static_cast<unsigned long long>(c.batch), c.raw);
  }
  j += Fmt(",\"rocksdb_sync_b1000_ledger_shape\":%.1f,\"iterate_sha256\":%.1f,"
           "\"sha256_leaf_1t\":%.1f}",
           shaped1000, iterate_hash, sha1);
  j += Fmt(",\"ceiling\":{\"append_sign_hash_write\":%.1f,\"vs_sign_2t\":%.4f,"
           "\"append_b1000_cpu_us_per_event\":%.2f,\"sign_share_of_append_cpu\":%.4f}",
           ceiling, ceiling / sign2, append_cpu_us, sign_share);
  j += ",\"kirjuri\":{";
  for (const auto& c : cases) {
    j += Fmt("\"append_b%llu\":%.1f,", static_cast<unsigned long long>(c.batch), c.ledger);
  }
  j += Fmt("\"append_b1000_2appenders\":%.1f,\"verify\":%.1f,\"verify_tree_only\":%.1f}",
           append1000x2, verify_full, verify_tree);
  AppendGoalsJson(&j, goals, &Goal::ratio, kRatioGoalJson);
  PrintJsonLine(j + "}");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return RunMain("ledger_bench", Run, argc, argv); }
