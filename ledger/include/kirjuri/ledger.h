// Ledger: Kirjuri's append-only, signed, Merkle-verifiable event log on RocksDB.
//
// A ledger lives in a data directory:
//   DATA/ledger.key     the Ed25519 ledger key, PEM PKCS#8, mode 0600
//   DATA/log/           RocksDB: the log (events, tree, checkpoints, subject index)
//   DATA/keys/          RocksDB: the key store — per-(subject, category) data keys wrapped under
//                       the master key, and blind indexes
// and a master key file kept OUTSIDE it (default: DefaultMasterKeyPath), so that a copy of the
// data directory alone reads no personal data.
// schemas/FORMATS.md gives every key encoding and the exact bytes that are signed and hashed.
//
// Invariants, held across crashes (every append is one synced RocksDB WriteBatch):
//   - events are keyed 0..size()-1 with no gap; each is a canonical SignedEvent;
//   - the tree column family holds every complete subtree of the RFC 9162 tree over them;
//   - a signed checkpoint is stored for the size after every append, and each is consistent
//     with every earlier one (the log is only ever appended to).
//
// Thread-safety: a Ledger may be used from many threads at once. Appends are numbered and
// written in order, one batch after another, while the next batches are already being signed
// (Reserve, Commit); reads see a consistent prefix of the log. Only one process may open a data
// directory at a time (RocksDB's LOCK file enforces it).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kirjuri/crypto.h"
#include "kirjuri/merkle.h"
#include "kirjuri/schemas/event.capnp.h"
#include "kirjuri/schemas/policy.capnp.h"
#include "kirjuri/status.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace kirjuri {

// A data subject: 128 random bits, never derived from personal data. Printed as 32 hex digits.
using SubjectId = std::array<uint8_t, 16>;
// For unordered containers. Ids are random; both halves are mixed in all the same, so that ids
// made otherwise (in tests, say) spread too.
struct SubjectIdHash {
  size_t operator()(const SubjectId& id) const {
    uint64_t lo, hi;
    std::memcpy(&lo, id.data(), sizeof lo);
    std::memcpy(&hi, id.data() + sizeof lo, sizeof hi);
    return static_cast<size_t>(lo ^ (hi * 0x9e3779b97f4a7c15ull));
  }
};
std::string SubjectIdHex(const SubjectId& id);
Status ParseSubjectId(std::string_view hex, SubjectId* out);

// The input vocabulary's name of an event type: "recorded", "consent_given", "subject_erased".
std::string EventTypeName(schema::EventType type);

// Called now and then during long work with (done, total); total may be 0 when unknown.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Where the master key is kept unless told otherwise: beside the data directory, never in it
// ("./data" -> "./data.kirjuri-master-key").
std::filesystem::path DefaultMasterKeyPath(const std::filesystem::path& data_dir);

struct InitOptions {
  // The master key file: used if it exists, created (0600) if not. Empty: DefaultMasterKeyPath.
  std::filesystem::path master_key_file;
  // Checkpoint origin and signed-note key name. Empty: "kirjuri.local/<16 random hex digits>".
  std::string origin;
  // The register policy as JSON (schemas/policy.capnp). Empty: the shipped Almerin policy.
  std::string policy_json;
};

struct OpenOptions {
  // The master key file. Empty: DefaultMasterKeyPath. A wrong key opens nothing, writes nothing.
  std::filesystem::path master_key_file;
  // Worker threads for signing and verification; 0 = one per hardware thread.
  unsigned threads = 0;
  // false: fields are stored unsealed, as ledgers written before sealing were, and no data keys
  // or blind indexes are made. It exists only so that bench/ can measure what sealing costs;
  // never open a ledger that holds real personal data with it.
  bool seal = true;
  // false: appends skip the policy's rules (transfers, disclosures, objection, restriction),
  // writing what an older version or a careless writer holding the key could have written. It
  // exists only so that tests can seed histories that `kirjuri audit` must find fault with.
  bool enforce_rules = true;
  // Check on open that the latest checkpoint matches the log (catches a shortened log).
  // `verify` turns it off so that it can name the fault itself.
  bool check_on_open = true;
  // Open without writing anything to the data directory: an auditor's copy on read-only media
  // or a read-only mount. The log and the key store are opened read-only and every write
  // (append, erasure, requests, tokens, policy changes) is refused. Refused as well: a ledger
  // open for writing elsewhere, in another process or this one (its state could change between
  // reading the key store and the log), and one that needs one-time work on open (written by an
  // older version, or an erasure interrupted by a crash) — open it writable once.
  bool read_only = false;
  // For tests only (fault injection, e.g. a file system that drops unsynced writes): the RocksDB
  // Env both databases (the log and the key store) run on. Null: the default Env. Not owned;
  // must outlive the Ledger.
  rocksdb::Env* env = nullptr;
};

