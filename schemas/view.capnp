@0xa9a718c4be2e7d9e;
# Projections' rows (projections/, DATA/views/). A view is derived from the log and can always
# be rebuilt from it, so these formats may change between versions: a view written by another
# version is rebuilt on open (ViewMeta.format). Rows hold personal data only sealed under the
# subject's data keys, so crypto-shredding reaches the views as it reaches the log.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kirjuri::schema");

struct SubjectRow {
  # One subject of the customer or partner view (column family "rows", key register || 0x00 ||
  # subject). Canonical encoding; every list sorted, so equal states give equal bytes.
  # Plaintext only what the log's envelopes already hold in plaintext: ids, times, sequence
  # numbers, event types, purposes, sources, categories.
  subject @0 :Data;
  register @1 :Text;
  firstSeq @2 :UInt64;
  lastSeq @3 :UInt64;
  eventCount @4 :UInt64;
  createdAtMicros @5 :Int64;         # occurredAt of the first event
  updatedAtMicros @6 :Int64;         # occurredAt of the latest event
  erased @7 :Bool;
  erasedAtSeq @8 :UInt64;
  erasedAtMicros @9 :Int64;
  restricted @10 :Bool;
  restrictedAtMicros @11 :Int64;     # since when (0 unless restricted)
  marketingObjected @12 :Bool;
  marketingObjectedAtMicros @13 :Int64;
  lastActivityMicros @14 :Int64;     # occurredAt of the latest usage event, 0 if none
  consents @15 :List(Consent);       # the latest change per purpose, by purpose
  consentHistory @16 :List(Consent); # every change, in log order
  retained @17 :List(RetainedCategory);  # kept after erasure under a retention duty, by category
  categories @18 :List(CategoryRow); # by category
}

struct Consent {
  purpose @0 :Text;
  given @1 :Bool;                    # false: withdrawn
  seq @2 :UInt64;
  atMicros @3 :Int64;                # occurredAt
  source @4 :Text;                   # how it was given or withdrawn
  basis @5 :Text;
  actor @6 :Text;
}

struct RetainedCategory {
  category @0 :Text;
  reason @1 :Text;
  dueAtMicros @2 :Int64;
}

struct CategoryRow {
  category @0 :Text;
  union {
    sealed @1 :Data;
    # nonce (24) || XChaCha20-Poly1305 of canonical(CategoryState), sealed by
    # Ledger::SealForView under the (subject, category) data key with the associated data
    # "kirjuri/view/v1\n" || register || 0x00 || subject || category.
    shredded @2 :CategoryState;
    # The category's key is shredded: the same state with every value absent (erased
    # placeholders, field names and sequence numbers only), stored as it is.
  }
}

struct CategoryState {
  fields @0 :List(FieldState);       # by name
  usage @1 :List(KindCount);         # usage events per kind (usage category only), by kind
}

struct FieldState {
  name @0 :Text;
  value @1 :Text;                    # JSON text; empty when erased
  erased @2 :Bool;                   # the key that sealed it was shredded
  seq @3 :UInt64;                    # the event that set it
  atMicros @4 :Int64;                # its occurredAt
  source @5 :Text;
  purpose @6 :Text;
}

struct KindCount {
  kind @0 :Text;
  count @1 :UInt64;
}
