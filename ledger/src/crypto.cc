// Ed25519 keys, base64/hex, PEM — all cryptography through libsodium.
#include "kirjuri/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kirjuri {
namespace {

// A programming error (a violated REQUIRES) that must not produce output silently.
[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "kirjuri: fatal: %s\n", what);
  std::abort();
}

void EnsureInit() {
  static const int rc = sodium_init();  // thread-safe once; sodium_init is idempotent anyway
  if (rc < 0) Die("libsodium failed to initialise");
}

// libsodium wants a non-null pointer even for empty input.
const unsigned char* Ptr(std::span<const uint8_t> s) {
  static const unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : s.data();
}

// Wipes a buffer holding secret material when it goes out of scope.
template <typename T>
class Wiper {
 public:
  explicit Wiper(T* buf) : buf_(buf) {}
  ~Wiper() {
    if (!buf_->empty()) sodium_memzero(buf_->data(), buf_->size() * sizeof((*buf_)[0]));
  }
  Wiper(const Wiper&) = delete;
  Wiper& operator=(const Wiper&) = delete;

 private:
  T* buf_;
};

constexpr uint8_t kSpkiPrefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                     0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr uint8_t kPkcs8Prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                      0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
constexpr size_t kPemLineLen = 64;
constexpr size_t kMaxKeyFileBytes = 4096;

std::string PemEncode(std::string_view label, std::span<const uint8_t> der) {
  std::string b64 = Base64Encode(der);
  std::string out;
  out.reserve(b64.size() + b64.size() / kPemLineLen + 2 * label.size() + 40);
  out.append("-----BEGIN ").append(label).append("-----\n");
  for (size_t i = 0; i < b64.size(); i += kPemLineLen) {
    out.append(b64, i, kPemLineLen).push_back('\n');
  }
  out.append("-----END ").append(label).append("-----\n");
  sodium_memzero(b64.data(), b64.size());
  return out;
}

// Strict PEM: BEGIN line, base64 lines of exactly 64 chars (the last 1..64), END line.
// Accepts LF or CRLF line ends and an optional final line end; nothing else.
Status PemDecode(std::string_view pem, std::string_view label, std::vector<uint8_t>* der) {
  std::string begin = "-----BEGIN " + std::string(label) + "-----";
  std::string end = "-----END " + std::string(label) + "-----";
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < pem.size()) {
    size_t nl = pem.find('\n', pos);
    std::string_view line = pem.substr(pos, nl == std::string_view::npos ? pem.npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (lines.size() < 3) return Status::InvalidArgument("PEM: too few lines");
  if (lines.front() != begin) {
    return Status::InvalidArgument("PEM: first line is not '" + begin + "'");
  }
  if (lines.back() != end) return Status::InvalidArgument("PEM: last line is not '" + end + "'");
  std::string b64;
  Wiper<std::string> wipe_b64(&b64);
  b64.reserve(pem.size());
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const bool last = i + 2 == lines.size();
    if (line.empty() || line.size() > kPemLineLen || (!last && line.size() != kPemLineLen)) {
      return Status::InvalidArgument("PEM: line " + std::to_string(i + 1) +
                                     " is not a 64-column base64 line");
    }
    b64.append(line);
  }
  Status s = Base64Decode(b64, der);
  if (!s.ok()) return Status::InvalidArgument("PEM: body is not valid base64");
  return Status::Ok();
}

std::string Errno(int err) { return std::strerror(err); }

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(Errno(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status FsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open directory " + dir.string() + ": " + Errno(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("fsync directory " + dir.string() + ": " + Errno(err));
  return Status::Ok();
}

}  // namespace

Status InitCrypto() {
  if (sodium_init() < 0) return Status::IOError("libsodium failed to initialise");
  return Status::Ok();
}

// ---- Secret files ---------------------------------------------------------------------------

Status ReplaceFileDurably(const std::filesystem::path& path, std::string_view bytes,
                          bool sync_dir) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  const std::string where = path.string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Status::IOError(where + ": create: " + Errno(errno));
  Status s = WriteAll(fd, bytes);
  if (!s.ok()) s = s.Prefixed(where + ": write");
  if (s.ok() && ::fsync(fd) != 0) s = Status::IOError(where + ": fsync: " + Errno(errno));
  if (::close(fd) != 0 && s.ok()) s = Status::IOError(where + ": close: " + Errno(errno));
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::IOError(where + ": rename: " + Errno(errno));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (!sync_dir) return Status::Ok();
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  return FsyncDir(dir);
}

namespace {

// The temporary files WriteSecretFile writes `path` under: "<name>.tmp-" and 16 hex digits.
void RemoveStrayTemporaries(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  const std::string prefix = path.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != prefix.size() + 16 || !name.starts_with(prefix)) continue;
    const std::string_view digits = std::string_view(name).substr(prefix.size());
    if (digits.find_first_not_of("0123456789abcdef") != std::string_view::npos) continue;
    std::error_code ignored;
    if (entry.is_regular_file(ignored)) std::filesystem::remove(entry.path(), ignored);
  }
}

}  // namespace

