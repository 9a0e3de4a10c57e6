// What every store shares (see kirjuri/rocks_util.h): RocksDB's info log through spdlog, the
// table-file check before an open, a store's copy and its close.
#include "kirjuri/rocks_util.h"

#include <rocksdb/db.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/checkpoint.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>

namespace rocksdb {
// Exported by librocksdb but declared only in its internal headers (table/format.h): the checksum
// RocksDB writes after every block of a table file and checks on reading it. CheckTableFiles uses
// it so that its check cannot drift from RocksDB's (its signature is RocksDB 7.8's).
uint32_t ComputeBuiltinChecksum(ChecksumType type, const char* data, size_t size);
}  // namespace rocksdb

namespace kirjuri {
namespace {

namespace fs = std::filesystem;

// A table file as RocksDB's block-based format (versions 1 to 5) lays it out: blocks, each
// followed by a 5-byte trailer (compression type, then a little-endian 32-bit checksum of the
// block and that byte), then a 53-byte footer: checksum type (1 byte), the metaindex and the
// index block's handles (offset and size, varint64 each), padding to 41 bytes, the format version
// (fixed32) and the magic number (fixed64). The metaindex block maps meta block names to handles.
constexpr uint64_t kTableMagic = 0x88e241b785f4cff7ull;
constexpr uint64_t kFooterBytes = 53;
constexpr uint64_t kTrailerBytes = 5;
constexpr uint32_t kNewestTableFormat = 5;

uint64_t LittleEndian(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Takes a varint64 off the front of `*in`; false if it runs past the end or past 64 bits.
bool TakeVarint(std::string_view* in, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;
};

bool TakeHandle(std::string_view* in, BlockHandle* out) {
  return TakeVarint(in, &out->offset) && TakeVarint(in, &out->size);
}

// The value of `key` in a block whose checksum has been checked, or nullopt. Entries are
// (shared key bytes, unshared key bytes, value bytes: varints; the unshared key; the value),
// followed by the restart offsets (fixed32 each) and their count (fixed32).
std::optional<std::string_view> FindInBlock(std::string_view block, std::string_view key) {
  if (block.size() < 4) return std::nullopt;
  const uint64_t restarts = LittleEndian(block.data() + block.size() - 4, 4) & 0x7fffffff;
  if ((restarts + 1) * 4 > block.size()) return std::nullopt;
  std::string_view entries = block.substr(0, block.size() - (restarts + 1) * 4);
  std::string current;
  while (!entries.empty()) {
    uint64_t shared = 0, unshared = 0, value_size = 0;
    if (!TakeVarint(&entries, &shared) || !TakeVarint(&entries, &unshared) ||
        !TakeVarint(&entries, &value_size) || shared > current.size() ||
        unshared > entries.size() || value_size > entries.size() - unshared) {
      return std::nullopt;
    }
    current.resize(shared);
    current.append(entries.substr(0, unshared));
    const std::string_view value = entries.substr(unshared, value_size);
    entries.remove_prefix(unshared + value_size);
    if (current == key) return value;
  }
  return std::nullopt;
}

class TableFile {
 public:
  TableFile(const fs::path& path, std::string_view what)
      : path_(path),
        fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)),
        open_errno_(errno),
        what_(what) {}
  ~TableFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  TableFile(const TableFile&) = delete;
  TableFile& operator=(const TableFile&) = delete;

  Status Check() {
    struct stat st;
    if (fd_ < 0) return Unreadable(open_errno_);
    if (::fstat(fd_, &st) != 0) return Unreadable(errno);
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size < kFooterBytes) return Status::Ok();  // RocksDB says the file is too short
    std::string footer;
    KIRJURI_RETURN_IF_ERROR(Read(size - kFooterBytes, kFooterBytes, &footer));
    if (LittleEndian(footer.data() + kFooterBytes - 8, 8) != kTableMagic) return Status::Ok();
    const uint64_t version = LittleEndian(footer.data() + kFooterBytes - 12, 4);
    if (version < 1 || version > kNewestTableFormat) return Status::Ok();
    const auto type = static_cast<rocksdb::ChecksumType>(footer[0]);
    if (type > rocksdb::kXXH3) return Damaged("its footer names no known checksum type");
    type_ = type;
    end_of_blocks_ = size - kFooterBytes;
    std::string_view handles(footer.data() + 1, 40);
    BlockHandle metaindex_at;
    if (!TakeHandle(&handles, &metaindex_at)) return Damaged("its footer is unreadable");
    std::string metaindex;
    KIRJURI_RETURN_IF_ERROR(ReadBlock(metaindex_at, "metaindex", &metaindex));
    const std::optional<std::string_view> found = FindInBlock(metaindex, "rocksdb.properties");
    if (!found) return Status::Ok();  // no properties block to parse
    std::string_view value = *found;
    BlockHandle properties_at;
    if (!TakeHandle(&value, &properties_at)) return Damaged("its metaindex block is unreadable");
    std::string properties;
    return ReadBlock(properties_at, "properties", &properties);
  }

 private:
  Status Damaged(std::string_view why) const {
    return Status::Corruption(what_ + ": table file " + path_.filename().string() +
                              " is damaged: " + std::string(why));
  }

  Status Unreadable(int err) const {
    return Status::IOError(what_ + ": reading table file " + path_.string() + ": " +
                           std::strerror(err));
  }

  Status Read(uint64_t offset, uint64_t size, std::string* out) {
    out->assign(size, '\0');
    for (uint64_t done = 0; done < size;) {
      const ssize_t n = ::pread(fd_, out->data() + done, size - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Unreadable(errno);
      if (n == 0) return Unreadable(EIO);  // shorter than fstat said: it changed under us
      done += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  // Reads the block at `at` into `*block`, checking it against the checksum in its trailer.
  Status ReadBlock(const BlockHandle& at, std::string_view name, std::string* block) {
    if (at.offset > end_of_blocks_ || at.size > end_of_blocks_ - at.offset ||
        end_of_blocks_ - at.offset - at.size < kTrailerBytes) {
      return Damaged("its " + std::string(name) + " block lies outside the file");
    }
    KIRJURI_RETURN_IF_ERROR(Read(at.offset, at.size + kTrailerBytes, block));
    const uint64_t stored = LittleEndian(block->data() + at.size + 1, 4);
    if (rocksdb::ComputeBuiltinChecksum(type_, block->data(), at.size + 1) != stored) {
      return Damaged("its " + std::string(name) + " block fails its checksum");
    }
    block->resize(at.size);
    return Status::Ok();
  }

  fs::path path_;
  int fd_;
  int open_errno_;
  std::string what_;
  rocksdb::ChecksumType type_ = rocksdb::kNoChecksum;
  uint64_t end_of_blocks_ = 0;
};

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

Status CheckTableFiles(const fs::path& dir, std::string_view what) {
  std::error_code ec;
  std::vector<fs::path> tables;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".sst") tables.push_back(it->path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::IOError(std::string(what) + ": listing its table files: " + ec.message());
  }
  std::sort(tables.begin(), tables.end());
  for (const fs::path& table : tables) KIRJURI_RETURN_IF_ERROR(TableFile(table, what).Check());
  return Status::Ok();
}

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
