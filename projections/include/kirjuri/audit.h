// The auditor's workbench: history with filters, and the audit — a replay of the log against the
// policy in force at each moment, which names every violation with the events that prove it,
// and a signed report (schemas/report.capnp AuditReport; audit.json + audit.json.sig +
// audit.html) that anyone can check with `kirjuri verify-report` or OpenSSL.
//
// The checks (AuditReport.checks names them, with what each means):
//   consent       processing on the basis of consent for a purpose the person had no consent in
//                 force for (never given, or withdrawn before)
//   objection     processing for a purpose after the person objected to it (direct marketing)
//   restriction   processing beyond storage while the person's processing was restricted
//   retention     a category kept under a retention duty whose duty has ended, still with its key
//   deadline      a request answered after its deadline, or still open past it
//   disclosure    a disclosure outside the allowed countries (EU/EEA), or on a basis the policy
//                 in force did not allow, or on consent that was not in force
//   access_role   a read of personal data in categories the reader's role does not need
//   erasure_keys  an erasure whose shredded keys are present in the key store again
// Rules are applied as the policy in force at each event stated them (policy_changed events).
//
// Thread-safety: functions; the ledger may be appended to meanwhile (they read a prefix).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kirjuri/crypto.h"
#include "kirjuri/ledger.h"

namespace kirjuri {

// What `kirjuri history` keeps. Empty strings and unset times match everything. Times are
// recordedAt (which never decreases along the log), both ends inclusive.
struct HistoryFilter {
  std::optional<int64_t> from_micros, to_micros;
  std::string register_name, purpose, basis, source, actor, type;  // type: input vocabulary
  std::optional<SubjectId> subject;
};

// Calls fn for each event that passes `filter`, in log order. A time range is found by binary
// search (Ledger::SizeAtTime) and a subject through the subject index, so neither scans the
// whole log. InvalidArgument for an unknown type name, or a period that ends before it starts.
Status ReadHistory(const Ledger& ledger, const HistoryFilter& filter,
                   const std::function<Status(const EventView&)>& fn);

struct AuditOptions {
  std::optional<int64_t> from_micros, to_micros;  // the period (recordedAt); unset: all
  // The checkpoint note kept from the previous audit: the report proves today's log extends
  // it (Ledger::CheckExtends). Empty: none.
  std::string since_checkpoint;
  std::string auditor = "auditor";  // who runs it (an actor id), named in the report
  // The moment deadlines and retention duties are judged at; 0: now.
  int64_t now_micros = 0;
  bool verify = true;  // run the full `verify` first and report its result
  ProgressFn progress;
};

struct AuditFindingSummary {
  std::string check;
  std::string subject;  // hex
  std::vector<uint64_t> seqs;
  std::string description;
};

// Events of the period that a check could not judge, and why (e.g. a disclosure whose country
// was erased since): the report says so rather than passing them as checked.
struct AuditUnchecked {
  std::string check;
  uint32_t events = 0;
  std::string reason;
};

struct AuditResult {
  std::string json;                     // audit.json, exact bytes
  std::array<uint8_t, 64> signature{};  // audit.json.sig
  std::string html;                     // audit.html
  std::vector<AuditFindingSummary> findings;
  std::vector<AuditUnchecked> unchecked;  // checks with unchecked events only
  bool integrity_ok = false;
};

// Runs the audit. Corruption if `since_checkpoint` is not extended by this log (another
// ledger's, or history rewritten since); InvalidArgument for a period that ends before it starts;
// a failed `verify` does not stop it: the report says so.
Status RunAudit(const Ledger& ledger, const AuditOptions& options, AuditResult* out);

// Writes audit.json, audit.json.sig, audit.html and ledger.pub.pem into `dir` (created if
// missing), each atomically.
Status WriteAuditReport(const AuditResult& result, const std::filesystem::path& dir);

struct AuditReportCheck {
  uint64_t findings = 0;
  uint64_t proofs = 0;  // inclusion proofs checked
  bool since = false;   // a continuity proof was present and checked
};

// Verifies audit.json (and audit.json.sig beside it): the signature over its exact bytes (with
// its own key, or `pinned`), the checkpoint's signature, every evidence's inclusion proof in
// that checkpoint's tree, and the continuity proof from the previous checkpoint. Corruption
// naming the first failure; InvalidArgument if it is not an audit report.
Status VerifyAuditReport(const std::filesystem::path& report_json, const PublicKey* pinned,
                         AuditReportCheck* out);

// Whether the file at `path` is an audit report (rather than a deletion report).
bool IsAuditReport(const std::filesystem::path& path);

}  // namespace kirjuri
