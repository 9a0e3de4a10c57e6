// C2SP signed-note, tlog-checkpoint and tlog-proof.
//   https://c2sp.org/signed-note  https://c2sp.org/tlog-checkpoint  https://c2sp.org/tlog-proof
#include "kirjuri/note.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace kirjuri {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "kirjuri: fatal: %s\n", what);
  std::abort();
}

constexpr std::string_view kEmDashSpace = "\xe2\x80\x94 ";  // U+2014 EM DASH, U+0020
constexpr uint8_t kAlgEd25519 = 0x01;
// The spec requires accepting at least 16; golang.org/x/mod/sumdb/note allows 100.
constexpr size_t kMaxSignatures = 100;
constexpr std::string_view kTlogProofHeader = "c2sp.org/tlog-proof@v1";
// An inclusion proof in a tree of at most 2^64 leaves has at most 64 hashes.
constexpr size_t kMaxProofHashes = 64;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Decodes one UTF-8 code point at s[*i], advancing *i. False on any ill-formed sequence
// (overlong forms, surrogates, code points above U+10FFFF, truncation).
bool NextCodePoint(std::string_view s, size_t* i, char32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(*i);
  size_t n;
  char32_t v;
  uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c < 0x80) {
    *cp = c;
    ++*i;
    return true;
  } else if (c >= 0xc2 && c <= 0xdf) {
    n = 1, v = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 2, v = c & 0x0f;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 3, v = c & 0x07;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return false;
  }
  if (*i + n >= s.size()) return false;  // truncated sequence
  for (size_t k = 1; k <= n; ++k) {
    const uint8_t t = b(*i + k);
    if (t < (k == 1 ? lo : 0x80) || t > (k == 1 ? hi : 0xbf)) return false;
    v = (v << 6) | (t & 0x3f);
  }
  *cp = v;
  *i += n + 1;
  return true;
}

// Unicode White_Space (what Go's unicode.IsSpace reports).
bool IsUnicodeSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

// Signed-note text rule: valid UTF-8 and no ASCII control characters other than newline.
bool IsNoteText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t c;
    if (!NextCodePoint(s, &i, &c)) return false;
    if (c < 0x20 && c != '\n') return false;
  }
  return true;
}

// Key names: non-empty UTF-8 with no Unicode spaces, no '+', no control characters.
bool IsValidKeyName(std::string_view name) {
  if (name.empty()) return false;
  size_t i = 0;
  while (i < name.size()) {
    char32_t c;
    if (!NextCodePoint(name, &i, &c)) return false;
    if (c < 0x20 || c == '+' || IsUnicodeSpace(c)) return false;
  }
  return true;
}

// ASCII decimal, no sign, no leading zeros (except "0"), fits in uint64.
bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    const uint64_t d = static_cast<uint64_t>(ch - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool DecodeHash(std::string_view b64, merkle::Hash* out) {
  std::vector<uint8_t> bytes;
  if (!Base64Decode(b64, &bytes).ok() || bytes.size() != out->size()) return false;
  std::copy(bytes.begin(), bytes.end(), out->begin());
  return true;
}

std::string KeyIdHex(uint32_t id) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(id));
  return buf;
}

struct NoteSignature {
  std::string_view name;
  uint32_t key_id = 0;
  std::vector<uint8_t> sig;  // without the key id
};

// Splits a signed note into its text and signature lines, checking the signed-note syntax.
// Returns Corruption with a one-line reason if the note is malformed.
Status SplitNote(std::string_view note, std::string_view* text,
                 std::vector<NoteSignature>* sigs) {
  if (!IsNoteText(note)) {
    return Status::Corruption("note is not UTF-8 text without control characters");
  }
  if (note.empty() || note.back() != '\n') {
    return Status::Corruption("note does not end with a newline");
  }
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    return Status::Corruption("note has no blank line before its signatures");
  }
  *text = note.substr(0, split + 1);
  std::string_view block = note.substr(split + 2);
  if (block.empty()) return Status::Corruption("note has no signature lines");
  sigs->clear();
  size_t line_no = static_cast<size_t>(std::count(text->begin(), text->end(), '\n')) + 1;
  while (!block.empty()) {
    ++line_no;
    const size_t nl = block.find('\n');  // present: the note ends in '\n'
    std::string_view line = block.substr(0, nl);
    block.remove_prefix(nl + 1);
    const std::string where = "note line " + std::to_string(line_no) + ": ";
    if (sigs->size() == kMaxSignatures) {
      return Status::Corruption("note has more than " + std::to_string(kMaxSignatures) +
                                " signatures");
    }
    if (!line.starts_with(kEmDashSpace)) {
      return Status::Corruption(where + "signature line does not start with an em dash and "
                                        "a space");
    }
    line.remove_prefix(kEmDashSpace.size());
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      return Status::Corruption(where + "signature line has no space after the key name");
    }
    NoteSignature sig;
    sig.name = line.substr(0, sp);
    if (!IsValidKeyName(sig.name)) return Status::Corruption(where + "invalid key name");
    std::vector<uint8_t> blob;
    if (!Base64Decode(line.substr(sp + 1), &blob).ok()) {
      return Status::Corruption(where + "signature is not canonical base64");
    }
    if (blob.size() < 5) return Status::Corruption(where + "signature is too short");
    sig.key_id = (uint32_t{blob[0]} << 24) | (uint32_t{blob[1]} << 16) |
                 (uint32_t{blob[2]} << 8) | uint32_t{blob[3]};
    sig.sig.assign(blob.begin() + 4, blob.end());
    sigs->push_back(std::move(sig));
  }
  return Status::Ok();
}

}  // namespace

