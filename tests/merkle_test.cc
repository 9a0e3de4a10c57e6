// Tests for kirjuri/merkle.h against the RFC 6962 / certificate-transparency reference vectors
// and against a naive reference written here straight from the RFC 9162 definitions.
//
// Nothing in the "reference" namespace calls the library: it hashes with libsodium directly,
// computes MTH, PATH and SUBPROOF by the recursive definitions over the full leaf list, and
// verifies proofs by rebuilding the tree shape recursively (not by the RFC's bit-shifting loop).
#include "kirjuri/merkle.h"

#include <sodium.h>

#include <bit>
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kirjuri::merkle {
namespace {

// ---- helpers ----

std::vector<uint8_t> FromHex(std::string_view hex) {
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    FAIL("bad hex digit " << c);
    return 0;
  };
  REQUIRE(hex.size() % 2 == 0);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

Hash H(std::string_view hex) {
  std::vector<uint8_t> bytes = FromHex(hex);
  REQUIRE(bytes.size() == 32);
  Hash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

std::string ToHex(const Hash& h) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : h) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

std::vector<std::string> ToHex(const std::vector<Hash>& hs) {
  std::vector<std::string> out;
  for (const Hash& h : hs) out.push_back(ToHex(h));
  return out;
}

Hash FlipBit(Hash h, int bit) {
  h[static_cast<size_t>(bit / 8) % h.size()] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// A distinct, deterministic leaf for position i of the generated trees.
std::vector<uint8_t> GeneratedLeaf(uint64_t i) {
  std::string s = "kirjuri leaf " + std::to_string(i);
  return std::vector<uint8_t>(s.begin(), s.end());
}

// ---- independent reference ----
namespace reference {

Hash Sha256(const std::vector<uint8_t>& bytes) {
  Hash out;
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

Hash Leaf(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> buf{0x00};
  buf.insert(buf.end(), data.begin(), data.end());
  return Sha256(buf);
}

Hash Node(const Hash& l, const Hash& r) {
  std::vector<uint8_t> buf{0x01};
  buf.insert(buf.end(), l.begin(), l.end());
  buf.insert(buf.end(), r.begin(), r.end());
  return Sha256(buf);
}

// k: the largest power of two smaller than n (n >= 2), found by doubling, not by <bit>.
uint64_t K(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

using Leaves = std::vector<Hash>;  // leaf hashes

// MTH(D[begin:end]) by definition; the empty list hashes to SHA-256("").
Hash Mth(const Leaves& d, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 0) return Sha256({});
  if (n == 1) return d[begin];
  const uint64_t k = K(n);
  return Node(Mth(d, begin, begin + k), Mth(d, begin + k, end));
}

// PATH(m, D[begin:end]) by definition, m relative to begin.
std::vector<Hash> Path(uint64_t m, const Leaves& d, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 1) return {};
  const uint64_t k = K(n);
  std::vector<Hash> out;
  if (m < k) {
    out = Path(m, d, begin, begin + k);
    out.push_back(Mth(d, begin + k, end));
  } else {
    out = Path(m - k, d, begin + k, end);
    out.push_back(Mth(d, begin, begin + k));
  }
  return out;
}

// SUBPROOF(m, D[begin:end], b) by definition, m relative to begin.
std::vector<Hash> Subproof(uint64_t m, const Leaves& d, uint64_t begin, uint64_t end, bool b) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (b) return {};
    return {Mth(d, begin, end)};
  }
  const uint64_t k = K(n);
  std::vector<Hash> out;
  if (m <= k) {
    out = Subproof(m, d, begin, begin + k, b);
    out.push_back(Mth(d, begin + k, end));
  } else {
    out = Subproof(m - k, d, begin + k, end, false);
    out.push_back(Mth(d, begin, begin + k));
  }
  return out;
}

std::vector<Hash> Proof(uint64_t m, const Leaves& d, uint64_t n) {
  return Subproof(m, d, 0, n, true);
}

// Rebuilds the root of a tree of n leaves from the leaf at m and the PATH-shaped proof (whose
// last element is the top-level sibling). nullopt if the proof has the wrong length.
std::optional<Hash> RootFromPath(uint64_t m, uint64_t n, const Hash& leaf,
                                 std::vector<Hash> proof) {
  if (n == 1) {
    if (!proof.empty()) return std::nullopt;
    return leaf;
  }
  if (proof.empty()) return std::nullopt;
  const uint64_t k = K(n);
  const Hash sibling = proof.back();
  proof.pop_back();
  if (m < k) {
    auto left = RootFromPath(m, k, leaf, proof);
    if (!left) return std::nullopt;
    return Node(*left, sibling);
  }
  auto right = RootFromPath(m - k, n - k, leaf, proof);
  if (!right) return std::nullopt;
  return Node(sibling, *right);
}

bool VerifyInclusion(uint64_t m, uint64_t n, const Hash& leaf, const std::vector<Hash>& proof,
                     const Hash& root) {
  if (m >= n) return false;
  auto got = RootFromPath(m, n, leaf, proof);
  return got && *got == root;
}

// Rebuilds (old subtree hash, new subtree hash) for SUBPROOF(m, D[n], b). `old_root` stands in
// for MTH(D[0:m]) where b says the proof omitted it.
std::optional<std::pair<Hash, Hash>> RootsFromSubproof(uint64_t m, uint64_t n, bool b,
                                                       std::vector<Hash>& proof,
                                                       const Hash& old_root) {
  if (m == n) {
    if (b) return std::pair{old_root, old_root};
    if (proof.size() != 1) return std::nullopt;
    const Hash h = proof.back();
    proof.pop_back();
    return std::pair{h, h};
  }
  if (proof.empty()) return std::nullopt;
  const uint64_t k = K(n);
  const Hash term = proof.back();
  proof.pop_back();
  if (m <= k) {
    auto inner = RootsFromSubproof(m, k, b, proof, old_root);
    if (!inner) return std::nullopt;
    return std::pair{inner->first, Node(inner->second, term)};
  }
  auto inner = RootsFromSubproof(m - k, n - k, false, proof, old_root);
  if (!inner) return std::nullopt;
  return std::pair{Node(term, inner->first), Node(term, inner->second)};
}

bool VerifyConsistency(uint64_t m, uint64_t n, const Hash& old_root, const Hash& new_root,
                       std::vector<Hash> proof) {
  if (m == 0 || m > n) return false;
  auto got = RootsFromSubproof(m, n, true, proof, old_root);
  return got && proof.empty() && got->first == old_root && got->second == new_root;
}

}  // namespace reference

// ---- a NodeSource over a map, filled by Frontier::Append ----

class MapSource : public NodeSource {
 public:
  Status GetNode(NodeId id, Hash* out) override {
    ++calls;
    auto it = nodes.find({id.level, id.index});
    if (it == nodes.end()) {
      return Status::NotFound("node " + std::to_string(id.level) + "/" +
                              std::to_string(id.index));
    }
    *out = it->second;
    return Status::Ok();
  }

  std::map<std::pair<int, uint64_t>, Hash> nodes;
  int calls = 0;
};

// A tree grown leaf by leaf, with every completed node stored and the leaf hashes kept for the
// reference.
struct TestTree {
  void Append(const Hash& leaf_hash) {
    leaves.push_back(leaf_hash);
    frontier.Append(leaf_hash, [this](NodeId id, const Hash& h) {
      source.nodes[{id.level, id.index}] = h;
    });
  }
  static TestTree Generated(uint64_t size) {
    TestTree t;
    for (uint64_t i = 0; i < size; ++i) t.Append(reference::Leaf(GeneratedLeaf(i)));
    return t;
  }

  reference::Leaves leaves;
  Frontier frontier;
  MapSource source;
};

constexpr uint64_t kMaxSize = 64;

// ---- RFC 6962 / certificate-transparency reference data ----
// From the CT test data (also transparency-dev/merkle proof/verify_test.go).

const std::vector<std::string_view> kRefLeavesHex = {
    "",         "00",       "10",      "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

const std::vector<std::string_view> kRefRootsHex = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",  // size 1
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",  // size 2
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",  // size 3
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",  // size 4
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",  // size 5
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",  // size 6
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",  // size 7
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",  // size 8
};

struct RefInclusion {
  uint64_t index;  // 0-based (the CT data lists 1-based leaf numbers)
  uint64_t size;
  std::vector<std::string_view> proof;
};

const std::vector<RefInclusion> kRefInclusion = {
    {0, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {0, 1, {}},
};

struct RefConsistency {
  uint64_t first;
  uint64_t second;
  std::vector<std::string_view> proof;
};

const std::vector<RefConsistency> kRefConsistency = {
    {1, 1, {}},
    {1, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

TestTree ReferenceTree() {
  TestTree t;
  for (std::string_view hex : kRefLeavesHex) t.Append(LeafHash(FromHex(hex)));
  return t;
}

std::vector<Hash> Hashes(const std::vector<std::string_view>& hexes) {
  std::vector<Hash> out;
  for (std::string_view h : hexes) out.push_back(H(h));
  return out;
}

// ---- tests ----

TEST_CASE("the empty tree's root is SHA-256 of the empty string") {
  CHECK(ToHex(EmptyRoot()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Frontier().Root() == EmptyRoot());
  CHECK(Frontier().size() == 0);
}

TEST_CASE("leaf and node hashes use the 0x00 and 0x01 domain prefixes") {
  // Leaf 0 of the reference tree is empty, so its leaf hash is SHA-256(0x00), which is also
  // the size-1 reference root.
  CHECK(ToHex(LeafHash({})) == kRefRootsHex[0]);
  for (uint64_t i = 0; i < 20; ++i) {
    CHECK(LeafHash(GeneratedLeaf(i)) == reference::Leaf(GeneratedLeaf(i)));
    Hash a = reference::Leaf(GeneratedLeaf(i));
    Hash b = reference::Leaf(GeneratedLeaf(i + 1));
    CHECK(NodeHash(a, b) == reference::Node(a, b));
    CHECK(NodeHash(a, b) != NodeHash(b, a));
  }
}

TEST_CASE("the RFC 6962 reference tree of 8 leaves has the published root") {
  TestTree t = ReferenceTree();
  REQUIRE(t.frontier.size() == 8);
  CHECK(ToHex(t.frontier.Root()) ==
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
}

TEST_CASE("every prefix of the RFC 6962 reference tree has the published root") {
  TestTree t;
  for (size_t n = 1; n <= kRefLeavesHex.size(); ++n) {
    t.Append(LeafHash(FromHex(kRefLeavesHex[n - 1])));
    INFO("size " << n);
    CHECK(ToHex(t.frontier.Root()) == kRefRootsHex[n - 1]);
    CHECK(ToHex(reference::Mth(t.leaves, 0, n)) == kRefRootsHex[n - 1]);
    Hash via_range;
    REQUIRE(RangeHash(t.source, 0, n, &via_range).ok());
    CHECK(ToHex(via_range) == kRefRootsHex[n - 1]);
  }
}

TEST_CASE("the published RFC 6962 inclusion proofs are generated and verified") {
  TestTree t = ReferenceTree();
  for (const RefInclusion& v : kRefInclusion) {
    INFO("index " << v.index << " size " << v.size);
    std::vector<Hash> want = Hashes(v.proof);
    // The reference tree has 8 leaves; a proof for a smaller size only reads nodes inside the
    // prefix, which are the same nodes.
    std::vector<Hash> got;
    REQUIRE(InclusionProof(t.source, v.index, v.size, &got).ok());
    CHECK(ToHex(got) == ToHex(want));
    const Hash root = H(kRefRootsHex[v.size - 1]);
    CHECK(VerifyInclusion(v.index, v.size, t.leaves[v.index], want, root));
    CHECK(reference::VerifyInclusion(v.index, v.size, t.leaves[v.index], want, root));
  }
}

TEST_CASE("the published RFC 6962 consistency proofs are generated and verified") {
  TestTree t = ReferenceTree();
  for (const RefConsistency& v : kRefConsistency) {
    INFO("first " << v.first << " second " << v.second);
    std::vector<Hash> want = Hashes(v.proof);
    std::vector<Hash> got;
    REQUIRE(ConsistencyProof(t.source, v.first, v.second, &got).ok());
    CHECK(ToHex(got) == ToHex(want));
    const Hash r1 = H(kRefRootsHex[v.first - 1]);
    const Hash r2 = H(kRefRootsHex[v.second - 1]);
    CHECK(VerifyConsistency(v.first, v.second, r1, r2, want));
    CHECK(reference::VerifyConsistency(v.first, v.second, r1, r2, want));
  }
}

TEST_CASE("the frontier root equals the naive MTH at every size up to 64") {
  TestTree t;
  CHECK(t.frontier.Root() == reference::Mth(t.leaves, 0, 0));
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    t.Append(reference::Leaf(GeneratedLeaf(n - 1)));
    INFO("size " << n);
    REQUIRE(t.frontier.size() == n);
    CHECK(t.frontier.roots().size() == static_cast<size_t>(std::popcount(n)));
    CHECK(t.frontier.Root() == reference::Mth(t.leaves, 0, n));
  }
}

TEST_CASE("appending stores the leaf and then each completed ancestor, lowest first") {
  Frontier f;
  std::vector<NodeId> seen;
  auto record = [&seen](NodeId id, const Hash&) { seen.push_back(id); };
  for (uint64_t i = 0; i < 7; ++i) f.Append(reference::Leaf(GeneratedLeaf(i)), record);
  seen.clear();
  f.Append(reference::Leaf(GeneratedLeaf(7)), record);  // size 7 -> 8 completes 3 ancestors
  CHECK(seen == std::vector<NodeId>{{0, 7}, {1, 3}, {2, 1}, {3, 0}});
}

TEST_CASE("RangeHash over stored nodes equals the naive MTH of every sub-range") {
  TestTree t = TestTree::Generated(kMaxSize);
  for (uint64_t begin = 0; begin < kMaxSize; ++begin) {
    for (uint64_t end = begin + 1; end <= kMaxSize; ++end) {
      INFO("range [" << begin << ", " << end << ")");
      Hash got;
      REQUIRE(RangeHash(t.source, begin, end, &got).ok());
      CHECK(got == reference::Mth(t.leaves, begin, end));
    }
  }
}

TEST_CASE("RangeHash reads an aligned power-of-two range as one stored node") {
  TestTree t = TestTree::Generated(kMaxSize);
  for (int level = 0; (uint64_t{1} << level) <= kMaxSize; ++level) {
    const uint64_t width = uint64_t{1} << level;
    for (uint64_t begin = 0; begin + width <= kMaxSize; begin += width) {
      INFO("level " << level << " begin " << begin);
      t.source.calls = 0;
      Hash got;
      REQUIRE(RangeHash(t.source, begin, begin + width, &got).ok());
      CHECK(t.source.calls == 1);
      CHECK(got == reference::Mth(t.leaves, begin, begin + width));
    }
  }
}

TEST_CASE("RangeHash of an empty or inverted range is InvalidArgument") {
  TestTree t = TestTree::Generated(4);
  Hash h;
  CHECK(RangeHash(t.source, 0, 0, &h).IsInvalidArgument());
  CHECK(RangeHash(t.source, 3, 3, &h).IsInvalidArgument());
  CHECK(RangeHash(t.source, 3, 1, &h).IsInvalidArgument());
}

TEST_CASE("inclusion proofs match the RFC definition for every index of every size up to 64") {
  TestTree t;
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    t.Append(reference::Leaf(GeneratedLeaf(n - 1)));
    const Hash root = reference::Mth(t.leaves, 0, n);
    for (uint64_t i = 0; i < n; ++i) {
      INFO("index " << i << " size " << n);
      std::vector<Hash> got;
      REQUIRE(InclusionProof(t.source, i, n, &got).ok());
      REQUIRE(got == reference::Path(i, t.leaves, 0, n));
      CHECK(VerifyInclusion(i, n, t.leaves[i], got, root));
      CHECK(reference::VerifyInclusion(i, n, t.leaves[i], got, root));
    }
  }
}

TEST_CASE("consistency proofs match the RFC definition for every pair of sizes up to 64") {
  TestTree t = TestTree::Generated(kMaxSize);
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    const Hash new_root = reference::Mth(t.leaves, 0, n);
    for (uint64_t m = 1; m <= n; ++m) {
      INFO("first " << m << " second " << n);
      const Hash old_root = reference::Mth(t.leaves, 0, m);
      std::vector<Hash> got;
      // The map holds the 64-leaf tree; proofs for size n read only nodes inside D[0:n].
      REQUIRE(ConsistencyProof(t.source, m, n, &got).ok());
      REQUIRE(got == reference::Proof(m, t.leaves, n));
      CHECK(got.empty() == (m == n));
      CHECK(VerifyConsistency(m, n, old_root, new_root, got));
      CHECK(reference::VerifyConsistency(m, n, old_root, new_root, got));
    }
  }
}

TEST_CASE("proofs on a large tree read O(log n) stored nodes") {
  const uint64_t n = 10007;
  TestTree t = TestTree::Generated(n);
  const Hash root = t.frontier.Root();
  int max_log = std::bit_width(n);  // 14
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{4095}, uint64_t{8191}, uint64_t{9999},
                     n - 1}) {
    INFO("index " << i);
    t.source.calls = 0;
    std::vector<Hash> proof;
    REQUIRE(InclusionProof(t.source, i, n, &proof).ok());
    CHECK(t.source.calls <= 2 * max_log);
    CHECK(VerifyInclusion(i, n, t.leaves[i], proof, root));
  }
  for (uint64_t m : {uint64_t{1}, uint64_t{3}, uint64_t{4096}, uint64_t{5000}, n - 1}) {
    INFO("first " << m);
    t.source.calls = 0;
    std::vector<Hash> proof;
    REQUIRE(ConsistencyProof(t.source, m, n, &proof).ok());
    CHECK(t.source.calls <= 3 * max_log);
    CHECK(VerifyConsistency(m, n, reference::Mth(t.leaves, 0, m), root, proof));
  }
}

TEST_CASE("tampered inclusion proofs are rejected") {
  TestTree t;
  const Hash some_hash = reference::Leaf(GeneratedLeaf(999999));
  for (uint64_t n = 1; n <= 33; ++n) {
    t.Append(reference::Leaf(GeneratedLeaf(n - 1)));
    const Hash root = t.frontier.Root();
    for (uint64_t i = 0; i < n; ++i) {
      INFO("index " << i << " size " << n);
      std::vector<Hash> proof;
      REQUIRE(InclusionProof(t.source, i, n, &proof).ok());
      const Hash& leaf = t.leaves[i];
      REQUIRE(VerifyInclusion(i, n, leaf, proof, root));

      // One flipped bit anywhere in any element.
      for (size_t e = 0; e < proof.size(); ++e) {
        for (int bit : {0, 7, 100, 255}) {
          std::vector<Hash> bad = proof;
          bad[e] = FlipBit(bad[e], bit);
          CHECK_FALSE(VerifyInclusion(i, n, leaf, bad, root));
        }
      }
      // Wrong root or leaf.
      CHECK_FALSE(VerifyInclusion(i, n, leaf, proof, FlipBit(root, 3)));
      CHECK_FALSE(VerifyInclusion(i, n, leaf, proof, EmptyRoot()));
      CHECK_FALSE(VerifyInclusion(i, n, FlipBit(leaf, 200), proof, root));
      // Every other index of the tree, and indexes at or past the size.
      for (uint64_t j = 0; j < n; ++j) {
        if (j != i) CHECK_FALSE(VerifyInclusion(j, n, leaf, proof, root));
      }
      for (uint64_t j : {n, n + 1, 2 * n, ~uint64_t{0}}) {
        CHECK_FALSE(VerifyInclusion(j, n, leaf, proof, root));
      }
      CHECK_FALSE(VerifyInclusion(i, 0, leaf, proof, root));
      // Truncated and extended proofs.
      if (!proof.empty()) {
        std::vector<Hash> front(proof.begin() + 1, proof.end());
        std::vector<Hash> back(proof.begin(), proof.end() - 1);
        CHECK_FALSE(VerifyInclusion(i, n, leaf, front, root));
        CHECK_FALSE(VerifyInclusion(i, n, leaf, back, root));
        CHECK_FALSE(VerifyInclusion(i, n, leaf, std::vector<Hash>{}, root));
      }
      for (const Hash& extra : {some_hash, root, leaf}) {
        std::vector<Hash> appended = proof;
        appended.push_back(extra);
        std::vector<Hash> prepended = {extra};
        prepended.insert(prepended.end(), proof.begin(), proof.end());
        CHECK_FALSE(VerifyInclusion(i, n, leaf, appended, root));
        CHECK_FALSE(VerifyInclusion(i, n, leaf, prepended, root));
      }
      // A tree twice as deep never accepts the same path.
      CHECK_FALSE(VerifyInclusion(i, 2 * n, leaf, proof, root));
      // Other sizes: a proof does not bind the size when both trees have the same shape on the
      // path to this leaf (e.g. leaf 0 of sizes 3 and 4), so require agreement with the
      // independent verifier instead of outright rejection.
      for (uint64_t wrong : {n - 1, n + 1, n / 2, n + 2}) {
        if (wrong == n) continue;
        INFO("claimed size " << wrong);
        CHECK(VerifyInclusion(i, wrong, leaf, proof, root) ==
              reference::VerifyInclusion(i, wrong, leaf, proof, root));
      }
    }
  }
}

TEST_CASE("tampered consistency proofs are rejected") {
  TestTree t = TestTree::Generated(33);
  const Hash some_hash = reference::Leaf(GeneratedLeaf(999999));
  for (uint64_t n = 1; n <= 33; ++n) {
    const Hash r2 = reference::Mth(t.leaves, 0, n);
    for (uint64_t m = 1; m <= n; ++m) {
      INFO("first " << m << " second " << n);
      const Hash r1 = reference::Mth(t.leaves, 0, m);
      std::vector<Hash> proof;
      REQUIRE(ConsistencyProof(t.source, m, n, &proof).ok());
      REQUIRE(VerifyConsistency(m, n, r1, r2, proof));

      for (size_t e = 0; e < proof.size(); ++e) {
        for (int bit : {0, 4, 128, 255}) {
          std::vector<Hash> bad = proof;
          bad[e] = FlipBit(bad[e], bit);
          CHECK_FALSE(VerifyConsistency(m, n, r1, r2, bad));
        }
      }
      // Wrong or swapped roots (swapping only matters when they differ).
      CHECK_FALSE(VerifyConsistency(m, n, FlipBit(r1, 9), r2, proof));
      CHECK_FALSE(VerifyConsistency(m, n, r1, FlipBit(r2, 9), proof));
      if (m != n) CHECK_FALSE(VerifyConsistency(m, n, r2, r1, proof));
      // first > second, first == 0.
      if (m != n) CHECK_FALSE(VerifyConsistency(n, m, r2, r1, proof));
      CHECK_FALSE(VerifyConsistency(n + 1, n, r1, r2, proof));
      CHECK_FALSE(VerifyConsistency(0, n, EmptyRoot(), r2, proof));
      CHECK_FALSE(VerifyConsistency(0, n, EmptyRoot(), r2, {}));
      CHECK_FALSE(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}));
      // Truncated and extended proofs.
      if (!proof.empty()) {
        std::vector<Hash> front(proof.begin() + 1, proof.end());
        std::vector<Hash> back(proof.begin(), proof.end() - 1);
        CHECK_FALSE(VerifyConsistency(m, n, r1, r2, front));
        CHECK_FALSE(VerifyConsistency(m, n, r1, r2, back));
        CHECK_FALSE(VerifyConsistency(m, n, r1, r2, {}));
      }
      for (const Hash& extra : {some_hash, r1, r2}) {
        std::vector<Hash> appended = proof;
        appended.push_back(extra);
        std::vector<Hash> prepended = {extra};
        prepended.insert(prepended.end(), proof.begin(), proof.end());
        CHECK_FALSE(VerifyConsistency(m, n, r1, r2, appended));
        CHECK_FALSE(VerifyConsistency(m, n, r1, r2, prepended));
      }
      // A tree twice as deep never accepts the same proof.
      CHECK_FALSE(VerifyConsistency(m, 2 * n, r1, r2, proof));
      // Other claimed sizes: must agree with the independent verifier.
      for (auto [m2, n2] : std::vector<std::pair<uint64_t, uint64_t>>{
               {m - 1, n}, {m + 1, n}, {m, n - 1}, {m, n + 1}, {m ^ 2, n}, {m, n / 2}}) {
        if (m2 == m && n2 == n) continue;
        INFO("claimed sizes " << m2 << ", " << n2);
        CHECK(VerifyConsistency(m2, n2, r1, r2, proof) ==
              reference::VerifyConsistency(m2, n2, r1, r2, proof));
      }
    }
  }
}

