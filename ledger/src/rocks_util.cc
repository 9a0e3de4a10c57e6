// RocksLogger: RocksDB's info log through spdlog (see kirjuri/rocks_util.h).
#include "kirjuri/rocks_util.h"

#include <rocksdb/db.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/checkpoint.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>

namespace kirjuri {
namespace {

class SpdlogRocksLogger : public rocksdb::Logger {
 public:
  SpdlogRocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    spdlog::level::level_enum to = spdlog::level::trace;
    if (level == rocksdb::InfoLogLevel::FATAL_LEVEL || level == rocksdb::InfoLogLevel::ERROR_LEVEL) {
      to = spdlog::level::info;
    } else if (level == rocksdb::InfoLogLevel::WARN_LEVEL) {
      to = spdlog::level::debug;
    }
    if (level < GetInfoLogLevel() && level != rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    if (!spdlog::should_log(to)) return;
    char buf[1024];
    va_list copy;
    va_copy(copy, ap);
    std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    spdlog::log(to, "rocksdb: {}", buf);
  }
};

}  // namespace

Status CheckpointStore(rocksdb::DB* db, const std::filesystem::path& dir, std::string_view what) {
  rocksdb::Checkpoint* raw = nullptr;
  KIRJURI_RETURN_IF_ERROR(
      FromRocks(rocksdb::Checkpoint::Create(db, &raw), "backing up " + std::string(what)));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: always flush, so the copy needs no write-ahead log replayed.
  return FromRocks(checkpoint->CreateCheckpoint(dir.string(), /*log_size_for_flush=*/0),
                   "backing up " + std::string(what));
}

Status CloseStore(std::unique_ptr<rocksdb::DB>* db,
                  std::vector<rocksdb::ColumnFamilyHandle*>* handles, bool writable,
                  std::string_view what) {
  if (!*db) return Status::Ok();
  // Below this much write-ahead log, replaying it on the next open costs a few milliseconds,
  // and a flush at every close would only leave a trail of tiny table files behind short-lived
  // commands. (The memtables' own size is no guide: their arenas start at a megabyte or more.)
  constexpr uint64_t kFlushAboveBytes = 1 << 20;
  rocksdb::VectorLogPtr wals;
  uint64_t wal_bytes = 0;
  if (writable && (*db)->GetSortedWalFiles(wals).ok()) {
    for (const auto& wal : wals) {
      if (wal->Type() == rocksdb::kAliveLogFile) wal_bytes += wal->SizeFileBytes();
    }
  }
  if (wal_bytes > kFlushAboveBytes) {
    rocksdb::FlushOptions flush;
    flush.allow_write_stall = true;
    if (rocksdb::Status s = (*db)->Flush(flush, *handles); !s.ok()) {
      spdlog::warn("closing {}: flushing failed, the next open replays its log: {}", what,
                   s.ToString());
    }
  }
  for (auto* h : *handles) (*db)->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles->clear();
  rocksdb::Status s = (*db)->Close();
  db->reset();
  return FromRocks(s, "closing " + std::string(what));
}

std::shared_ptr<rocksdb::Logger> RocksLogger() {
  static const std::shared_ptr<rocksdb::Logger> logger = std::make_shared<SpdlogRocksLogger>();
  return logger;
}

}  // namespace kirjuri
