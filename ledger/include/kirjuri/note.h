// C2SP signed notes and tlog checkpoints: the ledger's signed tree heads, in the format that
// transparency-log tools (and witnesses) read.
//
// Checkpoint body (C2SP tlog-checkpoint):   "<origin>\n<size, decimal>\n<base64 root>\n"
// Signed note (C2SP signed-note, Ed25519):  body + "\n" + "— <name> <base64(key id || sig)>\n"
//   signature = Ed25519 over the body bytes; key name = the checkpoint's origin;
//   key id    = first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian.
// Verifier key (C2SP signed-note):          "<name>+<key id, 8 hex digits>+<base64(0x01 || key)>"
// Inclusion proof file (C2SP tlog-proof):   "c2sp.org/tlog-proof@v1\nindex <i>\n<base64 hash>\n...
//                                            \n<signed checkpoint note>"
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/crypto.h"
#include "kirjuri/merkle.h"
#include "kirjuri/status.h"

namespace kirjuri {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  merkle::Hash root{};
  bool operator==(const Checkpoint&) const = default;
};

// The note body of a checkpoint. REQUIRES: origin is non-empty and has no newline.
std::string CheckpointBody(const Checkpoint& checkpoint);
// Parses a checkpoint body (extension lines after the root are allowed and ignored).
// InvalidArgument naming the bad line otherwise.
Status ParseCheckpointBody(std::string_view body, Checkpoint* out);

uint32_t NoteKeyId(std::string_view name, const PublicKey& key);
std::string NoteVerifierKey(std::string_view name, const PublicKey& key);
// InvalidArgument unless `vkey` is a well-formed Ed25519 verifier key whose id matches.
Status ParseNoteVerifierKey(std::string_view vkey, std::string* name, PublicKey* key);

// body + blank line + one signature line by `key` under `name`.
// REQUIRES: body is non-empty and ends with '\n'.
std::string SignNote(std::string_view body, std::string_view name, const SigningKey& key);
// Checks that `note` carries a valid signature line by (name, key) and returns its body.
// Signature lines by other keys are ignored, as the spec requires. Corruption if the note is
// malformed, the line is missing, or the signature does not verify.
Status VerifyNote(std::string_view note, std::string_view name, const PublicKey& key,
                  std::string* body);

// Verifies a signed checkpoint note (key name = its origin) and parses it.
Status OpenCheckpoint(std::string_view note, const PublicKey& key, Checkpoint* out);

struct TlogProof {
  uint64_t index = 0;
  std::vector<merkle::Hash> hashes;
  std::string checkpoint_note;  // the signed checkpoint the proof is against
};
std::string FormatTlogProof(const TlogProof& proof);
Status ParseTlogProof(std::string_view text, TlogProof* out);

}  // namespace kirjuri
