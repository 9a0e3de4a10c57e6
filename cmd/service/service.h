// Service: what `kirjuri serve` offers, independent of the wire. The HTTP/JSON front
// (http_front.h) and the Cap'n Proto RPC front (rpc_front.h) are thin translations onto it, so
// that both enforce the same roles, write the same access log and return the same answers.
//
// Roles come from the policy (schemas/policy.capnp, Role): a role's `actions` say which
// operations it may call (Action below, by name; "*" for all) and its `readCategories` which
// categories' values it may see; anything else is left out of its answers.
//
// Every answer that carries a person's data is recorded in the access log (a dataAccessed event
// per person: actor, role, purpose, categories returned, via), gathered in batches by a
// background writer so that reads do not wait for a synced write. An access is in the log at
// most `access_flush_interval` after the read, and always before Shutdown returns.
//
// Thread-safety: every method may be called from any thread. Writes that take the ledger's
// append lock (erase, requests) block the calling thread for one synced write; Append does not
// block (group commit, see kirjuri/group_commit.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "kirjuri/group_commit.h"
#include "kirjuri/ledger.h"
#include "kirjuri/status.h"
#include "kirjuri/views.h"

namespace kirjuri::service {

// Who is calling, as their token says.
struct Caller {
  std::string actor;
  std::string role;
  std::string via;  // "http", "rpc" (or "cli")
};

// What a caller may ask; policy roles name them in `actions`.
enum class Action {
  kAppend,             // "append": record events (only categories in appendCategories)
  kQuery,              // "query": one person from a register's view, lists
  kMarketingAudience,  // "marketing_audience"
  kExport,             // "export": everything held about a person
  kRequests,           // "requests": open, list and fulfil people's requests
  kErase,              // "erase": crypto-shred a person (only a role with "*" or "erase")
  kProofs,             // "proofs": checkpoints and proofs
  kEnvelopes,          // "envelopes": event envelopes and the change feed (no personal data)
  kReports,            // "reports": deletion reports
  kAudit,              // "audit": the access log of a person
  kTokens,             // "tokens": issue, list and revoke bearer tokens (as good as every role:
                       // a role that issues tokens can give itself any other)
  kBackup,             // "backup": a copy of the ledger into the server's backup directory
};
std::string_view ActionName(Action action);

// The HTTP status for a Status: 200, 400 invalid, 401, 403, 404, 409 failed precondition,
// 500 corruption or I/O.
int HttpStatus(const Status& status);

// {"error":"<message>","code":<http status>} — the error body of both fronts.
std::string ErrorJson(const Status& status);

struct ServiceOptions {
  size_t max_batch_events = 8192;                           // group commit
  std::chrono::milliseconds access_flush_interval{20};      // access log batching
  size_t access_flush_records = 4096;
  // Where Backup writes (`kirjuri serve --backup-dir`); empty: backups are refused.
  std::filesystem::path backup_dir;
};

class Service {
 public:
  // `ledger` and `views` must outlive the Service. Views are caught up after every write.
  Service(Ledger& ledger, Views& views, ServiceOptions options = {});
  ~Service();  // Shutdown()
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Refuses new appends, appends what is queued (each caller acknowledged), writes the pending
  // access log and catches the views up. Idempotent.
  void Shutdown();

  // Unauthenticated for a missing, malformed or unknown token.
  Status Authenticate(std::string_view bearer_token, std::string_view via, Caller* out) const;
  // PermissionDenied "role 'marketing' may not erase (policy action 'erase')" unless the
  // caller's role has the action.
  Status Authorize(const Caller& caller, Action action) const;

  // JSON lines as `kirjuri append` takes them, appended atomically through group commit; `done`
  // runs (on the committer thread) once they are durable, or with the reason nothing was
  // appended. Checked first, on the calling thread: the role's append action and categories,
  // the lines (InvalidArgument "line N: …"); then `done` is called at once with the error.
  void Append(const Caller& caller, std::string_view lines, GroupCommitter::Done done);
  // The answer to an append: one {"seq":N,"subject":"…"} line per event.
  static std::string AppendedJson(std::span<const Appended> appended);

  // Reads of personal data (GetSubject, ListSubjects, MarketingAudience, Export) are logged in
  // batches after they are answered. No trace, no read: while the access log cannot be written
  // (a full disk), its records are kept and written again, and these reads are refused with
  // Unavailable (HTTP 503) until they are.
  //
  // One person from a register's view ("customer", "partner"), as JSON (SubjectView::ToJson)
  // without the categories the role may not read. `as_of` as `kirjuri query --as-of` (empty:
  // now); `purpose` is why the caller reads (empty: "service_delivery"), logged. NotFound for a
  // person the register does not hold; InvalidArgument for a malformed id or as-of.
  Status GetSubject(const Caller& caller, std::string_view register_name,
                    std::string_view subject_hex, std::string_view as_of,
                    std::string_view purpose, std::string* json);
  // The people of a register's view that pass `filter`, in subject id order, as GetSubject
  // gives one (a line each): `filter.after` and `filter.limit` page (limit 0 gives none, at most
  // kMaxSubjectsPerCall). Each person whose data is returned is logged. Filtering by city or
  // organisation reads the profile: PermissionDenied for a role that may not read it.
  // InvalidArgument for an unknown register, an undeclared purpose, a malformed as-of.
  Status ListSubjects(const Caller& caller, std::string_view register_name, ViewFilter filter,
                      std::string_view as_of, std::string_view purpose, std::string* ndjson);
  static constexpr size_t kMaxSubjectsPerCall = 1000;
  // Sets filter->after from a client's `after` (empty: from the first subject).
  // InvalidArgument unless it is a subject id.
  static Status PageAfter(std::string_view after, ViewFilter* filter);
  // The marketing audience: one line per person, {"subject","register","name","email"} (only
  // the fields the role may read). Each person listed is logged (purpose "marketing").
  Status MarketingAudience(const Caller& caller, std::string_view as_of, std::string* ndjson);
  // Everything held about a person (GDPR Art. 15/20), as `kirjuri export --json` prints it.
  // `request`: the access request it answers, if any (logged with it).
  Status Export(const Caller& caller, std::string_view subject_hex, std::string_view request,
                std::string* json);