// A register change to append: one line of `kirjuri append`, decoded.
struct NewEvent {
  std::string register_name;
  std::optional<SubjectId> subject;  // nullopt: a new subject, id chosen by the ledger
  std::string type;                  // input vocabulary, snake_case: "recorded", "consent_given", ...
  std::string category;
  std::string actor;
  std::string purpose;
  std::string basis;
  std::string source;
  std::string request;               // may be empty
  std::optional<int64_t> occurred_at_micros;
  // Personal data: field name -> the value as JSON text ("\"Aino\"", "3", "[\"a\"]").
  std::vector<std::pair<std::string, std::string>> data;
  std::optional<std::string> ip;     // as JSON text, like data values
  uint64_t line = 0;                 // input line number for error messages; 0 = position
};

struct Appended {
  uint64_t seq = 0;
  SubjectId subject{};
};

// One stored event as read from the log. The reader points into `leaf`; both live only for the
// duration of the callback that receives them.
struct EventView {
  uint64_t seq = 0;
  std::span<const uint8_t> leaf;  // the exact bytes stored and hashed as the Merkle leaf
  schema::SignedEvent::Reader signed_event;
};

// One personal-data field of an event, opened.
struct FieldValue {
  std::string name;
  std::string category;
  // The value as JSON text; nullopt if its key was shredded (the person was erased).
  std::optional<std::string> json;
};

enum class IndexKind { kEmail, kUsername, kPhone };

// Who a subject is in the log's terms (no personal data).
struct SubjectSummary {
  std::string register_name;
  uint64_t event_count = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::optional<uint64_t> erased_at_seq;
};

struct EraseRequest {
  SubjectId subject{};
  std::string request;              // the person's request reference
  std::string actor;                // who erases (an id, like an event's actor)
  int64_t received_at_micros = 0;   // when the request was received; 0 = now
};

// A person's request (GDPR Art. 15-21) as the ledger records it; its events are in the log.
struct RequestRecord {
  std::string ref;   // the controller's reference, e.g. "REQ-2026-014"
  SubjectId subject{};
  std::string kind;  // access, rectification, erasure, objection, restriction
  int64_t received_at_micros = 0;
  int64_t due_at_micros = 0;      // one month after receipt, plus any extension (Art. 12(3))
  unsigned extended_months = 0;   // at most 2
  std::string state;              // "open", "fulfilled", "refused"
  int64_t closed_at_micros = 0;
  std::vector<uint64_t> seqs;     // its events
  bool Overdue(int64_t now_micros) const {
    return state == "open" ? now_micros > due_at_micros : closed_at_micros > due_at_micros;
  }
};

// A read of a person's data, for the access log (a dataAccessed event). No personal data.
struct AccessRecord {
  SubjectId subject{};
  std::string actor;      // who read, as an event's actor
  std::string role;       // their role (policy roles)
  std::string purpose;    // why: a purpose the subject's register declares
  std::string via;        // "http", "rpc" or "cli"
  std::string operation;  // "query", "export", "marketing_audience", ...
  std::vector<std::string> categories;  // whose values were returned
  std::string request;    // the person's request it answers, if any
};

// Who a bearer token belongs to.
struct TokenInfo {
  std::string actor;
  std::string role;
  int64_t issued_at_micros = 0;
};

// A token as the ledger lists it, without the token: `id` is the first 16 hex digits of the
// hash the ledger stores in its place, enough to name the token and useless to log in with.
struct TokenRecord {
  std::string id;
  TokenInfo info;
};

