// Ledger::Backup: a consistent copy of a live ledger (kirjuri/ledger.h).
//
// The log and the key store are two databases; the log refers to keys, and an erasure destroys
// keys before its event is written. Both are copied under LockForWrite (no batch in flight, no
// erasure, rotation or other writer), so the copy is one point in the ledger's history: every key
// its log refers to is in its key store, and no key it holds belongs to an event it lacks.
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "kirjuri/crypto.h"
#include "kirjuri/rocks_util.h"
#include "ledger_impl.h"

namespace kirjuri {
namespace fs = std::filesystem;

namespace {

// Whether `inner` is `outer` or lies under it, both made absolute with symlinks resolved as far
// as they exist.
bool Within(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(inner, ec), ec);
  const fs::path b = fs::weakly_canonical(fs::absolute(outer, ec), ec);
  auto [end, unused] = std::mismatch(b.begin(), b.end(), a.begin(), a.end());
  (void)unused;
  return end == b.end();
}

// Copies the secret file `from` to the new file `to` (mode 0600), wiping the bytes read.
Status CopySecretFile(const fs::path& from, const fs::path& to) {
  std::string bytes;
  bytes.reserve(1 << 16);
  Status s = ReadSecretFile(from, 1 << 16, &bytes);
  if (s.ok()) s = WriteSecretFile(to, bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return s;
}

}  // namespace

Status Ledger::Backup(const fs::path& given, BackupResult* out) {
  *out = BackupResult{};
  fs::path dir = given.lexically_normal();
  if (dir.has_parent_path() && !dir.has_filename()) dir = dir.parent_path();  // "copy/"
  if (impl_->read_only) {
    return Status::FailedPrecondition("a backup needs the ledger opened writable (it flushes)");
  }
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Status::InvalidArgument("backup: " + dir.string() + " exists; give a new directory");
  }
  if (Within(dir, impl_->dir)) {
    return Status::InvalidArgument("backup: " + dir.string() +
                                   " is inside the data directory; give one outside it");
  }
  const fs::path parent = fs::absolute(dir, ec).parent_path();
  if (!fs::is_directory(parent, ec)) {
    return Status::InvalidArgument("backup: " + parent.string() + " is not a directory");
  }
  if (!fs::create_directory(dir, ec) || ::chmod(dir.c_str(), 0700) != 0) {
    return Status::IOError("backup: cannot create " + dir.string());
  }
  Status s = [&]() -> Status {
    auto lock = impl_->LockForWrite();
    out->size = impl_->size.load();
    // The copy beside the log covers exactly the copied log (an empty log's: the empty tree's,
    // as Init writes it).
    if (out->size > 0) {
      KIRJURI_RETURN_IF_ERROR(LatestCheckpoint(&out->checkpoint));
    } else {
      out->checkpoint = impl_->SignCheckpoint(0, merkle::EmptyRoot());
    }
    KIRJURI_RETURN_IF_ERROR(CheckpointStore(impl_->db.get(), dir / store::kLogDir, "the log"));
    KIRJURI_RETURN_IF_ERROR(impl_->keys->Checkpoint(dir / store::kKeysDir));
    ::chmod((dir / store::kKeysDir).c_str(), 0700);  // as the live one
    KIRJURI_RETURN_IF_ERROR(CopySecretFile(impl_->dir / store::kKeyFile, dir / store::kKeyFile));
    KIRJURI_RETURN_IF_ERROR(ReplaceFileDurably(dir / store::kCheckpointFile, out->checkpoint));
    return Status::Ok();
  }();
  if (!s.ok()) {
    fs::remove_all(dir, ec);
    return s.Prefixed("backup");
  }
  spdlog::info("backed up {} events to {}", out->size, dir.string());
  return Status::Ok();
}

}  // namespace kirjuri