Status WriteSecretFile(const std::filesystem::path& path, std::string_view bytes) {
  const std::string where = "key file " + path.string();
  // Refused early when it exists; the rename below refuses it again if one appears meanwhile.
  struct stat existing;
  if (::lstat(path.c_str(), &existing) == 0) return Status::FailedPrecondition(where + " already exists");
  // Written whole under a temporary name beside it, then given its name: a process killed while
  // writing leaves at most a stray temporary file, never a partial key under `path`. Such strays
  // of an earlier write to `path` (a key that was never given its name) are removed first, so a
  // secret does not linger beside it under a name nobody looks at.
  RemoveStrayTemporaries(path);
  std::array<uint8_t, 8> r;
  randombytes_buf(r.data(), r.size());
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + HexEncode(r);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IOError(where + ": create: " + Errno(errno));
  Status s;
  if (::fchmod(fd, 0600) != 0) {  // whatever the umask
    s = Status::IOError(where + ": chmod: " + Errno(errno));
  }
  if (s.ok()) {
    s = WriteAll(fd, bytes);
    if (!s.ok()) s = s.Prefixed(where + ": write");
  }
  if (s.ok() && ::fsync(fd) != 0) s = Status::IOError(where + ": fsync: " + Errno(errno));
  if (::close(fd) != 0 && s.ok()) s = Status::IOError(where + ": close: " + Errno(errno));
  // Never over a file that appeared under `path` meanwhile: RENAME_NOREPLACE, or where the file
  // system lacks it, a hard link (which refuses an existing name too) and the unlink below.
  if (s.ok()) {
    int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) rc = ::link(tmp.c_str(), path.c_str());
    if (rc != 0) {
      s = errno == EEXIST ? Status::FailedPrecondition(where + " already exists")
                          : Status::IOError(where + ": rename: " + Errno(errno));
    }
  }
  ::unlink(tmp.c_str());  // gone after a rename; after a link, or a failure, removed here
  if (!s.ok()) return s;  // no half-written key left behind
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  return FsyncDir(dir);
}