// `micros` plus `months` calendar months (UTC; the day clamped to the month's end): 31 January
// plus one month is the end of February.
int64_t AddMonths(int64_t micros, unsigned months);

// A category kept after an erasure under a retention duty, and when the duty ends.
struct RetentionItem {
  SubjectId subject{};
  std::string category;
  int64_t due_at_micros = 0;
};

// How today's log relates to a checkpoint an auditor kept (Ledger::CheckExtends).
struct ExtendsResult {
  uint64_t old_size = 0, new_size = 0;
  merkle::Hash old_root{}, new_root{};
  std::vector<merkle::Hash> proof;  // RFC 9162 consistency proof, old_size -> new_size
  std::string new_checkpoint;       // the signed checkpoint of today's log
};

// A backup made by Ledger::Backup: the log's size and the signed checkpoint it ends with.
struct BackupResult {
  uint64_t size = 0;
  std::string checkpoint;  // C2SP note text (of the empty tree for an empty log)
};

struct VerifyOptions {
  // Re-hash events, recompute the tree and check checkpoints, but skip per-event signatures.
  bool tree_only = false;
  // Check signatures only from this sequence number on. For an auditor who verified the log up
  // to an earlier checkpoint and holds the consistency proof from it (CheckExtends): the events
  // before it are the ones that checkpoint already covered. Everything else is checked in full.
  uint64_t signatures_from = 0;
  ProgressFn progress;
};

struct VerifyResult {
  uint64_t events = 0;        // events checked
  uint64_t checkpoints = 0;   // checkpoints checked
  merkle::Hash root{};        // recomputed root over all events
  // On failure: the first bad sequence number, when the fault is an event's.
  std::optional<uint64_t> first_bad_seq;
};

struct InclusionProofResult {
  uint64_t index = 0;
  uint64_t tree_size = 0;
  merkle::Hash leaf_hash{};
  std::vector<merkle::Hash> hashes;
  merkle::Hash root{};
};

struct ConsistencyProofResult {
  uint64_t first = 0;
  uint64_t second = 0;
  merkle::Hash first_root{};
  merkle::Hash second_root{};
  std::vector<merkle::Hash> hashes;
};

// A store derived from the log that holds people's data (the views in projections/). Erasure
// removes the person from every attached store after shredding their keys and before signing the
// erasure event, which records how many entries went (Erasure.viewRowsRemoved).
class DerivedStore {
 public:
  virtual ~DerivedStore() = default;
  // Removes what the store holds of `subject` (nothing: OK, 0) and adds the number of entries
  // removed to *removed. Called with the ledger's append lock held: must not call back into
  // the ledger's writing methods.
  virtual Status RemoveSubject(const SubjectId& subject, uint64_t* removed) = 0;
};

class Ledger {
 public:
  // Creates a new ledger in `dir` (created if missing; must not already hold a ledger:
  // FailedPrecondition). InvalidArgument if the policy does not parse.
  static Status Init(const std::filesystem::path& dir, const InitOptions& options);

  // Opens an existing ledger. NotFound if `dir` holds none; Corruption if the check on open
  // fails; IOError if RocksDB cannot open it (e.g. locked by another process).
  static Status Open(const std::filesystem::path& dir, const OpenOptions& options,
                     std::unique_ptr<Ledger>* out);

  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Decodes JSON lines (the input of `kirjuri append`; blank lines are skipped) and checks each
  // against the policy. On any bad line: InvalidArgument "line N: <reason>", *out unspecified.
  Status ParseLines(std::string_view text, std::vector<NewEvent>* out) const;

  // Appends `events` as one atomic unit under consecutive sequence numbers, with one synced
  // write: on OK all are durable, on any error none is written. Each event is checked against
  // the policy first (InvalidArgument "event N: <reason>", N from 1). *out gets one entry per
  // event, in order.
  Status Append(std::span<const NewEvent> events, std::vector<Appended>* out);

