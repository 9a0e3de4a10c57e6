// RocksLogger: RocksDB's info log through spdlog (see kirjuri/rocks_util.h).
#include "kirjuri/rocks_util.h"

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

std::shared_ptr<rocksdb::Logger> RocksLogger() {
  static const std::shared_ptr<rocksdb::Logger> logger = std::make_shared<SpdlogRocksLogger>();
  return logger;
}

}  // namespace kirjuri