  // People's requests. Open: {"ref","seq","due_at"}; List: one line per request;
  // Fulfil: does the request's work as `kirjuri request close` does (`body`: rectification
  // JSON lines, else empty) and answers {"ref","state","seq","outcome":[…]}.
  Status OpenRequest(const Caller& caller, std::string_view subject_hex, std::string_view kind,
                     std::string_view ref, std::string* json);
  Status ListRequests(const Caller& caller, std::string* ndjson);
  Status FulfilRequest(const Caller& caller, std::string_view ref, std::string_view body,
                       std::string* json);
  // Extend: as `kirjuri request extend`; Refuse: as `kirjuri request close --refuse`. Both by the
  // caller's actor, answering the request's line as ListRequests gives it.
  Status ExtendRequest(const Caller& caller, std::string_view ref, unsigned months,
                       std::string_view reason, std::string* json);
  Status RefuseRequest(const Caller& caller, std::string_view ref, std::string_view reason,
                       std::string* json);
  // Crypto-shreds a person (as `kirjuri erase`) and answers with the signed deletion report
  // (JSON). `request`: the erasure request's reference, if any.
  Status Erase(const Caller& caller, std::string_view subject_hex, std::string_view request,
               std::string* report_json);
  // The deletion report of the erasure event at `seq` (JSON, signed).
  Status DeletionReport(const Caller& caller, uint64_t seq, std::string* report_json);

  // The latest signed checkpoint (C2SP note text).
  Status Checkpoint(const Caller& caller, std::string* note);
  // InclusionProofJson of event `seq` in the tree of `size` (0: now).
  Status InclusionProof(const Caller& caller, uint64_t seq, uint64_t size, std::string* json);
  Status ConsistencyProof(const Caller& caller, uint64_t first, uint64_t second,
                          std::string* json);

  // Envelopes of events from <= seq < min(size(), from + max), and never more than
  // kMaxEnvelopesPerCall (an answer is built whole in memory): one EnvelopeJson line each (no
  // leaf). *next gets the sequence number after the last one returned (`from` if none), where
  // a reader goes on. The change feed reads with this; an erasure's envelope tells downstream
  // copies to drop the person.
  static constexpr size_t kMaxEnvelopesPerCall = 10000;
  Status Envelopes(const Caller& caller, uint64_t from, size_t max, std::string* ndjson,
                   uint64_t* next);
  // Same, for code that has authorised the caller already (the feed, once per subscription):
  // calls fn for each event.
  Status ReadEnvelopes(uint64_t from, size_t max,
                       const std::function<void(const EventView&)>& fn, uint64_t* next) const;
  // Who read a person's data, and when: one EnvelopeJson line per dataAccessed event.
  Status AccessLog(const Caller& caller, std::string_view subject_hex, std::string* ndjson);

  // Bearer tokens, while serving (action "tokens"). IssueToken answers
  // {"token","id","actor","role"} (the token is shown this once); ListTokens one TokenJson line
  // per live token, oldest first; RevokeToken (`token_or_id`: the token, or its id) the revoked
  // token's TokenJson. A revoked token is refused from its next request on.
  Status IssueToken(const Caller& caller, std::string_view actor, std::string_view role,
                    std::string* json);
  Status ListTokens(const Caller& caller, std::string* ndjson);
  Status RevokeToken(const Caller& caller, std::string_view token_or_id, std::string* json);
  // {"id","actor","role","issued_at"}: a token as listed, never the token itself.
  static std::string TokenJson(const TokenRecord& record);

  // A consistent copy of the ledger (Ledger::Backup) in a new directory under
  // ServiceOptions::backup_dir, named after the time: {"dir","events","checkpoint"}.
  // FailedPrecondition if the server has no backup directory.
  Status Backup(const Caller& caller, std::string* json);
  // {"dir","events","checkpoint"}: a backup as Backup and `kirjuri backup --json` answer it.
  static std::string BackupJson(const std::string& dir, const BackupResult& result);

  // Counts a finished request for /metrics.
  void CountRequest(std::string_view front, std::string_view route, int status, double seconds);
  // Counts change-feed subscriptions opened (+1) and ended (-1), for /metrics.
  void CountFeedSubscriptions(int delta);
  // The Prometheus text exposition: requests by front/route/status, latency sums, appends,
  // group-commit batches, access records, open change-feed subscriptions, log size, view lag.
  std::string Metrics() const;

  // Called on whatever thread wrote, after the log grew (appends, access log, erasures,
  // requests): the change feed's wake-up. Set before serving.
  void SetOnCommit(std::function<void()> hook);

  uint64_t size() const;  // the log's size
  // OK, or Unavailable while the access log cannot be written (reads of personal data refused).
  Status Health() const;
  Ledger& ledger();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kirjuri::service
