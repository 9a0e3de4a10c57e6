// Tests for kirjuri/note.h: C2SP signed notes, checkpoints and tlog-proofs, checked against the
// golang.org/x/mod/sumdb/note test vectors and the OpenSSL command-line tool.
#include "kirjuri/note.h"
#include "test_util.h"

#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace kirjuri {
namespace {

using testing::TempDir;

// golang.org/x/mod/sumdb/note test vectors (note_test.go).
constexpr std::string_view kPeterName = "PeterNeumann";
constexpr uint32_t kPeterKeyId = 0xc74f20a3;
constexpr std::string_view kPeterVkey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
// The private key "PRIVATE+KEY+PeterNeumann+c74f20a3+<this>": 0x01 || 32-byte seed.
constexpr std::string_view kPeterSkeyB64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr std::string_view kEnochVkey =
    "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
constexpr std::string_view kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kPeterSig =
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    "\n";
constexpr std::string_view kEnochSig =
    "\xe2\x80\x94 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
    "\n";

constexpr std::string_view kDash = "\xe2\x80\x94 ";

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

SigningKey PeterKey() {
  std::vector<uint8_t> skey;
  REQUIRE(Base64Decode(kPeterSkeyB64, &skey).ok());
  REQUIRE(skey.size() == 33);
  REQUIRE(skey[0] == 0x01);
  return SigningKey::FromSeed(std::span(skey).subspan(1));
}

PublicKey ParsedKey(std::string_view vkey) {
  std::string name;
  PublicKey key;
  REQUIRE(ParseNoteVerifierKey(vkey, &name, &key).ok());
  return key;
}

merkle::Hash TestHash(uint8_t fill) {
  merkle::Hash h;
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(fill * 31 + i);
  return h;
}

Checkpoint TestCheckpoint() {
  return Checkpoint{"kirjuri.example/ledger/almerin", 1234567, TestHash(3)};
}

SigningKey LedgerKey(uint8_t fill = 1) {
  std::vector<uint8_t> seed(32, fill);
  return SigningKey::FromSeed(seed);
}

// The last signature line's base64 blob: key id (4 bytes) || signature.
std::vector<uint8_t> LastSignatureBlob(const std::string& note) {
  const size_t line_start = note.rfind('\n', note.size() - 2) + 1;
  const std::string line = note.substr(line_start, note.size() - 1 - line_start);
  const std::string b64 = line.substr(line.rfind(' ') + 1);
  std::vector<uint8_t> blob;
  REQUIRE(Base64Decode(b64, &blob).ok());
  return blob;
}

void WriteBytes(const std::filesystem::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(out.good());
}

// Single-quoted for the shell (our temp paths never contain a quote). Built with append():
// "'" + str + "'" trips GCC 12's false -Wrestrict positive at -O2.
std::string Quote(const std::filesystem::path& p) {
  std::string q = "'";
  q.append(p.string()).append("'");
  return q;
}

void RequireOpenssl() {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    FAIL("the `openssl` command-line tool is not on PATH; the interoperability tests need it "
         "(apt-get install -y openssl)");
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult Run(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace

// ---- Checkpoint bodies ----------------------------------------------------------------------

TEST_CASE("a checkpoint body is origin, size and base64 root, one per line") {
  const Checkpoint c = TestCheckpoint();
  CHECK(CheckpointBody(c) ==
        "kirjuri.example/ledger/almerin\n1234567\n" + Base64Encode(c.root) + "\n");
  Checkpoint back;
  REQUIRE(ParseCheckpointBody(CheckpointBody(c), &back).ok());
  CHECK(back == c);

  for (const uint64_t size : {uint64_t{0}, uint64_t{1}, std::numeric_limits<uint64_t>::max()}) {
    const Checkpoint e{"o", size, TestHash(9)};
    Checkpoint parsed;
    REQUIRE(ParseCheckpointBody(CheckpointBody(e), &parsed).ok());
    CHECK(parsed == e);
  }
}

TEST_CASE("the C2SP tlog-checkpoint example body parses, and extension lines are allowed") {
  const std::string body =
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  Checkpoint c;
  REQUIRE(ParseCheckpointBody(body, &c).ok());
  CHECK(c.origin == "example.com/behind-the-sofa");
  CHECK(c.size == 20852163);
  CHECK(Base64Encode(c.root) == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");

  Checkpoint with_ext;
  REQUIRE(ParseCheckpointBody(body + "extension one\nextension — two\n", &with_ext).ok());
  CHECK(with_ext == c);
}

TEST_CASE("malformed checkpoint bodies are rejected") {
  const std::string root = Base64Encode(TestHash(1));
  std::vector<uint8_t> short_root(31, 7), long_root(33, 7);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"one line", "origin\n"},
      {"two lines", "origin\n5\n"},
      {"no final newline", "origin\n5\n" + root},
      {"extension without final newline", "origin\n5\n" + root + "\next"},
      {"empty origin", "\n5\n" + root + "\n"},
      {"empty size", "origin\n\n" + root + "\n"},
      {"leading zero", "origin\n05\n" + root + "\n"},
      {"two zeros", "origin\n00\n" + root + "\n"},
      {"negative size", "origin\n-5\n" + root + "\n"},
      {"plus sign", "origin\n+5\n" + root + "\n"},
      {"leading space", "origin\n 5\n" + root + "\n"},
      {"trailing space", "origin\n5 \n" + root + "\n"},
      {"hex size", "origin\n0x5\n" + root + "\n"},
      {"fractional size", "origin\n5.0\n" + root + "\n"},
      {"2^64", "origin\n18446744073709551616\n" + root + "\n"},
      {"huge size", "origin\n99999999999999999999999\n" + root + "\n"},
      {"empty root", "origin\n5\n\n"},
      {"unpadded root", "origin\n5\n" + root.substr(0, 43) + "\n"},
      {"non-canonical root", "origin\n5\n" + root.substr(0, 42) + "B=\n"},
      {"31-byte root", "origin\n5\n" + Base64Encode(short_root) + "\n"},
      {"33-byte root", "origin\n5\n" + Base64Encode(long_root) + "\n"},
      {"hex root", "origin\n5\n" + HexEncode(TestHash(1)) + "\n"},
      {"root with space", "origin\n5\n " + root + "\n"},
      {"empty extension line", "origin\n5\n" + root + "\n\n"},
      {"empty extension line in the middle", "origin\n5\n" + root + "\na\n\nb\n"},
      {"CRLF", "origin\r\n5\r\n" + root + "\r\n"},
      {"control character", "ori\x01gin\n5\n" + root + "\n"},
      {"invalid UTF-8", "ori\xffgin\n5\n" + root + "\n"},
  };
  for (const auto& [why, body] : bad) {
    CAPTURE(why);
    Checkpoint out;
    const Status s = ParseCheckpointBody(body, &out);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find('\n') == std::string::npos);
  }
}

// ---- Keys -----------------------------------------------------------------------------------

TEST_CASE("the note key id is SHA-256 of name, newline, 0x01 and the key, computed independently") {
  const SigningKey key = LedgerKey(4);
  const std::string name = "kirjuri.example/ledger";
  std::vector<uint8_t> input(name.begin(), name.end());
  input.push_back(0x0a);
  input.push_back(0x01);
  input.insert(input.end(), key.public_key().bytes.begin(), key.public_key().bytes.end());
  unsigned char digest[crypto_hash_sha256_BYTES];
  REQUIRE(crypto_hash_sha256(digest, input.data(), input.size()) == 0);
  const uint32_t expected = (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) |
                            (uint32_t{digest[2]} << 8) | uint32_t{digest[3]};
  CHECK(NoteKeyId(name, key.public_key()) == expected);
  CHECK(NoteKeyId("other", key.public_key()) != expected);
}

TEST_CASE("key id, verifier key and signature match the golang.org/x/mod/sumdb/note vectors") {
  const SigningKey peter = PeterKey();
  CHECK(NoteKeyId(kPeterName, peter.public_key()) == kPeterKeyId);
  CHECK(NoteVerifierKey(kPeterName, peter.public_key()) == kPeterVkey);

  std::string name;
  PublicKey parsed;
  REQUIRE(ParseNoteVerifierKey(kPeterVkey, &name, &parsed).ok());
  CHECK(name == kPeterName);
  CHECK(parsed == peter.public_key());

  // Ed25519 is deterministic, so our note must equal the reference implementation's byte for byte.
  const std::string note = SignNote(kGoText, kPeterName, peter);
  CHECK(note == std::string(kGoText) + "\n" + std::string(kPeterSig));
}

TEST_CASE("a note signed by the Go reference implementation verifies, with co-signatures ignored") {
  const std::string note = std::string(kGoText) + "\n" + std::string(kPeterSig) +
                           std::string(kEnochSig);
  std::string body;
  REQUIRE(VerifyNote(note, kPeterName, ParsedKey(kPeterVkey), &body).ok());
  CHECK(body == kGoText);

  std::string enoch_body;
  REQUIRE(VerifyNote(note, "EnochRoot", ParsedKey(kEnochVkey), &enoch_body).ok());
  CHECK(enoch_body == kGoText);

  // Peter's key under Enoch's name: no signature line has that (name, id).
  std::string unused;
  CHECK(VerifyNote(note, "EnochRoot", ParsedKey(kPeterVkey), &unused).IsCorruption());
}

TEST_CASE("a verifier key round-trips and every mangling of it is rejected") {
  const SigningKey key = LedgerKey(2);
  const std::string vkey = NoteVerifierKey("kirjuri.example/ledger", key.public_key());
  std::string name;
  PublicKey parsed;
  REQUIRE(ParseNoteVerifierKey(vkey, &name, &parsed).ok());
  CHECK(name == "kirjuri.example/ledger");
  CHECK(parsed == key.public_key());
  REQUIRE(vkey.size() == std::string("kirjuri.example/ledger").size() + 1 + 8 + 1 + 44);
  CHECK(vkey[22] == '+');
  CHECK(vkey[31] == '+');
  CHECK(vkey.substr(23, 8) == [&] {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", NoteKeyId("kirjuri.example/ledger", key.public_key()));
    return std::string(hex);
  }());

  // As in the Go tests: every proper substring and every single-byte increment is rejected.
  std::string b(kPeterVkey);
  for (size_t i = 0; i <= b.size(); ++i) {
    for (size_t j = i + 1; j <= b.size(); ++j) {
      if (i == 0 && j == b.size()) continue;
      CAPTURE(b.substr(i, j - i));
      CHECK(ParseNoteVerifierKey(b.substr(i, j - i), &name, &parsed).IsInvalidArgument());
    }
  }
  for (size_t i = 0; i < b.size(); ++i) {
    ++b[i];
    CAPTURE(b);
    CHECK(ParseNoteVerifierKey(b, &name, &parsed).IsInvalidArgument());
    --b[i];
  }
  for (const std::string_view bad : {
           // wrong key length, with adjusted key id
           "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
           // unknown algorithm, with adjusted key id
           "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
           "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
           "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
           "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
           "",
       }) {
    CAPTURE(bad);
    CHECK(ParseNoteVerifierKey(bad, &name, &parsed).IsInvalidArgument());
  }
}

// ---- Signed notes ---------------------------------------------------------------------------

TEST_CASE("a signed note has one em-dash signature line and verifies") {
  const SigningKey key = LedgerKey();
  const std::string body = CheckpointBody(TestCheckpoint());
  const std::string note = SignNote(body, "kirjuri.example/ledger/almerin", key);
  REQUIRE(note.starts_with(body + "\n\xe2\x80\x94 kirjuri.example/ledger/almerin "));
  CHECK(note.ends_with("\n"));
  const std::vector<uint8_t> blob = LastSignatureBlob(note);
  REQUIRE(blob.size() == 68);
  const uint32_t id = NoteKeyId("kirjuri.example/ledger/almerin", key.public_key());
  CHECK(blob[0] == static_cast<uint8_t>(id >> 24));
  CHECK(blob[3] == static_cast<uint8_t>(id));
  CHECK(VerifySignature(key.public_key(), Bytes(body), std::span(blob).subspan(4)));

  std::string out;
  REQUIRE(VerifyNote(note, "kirjuri.example/ledger/almerin", key.public_key(), &out).ok());
  CHECK(out == body);

  // A note text may contain blank lines; the last blank line starts the signatures.
  const std::string text = "para one\n\npara two\n";
  std::string text_out;
  REQUIRE(VerifyNote(SignNote(text, "n", key), "n", key.public_key(), &text_out).ok());
  CHECK(text_out == text);
}

TEST_CASE("a note with a tampered body is rejected") {
  const SigningKey key = LedgerKey();
  const Checkpoint c = TestCheckpoint();
  const std::string note = SignNote(CheckpointBody(c), c.origin, key);
  const size_t body_len = CheckpointBody(c).size();
  std::string out = "untouched";
  for (size_t i = 0; i + 1 < body_len; ++i) {
    std::string bad = note;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    CAPTURE(i);
    CHECK(VerifyNote(bad, c.origin, key.public_key(), &out).IsCorruption());
  }
  Checkpoint bigger = c;
  bigger.size += 1;
  const std::string resized =
      CheckpointBody(bigger) + note.substr(CheckpointBody(c).size());  // same signature
  CHECK(VerifyNote(resized, c.origin, key.public_key(), &out).IsCorruption());
  Checkpoint tampered;
  CHECK(OpenCheckpoint(resized, key.public_key(), &tampered).IsCorruption());
  CHECK(out == "untouched");
}

TEST_CASE("a note with a flipped signature bit is rejected") {
  const SigningKey key = LedgerKey();
  const std::string note = SignNote("hello\n", "n", key);
  std::vector<uint8_t> blob = LastSignatureBlob(note);
  const std::string prefix = "hello\n\n" + std::string(kDash) + "n ";
  for (size_t bit = 32; bit < blob.size() * 8; bit += 7) {
    std::vector<uint8_t> bad = blob;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    std::string out;
    CAPTURE(bit);
    CHECK(VerifyNote(prefix + Base64Encode(bad) + "\n", "n", key.public_key(), &out)
              .IsCorruption());
  }
  // A truncated signature with the right key id is a failed signature, not an unknown key.
  std::vector<uint8_t> short_sig(blob.begin(), blob.begin() + 40);
  std::string out;
  CHECK(VerifyNote(prefix + Base64Encode(short_sig) + "\n", "n", key.public_key(), &out)
            .IsCorruption());
}

TEST_CASE("a note signed by another key or under another name is rejected") {
  const SigningKey key = LedgerKey(1);
  const SigningKey other = LedgerKey(2);
  const std::string note = SignNote("hello\n", "kirjuri.example/a", key);
  std::string out;
  CHECK(VerifyNote(note, "kirjuri.example/a", other.public_key(), &out).IsCorruption());
  CHECK(VerifyNote(note, "kirjuri.example/b", key.public_key(), &out).IsCorruption());
  CHECK(VerifyNote(note, "kirjuri.example/a", key.public_key(), &out).ok());
}

TEST_CASE("a note without a signature line by the key is rejected") {
  const SigningKey key = LedgerKey(1);
  const SigningKey other = LedgerKey(2);
  const std::string note = SignNote("hello\n", "other", other);
  std::string out;
  const Status s = VerifyNote(note, "mine", key.public_key(), &out);
  CHECK(s.IsCorruption());
  CHECK(s.message().find("mine+") != std::string::npos);
  CHECK(VerifyNote("hello\n\n", "mine", key.public_key(), &out).IsCorruption());
  CHECK(VerifyNote("hello\n", "mine", key.public_key(), &out).IsCorruption());
}

TEST_CASE("signature lines from unknown keys are ignored") {
  const SigningKey key = LedgerKey(1);
  const std::string body = "log.example\n7\n" + Base64Encode(TestHash(2)) + "\n";
  const std::string ours = SignNote(body, "log.example", key);
  const std::string our_line = ours.substr(body.size() + 1);
  const auto sig_line = [&](std::string_view name, uint8_t key_fill) {
    return SignNote(body, name, LedgerKey(key_fill)).substr(body.size() + 1);
  };
  const std::string witness1 = sig_line("witness1.example", 2);
  const std::string witness2 = sig_line("witness2.example", 3);
  // Same name as ours, different key (so a different id): an unknown key, ignored.
  const std::string impostor = sig_line("log.example", 4);
  // Unknown algorithms and lengths are fine too.
  const std::string odd = std::string(kDash) + "pq.example " +
                          Base64Encode(std::vector<uint8_t>(1000, 0x42)) + "\n";

  for (const std::string& sigs : {witness1 + our_line + witness2, our_line + impostor + odd,
                                  odd + impostor + witness2 + our_line, our_line + our_line}) {
    std::string out;
    REQUIRE(VerifyNote(body + "\n" + sigs, "log.example", key.public_key(), &out).ok());
    CHECK(out == body);
    Checkpoint c;
    REQUIRE(OpenCheckpoint(body + "\n" + sigs, key.public_key(), &c).ok());
    CHECK(c.size == 7);
  }
  std::string out;
  CHECK(VerifyNote(body + "\n" + witness1 + witness2 + impostor, "log.example", key.public_key(),
                   &out)
            .IsCorruption());
  // A bad signature by the known key taints the note even if a good one is present.
  std::vector<uint8_t> blob = LastSignatureBlob(ours);
  blob[20] ^= 1;
  const std::string bad_line = std::string(kDash) + "log.example " + Base64Encode(blob) + "\n";
  CHECK(VerifyNote(body + "\n" + our_line + bad_line, "log.example", key.public_key(), &out)
            .IsCorruption());
}

TEST_CASE("malformed notes are rejected") {
  const SigningKey key = LedgerKey(1);
  const std::string text = "hello\nworld\n";
  const std::string note = SignNote(text, "n", key);
  const std::string sig_line = note.substr(text.size() + 1);  // "— n <b64>\n"
  const std::string b64 = sig_line.substr(kDash.size() + 2, sig_line.size() - kDash.size() - 3);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"only a blank line", "\n\n"},
      {"text only", text},
      {"text and blank line", text + "\n"},
      {"no final newline", note.substr(0, note.size() - 1)},
      {"no blank line", text + sig_line},
      {"hyphen instead of em dash", text + "\n- n " + b64 + "\n"},
      {"en dash", text + "\n\xe2\x80\x93 n " + b64 + "\n"},
      {"em dash without space", text + "\n\xe2\x80\x94n " + b64 + "\n"},
      {"two spaces after dash", text + "\n\xe2\x80\x94  n " + b64 + "\n"},
      {"empty name", text + "\n" + std::string(kDash) + " " + b64 + "\n"},
      {"name with plus", text + "\n" + std::string(kDash) + "a+b " + b64 + "\n"},
      {"name with no-break space",
       text + "\n" + std::string(kDash) + "a\xc2\xa0" "b " + b64 + "\n"},
      {"no space before signature", text + "\n" + std::string(kDash) + "n" + b64 + "\n"},
      {"two spaces before signature", text + "\n" + std::string(kDash) + "n  " + b64 + "\n"},
      {"trailing space", text + "\n" + std::string(kDash) + "n " + b64 + " \n"},
      {"space inside signature", text + "\n" + std::string(kDash) + "n " + b64.substr(0, 8) +
                                     " " + b64.substr(8) + "\n"},
      {"invalid base64", text + "\n" + std::string(kDash) + "n " + b64.substr(1) + "\n"},
      {"unpadded base64", text + "\n" + std::string(kDash) + "n " + b64.substr(0, 91) + "\n"},
      {"signature shorter than a key id", text + "\n" + std::string(kDash) + "n AAAA\n"},
      {"unexpected line after signatures", note + "Unexpected line.\n"},
      {"CRLF", "hello\r\n\r\n" + std::string(kDash) + "n " + b64 + "\r\n"},
      {"control character in text", "hel\x01lo\nworld\n\n" + sig_line},
      {"tab in text", "hel\tlo\nworld\n\n" + sig_line},
      {"NUL in text", std::string("hel\0lo\n", 7) + "world\n\n" + sig_line},
      {"invalid UTF-8", "hel\xfflo\nworld\n\n" + sig_line},
      {"overlong UTF-8", "hel\xc0\xaflo\nworld\n\n" + sig_line},
      {"UTF-16 surrogate", "hel\xed\xa0\x80lo\nworld\n\n" + sig_line},
      {"truncated UTF-8", "hello\nworld\xe2\x80\n\n" + sig_line},
      {"more than 100 signatures", [&] {
         std::string s = text + "\n";
         for (int i = 0; i < 101; ++i) s += sig_line;
         return s;
       }()},
  };
  for (const auto& [why, msg] : bad) {
    CAPTURE(why);
    std::string out = "untouched";
    const Status s = VerifyNote(msg, "n", key.public_key(), &out);
    CHECK(s.IsCorruption());
    CHECK(s.message().find('\n') == std::string::npos);
    CHECK(out == "untouched");
  }
  // Sixteen signatures must be accepted (signed-note: "MUST accept at least up to 16").
  std::string sixteen = text + "\n";
  for (int i = 0; i < 16; ++i) sixteen += sig_line;
  std::string out;
  CHECK(VerifyNote(sixteen, "n", key.public_key(), &out).ok());
}

