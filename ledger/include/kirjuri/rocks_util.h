// What Kirjuri's RocksDB stores (the log, the key store, the views) share: turning RocksDB's
// status into ours, and the options every durable store starts from.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/status.h>
#include <rocksdb/table.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/status.h"

namespace kirjuri {

// `what` says what was being done ("appending", "reading the key store").
inline Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  return Status::IOError(msg);
}

// RocksDB's own diagnostics go through spdlog ("rocksdb: ..."), not to a LOG file in the data
// directory: on a full disk a LOG file's write fails, and RocksDB (as Debian builds it, with
// assertions) aborts the process on the next line it writes to that file. Its errors also come
// back to the caller as statuses, so they are logged at info, its warnings at debug, the rest
// (option dumps) at trace. Thread-safe; one instance for every store.
std::shared_ptr<rocksdb::Logger> RocksLogger();

// A consistent copy of `db` as it is now in `dir` (which must not exist; its parent must): every
// column family flushed, then its table files hard-linked (copied across file systems) beside a
// fresh manifest, so `dir` opens as a database of its own. The caller keeps writers out meanwhile
// if several stores must agree. `what` names the store in errors.
Status CheckpointStore(rocksdb::DB* db, const std::filesystem::path& dir, std::string_view what);

// Checks what RocksDB 7.8 would parse before checking it, in every table file of the store in
// `dir`, so a damaged file is refused instead of aborting the process. RocksDB checks a block's
// checksum before parsing it, except a table file's properties block: that one is read with
// checksums off, parsed, and only then checked, and a flipped bit there can trip an assertion in
// the block parser (Debian builds RocksDB with assertions on). So each table file's metaindex and
// properties blocks are checked here against their own stored checksums, computed by RocksDB's
// own function. A file that fails is Corruption naming it, after `what` ("cannot open the log in
// DIR"); one that cannot be read is IOError with its path and the system's reason; one whose
// format this does not know (another magic number, a later format version) is left to RocksDB,
// which refuses what it cannot read. Reads a few KB per table file; a missing `dir` is no error
// (the open that follows says what is wrong).
Status CheckTableFiles(const std::filesystem::path& dir, std::string_view what);

// Closes `*db` and clears it, destroying `*handles` (its column families) first. A store opened
// `writable` whose memtables hold more than a little is flushed before: otherwise every later
// open replays its write-ahead log into memory again, and a read-only open, which cannot flush,
// does so each time in full (seconds for a few hundred thousand events). A failed flush loses
// nothing, the write-ahead log still holding every write, so it is only logged. Returns the
// status of closing; `what` names the store in it. Does nothing if `*db` is null.
Status CloseStore(std::unique_ptr<rocksdb::DB>* db,
                  std::vector<rocksdb::ColumnFamilyHandle*>* handles, bool writable,
                  std::string_view what);

// Options for a store whose every write matters: paranoid checks; no recycled WAL files (a
// recycled file keeps an older file's bytes behind the records it now holds); RocksDB's own
// info log at warnings only, through spdlog. The write-ahead log is kept short (past 32 MB the
// column families it holds are flushed): a log file lives until every column family with a
// record in it has flushed, and a small one fills its memtable so rarely that the log grew to
// hundreds of MB, which an open replays into memory before it answers (seconds): after a crash,
// and on every read-only open, which cannot flush. Appends are no slower for it.
inline rocksdb::DBOptions BaseDbOptions(bool create) {
  rocksdb::DBOptions o;
  o.info_log = RocksLogger();
  o.create_if_missing = create;
  o.error_if_exists = create;
  o.paranoid_checks = true;
  o.recycle_log_file_num = 0;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.max_total_wal_size = 32 << 20;  // bytes
  return o;
}

// Options for a column family read by key where many look-ups are for keys it does not hold
// (a person not yet in a view): whole-key Bloom filters in the memtable and in every table file
// answer those without a search of the memtable's skip list or a read of a table's index.
// Filters change no stored key or value; files written without them are read as before.
inline rocksdb::ColumnFamilyOptions PointLookupOptions() {
  rocksdb::ColumnFamilyOptions o;
  o.memtable_prefix_bloom_size_ratio = 0.02;  // of the write buffer, in bits
  o.memtable_whole_key_filtering = true;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

}  // namespace kirjuri