TEST_CASE("equal sizes are consistent only with an empty proof and equal roots") {
  const Hash a = reference::Leaf(GeneratedLeaf(1));
  const Hash b = reference::Leaf(GeneratedLeaf(2));
  for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{7}, uint64_t{64}}) {
    INFO("size " << n);
    CHECK(VerifyConsistency(n, n, a, a, {}));
    CHECK_FALSE(VerifyConsistency(n, n, a, b, {}));
    CHECK_FALSE(VerifyConsistency(n, n, a, a, std::vector<Hash>{a}));
    CHECK_FALSE(VerifyConsistency(n, n, a, a, std::vector<Hash>{b}));
  }
}

TEST_CASE("proof generation rejects out-of-range arguments") {
  TestTree t = TestTree::Generated(8);
  std::vector<Hash> proof;
  CHECK(InclusionProof(t.source, 0, 0, &proof).IsInvalidArgument());
  CHECK(InclusionProof(t.source, 8, 8, &proof).IsInvalidArgument());
  CHECK(InclusionProof(t.source, 9, 8, &proof).IsInvalidArgument());
  CHECK(ConsistencyProof(t.source, 0, 8, &proof).IsInvalidArgument());
  CHECK(ConsistencyProof(t.source, 0, 0, &proof).IsInvalidArgument());
  CHECK(ConsistencyProof(t.source, 5, 4, &proof).IsInvalidArgument());
}