  // Append in two steps, for a caller that keeps several appends in flight (group commit).
  // Reserve checks `events` as Append does, against the log and every batch reserved before,
  // and numbers them after those; it is quick. Commit seals, signs and encodes them (on the
  // worker pool, while earlier batches are still writing), waits until every earlier batch is
  // written, then writes them with one synced write: OK means durable, as for Append.
  // Reservations are written in the order they were made, whichever thread commits them.
  // If a batch fails in Commit, or is dropped without one, the batches reserved after it fail
  // too (IOError, nothing of theirs written) and the next reservation waits until none is left
  // in flight. No events: OK with a null reservation, which Commit takes as nothing to do.
  // REQUIRES: `events` outlives the reservation.
  class Reservation;
  Status Reserve(std::span<const NewEvent> events, std::unique_ptr<Reservation>* out);
  Status Commit(std::unique_ptr<Reservation> reservation, std::vector<Appended>* out);

  // Number of events in the log (= the size of the Merkle tree).
  uint64_t size() const;

  // Calls fn for each event with from <= seq < to (clamped to size()), in order, stopping at
  // the first non-OK status it returns. Corruption if a stored event does not decode.
  Status ReadEvents(uint64_t from, uint64_t to,
                    const std::function<Status(const EventView&)>& fn) const;
  // Calls fn for each event of `subject`, in order (uses the subject index, not a scan).
  Status ReadSubjectEvents(const SubjectId& subject,
                           const std::function<Status(const EventView&)>& fn) const;

  // Re-hashes every event, checks every signature (unless tree_only), recomputes the tree,
  // checks every stored tree node and checkpoint against it, checks the sequence is gap-free
  // and that the subject index lists exactly the events' (subject, seq) pairs. Corruption
  // naming the first fault ("seq 41: signature does not verify").
  Status Verify(const VerifyOptions& options, VerifyResult* result) const;

  // Opens the personal data of an event (its sealed fields). Shredded keys give FieldValue::json
  // == nullopt, never an error; Corruption if a ciphertext fails to open with its key.
  Status ReadFields(const EventView& event, std::vector<FieldValue>* out) const;

  // Sealing for views (projections/): seals `plaintext` under the subject's data key for
  // `category`, with `context` bound as associated data. Deterministic: the nonce is a keyed
  // BLAKE2b of context and plaintext under a key derived from the data key, so that a view
  // rebuilt from the log is byte-identical to the one kept incrementally; it reveals only
  // whether two seals under one key hold the same bytes. Creates the data key if the subject has
  // none for the category yet (data recorded before sealing existed), unless the subject is
  // erased: NotFound then, as when the key was shredded. Output: nonce (24) || ciphertext.
  Status SealForView(const SubjectId& subject, std::string_view category,
                     std::span<const uint8_t> context, std::span<const uint8_t> plaintext,
                     std::string* sealed);
  // Opens what SealForView sealed. NotFound once the key is shredded; Corruption if it does not
  // open (another context, altered bytes).
  Status OpenForView(const SubjectId& subject, std::string_view category,
                     std::span<const uint8_t> context, std::string_view sealed,
                     std::string* plaintext) const;

  // The number of events the ledger had recorded at `micros` (Unix microseconds): one past the
  // last event whose recordedAt is <= micros. O(log n) reads; relies on recordedAt never
  // decreasing along the log, which Append guarantees.
  Status SizeAtTime(int64_t micros, uint64_t* size) const;

  // The registers the policy declares, in name order (e.g. "customer", "partner").
  std::vector<std::string> RegisterNames() const;
  // Puts a new policy in force with a signed policyChanged event that holds the whole document
  // and chains it to the one it replaces (SHA-256). It must keep the policy's name and raise its
  // version. InvalidArgument if it does not parse or does not; nothing written then. Appends
  // are checked against the new policy from then on; events before stay as they were checked.
  Status ApplyPolicy(std::string_view json, std::string_view actor, uint64_t* seq);
  // The policy in force as JSON, and the one given to `init` (the first link of the chain).
  Status PolicyJson(bool initial, std::string* out) const;
  // The registers for which `purpose` is declared, in name order, by the policy in force once
  // the log held its first `as_of_size` events (0 or >= size(): the policy in force now): what
  // a read for that purpose may reach. Corruption if a policy in the log does not parse.
  Status RegistersDeclaring(std::string_view purpose, uint64_t as_of_size,
                            std::vector<std::string>* out) const;

