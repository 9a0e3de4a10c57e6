@0xf63ec664f72fd749;
# Kirjuri events: the format of the log, on disk and on the wire.
#
# An event is kept for years, so this schema only ever grows: fields are added with new ordinals,
# never renumbered, retyped or removed, and enumerants are only appended. An old event therefore
# reads with every later version of this file (tests/compat_test.cc keeps events written by early
# versions and reads them). What is signed and hashed is the canonical encoding
# (capnp::canonicalize) of these structs; schemas/FORMATS.md gives the exact bytes.

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
$Cxx.namespace("kirjuri::schema");

enum EventType {
  # The input vocabulary of `kirjuri append` (snake_case there: consent_given, ...).
  recorded @0;           # data collected for a category
  rectified @1;          # wrong, outdated or incomplete data corrected
  consentGiven @2;       # consent for the envelope's purpose
  consentWithdrawn @3;
  marketingObjected @4;  # the person forbids direct marketing
  restricted @5;         # processing restricted (stored only)
  restrictionLifted @6;
  disclosed @7;          # data given to a recipient
  # Written by Kirjuri itself, never accepted as input.
  subjectErased @8;      # `kirjuri erase`: the subject's keys were shredded
  retentionExpired @9;   # `kirjuri retention run`: a retained category came due and was shredded
  requestReceived @10;   # `kirjuri request open`: a person's request (Event.requestInfo)
  requestExtended @11;   # its deadline extended, with the reason
  requestFulfilled @12;  # answered: the events that did the work are named
  requestRefused @13;    # refused, with the reason (e.g. a retention duty)
  policyChanged @14;     # `kirjuri policy apply`: a new policy in force (Event.policyChange)
  dataAccessed @15;      # someone read the person's data (the access log; Event.access)
  tokenIssued @16;       # `kirjuri token issue`: a bearer token of `kirjuri serve` given (Event.token)
  tokenRevoked @17;      # `kirjuri token revoke`: one taken back (Event.token)
}

struct Envelope {
  # Plaintext metadata an auditor needs even after erasure. Holds no personal data: the subject
  # is a random id, actor is an employee or system id, the rest is policy vocabulary.
  seq @0 :UInt64;               # position in the log, from 0, gap-free
  recordedAtMicros @1 :Int64;   # when the ledger appended it (Unix time, microseconds, UTC)
  occurredAtMicros @2 :Int64;   # when the change happened (input "at"); equals recordedAt if not given
  register @3 :Text;            # policy register name, e.g. "customer"
  subject @4 :Data;             # 16 random bytes, never derived from personal data
  type @5 :EventType;
  actor @6 :Text;               # who made the change, e.g. "emp-0007"
  purpose @7 :Text;             # policy purpose, e.g. "service_delivery"
  basis @8 :Text;               # lawful basis, e.g. "consent"
  source @9 :Text;              # policy source, e.g. "web_form"
  category @10 :Text;           # data category of the payload, e.g. "profile"
  keyId @11 :Data;              # id of the (subject, category) data key; empty while unsealed
  request @12 :Text;            # reference of the person's request that caused it, if any
}

struct Sealed {
  # Never written (see Field.sealed).
  keyId @0 :Data;
  nonce @1 :Data;
  ciphertext @2 :Data;
}

struct Field {
  # One item of personal data stored unsealed: only in ledgers written before sealing (and by
  # OpenOptions::seal = false, for benchmarks). Sealed data is in Event.sealed.
  name @0 :Text;
  category @1 :Text;
  union {
    plain @2 :Text;             # the value as JSON text
    sealed @3 :Sealed;          # never written; kept so that the union's layout stays as it was
  }
}

struct SealedGroup {
  # All of an event's fields of one data category, sealed together under the (subject, category)
  # data key: one nonce and one tag per category, not per field.
  category @0 :Text;            # "profile", or "network" for "ip"
  keyId @1 :Data;
  nonce @2 :Data;               # 24 random bytes
  names @3 :List(Text);         # the fields' names, in order (vocabulary, never personal)
  ciphertext @4 :Data;          # XChaCha20-Poly1305-IETF of canonical(FieldValues)
}

struct FieldValues {
  values @0 :List(Text);        # the fields' values as JSON text, in the order of the names
}

struct Event {
  envelope @0 :Envelope;
  fields @1 :List(Field);
  erasure @2 :Erasure;          # set in subjectErased and retentionExpired events only
  sealed @3 :List(SealedGroup); # the personal data
  requestInfo @4 :RequestInfo;  # set in request* events only
  policyChange @5 :PolicyChange;  # set in policyChanged events only
  access @6 :Access;            # set in dataAccessed events only
  token @7 :TokenChange;        # set in tokenIssued and tokenRevoked events only
}

struct TokenChange {
  # Who may reach the ledger through `kirjuri serve`: a bearer token given or taken back. The
  # envelope's actor is who did it. Never the token itself, nor anything that opens it.
  id @0 :Text;                        # the token's id (`kirjuri token list`): 16 hex digits
  actor @1 :Text;                     # whom the token is for
  role @2 :Text;                      # its policy role
}

struct Access {
  # A read of a person's data: the envelope names who (actor), whose (subject) and why
  # (purpose); this says what was read and how. Holds no personal data.
  categories @0 :List(Text);          # the data categories whose values were returned
  via @1 :Text;                       # "http", "rpc" or "cli"
  operation @2 :Text;                 # "query", "export", "marketing_audience", ...
  role @3 :Text;                      # the caller's role (policy roles)
}

