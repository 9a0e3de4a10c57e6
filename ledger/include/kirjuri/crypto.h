// Ed25519 keys and the text encodings Kirjuri hands to other tools: base64, hex, PEM.
//
// All cryptography goes through libsodium (sodium_init() is called by InitCrypto(), which every
// entry point calls; it is idempotent). Keys are exported in the formats OpenSSL reads:
// the public key as a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----", RFC 8410), the
// private key file as a PEM PKCS#8 PrivateKeyInfo ("-----BEGIN PRIVATE KEY-----") holding the
// 32-byte seed. Key files are created with mode 0600 and never overwritten; key bytes are never
// logged or put in a Status message.
//
// Thread-safety: after InitCrypto(), every function is safe to call from any thread; a
// SigningKey may be shared by threads for concurrent Sign() calls.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/status.h"

namespace kirjuri {

// Calls sodium_init(). IOError if libsodium cannot initialise.
Status InitCrypto();

std::string Base64Encode(std::span<const uint8_t> bytes);  // standard alphabet, padded
// InvalidArgument on anything but canonical padded standard base64 (whitespace included).
Status Base64Decode(std::string_view text, std::vector<uint8_t>* out);
std::string HexEncode(std::span<const uint8_t> bytes);     // lowercase
Status HexDecode(std::string_view text, std::vector<uint8_t>* out);

using Sha256Digest = std::array<uint8_t, 32>;
Sha256Digest Sha256(std::span<const uint8_t> bytes);

using Ed25519Signature = std::array<uint8_t, 64>;

struct PublicKey {
  std::array<uint8_t, 32> bytes{};
  bool operator==(const PublicKey&) const = default;
};

// True iff `signature` is a valid Ed25519 signature of `message` by `key`.
bool VerifySignature(const PublicKey& key, std::span<const uint8_t> message,
                     std::span<const uint8_t> signature);

// An Ed25519 key pair. The secret half is wiped on destruction.
class SigningKey {
 public:
  SigningKey() = default;
  ~SigningKey();
  SigningKey(const SigningKey&);
  SigningKey& operator=(const SigningKey&);

  static SigningKey Generate();
  // REQUIRES: seed.size() == 32.
  static SigningKey FromSeed(std::span<const uint8_t> seed);

  Ed25519Signature Sign(std::span<const uint8_t> message) const;
  const PublicKey& public_key() const { return public_; }
  bool valid() const { return valid_; }

  // Writes the key as PEM PKCS#8 to a new file with mode 0600 (O_EXCL: an existing file is an
  // error, FailedPrecondition). IOError on any write or fsync failure.
  Status WriteFile(const std::filesystem::path& path) const;
  // Reads a key written by WriteFile (or by `openssl genpkey -algorithm ed25519`).
  // InvalidArgument if the file is not an Ed25519 PKCS#8 PEM; FailedPrecondition if the file is
  // readable by group or others (mode wider than 0600).
  static Status ReadFile(const std::filesystem::path& path, SigningKey* out);

 private:
  std::array<uint8_t, 64> secret_{};  // libsodium's seed || public key form
  PublicKey public_;
  bool valid_ = false;
};

// Secret files (key files), shared by SigningKey and the key store's MasterKey so that there is
// one piece of code for them. Messages say "key file PATH ..." and never hold the file's bytes.
//
// Creates `path` holding `bytes`, mode 0600 whatever the umask: written and fsync'd under a
// temporary name beside it, then renamed to `path` without replacing anything, and the
// directory fsync'd. So `path` holds the whole key or nothing, even if the process is killed
// (which may leave a stray "<path>.tmp-<hex>"). FailedPrecondition if `path` exists; IOError on
// any other failure, in which case no file is left behind.
Status WriteSecretFile(const std::filesystem::path& path, std::string_view bytes);
// Reads a whole secret file into `out`. NotFound if missing; FailedPrecondition if group or
// others may read it (mode wider than 0600); InvalidArgument if it is not a regular file or is
// longer than `max_bytes`. `out` never reallocates while it holds file bytes, so wiping it
// (sodium_memzero over out->size()) wipes every copy; the caller does that.
Status ReadSecretFile(const std::filesystem::path& path, size_t max_bytes, std::string* out);

// Replaces `path` with a file holding `bytes` (mode 0644), atomically: written to "<path>.tmp",
// fsync'd, renamed over `path`, and (if `sync_dir`) the directory fsync'd. A crash leaves the old
// file or the new one, whole; without `sync_dir` it may be the old one even after this returned.
// IOError naming the path on failure.
Status ReplaceFileDurably(const std::filesystem::path& path, std::string_view bytes,
                          bool sync_dir = true);

// PEM SubjectPublicKeyInfo (RFC 8410), as `openssl pkey -pubout` writes it.
std::string PublicKeyPem(const PublicKey& key);
Status ParsePublicKeyPem(std::string_view pem, PublicKey* out);

}  // namespace kirjuri