  // The policy in force (schemas/policy.capnp), valid as long as the Ledger.
  schema::Policy::Reader policy() const;

  // The subjects whose email / username / phone (normalised) is `value`, via the blind index.
  Status Find(IndexKind kind, std::string_view value, std::vector<SubjectId>* out) const;

  // NotFound if the subject has no event.
  Status GetSubject(const SubjectId& subject, SubjectSummary* out) const;
  // Every subject with an event, in id order, from the first after `after` (or the first of
  // all): `fn` is called with each and its summary (as GetSubject gives it) until it sets
  // *more to false or fails (its error is returned). The ledger's own all-zero subject (policy
  // changes, tokens) is among them, with no register.
  Status ScanSubjects(
      const std::optional<SubjectId>& after,
      const std::function<Status(const SubjectId&, const SubjectSummary&, bool* more)>& fn) const;

  // Crypto-shreds a subject: destroys its data keys (except categories under a retention duty,
  // which are kept with their reason and due date), removes its blind-index entries, makes the
  // key store drop every physical copy and checks that it did, then appends a signed
  // subjectErased event. *event_seq is that event's sequence number. NotFound for an unknown
  // subject; FailedPrecondition if already erased. From then on, appends for the subject are
  // refused. Costs the same for a subject with ten events as for one with a million.
  Status Erase(const EraseRequest& request, uint64_t* event_seq);

  // A person's request, each step a signed event (requestReceived, requestExtended,
  // requestFulfilled, requestRefused) that names the reference, and the request's record kept
  // in the same write. Requests are recorded for erased subjects too (they hold no personal
  // data). `actor` as for events; `reason` must hold no personal data.
  //
  // Opens a request received at `received_at_micros` (0: now), due one month later.
  // InvalidArgument for an unknown kind or a reference already used; NotFound for an unknown
  // subject.
  Status OpenRequest(const SubjectId& subject, std::string_view kind, std::string_view ref,
                     std::string_view actor, int64_t received_at_micros, uint64_t* seq);
  // Extends an open request's deadline by `months` (at most two in all), with the reason;
  // only within the first month after receipt (GDPR Art. 12(3)). InvalidArgument otherwise.
  Status ExtendRequest(std::string_view ref, unsigned months, std::string_view reason,
                       std::string_view actor, uint64_t* seq);
  // Closes an open request: fulfilled, naming the events that did the work, or refused with
  // the reason. FailedPrecondition if it is not open.
  Status CloseRequest(std::string_view ref, bool fulfilled, std::string_view reason,
                      std::span<const uint64_t> outcome_seqs, std::string_view actor,
                      uint64_t* seq);
  // NotFound for an unknown reference.
  Status GetRequest(std::string_view ref, RequestRecord* out) const;
  // Every request, by reference.
  Status ListRequests(std::vector<RequestRecord>* out) const;

  // The access log: appends one signed dataAccessed event per record, all in one synced write.
  // Records of subjects the ledger does not hold are skipped (nothing was read). InvalidArgument
  // (nothing written) for an actor that is not an id or a purpose the register does not declare.
  // *seqs, if given, gets the new events' numbers.
  Status RecordAccesses(std::span<const AccessRecord> accesses,
                        std::vector<uint64_t>* seqs = nullptr);

  // Bearer tokens for `kirjuri serve`. IssueToken makes a new random token for `actor` in
  // `role` (a role the policy declares; InvalidArgument otherwise) and stores only its hash;
  // the token itself is returned once and never again (*id, if given, gets its TokenRecord id).
  // Issuing and revoking are each one signed event (tokenIssued, tokenRevoked: the all-zero
  // subject, `by` as its actor, the token's id, actor and role) written in the same batch as
  // the token's record, so the log shows who could reach the ledger, in which role, when.
  // Authenticate: Unauthenticated for a token the ledger did not issue (or revoked). Tokens
  // may be issued, listed and revoked while the ledger is served: each takes effect on the
  // next request.
  Status IssueToken(std::string_view actor, std::string_view role, std::string_view by,
                    std::string* token, std::string* id = nullptr);
  Status Authenticate(std::string_view token, TokenInfo* out) const;
  // Every live token, oldest first.
  Status ListTokens(std::vector<TokenRecord>* out) const;
  // Revokes the token that `token_or_id` is, or whose ListTokens id it is; *record, if given,
  // gets what was revoked. NotFound if there is no such token (Unauthenticated for a malformed
  // or unknown token given whole, as Authenticate).
  Status RevokeToken(std::string_view token_or_id, std::string_view by,
                     TokenRecord* record = nullptr);

