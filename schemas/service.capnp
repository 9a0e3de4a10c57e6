@0xd5fc9a6890362c98;
# The Cap'n Proto RPC interface of `kirjuri serve` (cmd/service/rpc_front.h): the same operations
# as the HTTP/JSON front (`/v1/…`), under the same roles, writing the same access log — both are
# thin translations onto cmd/service/service.h.
#
# Session of a client:
#   1. connect (TwoPartyVatNetwork over TCP, `kirjuri serve --rpc HOST:PORT`) and take the
#      bootstrap capability, a Gateway;
#   2. login with a bearer token (`kirjuri token issue`) to get a Session;
#   3. call the Session's methods; each runs under the token's role (from the policy).
#   A Session is bound to one caller: hand it on only to code that may act as that caller.
#
# Errors. A call that fails throws (rejects with) a kj exception of type FAILED whose
# description is exactly the Service's error body, one JSON line:
#     {"error":"<message>","code":<http status>}
# with the code as over HTTP: 400 bad input, 401 missing or unknown token, 403 the role may not,
# 404 not found, 409 a state that forbids it, 500 the server's own failure, 503 not now (reads
# of personal data while the access log cannot be written; try again later). On an error nothing
# was done (a refused append appends none of its lines). Any other exception (a disconnect, a
# malformed message) comes from Cap'n Proto itself and has no such body; clients treat it as 500.
# Messages never hold personal data.
#
# Answers are JSON text, exactly as the HTTP front answers and `kirjuri … --json` prints, so
# that one parser serves all three; an NDJSON answer holds one JSON object per line.
#
# Compatibility: new methods and fields are added with new ordinals only (as for event.capnp).
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kirjuri::schema");

# The bootstrap capability of a connection.
interface Gateway {
  # A Session under the token's actor and role. 401 (see Errors) for a missing, malformed,
  # unknown or revoked token. The token is checked again on every call of the Session (and
  # before each delivery of its change feeds): once revoked, calls get 401 and feeds end.
  login @0 (token :Text) -> (session :Session);
}

interface Session {
  struct Appended {
    seq @0 :UInt64;
    subject @1 :Data;  # the 16-byte subject id (a new person gets a fresh one)
  }

  # JSON lines as `kirjuri append` takes them, appended atomically (all or none) through group
  # commit. Answers once they are durable (synced): an acknowledged append survives a crash.
  # 400 "line N: …" for a bad line; 403 for a role that may not append, or not that category.
  append @0 (lines :Text) -> (appended :List(Appended));

  # One person of a register ("customer", "partner") from its view, as `kirjuri query customer
  # ID --json` prints it, without the categories the role may not read. `asOf`: empty (now), a
  # sequence number or an RFC 3339 time; `purpose`: why the caller reads (empty:
  # "service_delivery"; it must be one the register declares). Logged in the access log.
  getSubject @1 (register :Text, subject :Text, asOf :Text, purpose :Text) -> (json :Text);

  # NDJSON, one {"subject","register"[,"name","email"]} per person in the marketing audience.
  marketingAudience @2 (asOf :Text) -> (json :Text);

  # Everything held about a person (GDPR Art. 15/20), as `kirjuri export --json`. `request`: the
  # open access request it answers (empty: none); answering closes it.
  export @3 (subject :Text, request :Text) -> (json :Text);

  # People's requests: open answers {"ref","seq","due_at",…}; list one line per request;
  # fulfil does the request's work (`body`: rectification JSON lines, else empty).
  openRequest @4 (subject :Text, kind :Text, ref :Text) -> (json :Text);
  listRequests @5 () -> (json :Text);
  fulfilRequest @6 (ref :Text, body :Text) -> (json :Text);

  # Crypto-shreds a person (dpo only); answers with the signed deletion report (JSON).
  erase @7 (subject :Text, request :Text) -> (reportJson :Text);
  # The deletion report of the erasure event at `seq`.
  deletionReport @8 (seq :UInt64) -> (reportJson :Text);