// ---- Checkpoints ----------------------------------------------------------------------------

TEST_CASE("a signed checkpoint opens with the ledger key and nothing else") {
  const SigningKey key = LedgerKey();
  const Checkpoint c = TestCheckpoint();
  const std::string note = SignNote(CheckpointBody(c), c.origin, key);
  Checkpoint out;
  REQUIRE(OpenCheckpoint(note, key.public_key(), &out).ok());
  CHECK(out == c);

  Checkpoint untouched;
  CHECK(OpenCheckpoint(note, LedgerKey(2).public_key(), &untouched).IsCorruption());
  // Signed under a key name that is not the origin.
  const std::string misnamed = SignNote(CheckpointBody(c), "someone.else", key);
  CHECK(OpenCheckpoint(misnamed, key.public_key(), &untouched).IsCorruption());
  // A validly signed note whose text is not a checkpoint.
  const std::string not_checkpoint = SignNote("origin\nseven\nroot\n", "origin", key);
  CHECK(OpenCheckpoint(not_checkpoint, key.public_key(), &untouched).IsCorruption());
  CHECK(OpenCheckpoint("garbage", key.public_key(), &untouched).IsCorruption());
  CHECK(untouched == Checkpoint{});
}

TEST_CASE("a checkpoint signed by the ledger verifies with OpenSSL") {
  RequireOpenssl();
  TempDir dir;
  const SigningKey key = SigningKey::Generate();
  const Checkpoint c = TestCheckpoint();
  const std::string body = CheckpointBody(c);
  const std::string note = SignNote(body, c.origin, key);

  const std::vector<uint8_t> blob = LastSignatureBlob(note);
  REQUIRE(blob.size() == 4 + 64);
  const std::string sig(blob.begin() + 4, blob.end());
  WriteBytes(dir / "pub.pem", PublicKeyPem(key.public_key()));
  WriteBytes(dir / "body.txt", body);
  WriteBytes(dir / "sig.bin", sig);
  const std::string verify = "openssl pkeyutl -verify -pubin -inkey " + Quote(dir / "pub.pem") +
                             " -rawin -in " + Quote(dir / "body.txt") + " -sigfile " +
                             Quote(dir / "sig.bin");
  CommandResult r = Run(verify);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("Signature Verified Successfully") != std::string::npos);

  // OpenSSL must also reject it over the body with the blank line (i.e. the signed bytes are
  // exactly the body) and over a tampered size.
  WriteBytes(dir / "body.txt", body + "\n");
  CHECK(Run(verify).exit_code != 0);
  Checkpoint bigger = c;
  bigger.size += 1;
  WriteBytes(dir / "body.txt", CheckpointBody(bigger));
  CHECK(Run(verify).exit_code != 0);
}

