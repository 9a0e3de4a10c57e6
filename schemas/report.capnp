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