Status ReadSecretFile(const std::filesystem::path& path, size_t max_bytes, std::string* out) {
  const std::string where = "key file " + path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(where + " does not exist");
    return Status::IOError(where + ": open: " + Errno(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::IOError(where + ": stat: " + Errno(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(where + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Status::FailedPrecondition(where + " has mode " + ModeString(st.st_mode) +
                                      ", readable by group or others; it must be 0600 "
                                      "(chmod 600)");
  }
  // Sized once, before any secret byte is in it: shrinking later never reallocates.
  out->assign(max_bytes + 1, '\0');
  size_t len = 0;
  Status s;
  while (len < out->size()) {
    ssize_t n = ::read(fd, out->data() + len, out->size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      s = Status::IOError(where + ": read: " + Errno(errno));
      break;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  if (s.ok() && len > max_bytes) {
    s = Status::InvalidArgument(where + " is too large to be a key file");
  }
  if (!s.ok()) {
    sodium_memzero(out->data(), out->size());
    out->clear();
    return s;
  }
  out->resize(len);
  return Status::Ok();
}

std::string Base64Encode(std::span<const uint8_t> bytes) {
  EnsureInit();
  const size_t len = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(len, '\0');  // includes the terminating NUL
  sodium_bin2base64(out.data(), len, Ptr(bytes), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(len - 1);
  return out;
}

Status Base64Decode(std::string_view text, std::vector<uint8_t>* out) {
  EnsureInit();
  if (text.size() % 4 != 0) {
    return Status::InvalidArgument("base64: length is not a multiple of 4");
  }
  std::vector<uint8_t> bin(text.size() / 4 * 3 + 1);
  size_t bin_len = 0;
  const char* end = nullptr;
  static const char kEmpty = 0;
  const char* src = text.empty() ? &kEmpty : text.data();
  int rc = sodium_base642bin(bin.data(), bin.size(), src, text.size(), /*ignore=*/nullptr,
                             &bin_len, &end, sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || end != src + text.size()) {
    sodium_memzero(bin.data(), bin.size());
    return Status::InvalidArgument("base64: not canonical padded standard base64");
  }
  bin.resize(bin_len);  // shrinking never reallocates, so no unwiped copy is left behind
  *out = std::move(bin);
  return Status::Ok();
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  EnsureInit();
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), Ptr(bytes), bytes.size());
  out.resize(bytes.size() * 2);
  return out;
}

Status HexDecode(std::string_view text, std::vector<uint8_t>* out) {
  EnsureInit();
  if (text.size() % 2 != 0) return Status::InvalidArgument("hex: odd number of digits");
  std::vector<uint8_t> bin(text.size() / 2 + 1);
  size_t bin_len = 0;
  const char* end = nullptr;
  static const char kEmpty = 0;
  const char* src = text.empty() ? &kEmpty : text.data();
  int rc = sodium_hex2bin(bin.data(), bin.size(), src, text.size(), /*ignore=*/nullptr, &bin_len,
                          &end);
  if (rc != 0 || end != src + text.size() || bin_len * 2 != text.size()) {
    return Status::InvalidArgument("hex: not a string of hex digit pairs");
  }
  bin.resize(bin_len);
  *out = std::move(bin);
  return Status::Ok();
}

Sha256Digest Sha256(std::span<const uint8_t> bytes) {
  EnsureInit();
  Sha256Digest d;
  crypto_hash_sha256(d.data(), Ptr(bytes), bytes.size());
  return d;
}

bool VerifySignature(const PublicKey& key, std::span<const uint8_t> message,
                     std::span<const uint8_t> signature) {
  EnsureInit();
  if (signature.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(signature.data(), Ptr(message), message.size(),
                                     key.bytes.data()) == 0;
}

// ---- SigningKey -----------------------------------------------------------------------------

static_assert(crypto_sign_SECRETKEYBYTES == 64 && crypto_sign_PUBLICKEYBYTES == 32 &&
              crypto_sign_SEEDBYTES == 32 && crypto_sign_BYTES == 64);

SigningKey::~SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

SigningKey::SigningKey(const SigningKey& other)
    : secret_(other.secret_), public_(other.public_), valid_(other.valid_) {}

SigningKey& SigningKey::operator=(const SigningKey& other) {
  if (this != &other) {
    sodium_memzero(secret_.data(), secret_.size());
    secret_ = other.secret_;
    public_ = other.public_;
    valid_ = other.valid_;
  }
  return *this;
}

SigningKey SigningKey::Generate() {
  EnsureInit();
  std::array<uint8_t, 32> seed;
  randombytes_buf(seed.data(), seed.size());
  SigningKey key = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

SigningKey SigningKey::FromSeed(std::span<const uint8_t> seed) {
  EnsureInit();
  if (seed.size() != crypto_sign_SEEDBYTES) Die("SigningKey::FromSeed: seed is not 32 bytes");
  SigningKey key;
  if (crypto_sign_seed_keypair(key.public_.bytes.data(), key.secret_.data(), seed.data()) != 0) {
    Die("crypto_sign_seed_keypair failed");
  }
  key.valid_ = true;
  return key;
}

Ed25519Signature SigningKey::Sign(std::span<const uint8_t> message) const {
  EnsureInit();
  if (!valid_) Die("SigningKey::Sign called on an empty key");
  Ed25519Signature sig;
  crypto_sign_detached(sig.data(), nullptr, Ptr(message), message.size(), secret_.data());
  return sig;
}

Status SigningKey::WriteFile(const std::filesystem::path& path) const {
  EnsureInit();
  if (!valid_) return Status::InvalidArgument("cannot write an empty signing key");
  std::array<uint8_t, sizeof kPkcs8Prefix + 32> der;
  std::memcpy(der.data(), kPkcs8Prefix, sizeof kPkcs8Prefix);
  std::memcpy(der.data() + sizeof kPkcs8Prefix, secret_.data(), 32);  // the seed
  std::string pem = PemEncode("PRIVATE KEY", der);
  sodium_memzero(der.data(), der.size());
  Wiper<std::string> wipe_pem(&pem);

  return WriteSecretFile(path, pem);
}

Status SigningKey::ReadFile(const std::filesystem::path& path, SigningKey* out) {
  EnsureInit();
  const std::string where = "key file " + path.string();
  std::string text;
  Wiper<std::string> wipe_text(&text);
  KIRJURI_RETURN_IF_ERROR(ReadSecretFile(path, kMaxKeyFileBytes, &text));
  std::vector<uint8_t> der;
  Wiper<std::vector<uint8_t>> wipe_der(&der);
  Status s = PemDecode(text, "PRIVATE KEY", &der);
  if (!s.ok()) return s.Prefixed(where);
  if (der.size() != sizeof kPkcs8Prefix + 32 ||
      std::memcmp(der.data(), kPkcs8Prefix, sizeof kPkcs8Prefix) != 0) {
    return Status::InvalidArgument(where + ": not an Ed25519 PKCS#8 private key");
  }
  *out = FromSeed(std::span<const uint8_t>(der).subspan(sizeof kPkcs8Prefix));
  return Status::Ok();
}

// ---- Public key PEM -------------------------------------------------------------------------

std::string PublicKeyPem(const PublicKey& key) {
  std::array<uint8_t, sizeof kSpkiPrefix + 32> der;
  std::memcpy(der.data(), kSpkiPrefix, sizeof kSpkiPrefix);
  std::memcpy(der.data() + sizeof kSpkiPrefix, key.bytes.data(), 32);
  return PemEncode("PUBLIC KEY", der);
}

Status ParsePublicKeyPem(std::string_view pem, PublicKey* out) {
  std::vector<uint8_t> der;
  KIRJURI_RETURN_IF_ERROR(PemDecode(pem, "PUBLIC KEY", &der));
  if (der.size() != sizeof kSpkiPrefix + 32 ||
      std::memcmp(der.data(), kSpkiPrefix, sizeof kSpkiPrefix) != 0) {
    return Status::InvalidArgument("PEM: not an Ed25519 SubjectPublicKeyInfo");
  }
  std::memcpy(out->bytes.data(), der.data() + sizeof kSpkiPrefix, 32);
  return Status::Ok();
}

}  // namespace kirjuri