  # The latest signed checkpoint, a C2SP signed note.
  checkpoint @9 () -> (note :Text);
  # {"index","tree_size","leaf_hash","hashes","root"} of event `seq` in the tree of `size`
  # (0: the current tree).
  inclusionProof @10 (seq :UInt64, size :UInt64) -> (json :Text);
  consistencyProof @11 (first :UInt64, second :UInt64) -> (json :Text);

  # Envelopes (no personal data, no leaf) of events from <= seq < from + max, at most 10 000 a
  # call, one EnvelopeJson line each (`kirjuri log --json` without "leaf"); `next` is the
  # sequence number to ask for next (== from when there is nothing new).
  envelopes @12 (from :UInt64, max :UInt32) -> (json :Text, next :UInt64);

  # Who read a person's data and when: one EnvelopeJson line per dataAccessed event.
  accessLog @13 (subject :Text) -> (json :Text);

  # The change feed: every event from `from` on (the backlog first, then each as it is
  # committed, erasures included) is delivered to `sink`, exactly once and in order, in calls
  # of consecutive ranges. The server makes the next call only once the previous one returned,
  # so a slow sink slows only its own subscription (the log is the buffer). Dropping
  # `subscription` (or the connection) ends the feed; so does a sink call that throws. To
  # resume after a disconnect, subscribe again from the last seq seen + 1.
  # Needs the "envelopes" or the "query" action.
  subscribe @14 (from :UInt64, sink :ChangeSink) -> (subscription :Subscription);

  # Bearer tokens, while the server runs (the "tokens" action: the dpo in the shipped policy).
  # issueToken answers {"token","id","actor","role"}: the token is shown this once, only its
  # hash is stored. listTokens: one {"id","actor","role","issued_at"} line per live token,
  # oldest first, never a token. revokeToken takes the token or its id and answers the revoked
  # token's line (404 if there is none); the token is refused from its next request on.
  issueToken @15 (actor :Text, role :Text) -> (json :Text);
  listTokens @16 () -> (json :Text);
  revokeToken @17 (tokenOrId :Text) -> (json :Text);

  # A consistent copy of the ledger in a new directory under the server's --backup-dir (the
  # "backup" action: the dpo in the shipped policy): {"dir","events","checkpoint"}. The copy
  # holds the log, the key store and the ledger key, never the master key. 409 if the server
  # was started without --backup-dir.
  backup @18 () -> (json :Text);

  # The people of a register's view, in subject id order, as getSubject gives one: NDJSON, one
  # person a line, each logged in the access log. Only those whose profile's `city` and
  # `organisation` match (empty: any; a role that may not read the profile may not filter),
  # with the erased unless `includeErased` is false. A page: at most `limit` people (at most
  # 1000; 0 gives none) whose id comes after `after` (empty: from the first); the next page
  # starts after the last subject of this one. `asOf` and `purpose` as for getSubject.
  listSubjects @19 (register :Text, city :Text, organisation :Text, includeErased :Bool = true,
                    asOf :Text, purpose :Text, after :Text, limit :UInt32) -> (json :Text);

  # An open request's deadline extended by `months` (1 or 2; at most two in all, and only within
  # the first month after receipt: GDPR Art. 12(3)), and an open request refused; `reason` holds
  # no personal data. Both answer the request as listRequests gives it; 409 if it is not open.
  extendRequest @20 (ref :Text, months :UInt32, reason :Text) -> (json :Text);
  refuseRequest @21 (ref :Text, reason :Text) -> (json :Text);
}

interface ChangeSink {
  # The envelopes of events first, first + 1, …, first + envelopes.size() - 1: each an
  # EnvelopeJson line as `envelopes` gives them (never empty).
  events @0 (first :UInt64, envelopes :List(Text)) -> ();
}

# Held by the subscriber; dropping the last reference cancels the subscription.
interface Subscription {}