TEST_CASE("a NodeSource NotFound propagates out of proof generation") {
  TestTree t = TestTree::Generated(13);
  // Drop each stored node in turn: every proof that needs it must fail with NotFound, and any
  // proof that succeeds must still be correct.
  const auto all = t.source.nodes;
  int failures = 0;
  for (const auto& [key, value] : all) {
    t.source.nodes = all;
    t.source.nodes.erase(key);
    for (uint64_t i = 0; i < 13; ++i) {
      std::vector<Hash> proof;
      Status s = InclusionProof(t.source, i, 13, &proof);
      if (s.ok()) {
        CHECK(proof == reference::Path(i, t.leaves, 0, 13));
      } else {
        CHECK(s.IsNotFound());
        ++failures;
      }
    }
    for (uint64_t m = 1; m <= 13; ++m) {
      std::vector<Hash> proof;
      Status s = ConsistencyProof(t.source, m, 13, &proof);
      if (s.ok()) {
        CHECK(proof == reference::Proof(m, t.leaves, 13));
      } else {
        CHECK(s.IsNotFound());
        ++failures;
      }
    }
  }
  CHECK(failures > 0);

  // An empty source fails every non-trivial request.
  MapSource empty;
  std::vector<Hash> proof;
  CHECK(InclusionProof(empty, 3, 13, &proof).IsNotFound());
  CHECK(ConsistencyProof(empty, 5, 13, &proof).IsNotFound());
  Hash h;
  CHECK(RangeHash(empty, 0, 13, &h).IsNotFound());
}