// ---- Checkpoints ----------------------------------------------------------------------------

std::string CheckpointBody(const Checkpoint& checkpoint) {
  if (checkpoint.origin.empty() || checkpoint.origin.find('\n') != std::string::npos) {
    Die("CheckpointBody: origin is empty or contains a newline");
  }
  return checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
         Base64Encode(checkpoint.root) + "\n";
}

Status ParseCheckpointBody(std::string_view body, Checkpoint* out) {
  if (body.empty() || body.back() != '\n') {
    return Status::InvalidArgument("checkpoint does not end with a newline");
  }
  if (!IsNoteText(body)) {
    return Status::InvalidArgument("checkpoint is not UTF-8 text without control characters");
  }
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < body.size();) {
    const size_t nl = body.find('\n', pos);
    lines.push_back(body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() < 3) {
    return Status::InvalidArgument("checkpoint has " + std::to_string(lines.size()) +
                                   " lines, needs origin, size and root hash");
  }
  Checkpoint c;
  if (lines[0].empty()) return Status::InvalidArgument("checkpoint line 1: empty origin");
  c.origin = std::string(lines[0]);
  if (!ParseDecimal(lines[1], &c.size)) {
    return Status::InvalidArgument(
        "checkpoint line 2: tree size is not a decimal number without leading zeros");
  }
  if (!DecodeHash(lines[2], &c.root)) {
    return Status::InvalidArgument(
        "checkpoint line 3: root hash is not 32 bytes of canonical base64");
  }
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return Status::InvalidArgument("checkpoint line " + std::to_string(i + 1) +
                                     ": empty extension line");
    }
  }
  *out = std::move(c);
  return Status::Ok();
}

// ---- Keys -----------------------------------------------------------------------------------

