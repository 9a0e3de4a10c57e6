// The layout of DATA/log (RocksDB). schemas/FORMATS.md is the same, for auditors.
//
//   column family   key                                   value
//   events          seq, 8 bytes big-endian               canonical SignedEvent (the Merkle leaf)
//   tree            end, 8 bytes BE || level, 1 byte      32-byte hash of the complete subtree of
//                                                          2^level leaves ending before leaf `end`
//   checkpoints     tree size, 8 bytes BE                 signed C2SP checkpoint note (text)
//   subjects        subject id, 16 bytes || seq, 8 BE     empty (index: a subject's events)
//   subject_info    subject id, 16 bytes                  canonical SubjectInfo (counts, erasure)
//   default         "origin", "policy", "format"          ledger metadata
//                   "subject_info"                        present once subject_info is complete
//                   "pending-erasure/" subject            PendingErasure (an erasure under way)
//                   "retention/" due (8 BE) subject cat   empty: a retained key and when it is due
//
// Tree keys sort in the order the nodes are created by appends (a leaf, then the ancestors it
// completes, lowest first), so verification walks the tree column family with one iterator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kirjuri/ledger.h"
#include "kirjuri/merkle.h"

namespace kirjuri::store {

inline constexpr const char* kEventsCf = "events";
inline constexpr const char* kTreeCf = "tree";
inline constexpr const char* kCheckpointsCf = "checkpoints";
inline constexpr const char* kSubjectsCf = "subjects";
inline constexpr const char* kSubjectInfoCf = "subject_info";

inline constexpr std::string_view kMetaOrigin = "origin";
inline constexpr std::string_view kMetaPolicy = "policy";  // the policy in force (JSON)
// The policy given to `init`, kept when a change replaces it (absent until then).
inline constexpr std::string_view kMetaInitialPolicy = "policy/initial";
inline constexpr std::string_view kMetaFormat = "format";
inline constexpr std::string_view kFormatVersion = "kirjuri-log-v1";
// Present once subject_info holds what this version keeps in it (the rights, since v2): a
// ledger without it has its summaries rebuilt from the log on open.
inline constexpr std::string_view kMetaSubjectInfoBuilt = "subject_info/v2";
inline constexpr std::string_view kPendingErasurePrefix = "pending-erasure/";
inline constexpr std::string_view kRetentionPrefix = "retention/";

inline constexpr const char* kKeyFile = "ledger.key";
// The latest checkpoint, also kept outside RocksDB (replaced after every synced append), so that
// a log that lost acknowledged writes — a cut write-ahead log, the log directory restored from an
// older copy — is noticed on open: the copy then covers more than the log holds.
inline constexpr const char* kCheckpointFile = "checkpoint";
// Present in the log's metadata once the ledger keeps that copy: from then on a missing copy is
// a fault, not an older ledger.
inline constexpr std::string_view kMetaCheckpointCopy = "checkpoint-copy";
// The key store's write count (KeyStore::LastWrite, 8 bytes big-endian) as it was when the latest
// append was written: the log's keys are all in the key store at or below it. A key store found
// below it lost writes the log relies on (a damaged write-ahead log record, from which RocksDB's
// recovery drops everything after it, or a key store restored from an older copy).
inline constexpr std::string_view kMetaKeyStoreWrites = "keys/last-write";
inline constexpr const char* kLogDir = "log";
inline constexpr const char* kKeysDir = "keys";

// Ed25519 signatures over events are made over this prefix followed by canonical(Event), so an
// event signature can never be replayed as a signature of anything else (e.g. a note).
inline constexpr std::string_view kEventSignaturePrefix = "kirjuri/event/v1\n";

inline void PutBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline uint64_t GetBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

inline std::string SeqKey(uint64_t seq) {
  std::string k(8, '\0');
  PutBigEndian64(seq, k.data());
  return k;
}

inline std::string NodeKey(merkle::NodeId id) {
  std::string k(9, '\0');
  PutBigEndian64((id.index + 1) << id.level, k.data());
  k[8] = static_cast<char>(id.level);
  return k;
}

// The 16 bytes of a subject id: the key in subject_info, the prefix in subjects.
inline std::string SubjectBytes(const SubjectId& subject) {
  return std::string(reinterpret_cast<const char*>(subject.data()), subject.size());
}

inline std::string SubjectKey(const SubjectId& subject, uint64_t seq) {
  std::string k = SubjectBytes(subject);
  k.resize(24);
  PutBigEndian64(seq, k.data() + 16);
  return k;
}

// default: "pending-erasure/" || subject
// default CF: "request/" || ref -> canonical schema::RequestState.
inline std::string RequestKey(std::string_view ref) { return "request/" + std::string(ref); }
inline constexpr std::string_view kRequestPrefix = "request/";

inline std::string PendingErasureKey(const SubjectId& subject) {
  return std::string(kPendingErasurePrefix) + SubjectBytes(subject);
}

// default: "retention/" || due (8 BE) || subject (16) || category
inline std::string RetentionKey(int64_t due_micros, const SubjectId& subject,
                                std::string_view category) {
  std::string k(kRetentionPrefix);
  k.resize(k.size() + 8);
  PutBigEndian64(static_cast<uint64_t>(due_micros), k.data() + k.size() - 8);
  return k + SubjectBytes(subject) + std::string(category);
}

}  // namespace kirjuri::store