TEST_CASE("RootIds lists one complete subtree per set bit, largest first") {
  CHECK(Frontier::RootIds(0).empty());
  CHECK(Frontier::RootIds(1) == std::vector<NodeId>{{0, 0}});
  CHECK(Frontier::RootIds(6) == std::vector<NodeId>{{2, 0}, {1, 2}});
  CHECK(Frontier::RootIds(13) == std::vector<NodeId>{{3, 0}, {2, 2}, {0, 12}});
  CHECK(Frontier::RootIds(64) == std::vector<NodeId>{{6, 0}});
  const uint64_t max = ~uint64_t{0};
  std::vector<NodeId> ids = Frontier::RootIds(max);
  REQUIRE(ids.size() == 64);
  CHECK(ids.front() == NodeId{63, 0});
  CHECK(ids.back() == NodeId{0, max - 1});
}

TEST_CASE("a frontier rebuilt from stored roots has the same root for sizes 0 to 64") {
  TestTree t;
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    if (n > 0) t.Append(reference::Leaf(GeneratedLeaf(n - 1)));
    INFO("size " << n);
    std::vector<Hash> roots;
    for (NodeId id : Frontier::RootIds(n)) {
      Hash h;
      REQUIRE(t.source.GetNode(id, &h).ok());
      roots.push_back(h);
    }
    CHECK(roots == t.frontier.roots());

    Frontier rebuilt;
    REQUIRE(Frontier::FromRoots(n, roots, &rebuilt).ok());
    CHECK(rebuilt.size() == n);
    CHECK(rebuilt.Root() == t.frontier.Root());

    // Continuing to append to the rebuilt frontier matches continuing the original.
    Frontier original = t.frontier;
    for (uint64_t extra = 0; extra < 5; ++extra) {
      const Hash leaf = reference::Leaf(GeneratedLeaf(1000 + extra));
      original.Append(leaf, [](NodeId, const Hash&) {});
      rebuilt.Append(leaf, [](NodeId, const Hash&) {});
      CHECK(rebuilt.Root() == original.Root());
    }

    // The wrong number of roots is refused.
    Frontier unused;
    std::vector<Hash> more = roots;
    more.push_back(EmptyRoot());
    CHECK(Frontier::FromRoots(n, more, &unused).IsInvalidArgument());
    if (!roots.empty()) {
      std::vector<Hash> fewer(roots.begin(), roots.end() - 1);
      CHECK(Frontier::FromRoots(n, fewer, &unused).IsInvalidArgument());
    }
  }
}

}  // namespace
}  // namespace kirjuri::merkle