  // Shreds the retained categories whose due date is at or before `now_micros`, each with a
  // retentionExpired event; *event_seqs gets their sequence numbers.
  Status RunRetention(int64_t now_micros, std::vector<uint64_t>* event_seqs);

  // The retention schedule: every category kept after an erasure whose duty ends at or before
  // `until_micros`, and has not been shredded yet (RunRetention does that), by due date.
  Status RetentionDue(int64_t until_micros, std::vector<RetentionItem>* out) const;
  // The data keys the subject still has, as (category, key id in hex); after an erasure only
  // the retained ones should be left.
  Status DataKeys(const SubjectId& subject,
                  std::vector<std::pair<std::string, std::string>>* out) const;

  // Re-wraps every data key under the master key in `new_key_file` (created if missing). The
  // old master key opens nothing in the key store afterwards; open with the new file from then on.
  Status RotateMasterKey(const std::filesystem::path& new_key_file);

  // Writes a consistent copy of the ledger to `dir`, a new directory (mode 0700) outside the data
  // directory: the log and the key store as of one point between writes (appends wait for the
  // flush and the hard links, typically well under a second), the ledger key and the checkpoint
  // copy. Not the master key, nor the views (rebuilt from the log when the copy is opened). The
  // copy opens as a data directory with the same master key, so erasures made later do not reach
  // it until that key is rotated and destroyed. InvalidArgument if `dir` exists, is inside the
  // data directory or has no parent; on any failure nothing is left in `dir`.
  Status Backup(const std::filesystem::path& dir, BackupResult* out);

  // Signs arbitrary bytes with the ledger key (raw Ed25519, as OpenSSL's pkeyutl -rawin checks
  // it). For documents such as deletion reports, which begin with '{' and so can never be taken
  // for an event's or a checkpoint's signed message.
  Ed25519Signature SignDocument(std::span<const uint8_t> document) const;

  // The latest signed checkpoint (C2SP note text). NotFound on an empty log.
  Status LatestCheckpoint(std::string* note) const;
  // A signed checkpoint for the tree of `size` leaves (the stored one if there is one,
  // otherwise freshly signed). InvalidArgument unless 0 < size <= size().
  Status CheckpointAt(uint64_t size, std::string* note) const;

  // Checks that this log extends the one `checkpoint_note` signed: the note verifies with this
  // ledger's key under its origin, its size is at most size(), and the consistency proof from
  // its tree to today's holds (recomputed from the stored tree, checked with the RFC 9162
  // verifier). Corruption naming the reason otherwise: another ledger's checkpoint, a
  // checkpoint from the future, or a history rewritten since.
  Status CheckExtends(std::string_view checkpoint_note, ExtendsResult* out) const;

  // RFC 9162 proofs from stored subtree hashes (O(log n) reads). `size` 0 means size().
  Status ProveInclusion(uint64_t index, uint64_t size, InclusionProofResult* out) const;
  Status ProveConsistency(uint64_t first, uint64_t second, ConsistencyProofResult* out) const;

  // Attaches a derived store that erasure must reach (one at a time; nullptr detaches). The
  // store must stay alive until detached.
  void AttachDerivedStore(DerivedStore* store);

  const PublicKey& public_key() const;
  // The checkpoint origin, also the signed-note key name.
  const std::string& origin() const;

 private:
  struct Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A batch numbered by Ledger::Reserve, to be written by Ledger::Commit.
class Ledger::Reservation {
 public:
  ~Reservation();  // if never committed: the batches reserved after it fail (see Reserve)
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  uint64_t first_seq() const;
  size_t size() const;

 private:
  friend class Ledger;
  struct State;
  explicit Reservation(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace kirjuri
