// Proof-of-deletion reports: what an erasure (or a retention expiry) did, signed by the ledger
// key and provable against the ledger's signed checkpoints, for the data subject and an auditor.
//
// A report is three files (schemas/report.capnp gives the JSON's fields):
//   report.json      schema::DeletionReport in Cap'n Proto's JSON codec, ending in "\n"
//   report.json.sig  the raw 64-byte Ed25519 signature of report.json's exact bytes by the ledger
//                    key: `openssl pkeyutl -verify -pubin -inkey ledger.pub.pem -rawin
//                    -in report.json -sigfile report.json.sig` checks it
//   report.html      the same, in plain English, self-contained and printable
// (and ledger.pub.pem, the report's public key, for the OpenSSL command).
//
// Every claim of the report is taken from the signed erasure event, whose canonical bytes (the
// Merkle leaf) travel in the report with a C2SP tlog-proof of its inclusion under a signed
// checkpoint, so VerifyDeletionReport can check the whole chain without the ledger. A report
// holds no personal data: subject and key ids, categories, dates, counts, reasons and proofs.
//
// Thread-safety: pure functions apart from the reads and signing of the (thread-safe) Ledger.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "kirjuri/crypto.h"
#include "kirjuri/ledger.h"
#include "kirjuri/status.h"

namespace kirjuri {

struct DeletionReportFiles {
  std::string json;                     // report.json, exact bytes
  std::array<uint8_t, 64> signature{};  // report.json.sig
  std::string html;                     // report.html
};

// Builds the report for the subject's latest subjectErased or retentionExpired event (or the one
// at `seq` if given). NotFound if the subject has none (or `seq` is not one of the subject's).
// The checkpoint is the latest one (it covers the event); the proof is the C2SP tlog-proof of the
// event's inclusion in that checkpoint's tree. `json` is the JSON codec's pretty-printed encoding
// of schema::DeletionReport ending in "\n"; `signature` = ledger.SignDocument(json bytes).
Status BuildDeletionReport(const Ledger& ledger, const SubjectId& subject,
                           std::optional<uint64_t> seq, DeletionReportFiles* out);

// Writes report.json, report.json.sig (raw 64 bytes), report.html and ledger.pub.pem (the
// report's ledger.publicKeyPem, for the OpenSSL command) into `dir` (created if missing). Each
// file is written to a temporary name and renamed into place. InvalidArgument if `files.json` is
// not a deletion report; IOError on any write failure.
Status WriteDeletionReport(const DeletionReportFiles& files, const std::filesystem::path& dir);

struct ReportCheck {
  bool signature_ok = false;   // report.json.sig verifies over report.json's exact bytes
  bool checkpoint_ok = false;  // the checkpoint's C2SP signature verifies with the report's key
  bool proof_ok = false;       // the leaf is included in the checkpoint's tree
  bool event_ok = false;       // the leaf is a signed erasure event that says what the report says
  std::string subject;         // from the report (32 hex digits)
  uint64_t seq = 0;            // the erasure event's sequence number
};

// Verifies report.json (and report.json.sig beside it), in this order, stopping at the first
// failure, which the Corruption names:
//   "report.json.sig: signature does not verify"   over the exact bytes, with the report's
//       publicKeyPem, or with `pinned` if given (which must then be the report's key);
//   "checkpoint: ..."        the checkpoint's signed-note signature by that key (name = origin),
//       and the report's origin and verifier key agree with it;
//   "inclusion proof: ..."   merkle::LeafHash(leaf) at the report's seq is in the checkpoint's tree;
//   "event: ..."             the leaf is a canonical SignedEvent whose signature verifies
//       ("kirjuri/event/v1\n" || canonical(event)) and whose envelope and erasure match every
//       claim of the report (seq, subject, type, register, request, actor, dates, shredded and
//       retained keys, counts).
// InvalidArgument if a file is unreadable or not a deletion report. `out` is filled as far as
// the checks got.
Status VerifyDeletionReport(const std::filesystem::path& report_json, const PublicKey* pinned,
                            ReportCheck* out);

}  // namespace kirjuri
