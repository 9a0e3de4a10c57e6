// Tests for kirjuri/crypto.h: encodings, Ed25519, key files, PEM — and interoperability with
// the OpenSSL command-line tool, which is not ours.
#include "kirjuri/crypto.h"
#include "test_util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <set>
#include <string>
#include <vector>

namespace kirjuri {
namespace {

using testing::TempDir;

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> Unhex(std::string_view hex) {
  std::vector<uint8_t> out;
  REQUIRE(HexDecode(hex, &out).ok());
  return out;
}

std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::filesystem::path& p, std::string_view text, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    REQUIRE(out.good());
  }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

mode_t FileMode(const std::filesystem::path& p) {
  struct stat st;
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Single-quoted for the shell (our temp paths never contain a quote). Built with append():
// "'" + str + "'" trips GCC 12's false -Wrestrict positive at -O2.
std::string Quote(const std::filesystem::path& p) {
  std::string q = "'";
  q.append(p.string()).append("'");
  return q;
}

// The interop tests must fail, not skip, when OpenSSL is missing: CI installs it.
void RequireOpenssl() {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    FAIL("the `openssl` command-line tool is not on PATH; the interoperability tests need it "
         "(apt-get install -y openssl)");
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
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

SigningKey TestKey(uint8_t fill) {
  std::vector<uint8_t> seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(fill + i);
  return SigningKey::FromSeed(seed);
}

}  // namespace

// ---- base64 / hex / SHA-256 -----------------------------------------------------------------

TEST_CASE("base64 encoding matches the RFC 4648 test vectors") {
  REQUIRE(InitCrypto().ok());
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, b64] : vectors) {
    CAPTURE(plain);
    CHECK(Base64Encode(Bytes(plain)) == b64);
    std::vector<uint8_t> decoded;
    REQUIRE(Base64Decode(b64, &decoded).ok());
    CHECK(decoded == Bytes(plain));
  }
  CHECK(Base64Encode(std::vector<uint8_t>{0xfb, 0xff}) == "+/8=");
}

TEST_CASE("base64 round-trips random bytes of every length up to 100") {
  std::mt19937 rng(42);
  for (size_t len = 0; len <= 100; ++len) {
    std::vector<uint8_t> bytes(len);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> back;
    REQUIRE(Base64Decode(Base64Encode(bytes), &back).ok());
    CHECK(back == bytes);
  }
}

TEST_CASE("base64 decoding rejects anything but canonical padded standard base64") {
  const std::vector<std::string> bad = {
      "Zg",          "Zg=",       "Zg===",     "Zh==",  // non-zero padding bits
      "Zm9=",        "Zm9v\n",    " Zm9v",     "Zm9v ", "Zm 9v", "Zm9v\r\n",
      "Zm-v",        "Zm_v",      "Z",         "=",     "====",  "Zm9v====",
      "Zg==Zg==",    "Zm9vYg=",   "Zm9vYg",    "Zm9v=", "Zm9%",  std::string("Zm\0v", 4),
      "Zm9vYmFy\t",  "\xc3\xa4" "AAA",
  };
  for (const std::string& text : bad) {
    CAPTURE(text);
    std::vector<uint8_t> out;
    Status s = Base64Decode(text, &out);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find('\n') == std::string::npos);
  }
}

TEST_CASE("hex encoding is lowercase and round-trips") {
  const std::vector<uint8_t> bytes = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
  CHECK(HexEncode(bytes) == "0001abcdefff");
  CHECK(HexEncode({}) == "");
  std::vector<uint8_t> back;
  REQUIRE(HexDecode("0001abcdefff", &back).ok());
  CHECK(back == bytes);
  REQUIRE(HexDecode("", &back).ok());
  CHECK(back.empty());
}

TEST_CASE("hex decoding rejects odd lengths and non-hex characters") {
  for (const std::string text : {"a", "abc", "zz", "0x00", "00 ", " 00", "0g", "0-", "a\n",
                                 "\xc3\xa4\xc3\xa4"}) {
    CAPTURE(text);
    std::vector<uint8_t> out;
    CHECK(HexDecode(text, &out).IsInvalidArgument());
  }
}

TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors") {
  CHECK(HexEncode(Sha256({})) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(HexEncode(Sha256(Bytes("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// ---- Ed25519 --------------------------------------------------------------------------------

TEST_CASE("Ed25519 signing matches RFC 8032 test vector 1") {
  const SigningKey key = SigningKey::FromSeed(
      Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  REQUIRE(key.valid());
  CHECK(HexEncode(key.public_key().bytes) ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const Ed25519Signature sig = key.Sign({});
  CHECK(HexEncode(sig) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(VerifySignature(key.public_key(), {}, sig));
}

TEST_CASE("a signature verifies and any flipped bit in message or signature is rejected") {
  const SigningKey key = SigningKey::Generate();
  const std::vector<uint8_t> msg = Bytes("seq 41: consent withdrawn\n");
  const Ed25519Signature sig = key.Sign(msg);
  REQUIRE(VerifySignature(key.public_key(), msg, sig));

  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    Ed25519Signature bad = sig;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    CAPTURE(bit);
    CHECK_FALSE(VerifySignature(key.public_key(), msg, bad));
  }
  for (size_t bit = 0; bit < msg.size() * 8; ++bit) {
    std::vector<uint8_t> bad = msg;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    CAPTURE(bit);
    CHECK_FALSE(VerifySignature(key.public_key(), bad, sig));
  }
  std::vector<uint8_t> longer = msg;
  longer.push_back('x');
  CHECK_FALSE(VerifySignature(key.public_key(), longer, sig));
  CHECK_FALSE(VerifySignature(SigningKey::Generate().public_key(), msg, sig));
  CHECK_FALSE(VerifySignature(key.public_key(), msg, std::span(sig).first(63)));
  std::vector<uint8_t> sig65(sig.begin(), sig.end());
  sig65.push_back(0);
  CHECK_FALSE(VerifySignature(key.public_key(), msg, sig65));
  CHECK_FALSE(VerifySignature(key.public_key(), msg, {}));
}

TEST_CASE("generated keys are valid and distinct, a default key is not valid") {
  const SigningKey a = SigningKey::Generate();
  const SigningKey b = SigningKey::Generate();
  CHECK(a.valid());
  CHECK(b.valid());
  CHECK_FALSE(a.public_key() == b.public_key());
  CHECK_FALSE(SigningKey().valid());
}

TEST_CASE("a copied or assigned signing key signs like the original") {
  const SigningKey a = TestKey(1);
  const SigningKey copy(a);  // NOLINT(performance-unnecessary-copy-initialization)
  SigningKey assigned = TestKey(9);
  assigned = a;
  SigningKey& self = assigned;
  assigned = self;
  const std::vector<uint8_t> msg = Bytes("hello");
  CHECK(copy.public_key() == a.public_key());
  CHECK(assigned.public_key() == a.public_key());
  CHECK(copy.Sign(msg) == a.Sign(msg));
  CHECK(assigned.Sign(msg) == a.Sign(msg));
  CHECK(assigned.valid());
}

// ---- Key files ------------------------------------------------------------------------------

TEST_CASE("a key file is written with mode 0600 and reads back as the same key") {
  TempDir dir;
  const SigningKey key = SigningKey::Generate();
  const auto path = dir / "ledger.key";
  REQUIRE(key.WriteFile(path).ok());
  CHECK(FileMode(path) == 0600);

  const std::string text = ReadText(path);
  CHECK(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  CHECK(text.ends_with("\n-----END PRIVATE KEY-----\n"));

  SigningKey back;
  Status s = SigningKey::ReadFile(path, &back);
  REQUIRE(s.ok());
  CHECK(back.valid());
  CHECK(back.public_key() == key.public_key());
  CHECK(back.Sign(Bytes("m")) == key.Sign(Bytes("m")));
}

TEST_CASE("a key file is written with mode 0600 even under a permissive umask") {
  TempDir dir;
  const mode_t old = ::umask(0);
  const Status s = TestKey(3).WriteFile(dir / "k.pem");
  ::umask(old);
  REQUIRE(s.ok());
  CHECK(FileMode(dir / "k.pem") == 0600);
  // Written under a temporary name and renamed: nothing else is left in the directory.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.push_back(entry.path().filename().string());
  }
  CHECK(names == std::vector<std::string>{"k.pem"});
}

TEST_CASE("writing a key file removes the temporary files a killed earlier write of it left") {
  TempDir dir;
  // As a write killed before its rename leaves them; and look-alikes that are not ours.
  WriteText(dir / "k.pem.tmp-0123456789abcdef", "an earlier key, never given its name\n", 0600);
  WriteText(dir / "k.pem.tmp-fedcba9876543210", "another\n", 0600);
  WriteText(dir / "k.pem.tmp-notours", "keep\n", 0600);
  WriteText(dir / "k.pem.tmp-0123456789ABCDEF", "keep\n", 0600);
  WriteText(dir / "other.pem.tmp-0123456789abcdef", "keep\n", 0600);
  REQUIRE(TestKey(3).WriteFile(dir / "k.pem").ok());
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.insert(entry.path().filename().string());
  }
  CHECK(names == std::set<std::string>{"k.pem", "k.pem.tmp-notours", "k.pem.tmp-0123456789ABCDEF",
                                       "other.pem.tmp-0123456789abcdef"});
}

TEST_CASE("writing a key file refuses to replace an existing file") {
  TempDir dir;
  const auto path = dir / "ledger.key";
  WriteText(path, "precious\n", 0600);
  Status s = SigningKey::Generate().WriteFile(path);
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(s.message().find(path.string()) != std::string::npos);
  CHECK(ReadText(path) == "precious\n");

  // Also when the existing file is a key we wrote ourselves.
  const auto path2 = dir / "second.key";
  REQUIRE(TestKey(1).WriteFile(path2).ok());
  const std::string before = ReadText(path2);
  CHECK(TestKey(2).WriteFile(path2).code() == Status::Code::kFailedPrecondition);
  CHECK(ReadText(path2) == before);
}

TEST_CASE("writing a key file into a missing directory is an IO error") {
  TempDir dir;
  CHECK(TestKey(1).WriteFile(dir / "no/such/dir/k.pem").code() == Status::Code::kIOError);
  CHECK_FALSE(SigningKey().WriteFile(dir / "empty.pem").ok());
  CHECK_FALSE(std::filesystem::exists(dir / "empty.pem"));
}

TEST_CASE("reading a key file refuses modes readable by group or others") {
  TempDir dir;
  const SigningKey key = TestKey(7);
  const auto path = dir / "ledger.key";
  REQUIRE(key.WriteFile(path).ok());
  const std::string pem = ReadText(path);
  std::vector<uint8_t> seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(7 + i);
  const std::string seed_hex = HexEncode(seed);
  const std::string b64_line = pem.substr(pem.find('\n') + 1, 64);

  for (const mode_t mode : {0644, 0640, 0604, 0660, 0606, 0601, 0610, 0400 | 0004}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    SigningKey out;
    Status s = SigningKey::ReadFile(path, &out);
    CHECK(s.code() == Status::Code::kFailedPrecondition);
    CHECK_FALSE(out.valid());
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%04o", static_cast<unsigned>(mode));
    CHECK(s.message().find(mode_text) != std::string::npos);
    CHECK(s.message().find(path.string()) != std::string::npos);
    CHECK(s.message().find(b64_line) == std::string::npos);
    CHECK(s.message().find(seed_hex) == std::string::npos);
    CHECK(s.message().find('\n') == std::string::npos);
  }
  REQUIRE(::chmod(path.c_str(), 0400) == 0);
  SigningKey out;
  CHECK(SigningKey::ReadFile(path, &out).ok());
  CHECK(out.public_key() == key.public_key());
}

TEST_CASE("reading a missing key file fails cleanly") {
  TempDir dir;
  SigningKey out;
  Status s = SigningKey::ReadFile(dir / "absent.key", &out);
  CHECK(s.IsNotFound());
  CHECK_FALSE(out.valid());
  CHECK_FALSE(SigningKey::ReadFile(dir.path(), &out).ok());  // a directory
}

TEST_CASE("reading a key file rejects anything but an Ed25519 PKCS#8 PEM") {
  TempDir dir;
  const auto good_path = dir / "good.key";
  REQUIRE(TestKey(5).WriteFile(good_path).ok());
  const std::string good = ReadText(good_path);
  const std::string body = good.substr(28, 64);  // the one base64 line
  // X25519 (OID 1.3.101.110) instead of Ed25519, same layout.
  std::vector<uint8_t> x25519 = Unhex("302e020100300506032b656e04220420");
  x25519.resize(48, 0x11);
  // PKCS#8 with one extra trailing byte.
  std::vector<uint8_t> longer = Unhex("302e020100300506032b657004220420");
  longer.resize(49, 0x11);
  std::vector<uint8_t> shorter = Unhex("302e020100300506032b657004220420");
  shorter.resize(47, 0x11);

  const auto pem = [](std::string_view label, const std::string& b64) {
    return "-----BEGIN " + std::string(label) + "-----\n" + b64 + "\n-----END " +
           std::string(label) + "-----\n";
  };
  const std::vector<std::string> bad = {
      "",
      "garbage",
      std::string(100, '\0'),
      std::string(5000, 'A'),
      good.substr(0, good.size() / 2),
      good.substr(0, good.size() - 10),
      good.substr(1),
      pem("PUBLIC KEY", body),
      pem("RSA PRIVATE KEY", body),
      pem("ENCRYPTED PRIVATE KEY", body),
      pem("PRIVATE KEY", body.substr(0, 60)),
      pem("PRIVATE KEY", body + "AAAA"),
      pem("PRIVATE KEY", Base64Encode(x25519)),
      pem("PRIVATE KEY", Base64Encode(longer)),
      pem("PRIVATE KEY", Base64Encode(shorter)),
      "-----BEGIN PRIVATE KEY-----\n" + body.substr(0, 32) + "\n" + body.substr(32) +
          "\n-----END PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE KEY-----\n\n" + body + "\n-----END PRIVATE KEY-----\n",
      " " + good,
      good + "\n",
      good + "junk\n",
      PublicKeyPem(TestKey(5).public_key()),
  };
  int i = 0;
  for (const std::string& text : bad) {
    CAPTURE(i);
    const auto path = dir / ("bad" + std::to_string(i++) + ".key").c_str();
    WriteText(path, text, 0600);
    SigningKey out;
    Status s = SigningKey::ReadFile(path, &out);
    CHECK(s.IsInvalidArgument());
    CHECK_FALSE(out.valid());
    CHECK(s.message().find('\n') == std::string::npos);
    CHECK(s.message().find(body) == std::string::npos);
  }
}

TEST_CASE("a key file with CRLF line ends or no final newline is read") {
  TempDir dir;
  REQUIRE(TestKey(5).WriteFile(dir / "good.key").ok());
  const std::string good = ReadText(dir / "good.key");
  std::string crlf;
  for (char c : good) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  WriteText(dir / "crlf.key", crlf, 0600);
  WriteText(dir / "nonl.key", good.substr(0, good.size() - 1), 0600);
  for (const char* name : {"crlf.key", "nonl.key"}) {
    SigningKey out;
    REQUIRE(SigningKey::ReadFile(dir / name, &out).ok());
    CHECK(out.public_key() == TestKey(5).public_key());
  }
}

// ---- Public key PEM -------------------------------------------------------------------------

TEST_CASE("a public key PEM has the RFC 8410 layout and round-trips") {
  const SigningKey key = SigningKey::FromSeed(
      Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  const std::string pem = PublicKeyPem(key.public_key());
  // DER = 302a300506032b6570032100 || d75a9801...
  CHECK(pem ==
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
        "-----END PUBLIC KEY-----\n");
  PublicKey back;
  REQUIRE(ParsePublicKeyPem(pem, &back).ok());
  CHECK(back == key.public_key());

  std::string crlf;
  for (char c : pem) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  PublicKey from_crlf;
  REQUIRE(ParsePublicKeyPem(crlf, &from_crlf).ok());
  CHECK(from_crlf == key.public_key());
  PublicKey no_final_nl;
  REQUIRE(ParsePublicKeyPem(pem.substr(0, pem.size() - 1), &no_final_nl).ok());
  CHECK(no_final_nl == key.public_key());
}

TEST_CASE("public key PEM parsing rejects truncated, garbled or mislabelled input") {
  const std::string pem = PublicKeyPem(TestKey(2).public_key());
  const std::string body = pem.substr(27, 60);
  // Every proper prefix is rejected, except dropping the final newline.
  for (size_t len = 0; len + 1 < pem.size(); ++len) {
    CAPTURE(len);
    PublicKey out;
    CHECK(ParsePublicKeyPem(pem.substr(0, len), &out).IsInvalidArgument());
  }
  std::vector<uint8_t> x25519 = Unhex("302a300506032b656e032100");
  x25519.resize(44, 0x22);
  const std::vector<std::string> bad = {
      "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----\n\n",
      "-----BEGIN PUBLIC KEY-----\n" + body + "\n\n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + body + " \n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY----- \n" + body + "\n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + body.substr(0, 30) + "\n" + body.substr(30) +
          "\n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + body.substr(0, 56) + "\n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + body + "AAAA\n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n" + Base64Encode(x25519) + "\n-----END PUBLIC KEY-----\n",
      "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
      "\n" + pem,
      pem + pem,
      "garbage",
      std::string(3, '\0'),
  };
  for (const std::string& text : bad) {
    CAPTURE(text);
    PublicKey out;
    Status s = ParsePublicKeyPem(text, &out);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find('\n') == std::string::npos);
  }
  // Random garbage and random single-byte corruptions never crash.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string text = pem;
    text[rng() % text.size()] = static_cast<char>(rng());
    if (i % 2) text.resize(rng() % text.size());
    PublicKey out;
    (void)ParsePublicKeyPem(text, &out);
  }
}

// ---- Interoperability with OpenSSL ----------------------------------------------------------

TEST_CASE("openssl derives the same public key PEM from a key file we wrote") {
  RequireOpenssl();
  TempDir dir;
  const SigningKey key = SigningKey::Generate();
  REQUIRE(key.WriteFile(dir / "key.pem").ok());
  const CommandResult r = Run("openssl pkey -in " + Quote(dir / "key.pem") + " -pubout");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == PublicKeyPem(key.public_key()));
}

TEST_CASE("a key generated by openssl genpkey is read and yields openssl's public key") {
  RequireOpenssl();
  TempDir dir;
  const auto key_path = dir / "k.pem";
  CommandResult r = Run("openssl genpkey -algorithm ed25519 -out " + Quote(key_path));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(::chmod(key_path.c_str(), 0600) == 0);

  SigningKey key;
  Status s = SigningKey::ReadFile(key_path, &key);
  INFO(s.ToString());
  REQUIRE(s.ok());
  r = Run("openssl pkey -in " + Quote(key_path) + " -pubout");
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == PublicKeyPem(key.public_key()));
  PublicKey theirs;
  REQUIRE(ParsePublicKeyPem(r.output, &theirs).ok());
  CHECK(theirs == key.public_key());
}

TEST_CASE("openssl verifies a signature made by SigningKey and rejects a tampered one") {
  RequireOpenssl();
  TempDir dir;
  const SigningKey key = SigningKey::Generate();
  const std::string msg = "example.com/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  Ed25519Signature sig = key.Sign(Bytes(msg));
  WriteText(dir / "pub.pem", PublicKeyPem(key.public_key()), 0644);
  WriteText(dir / "msg.txt", msg, 0644);
  WriteText(dir / "sig.bin", std::string(sig.begin(), sig.end()), 0644);
  const std::string verify = "openssl pkeyutl -verify -pubin -inkey " + Quote(dir / "pub.pem") +
                             " -rawin -in " + Quote(dir / "msg.txt") + " -sigfile " +
                             Quote(dir / "sig.bin");
  CommandResult r = Run(verify);
  INFO(r.output);
  CHECK(r.exit_code == 0);

  sig[10] ^= 0x01;
  WriteText(dir / "sig.bin", std::string(sig.begin(), sig.end()), 0644);
  r = Run(verify);
  CHECK(r.exit_code != 0);
}

TEST_CASE("a signature made by openssl verifies with VerifySignature") {
  RequireOpenssl();
  TempDir dir;
  const SigningKey key = SigningKey::Generate();
  REQUIRE(key.WriteFile(dir / "key.pem").ok());
  const std::string msg = "signed by someone else's code\n";
  WriteText(dir / "msg.txt", msg, 0644);
  const CommandResult r = Run("openssl pkeyutl -sign -inkey " + Quote(dir / "key.pem") +
                              " -rawin -in " + Quote(dir / "msg.txt") + " -out " +
                              Quote(dir / "sig.bin"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string sig = ReadText(dir / "sig.bin");
  REQUIRE(sig.size() == 64);
  CHECK(VerifySignature(key.public_key(), Bytes(msg), Bytes(sig)));
  const Ed25519Signature ours = key.Sign(Bytes(msg));
  CHECK(Bytes(sig) == std::vector<uint8_t>(ours.begin(), ours.end()));  // deterministic
  CHECK_FALSE(VerifySignature(key.public_key(), Bytes(msg + "x"), Bytes(sig)));
}

}  // namespace kirjuri
