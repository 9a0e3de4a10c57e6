@0xfdf408440ed9eb1f;
# The proof-of-deletion report (`kirjuri report deletion`): report.json is this struct written
# with Cap'n Proto's JSON codec, report.json.sig the raw Ed25519 signature of report.json's exact
# bytes by the ledger key, report.html the same for people. `kirjuri verify-report` reads it
# back with the same codec. Holds no personal data: ids, categories, dates, counts and proofs.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kirjuri::schema");

struct DeletionReport {
  format @0 :Text;                    # "kirjuri.deletion-report/v1"
  kind @1 :Text;                      # "erasure" or "retention_expired"
  subject @2 :Text;                   # 32 hex digits
  register @3 :Text;
  request @4 :Text;                   # the request reference
  requestReceivedAt @5 :Text;         # RFC 3339
  erasedBy @6 :Text;                  # actor id
  erasedAt @7 :Text;                  # RFC 3339, when the event was recorded
  shredded @8 :List(ReportKey);
  retained @9 :List(ReportRetained);
  eventsUnreadable @10 :UInt32;
  firstSeq @11 :Text;                 # the subject's sequence range before erasure (decimal)
  lastSeq @12 :Text;
  blindIndexEntriesRemoved @13 :UInt32;
  viewRowsRemoved @14 :UInt32;
  keyStoreCheck @15 :KeyStoreCheck;
  ledger @16 :ReportLedger;
  proof @17 :ReportProof;
  generatedAt @18 :Text;              # RFC 3339
}

struct ReportKey {
  category @0 :Text;
  keyId @1 :Text;                     # 32 hex digits
}

struct ReportRetained {
  category @0 :Text;
  keyId @1 :Text;
  reason @2 :Text;
  dueAt @3 :Text;                     # RFC 3339: when `kirjuri retention run` shreds it
}

struct KeyStoreCheck {
  filesChecked @0 :UInt32;
  bytesChecked @1 :Text;              # decimal
  passed @2 :Bool;                    # no file under DATA/keys/ holds a destroyed key
}

struct ReportLedger {
  origin @0 :Text;
  publicKeyPem @1 :Text;              # PEM SubjectPublicKeyInfo: `openssl pkeyutl -pubin` reads it
  verifierKey @2 :Text;               # C2SP signed-note verifier key
}

struct ReportProof {
  seq @0 :Text;                       # the erasure event's sequence number (decimal)
  leaf @1 :Text;                      # base64 of the event's canonical SignedEvent (Merkle leaf)
  tlogProof @2 :Text;                 # C2SP tlog-proof: inclusion proof + signed checkpoint
}

# `kirjuri audit`: the replay of a period of the log against the policy in force at each moment.
# audit.json is this struct in the JSON codec's encoding; audit.json.sig is the ledger's Ed25519
# signature over its exact bytes. 64-bit numbers are decimal text (JSON numbers lose precision).
struct AuditReport {
  format @0 :Text;                    # "kirjuri.audit-report/v1"
  fromTime @1 :Text;                  # the period (RFC 3339, recordedAt); empty: the log's start
  toTime @2 :Text;                    # empty: the moment of the audit
  firstSeq @3 :Text;                  # the period's events are [firstSeq, endSeq)
  endSeq @4 :Text;
  integrity @5 :AuditIntegrity;
  ledger @6 :ReportLedger;
  checkpoint @7 :Text;                # signed checkpoint of the log at the audit: proofs are in it
  since @8 :AuditSince;               # continuity with the previous audit's checkpoint, if given
  checks @9 :List(AuditCheck);        # every rule checked, with its number of findings
  counts @10 :AuditCounts;
  findings @11 :List(AuditFinding);
  policies @12 :List(Text);           # the policy versions in force during the period
  generatedAt @13 :Text;
  auditor @14 :Text;                  # who ran it (an actor id)
  access @15 :List(AuditAccessChange);  # the period's token changes: who could reach the ledger
}

struct AuditAccessChange {
  # A bearer token for `kirjuri serve` given or taken back (tokenIssued, tokenRevoked).
  seq @0 :Text;
  at @1 :Text;                        # recordedAt, RFC 3339
  change @2 :Text;                    # "issued" or "revoked"
  tokenId @3 :Text;                   # the token's id (never the token)
  holder @4 :Text;                    # whom the token is for
  role @5 :Text;
  by @6 :Text;                        # who issued or revoked it
}

struct AuditIntegrity {
  verified @0 :Bool;                  # `verify` passed: signatures, tree, checkpoints, index
  error @1 :Text;                     # why not
  events @2 :Text;
  checkpoints @3 :Text;
  root @4 :Text;                      # hex
  signaturesFrom @5 :Text;            # event signatures checked from this seq on; the ones
                                      # before it are the previous audit's (see since)
}

struct AuditSince {
  checkpoint @0 :Text;                # the previous audit's checkpoint, as given
  oldSize @1 :Text;
  newSize @2 :Text;
  consistencyProof @3 :List(Text);    # hex hashes, RFC 9162, old tree -> this report's checkpoint
}

struct AuditCheck {
  name @0 :Text;                      # "consent", "objection", "restriction", "retention", ...
  description @1 :Text;
  findings @2 :UInt32;
  unchecked @3 :UInt32;               # events the rule could not be applied to (0: none)
  uncheckedReason @4 :Text;           # why, when unchecked > 0
}

struct AuditCount {
  key @0 :Text;
  events @1 :UInt32;
}

struct AuditMonth {
  month @0 :Text;                     # "2026-03"
  events @1 :UInt32;
  requests @2 :UInt32;                # requests received
  erasures @3 :UInt32;                # subjects erased
}

struct AuditCounts {
  events @0 :Text;                    # in the period
  byRegister @1 :List(AuditCount);
  byPurpose @2 :List(AuditCount);
  byBasis @3 :List(AuditCount);
  bySource @4 :List(AuditCount);
  byType @5 :List(AuditCount);
  byMonth @6 :List(AuditMonth);
}

struct AuditFinding {
  check @0 :Text;                     # an AuditCheck's name
  subject @1 :Text;                   # 32 hex digits (empty for the ledger itself)
  register @2 :Text;
  description @3 :Text;               # what is wrong, without personal data
  evidence @4 :List(AuditEvidence);   # the events that prove it, first the offending one
}

struct AuditEvidence {
  seq @0 :Text;
  type @1 :Text;                      # the event's type (input vocabulary)
  leafHash @2 :Text;                  # hex: RFC 9162 leaf hash of the stored event
  inclusionProof @3 :List(Text);      # hex hashes: the leaf is in the report's checkpoint
}
