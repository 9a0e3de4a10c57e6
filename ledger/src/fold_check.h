// Records the ledger derives from the log and stores beside it (subject summaries, request
// records), checked by verify against the same records folded from the log.
#pragma once

#include <rocksdb/db.h>

#include <string>
#include <string_view>

#include "kirjuri/rocks_util.h"
#include "kirjuri/status.h"

namespace kirjuri {

enum class FoldMismatch { kAdded, kRemoved, kAltered };

// Walks the records stored under `prefix` (through `it`, read at verify's snapshot) beside
// `folded`, a std::map in the same byte order, and returns the first mismatch as fault(kind,
// key, what differs): a stored record the fold lacks (added), a folded one not stored (removed),
// or one whose value differs. key_of(stored key without the prefix, &key) may refuse a malformed
// key; differs(stored value, folded value) names what differs, "" for nothing.
template <typename Map, typename KeyOf, typename Differs, typename Fault>
Status CompareWithFold(rocksdb::Iterator& it, std::string_view prefix, std::string_view what,
                       const Map& folded, KeyOf key_of, Differs differs, Fault fault) {
  auto want = folded.begin();
  for (it.Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it.Valid() && it.key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it.Next()) {
    typename Map::key_type key;
    KIRJURI_RETURN_IF_ERROR(key_of(it.key().ToStringView().substr(prefix.size()), &key));
    if (want != folded.end() && want->first < key) break;  // a folded record is not stored
    if (want == folded.end() || key < want->first) return fault(FoldMismatch::kAdded, key, "");
    if (std::string d = differs(it.value().ToStringView(), want->second); !d.empty()) {
      return fault(FoldMismatch::kAltered, key, d);
    }
    ++want;
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it.status(), what));
  if (want != folded.end()) return fault(FoldMismatch::kRemoved, want->first, "");
  return Status::Ok();
}

}  // namespace kirjuri