// ---- tlog-proof -----------------------------------------------------------------------------

TEST_CASE("a tlog-proof has the C2SP layout and round-trips") {
  const SigningKey key = LedgerKey();
  const Checkpoint c = TestCheckpoint();
  TlogProof proof;
  proof.index = 73894;
  proof.hashes = {TestHash(1), TestHash(2), TestHash(3)};
  proof.checkpoint_note = SignNote(CheckpointBody(c), c.origin, key);
  const std::string text = FormatTlogProof(proof);
  CHECK(text == "c2sp.org/tlog-proof@v1\nindex 73894\n" + Base64Encode(TestHash(1)) + "\n" +
                    Base64Encode(TestHash(2)) + "\n" + Base64Encode(TestHash(3)) + "\n\n" +
                    proof.checkpoint_note);

  TlogProof back;
  REQUIRE(ParseTlogProof(text, &back).ok());
  CHECK(back.index == proof.index);
  CHECK(back.hashes == proof.hashes);
  CHECK(back.checkpoint_note == proof.checkpoint_note);
  CHECK(FormatTlogProof(back) == text);
  Checkpoint opened;
  REQUIRE(OpenCheckpoint(back.checkpoint_note, key.public_key(), &opened).ok());
  CHECK(opened == c);

  TlogProof empty;  // index 0, no hashes (a one-leaf tree)
  empty.checkpoint_note = proof.checkpoint_note;
  TlogProof empty_back;
  REQUIRE(ParseTlogProof(FormatTlogProof(empty), &empty_back).ok());
  CHECK(empty_back.index == 0);
  CHECK(empty_back.hashes.empty());
  CHECK(empty_back.checkpoint_note == empty.checkpoint_note);
}