struct PolicyChange {
  # The policy in force from this event on. Events about the ledger itself carry the all-zero
  # subject id and no register.
  json @0 :Text;                      # the policy document, exactly as applied
  sha256 @1 :Data;                    # SHA-256 of json's bytes
  previousSha256 @2 :Data;            # SHA-256 of the policy it replaces (the chain starts at
                                      # the policy given to `init`)
  name @3 :Text;
  version @4 :UInt32;
}

struct RequestInfo {
  # A person's request (GDPR Art. 15-21) and its deadline (Art. 12(3): one month from receipt,
  # extendable by two more). Holds no personal data: the kind, dates, the controller's reason.
  kind @0 :Text;                      # access, rectification, erasure, objection, restriction
  receivedAtMicros @1 :Int64;
  dueAtMicros @2 :Int64;              # the deadline as this event leaves it
  extendedMonths @3 :UInt8;           # months added so far (at most 2)
  reason @4 :Text;                    # why extended or refused
  outcomeSeqs @5 :List(UInt64);       # fulfilled: the events that did the work
}

struct RequestState {
  # The ledger's record of a request (log database, default column family, "request/" || ref),
  # kept in the same write as each of its events. Derived from the log.
  ref @0 :Text;
  subject @1 :Data;
  kind @2 :Text;
  receivedAtMicros @3 :Int64;
  dueAtMicros @4 :Int64;
  extendedMonths @5 :UInt8;
  state @6 :Text;                     # "open", "fulfilled" or "refused"
  closedAtMicros @7 :Int64;
  seqs @8 :List(UInt64);              # its events, in order
}

struct Erasure {
  # What an erasure did. Holds no personal data: ids, categories, counts, dates, reasons.
  requestReceivedAtMicros @0 :Int64;
  shredded @1 :List(KeyRef);          # data keys destroyed
  retained @2 :List(Retained);        # data keys kept under a retention duty
  eventsUnreadable @3 :UInt64;        # the subject's events whose data can no longer be read
  firstSeq @4 :UInt64;                # the subject's first and last event before this one
  lastSeq @5 :UInt64;
  blindIndexEntriesRemoved @6 :UInt64;
  viewRowsRemoved @7 :UInt64;         # entries of the views holding the person's data, removed
                                      # (sealed categories of their row, their audience entry)
  keyStoreFilesChecked @8 :UInt64;    # the physical check: files under DATA/keys/ read,
  keyStoreBytesChecked @9 :UInt64;    # and none holds a destroyed key id or wrapped key
}

struct KeyRef {
  category @0 :Text;
  keyId @1 :Data;
}

struct Retained {
  category @0 :Text;
  keyId @1 :Data;
  reason @2 :Text;                    # the law that requires keeping it
  dueAtMicros @3 :Int64;              # when `kirjuri retention run` shreds it
}

struct SealContext {
  # The associated data of a sealed group is "kirjuri/sealed/v1\n" || canonical(SealContext):
  # the envelope and the group's own category, key and field names, so a ciphertext opens only
  # in the event, category and order of fields it was written for.
  seq @0 :UInt64;
  subject @1 :Data;
  register @2 :Text;
  type @3 :EventType;
  category @4 :Text;                  # the envelope's category
  groupCategory @5 :Text;             # the category whose key seals this group
  keyId @6 :Data;
  names @7 :List(Text);
}

struct SubjectInfo {
  # The log database's summary of one subject (column family subject_info), kept in the same
  # write as each of the subject's events. Derived from the log: rebuilt from it when missing.
  register @0 :Text;
  eventCount @1 :UInt64;
  firstSeq @2 :UInt64;
  lastSeq @3 :UInt64;
  erasedAtSeq @4 :Int64 = -1;         # the subjectErased event, or -1
  categories @5 :List(CategoryInfo);
  # What the person's rights have set, for the checks at append (policy rules): the purposes
  # with consent given and not withdrawn, the purposes objected to, a restriction in force.
  consents @6 :List(Text);
  objected @7 :List(Text);
  restricted @8 :Bool;
}

struct CategoryInfo {
  name @0 :Text;
  events @1 :UInt64;
  lastOccurredAtMicros @2 :Int64;
}

struct PendingErasure {
  # Written before any key is shredded and removed in the write that appends the subjectErased
  # event, so an erasure interrupted by a crash is finished on the next open, never left half.
  subject @0 :Data;
  type @1 :EventType;
  request @2 :Text;
  actor @3 :Text;
  requestReceivedAtMicros @4 :Int64;
  shred @5 :List(KeyRef);
  retained @6 :List(Retained);
  removeIndex @7 :Bool;
}

struct SignedEvent {
  # A log entry. Its canonical encoding is the value stored under the sequence number and the
  # RFC 9162 Merkle leaf. `signature` is Ed25519 by the ledger key over
  # "kirjuri/event/v1\n" || canonical(event).
  event @0 :Event;
  signature @1 :Data;
}

struct InputLine {
  # One line of `kirjuri append` (and of POST /v1/events), a JSON object with these keys and no
  # others, each at most once (Policy::ParseLine; a test holds its list of keys to this one).
  # Field names may grow, never change.
  register @0 :Text;
  subject @1 :Text;             # "new", or a subject id (32 hex digits)
  type @2 :Text;                # snake_case EventType, e.g. "consent_given"
  category @3 :Text;
  actor @4 :Text;
  purpose @5 :Text;
  basis @6 :Text;
  source @7 :Text;
  data @8 :Json.Value;          # a JSON object of fields
  at @9 :Text;                  # RFC 3339
  request @10 :Text;
  ip @11 :Text;
}
