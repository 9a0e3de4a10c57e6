// RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proofs, SHA-256.
//
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty tree = SHA-256("")
//   MTH(D[0:n]) splits at k, the largest power of two < n (RFC 9162 §2.1.1).
//
// Proof generation reads stored hashes of *complete* subtrees through NodeSource, so a proof on a
// log of a million events costs O(log n) reads, not a rehash. Verification (VerifyInclusion,
// VerifyConsistency) needs nothing but the proof and is what an auditor's tool does.
//
// Thread-safety: all functions are pure apart from NodeSource calls; Frontier is a value type
// with no internal synchronisation.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "kirjuri/status.h"

namespace kirjuri::merkle {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(std::span<const uint8_t> leaf);
Hash NodeHash(const Hash& left, const Hash& right);
Hash EmptyRoot();

// A complete subtree: the 2^level leaves [index * 2^level, (index + 1) * 2^level).
struct NodeId {
  int level = 0;
  uint64_t index = 0;
  bool operator==(const NodeId&) const = default;
};

// Where proof generation finds hashes of complete subtrees (level 0 = leaf hashes).
class NodeSource {
 public:
  virtual ~NodeSource() = default;
  // Sets *out to the hash of the complete subtree `id`. NotFound if it is not stored,
  // Corruption if what is stored is malformed.
  virtual Status GetNode(NodeId id, Hash* out) = 0;
};

// The right edge of a growing tree: the roots of the perfect subtrees that make up a tree of
// size() leaves, largest first (one per set bit of size()). Appending a leaf merges equal-sized
// neighbours; each merge yields a newly completed node, which callers store for NodeSource.
class Frontier {
 public:
  Frontier() = default;
  // REQUIRES: roots are the complete-subtree hashes of a tree of `size` leaves, largest first
  // (roots.size() == popcount(size)). Returns InvalidArgument otherwise.
  static Status FromRoots(uint64_t size, std::vector<Hash> roots, Frontier* out);
  // The subtrees FromRoots expects for a tree of `size` leaves, largest first.
  static std::vector<NodeId> RootIds(uint64_t size);

  // Appends a leaf whose *leaf hash* is `leaf_hash`. For each complete subtree this finishes
  // (the leaf itself first, then its ancestors, lowest first) calls on_node(id, hash).
  template <typename OnNode>
  void Append(const Hash& leaf_hash, OnNode&& on_node);

  uint64_t size() const { return size_; }
  // MTH of the current tree (EmptyRoot() when size() == 0).
  Hash Root() const;
  const std::vector<Hash>& roots() const { return roots_; }

 private:
  uint64_t size_ = 0;
  std::vector<Hash> roots_;  // largest subtree first
};

// MTH(D[begin:end]). REQUIRES: begin < end. Reads only complete subtrees.
Status RangeHash(NodeSource& nodes, uint64_t begin, uint64_t end, Hash* out);

// RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf side first.
// InvalidArgument unless index < size.
Status InclusionProof(NodeSource& nodes, uint64_t index, uint64_t size, std::vector<Hash>* out);

// RFC 9162 §2.1.4.1 PROOF(first, D[0:second]). InvalidArgument unless 0 < first <= second.
// first == second gives an empty proof.
Status ConsistencyProof(NodeSource& nodes, uint64_t first, uint64_t second,
                        std::vector<Hash>* out);

// RFC 9162 §2.1.3.2. True iff `proof` shows the leaf with hash `leaf_hash` at `index` in the tree
// of `size` leaves whose root is `root`.
bool VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                     std::span<const Hash> proof, const Hash& root);

// RFC 9162 §2.1.4.2. True iff `proof` shows the tree (first, first_root) is a prefix of
// (second, second_root).
bool VerifyConsistency(uint64_t first, uint64_t second, const Hash& first_root,
                       const Hash& second_root, std::span<const Hash> proof);

// ---- implementation of the template ----

template <typename OnNode>
void Frontier::Append(const Hash& leaf_hash, OnNode&& on_node) {
  uint64_t index = size_;
  Hash h = leaf_hash;
  on_node(NodeId{0, index}, h);
  roots_.push_back(h);
  int level = 0;
  // Each trailing 1-bit of the old size is a left sibling waiting for this new subtree.
  for (uint64_t s = size_; s & 1; s >>= 1) {
    Hash right = roots_.back();
    roots_.pop_back();
    Hash left = roots_.back();
    roots_.pop_back();
    h = NodeHash(left, right);
    ++level;
    index >>= 1;
    on_node(NodeId{level, index}, h);
    roots_.push_back(h);
  }
  ++size_;
}

}  // namespace kirjuri::merkle