TEST_CASE("a tlog-proof with extra data and witness cosignatures parses") {
  const SigningKey key = LedgerKey();
  const Checkpoint c = TestCheckpoint();
  const std::string body = CheckpointBody(c);
  const std::string cosigned =
      SignNote(body, c.origin, key) +
      SignNote(body, "witness1.example", LedgerKey(8)).substr(body.size() + 1);
  const std::string text = "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4=\nindex 5\n" +
                           Base64Encode(TestHash(4)) + "\n\n" + cosigned;
  TlogProof p;
  REQUIRE(ParseTlogProof(text, &p).ok());
  CHECK(p.index == 5);
  REQUIRE(p.hashes.size() == 1);
  CHECK(p.hashes[0] == TestHash(4));
  CHECK(p.checkpoint_note == cosigned);
  Checkpoint opened;
  CHECK(OpenCheckpoint(p.checkpoint_note, key.public_key(), &opened).ok());
}

TEST_CASE("malformed tlog-proofs are rejected") {
  const std::string note = SignNote(CheckpointBody(TestCheckpoint()), TestCheckpoint().origin,
                                    LedgerKey());
  const std::string h = Base64Encode(TestHash(1));
  const std::string head = "c2sp.org/tlog-proof@v1\n";
  std::string sixty_five;
  for (int i = 0; i < 65; ++i) sixty_five += h + "\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"header only", head},
      {"header without newline", "c2sp.org/tlog-proof@v1"},
      {"wrong version", "c2sp.org/tlog-proof@v2\nindex 1\n" + h + "\n\n" + note},
      {"no index", head + h + "\n\n" + note},
      {"index with leading zero", head + "index 01\n" + h + "\n\n" + note},
      {"negative index", head + "index -1\n" + h + "\n\n" + note},
      {"index overflow", head + "index 18446744073709551616\n\n" + note},
      {"index without space", head + "index1\n\n" + note},
      {"index with two spaces", head + "index  1\n\n" + note},
      {"empty index", head + "index \n\n" + note},
      {"extra after index", head + "index 1\nextra AAAA\n\n" + note},
      {"bad extra base64", head + "extra A\nindex 1\n\n" + note},
      {"two extra lines", head + "extra AAAA\nextra AAAA\nindex 1\n\n" + note},
      {"short hash", head + "index 1\n" + h.substr(0, 40) + "\n\n" + note},
      {"hex hash", head + "index 1\n" + HexEncode(TestHash(1)) + "\n\n" + note},
      {"hash with trailing space", head + "index 1\n" + h + " \n\n" + note},
      {"65 hashes", head + "index 1\n" + sixty_five + "\n" + note},
      {"no blank line", head + "index 1\n" + h + "\n"},
      {"no checkpoint", head + "index 1\n" + h + "\n\n"},
      {"checkpoint without signatures", head + "index 1\n\n" + CheckpointBody(TestCheckpoint())},
      {"checkpoint truncated", head + "index 1\n\n" + note.substr(0, note.size() - 5)},
      {"CRLF", "c2sp.org/tlog-proof@v1\r\nindex 1\r\n\r\n" + note},
      {"garbage", "\xff\xfe\x00garbage"},
  };
  for (const auto& [why, text] : bad) {
    CAPTURE(why);
    TlogProof out;
    out.index = 99;
    const Status s = ParseTlogProof(text, &out);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find('\n') == std::string::npos);
    CHECK(out.index == 99);
  }
}

}  // namespace kirjuri