uint32_t NoteKeyId(std::string_view name, const PublicKey& key) {
  std::string buf;
  buf.reserve(name.size() + 2 + key.bytes.size());
  buf.append(name);
  buf.push_back('\n');
  buf.push_back(static_cast<char>(kAlgEd25519));
  buf.append(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size());
  const Sha256Digest h = Sha256(Bytes(buf));
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

std::string NoteVerifierKey(std::string_view name, const PublicKey& key) {
  std::array<uint8_t, 33> alg_key;
  alg_key[0] = kAlgEd25519;
  std::copy(key.bytes.begin(), key.bytes.end(), alg_key.begin() + 1);
  return std::string(name) + "+" + KeyIdHex(NoteKeyId(name, key)) + "+" + Base64Encode(alg_key);
}

Status ParseNoteVerifierKey(std::string_view vkey, std::string* name, PublicKey* key) {
  const size_t plus = vkey.find('+');
  if (plus == std::string_view::npos) {
    return Status::InvalidArgument("verifier key is not name+id+key");
  }
  const std::string_view n = vkey.substr(0, plus);
  if (!IsValidKeyName(n)) return Status::InvalidArgument("verifier key: invalid key name");
  std::string_view rest = vkey.substr(plus + 1);
  if (rest.size() < 9 || rest[8] != '+') {
    return Status::InvalidArgument("verifier key: key id is not 8 hex digits");
  }
  uint32_t id = 0;
  for (char ch : rest.substr(0, 8)) {
    uint32_t d;
    if (ch >= '0' && ch <= '9') {
      d = static_cast<uint32_t>(ch - '0');
    } else if (ch >= 'a' && ch <= 'f') {
      d = static_cast<uint32_t>(ch - 'a' + 10);
    } else {
      return Status::InvalidArgument("verifier key: key id is not 8 lowercase hex digits");
    }
    id = (id << 4) | d;
  }
  std::vector<uint8_t> alg_key;
  if (!Base64Decode(rest.substr(9), &alg_key).ok()) {
    return Status::InvalidArgument("verifier key: key is not canonical base64");
  }
  if (alg_key.size() != 33 || alg_key[0] != kAlgEd25519) {
    return Status::InvalidArgument("verifier key: not an Ed25519 key");
  }
  PublicKey k;
  std::copy(alg_key.begin() + 1, alg_key.end(), k.bytes.begin());
  if (NoteKeyId(n, k) != id) {
    return Status::InvalidArgument("verifier key: key id does not match name and key");
  }
  *name = std::string(n);
  *key = k;
  return Status::Ok();
}

// ---- Signed notes ---------------------------------------------------------------------------

std::string SignNote(std::string_view body, std::string_view name, const SigningKey& key) {
  if (body.empty() || body.back() != '\n') Die("SignNote: body is empty or lacks a final newline");
  if (!IsNoteText(body)) Die("SignNote: body is not UTF-8 text without control characters");
  if (!IsValidKeyName(name)) Die("SignNote: invalid key name");
  const uint32_t id = NoteKeyId(name, key.public_key());
  const Ed25519Signature sig = key.Sign(Bytes(body));
  std::array<uint8_t, 4 + 64> blob;
  blob[0] = static_cast<uint8_t>(id >> 24);
  blob[1] = static_cast<uint8_t>(id >> 16);
  blob[2] = static_cast<uint8_t>(id >> 8);
  blob[3] = static_cast<uint8_t>(id);
  std::copy(sig.begin(), sig.end(), blob.begin() + 4);
  std::string note(body);
  note.append("\n").append(kEmDashSpace).append(name).append(" ").append(Base64Encode(blob));
  note.push_back('\n');
  return note;
}

Status VerifyNote(std::string_view note, std::string_view name, const PublicKey& key,
                  std::string* body) {
  std::string_view text;
  std::vector<NoteSignature> sigs;
  KIRJURI_RETURN_IF_ERROR(SplitNote(note, &text, &sigs));
  const uint32_t id = NoteKeyId(name, key);
  const std::string who = std::string(name) + "+" + KeyIdHex(id);
  size_t verified = 0;
  for (const NoteSignature& s : sigs) {
    if (s.name != name || s.key_id != id) continue;  // an unknown key: ignored, per spec
    // A known key's signature must verify; one that does not taints the whole note.
    if (!VerifySignature(key, Bytes(text), s.sig)) {
      return Status::Corruption("note signature by " + who + " does not verify");
    }
    ++verified;
  }
  if (verified == 0) return Status::Corruption("note has no signature by " + who);
  *body = std::string(text);
  return Status::Ok();
}

Status OpenCheckpoint(std::string_view note, const PublicKey& key, Checkpoint* out) {
  std::string_view text;
  std::vector<NoteSignature> sigs;
  KIRJURI_RETURN_IF_ERROR(SplitNote(note, &text, &sigs).Prefixed("checkpoint"));
  // The key name is the origin, the first line. Verify before trusting anything else.
  const std::string_view origin = text.substr(0, text.find('\n'));
  if (!IsValidKeyName(origin)) {
    return Status::Corruption("checkpoint: origin is not a valid key name");
  }
  std::string body;
  KIRJURI_RETURN_IF_ERROR(VerifyNote(note, origin, key, &body).Prefixed("checkpoint"));
  Status s = ParseCheckpointBody(body, out);
  if (!s.ok()) return Status::Corruption(s.message());
  return Status::Ok();
}

// ---- tlog-proof -----------------------------------------------------------------------------

std::string FormatTlogProof(const TlogProof& proof) {
  std::string out(kTlogProofHeader);
  out.append("\nindex ").append(std::to_string(proof.index)).append("\n");
  for (const merkle::Hash& h : proof.hashes) out.append(Base64Encode(h)).append("\n");
  out.append("\n").append(proof.checkpoint_note);
  return out;
}

Status ParseTlogProof(std::string_view text, TlogProof* out) {
  size_t line_no = 0;
  // Next '\n'-terminated line; false if the text ends first.
  const auto next = [&](std::string_view* line) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return false;
    *line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++line_no;
    return true;
  };
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("tlog-proof line " + std::to_string(line_no) + ": " +
                                   std::string(why));
  };
  std::string_view line;
  if (!next(&line) || line != kTlogProofHeader) {
    return Status::InvalidArgument("tlog-proof: first line is not '" +
                                   std::string(kTlogProofHeader) + "'");
  }
  if (!next(&line)) return bad("missing index line");
  if (line.starts_with("extra ")) {
    std::vector<uint8_t> extra;  // opaque, unauthenticated: checked for syntax, then ignored
    if (!Base64Decode(line.substr(6), &extra).ok()) return bad("extra is not canonical base64");
    if (!next(&line)) return bad("missing index line");
  }
  TlogProof p;
  if (!line.starts_with("index ") || !ParseDecimal(line.substr(6), &p.index)) {
    return bad("expected 'index <decimal without leading zeros>'");
  }
  for (;;) {
    if (!next(&line)) return bad("missing blank line before the checkpoint");
    if (line.empty()) break;
    if (p.hashes.size() == kMaxProofHashes) return bad("too many proof hashes");
    merkle::Hash h;
    if (!DecodeHash(line, &h)) return bad("proof hash is not 32 bytes of canonical base64");
    p.hashes.push_back(h);
  }
  std::string_view cp_text;
  std::vector<NoteSignature> sigs;
  Status s = SplitNote(text, &cp_text, &sigs);
  if (!s.ok()) return Status::InvalidArgument("tlog-proof: checkpoint: " + s.message());
  p.checkpoint_note = std::string(text);
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace kirjuri
