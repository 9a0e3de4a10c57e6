#include "kirjuri/merkle.h"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

namespace kirjuri::merkle {
namespace {

static_assert(crypto_hash_sha256_BYTES == sizeof(Hash));

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// The RFC's k for a list of n >= 2 items: the largest power of two strictly less than n.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

}  // namespace

Hash LeafHash(std::span<const uint8_t> leaf) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, &kLeafPrefix, 1);
  crypto_hash_sha256_update(&state, leaf.data(), leaf.size());
  Hash out;
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

Hash NodeHash(const Hash& left, const Hash& right) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, &kNodePrefix, 1);
  crypto_hash_sha256_update(&state, left.data(), left.size());
  crypto_hash_sha256_update(&state, right.data(), right.size());
  Hash out;
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

Hash EmptyRoot() {
  Hash out;
  crypto_hash_sha256(out.data(), nullptr, 0);
  return out;
}

// ---- Frontier ----

Status Frontier::FromRoots(uint64_t size, std::vector<Hash> roots, Frontier* out) {
  if (roots.size() != static_cast<size_t>(std::popcount(size))) {
    return Status::InvalidArgument("merkle frontier of size " + std::to_string(size) +
                                   " needs " + std::to_string(std::popcount(size)) +
                                   " roots, got " + std::to_string(roots.size()));
  }
  out->size_ = size;
  out->roots_ = std::move(roots);
  return Status::Ok();
}

std::vector<NodeId> Frontier::RootIds(uint64_t size) {
  std::vector<NodeId> ids;
  ids.reserve(std::popcount(size));
  // `start` is the first leaf not yet covered by a larger subtree; every set bit below the
  // current one is smaller, so start is always a multiple of 2^level here.
  uint64_t start = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    ids.push_back(NodeId{level, start >> level});
    start += width;
  }
  return ids;
}

Hash Frontier::Root() const {
  if (roots_.empty()) return EmptyRoot();
  // MTH splits at the largest power of two, which is exactly the first (largest) frontier root;
  // recursively the right part is the rest of the frontier, hence a right-to-left fold.
  Hash acc = roots_.back();
  for (size_t i = roots_.size() - 1; i-- > 0;) acc = NodeHash(roots_[i], acc);
  return acc;
}

// ---- Proof generation ----

Status RangeHash(NodeSource& nodes, uint64_t begin, uint64_t end, Hash* out) {
  if (begin >= end) {
    return Status::InvalidArgument("merkle range [" + std::to_string(begin) + ", " +
                                   std::to_string(end) + ") is empty");
  }
  const uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    const int level = std::countr_zero(n);
    return nodes.GetNode(NodeId{level, begin >> level}, out);
  }
  // Not one stored subtree: split as MTH does. Ranges from proofs start at a multiple of the
  // left part's width, so the left half is a single read and only the right half recurses
  // (depth <= 64). Unaligned ranges still give the right answer, just with more reads.
  const uint64_t mid = begin + SplitPoint(n);
  Hash left, right;
  KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, begin, mid, &left));
  KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, mid, end, &right));
  *out = NodeHash(left, right);
  return Status::Ok();
}

Status InclusionProof(NodeSource& nodes, uint64_t index, uint64_t size, std::vector<Hash>* out) {
  if (index >= size) {
    return Status::InvalidArgument("merkle inclusion proof: index " + std::to_string(index) +
                                   " not below tree size " + std::to_string(size));
  }
  // Walk PATH from the root down. [begin, end) is the subtree holding `index`; each step
  // records the sibling of the half we descend into. Only the first step that descends left
  // has a sibling ending at `size` (non-aligned, O(log n) reads); every other sibling is one
  // complete subtree, so the whole proof costs O(log n) reads.
  std::vector<Hash> path;
  uint64_t begin = 0;
  uint64_t end = size;
  while (end - begin > 1) {
    const uint64_t mid = begin + SplitPoint(end - begin);
    Hash sibling;
    if (index < mid) {
      KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, mid, end, &sibling));
      end = mid;
    } else {
      KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, begin, mid, &sibling));
      begin = mid;
    }
    path.push_back(sibling);
  }
  std::reverse(path.begin(), path.end());  // RFC order: leaf side first
  *out = std::move(path);
  return Status::Ok();
}

Status ConsistencyProof(NodeSource& nodes, uint64_t first, uint64_t second,
                        std::vector<Hash>* out) {
  if (first == 0 || first > second) {
    return Status::InvalidArgument("merkle consistency proof: need 0 < first <= second, got " +
                                   std::to_string(first) + ", " + std::to_string(second));
  }
  // SUBPROOF(m, D[begin:end], b) unrolled, with m == first - begin throughout. Each level
  // appends its MTH term *after* the deeper subproof, so collect top-down and reverse.
  std::vector<Hash> suffix;
  uint64_t begin = 0;
  uint64_t end = second;
  bool whole_old_tree = true;  // the RFC's b: [begin, first) is still all of D[0:first]
  while (first != end) {
    const uint64_t mid = begin + SplitPoint(end - begin);
    Hash term;
    if (first <= mid) {
      KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, mid, end, &term));
      end = mid;
    } else {
      KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, begin, mid, &term));
      begin = mid;
      whole_old_tree = false;
    }
    suffix.push_back(term);
  }
  std::vector<Hash> proof;
  proof.reserve(suffix.size() + 1);
  // SUBPROOF(m, D[m], false) = {MTH(D[m])}. When b is still true the verifier already knows
  // this hash: it is the old root.
  if (!whole_old_tree) {
    Hash h;
    KIRJURI_RETURN_IF_ERROR(RangeHash(nodes, begin, end, &h));
    proof.push_back(h);
  }
  proof.insert(proof.end(), suffix.rbegin(), suffix.rend());
  *out = std::move(proof);
  return Status::Ok();
}

// ---- Verification ----

bool VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                     std::span<const Hash> proof, const Hash& root) {
  if (index >= size) return false;
  // fn/sn are the positions of the current node and of the tree's last node at the current
  // level. When fn == sn and fn is even the node has no right sibling at this level and is
  // promoted unchanged until it is a right child, so p is its left sibling at that level.
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return false;  // proof is longer than the path
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;  // sn != 0: proof is shorter than the path
}

bool VerifyConsistency(uint64_t first, uint64_t second, const Hash& first_root,
                       const Hash& second_root, std::span<const Hash> proof) {
  // first == 0 is deliberately rejected as invalid input, even with an empty proof: an empty
  // tree is trivially a prefix of every tree, so such a "proof" shows nothing, and
  // ConsistencyProof refuses to produce one.
  if (first == 0 || first > second) return false;
  if (first == second) return proof.empty() && first_root == second_root;
  if (proof.empty()) return false;

  // When first is a power of two the old tree is a complete subtree of the new one, so the
  // proof omits its hash and the verifier supplies first_root as the starting node.
  size_t next = 0;
  Hash start;
  if (std::has_single_bit(first)) {
    start = first_root;
  } else {
    start = proof[0];
    next = 1;
  }
  uint64_t fn = first - 1;
  uint64_t sn = second - 1;
  // Skip the levels where the old tree's last node is a right child: those siblings lie inside
  // the starting subtree, whose hash the proof gives whole.
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = start;
  Hash sr = start;
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      // c is a left sibling: part of both trees.
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      // c is a right sibling: only in the new tree.
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == first_root && sr == second_root;
}

}  // namespace kirjuri::merkle
