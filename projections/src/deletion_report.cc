// Proof-of-deletion reports: built from the signed erasure event, its inclusion proof and the
// latest checkpoint; verified without the ledger. See kirjuri/deletion_report.h.
#include "kirjuri/deletion_report.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "kirjuri/merkle.h"
#include "kirjuri/note.h"
#include "kirjuri/schemas/event.capnp.h"
#include "kirjuri/schemas/report.capnp.h"
#include "kirjuri/time.h"
#include "files.h"
#include "html.h"

namespace kirjuri {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kReportFormat = "kirjuri.deletion-report/v1";
constexpr std::string_view kEventSignaturePrefix = "kirjuri/event/v1\n";
constexpr size_t kMaxLeafBytes = 1 << 20;         // as the ledger's own limit
constexpr size_t kMaxReportBytes = 8 << 20;       // a report is a few kilobytes
constexpr unsigned kLeafNestingLimit = 16;

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool IsReportedType(schema::EventType t) {
  return t == schema::EventType::SUBJECT_ERASED || t == schema::EventType::RETENTION_EXPIRED;
}

std::string KindOf(schema::EventType t) {
  switch (t) {
    case schema::EventType::SUBJECT_ERASED: return "erasure";
    case schema::EventType::RETENTION_EXPIRED: return "retention_expired";
    default: return EventTypeName(t);
  }
}

std::string Hex(capnp::Data::Reader d) { return HexEncode({d.begin(), d.size()}); }

uint32_t ClampU32(uint64_t v) {
  return static_cast<uint32_t>(std::min<uint64_t>(v, std::numeric_limits<uint32_t>::max()));
}

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A leaf (canonical SignedEvent bytes: one segment, no segment table) decoded with read limits.
// Keeps the words the readers point into.
class Leaf {
 public:
  // Corruption (message without a prefix) unless `bytes` is a canonical SignedEvent.
  Status Decode(std::span<const uint8_t> bytes) {
    if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0 || bytes.size() > kMaxLeafBytes) {
      return Status::Corruption("the leaf has an impossible size (" +
                                std::to_string(bytes.size()) + " bytes)");
    }
    words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    std::memcpy(words_.begin(), bytes.data(), bytes.size());
    segments_[0] = words_.asPtr();
    Status status;
    kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
      // The check: one traversal, under the tight limit (~2x the size) of the ledger's reader.
      capnp::ReaderOptions check_options;
      check_options.traversalLimitInWords = words_.size() * 2 + 64;
      check_options.nestingLimit = kLeafNestingLimit;
      capnp::SegmentArrayMessageReader check(kj::arrayPtr(segments_, 1), check_options);
      if (!check.isCanonical()) {
        status = Status::Corruption("the leaf is not a canonical SignedEvent");
        return;
      }
      // The reader the caller uses makes a few passes over the (now known canonical, so
      // amplification-free) message: canonicalize for the signature, reading every field of the
      // report, comparing. Its budget is that many traversals, still linear in the size.
      capnp::ReaderOptions options;
      options.traversalLimitInWords = words_.size() * 2 * kLeafPasses + 256;
      options.nestingLimit = kLeafNestingLimit;
      reader_ = std::make_unique<capnp::SegmentArrayMessageReader>(kj::arrayPtr(segments_, 1),
                                                                   options);
      root_ = reader_->getRoot<schema::SignedEvent>();
      // Touch the pointers every caller follows, so a malformed one fails here, not later.
      (void)root_.getEvent().getEnvelope().getSeq();
      (void)root_.getEvent().getErasure().getShredded();
      (void)root_.getSignature();
    });
    if (error != nullptr) return Status::Corruption("the leaf does not decode as a SignedEvent");
    return status;
  }
  schema::SignedEvent::Reader get() const { return root_; }

 private:
  static constexpr uint64_t kLeafPasses = 4;
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::SegmentArrayMessageReader> reader_;
  kj::ArrayPtr<const capnp::word> segments_[1];
  schema::SignedEvent::Reader root_;
};

// True iff the event signature of `signed_event` is `key`'s over
// "kirjuri/event/v1\n" || canonical(event).
bool EventSignatureVerifies(schema::SignedEvent::Reader signed_event, const PublicKey& key) {
  bool ok = false;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    auto sig = signed_event.getSignature();
    if (sig.size() != 64) return;
    kj::Array<capnp::word> canonical = capnp::canonicalize(signed_event.getEvent());
    auto bytes = canonical.asBytes();
    std::string message(kEventSignaturePrefix);
    message.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    ok = VerifySignature(key, AsBytes(message), {sig.begin(), sig.size()});
  });
  return ok && error == nullptr;
}

// The report's claims about the erasure, taken from the signed event. Used to build a report and
// to check one: VerifyDeletionReport rebuilds these fields and compares them.
void FillFromEvent(schema::Event::Reader event, schema::DeletionReport::Builder r) {
  auto env = event.getEnvelope();
  auto erasure = event.getErasure();
  r.setFormat(std::string(kReportFormat));
  r.setKind(KindOf(env.getType()));
  r.setSubject(Hex(env.getSubject()));
  r.setRegister(env.getRegister());
  r.setRequest(env.getRequest());
  r.setRequestReceivedAt(FormatRfc3339(erasure.getRequestReceivedAtMicros()));
  r.setErasedBy(env.getActor());
  r.setErasedAt(FormatRfc3339(env.getRecordedAtMicros()));
  auto shredded = r.initShredded(erasure.getShredded().size());
  for (unsigned i = 0; i < shredded.size(); ++i) {
    auto k = erasure.getShredded()[i];
    shredded[i].setCategory(k.getCategory());
    shredded[i].setKeyId(Hex(k.getKeyId()));
  }
  auto retained = r.initRetained(erasure.getRetained().size());
  for (unsigned i = 0; i < retained.size(); ++i) {
    auto k = erasure.getRetained()[i];
    retained[i].setCategory(k.getCategory());
    retained[i].setKeyId(Hex(k.getKeyId()));
    retained[i].setReason(k.getReason());
    retained[i].setDueAt(FormatRfc3339(k.getDueAtMicros()));
  }
  r.setEventsUnreadable(ClampU32(erasure.getEventsUnreadable()));
  r.setFirstSeq(std::to_string(erasure.getFirstSeq()));
  r.setLastSeq(std::to_string(erasure.getLastSeq()));
  r.setBlindIndexEntriesRemoved(ClampU32(erasure.getBlindIndexEntriesRemoved()));
  r.setViewRowsRemoved(ClampU32(erasure.getViewRowsRemoved()));
  auto check = r.initKeyStoreCheck();
  check.setFilesChecked(ClampU32(erasure.getKeyStoreFilesChecked()));
  check.setBytesChecked(std::to_string(erasure.getKeyStoreBytesChecked()));
  // The ledger appends the event only after the key store's physical check passed.
  check.setPassed(true);
  r.initProof().setSeq(std::to_string(env.getSeq()));
}

// The fields FillFromEvent sets (besides format and proof.seq, checked on their own), in the
// order they are compared.
constexpr const char* kEventBackedFields[] = {
    "subject",  "kind",     "register",         "request",         "requestReceivedAt",
    "erasedBy", "erasedAt", "shredded",         "retained",        "eventsUnreadable",
    "firstSeq", "lastSeq",  "blindIndexEntriesRemoved", "viewRowsRemoved", "keyStoreCheck",
};

// Decodes report JSON into `root`. InvalidArgument naming `name` if it is not JSON of the schema.
Status DecodeReport(std::string_view json, std::string_view name,
                    schema::DeletionReport::Builder root) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::JsonCodec codec;
    codec.setMaxNestingDepth(16);
    codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), root);
  });
  KJ_IF_MAYBE(e, error) {
    (void)e;  // its description quotes the input: keep the message short and predictable
    return Status::InvalidArgument(std::string(name) + ": not a deletion report (malformed JSON)");
  }
  return Status::Ok();
}

// ---- HTML ----

using html::Esc;
using html::kCss;

// "3 March 2026, 14:05 UTC" for an RFC 3339 text; the text itself if it does not parse.
std::string HumanTime(std::string_view rfc3339, bool with_time = true) {
  int64_t micros = 0;
  if (!ParseRfc3339(rfc3339, &micros).ok()) return std::string(rfc3339);
  std::time_t t = static_cast<std::time_t>(micros / 1000000 - (micros % 1000000 < 0 ? 1 : 0));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::string(rfc3339);
  static const char* const kMonths[] = {"January", "February", "March",     "April",
                                        "May",     "June",     "July",      "August",
                                        "September", "October", "November", "December"};
  std::string out = std::to_string(tm.tm_mday) + " " + kMonths[tm.tm_mon] + " " +
                    std::to_string(tm.tm_year + 1900);
  if (with_time) {
    char hm[16];
    std::snprintf(hm, sizeof(hm), ", %02d:%02d UTC", tm.tm_hour, tm.tm_min);
    out += hm;
  }
  return out;
}

std::string Code(std::string_view s) { return "<code>" + Esc(s) + "</code>"; }

// <time> element showing a readable date, with the exact RFC 3339 value as its datetime.
std::string Time(std::string_view rfc3339, bool with_time = true) {
  return "<time datetime=\"" + Esc(rfc3339) + "\">" + Esc(HumanTime(rfc3339, with_time)) +
         "</time>";
}

std::string Plural(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}


std::string RenderHtml(schema::DeletionReport::Reader r, std::string_view leaf_hash_hex,
                       uint64_t tree_size, std::string_view checkpoint_note) {
  const bool retention = std::string_view(r.getKind().cStr()) == "retention_expired";
  const std::string subject = r.getSubject();
  const std::string seq = r.getProof().getSeq();
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>Proof of deletion: data subject " + Esc(subject) + "</title>\n";
  h += "<style>" + std::string(kCss) + "</style>\n</head>\n<body>\n<main>\n";

  h += "<header>\n<h1>Proof of deletion</h1>\n";
  h += "<p class=\"lead\">Data subject " + Code(subject) + " &middot; register " +
       Code(r.getRegister().cStr()) + " &middot; " +
       (retention ? std::string("end of a retention period") : std::string("erasure request")) +
       "</p>\n</header>\n";

  // Summary.
  h += "<section>\n<h2>Summary</h2>\n";
  if (retention) {
    h += "<p>On <strong>" + Time(r.getErasedAt().cStr()) +
         "</strong>, the time for which the law required us to keep some personal data of data "
         "subject " + Code(subject) + " in the register " + Code(r.getRegister().cStr()) +
         " came to an end, and that data was destroyed. This was done automatically by " +
         Code(r.getErasedBy().cStr()) + " (reference " + Code(r.getRequest().cStr()) +
         ", run at " + Time(r.getRequestReceivedAt().cStr()) +
         ") and recorded in the ledger as event number " + Esc(seq) + ".</p>\n";
  } else {
    h += "<p>On <strong>" + Time(r.getErasedAt().cStr()) +
         "</strong>, the personal data held about data subject " + Code(subject) +
         " in the register " + Code(r.getRegister().cStr()) +
         " was erased" +
         (r.getRetained().size() > 0
              ? std::string(", apart from data that the law requires us to keep for a time (see "
                            "below),")
              : std::string()) +
         " in answer to the request " + Code(r.getRequest().cStr()) +
         " received on " + Time(r.getRequestReceivedAt().cStr()) + ". The erasure was carried "
         "out by " + Code(r.getErasedBy().cStr()) +
         " and recorded in the ledger as event number " + Esc(seq) + ".</p>\n";
  }
  h += "<p>How erasure works here: each category of a person's data is stored encrypted, with a "
       "key of its own. Erasing the data means destroying its key (&ldquo;crypto-shredding&rdquo;). "
       "Without the key the encrypted data can never be read again, by anyone, in any copy of "
       "the ledger. Older backups of the key store still hold the key, locked under the master "
       "key of their day; they become unreadable too once that master key is replaced and "
       "destroyed (Kirjuri's master-key rotation). "
       "The ledger itself, which records what was done, when and why but holds no "
       "personal data, stays complete.</p>\n</section>\n";

  // Destroyed.
  h += "<section>\n<h2>What was destroyed</h2>\n";
  if (r.getShredded().size() == 0) {
    h += "<p>No data keys were destroyed by this event: no personal data of these categories was "
         "held.</p>\n";
  } else {
    h += "<p>The keys of these categories of data were destroyed, so all data of these categories "
         "about the data subject is permanently unreadable:</p>\n";
    h += "<table>\n<thead><tr><th>Category of data</th><th>Destroyed key (id)</th></tr></thead>\n"
         "<tbody>\n";
    for (auto k : r.getShredded()) {
      h += "<tr><td>" + Code(k.getCategory().cStr()) + "</td><td class=\"key\">" +
           Code(k.getKeyId().cStr()) + "</td></tr>\n";
    }
    h += "</tbody>\n</table>\n";
  }
  h += "</section>\n";

  // Kept.
  h += "<section>\n<h2>What was kept, and why</h2>\n";
  if (r.getRetained().size() == 0) {
    if (retention) {
      h += "<p>The data destroyed by this event was the data that had been kept under a legal "
           "retention duty. Nothing more of it is kept.</p>\n";
    } else {
      h += "<p>Nothing was kept: every category of the data subject's personal data was "
           "destroyed.</p>\n";
    }
  } else {
    h += "<p>The law requires us to keep some data for a fixed time. It stays encrypted, is used "
         "for nothing but that legal duty, and its key will be destroyed automatically on the "
         "date shown, after which it too is unreadable.</p>\n";
    h += "<table>\n<thead><tr><th>Category of data</th><th>Legal reason for keeping it</th>"
         "<th>Will be destroyed on</th><th>Key (id)</th></tr></thead>\n<tbody>\n";
    for (auto k : r.getRetained()) {
      h += "<tr><td>" + Code(k.getCategory().cStr()) + "</td><td>" + Esc(k.getReason().cStr()) +
           "</td><td>" + Time(k.getDueAt().cStr(), /*with_time=*/false) +
           "</td><td class=\"key\">" + Code(k.getKeyId().cStr()) + "</td></tr>\n";
    }
    h += "</tbody>\n</table>\n";
  }
  h += "</section>\n";

  // Unreadable events.
  h += "<section>\n<h2>Records that can no longer be read</h2>\n";
  h += "<p><strong>" + Plural(r.getEventsUnreadable(), "recorded event", "recorded events") +
       "</strong> about the data subject can no longer be read, because their data was "
       "encrypted with the destroyed keys. The data subject's events before this one lie between "
       "positions " + Esc(r.getFirstSeq().cStr()) + " and " + Esc(r.getLastSeq().cStr()) +
       " of the log. Those entries are still in the log, unchanged, so that the log's integrity "
       "can still be proven; only the personal data in them is gone for good.</p>\n";
  h += "<p>" + Plural(r.getBlindIndexEntriesRemoved(), "search-index entry", "search-index entries") +
       " (used to find a person by email address, username or phone number) " +
       (r.getBlindIndexEntriesRemoved() == 1 ? "was" : "were") + " removed, and " +
       Plural(r.getViewRowsRemoved(), "entry", "entries") +
       " holding the data subject's data " + (r.getViewRowsRemoved() == 1 ? "was" : "were") +
       " removed from the views that other systems query (the encrypted data of their "
       "customer or partner record, their place in the direct-marketing audience); those views "
       "now keep only the data subject's identifier and dates.</p>\n</section>\n";

  // Log intact.
  h += "<section>\n<h2>The log and its proofs remain intact</h2>\n";
  h += "<p>Nothing was deleted from the log or rewritten in it. The " +
       std::string(retention ? "destruction" : "erasure") +
       " is itself a new entry, number " + Esc(seq) +
       ", signed by the ledger and appended to the log. The ledger's signed checkpoint below "
       "covers that entry, and the inclusion proof in <code>report.json</code> shows that the "
       "entry is part of the log the checkpoint describes. Every earlier checkpoint and proof "
       "remains valid.</p>\n</section>\n";

  // Key store check.
  const bool passed = r.getKeyStoreCheck().getPassed();
  h += "<section>\n<h2>Physical check of the key store</h2>\n";
  h += "<p>After destroying the keys, Kirjuri read every file of its key store (" +
       Plural(r.getKeyStoreCheck().getFilesChecked(), "file", "files") + ", " +
       Esc(r.getKeyStoreCheck().getBytesChecked().cStr()) +
       " bytes) and checked that none of them still holds a destroyed key or its id. Result: "
       "<span class=\"status " + std::string(passed ? "ok\">passed" : "bad\">not passed") +
       "</span>.</p>\n</section>\n";

  // How to verify.
  h += "<section>\n<h2>How to verify this report</h2>\n";
  h += "<p>What is signed is <code>report.json</code>; this page is a readable copy of it. Keep "
       "the files <code>report.json</code>, <code>report.json.sig</code> and "
       "<code>ledger.pub.pem</code> together in one folder, then:</p>\n<ol>\n";
  h += "<li><p>Check the ledger's signature of the report with OpenSSL (3.0 or later). It prints "
       "&ldquo;Signature Verified Successfully&rdquo;, and fails if a single byte of the report "
       "was changed:</p>\n"
       "<pre>openssl pkeyutl -verify -pubin -inkey ledger.pub.pem -rawin -in report.json "
       "-sigfile report.json.sig</pre></li>\n";
  h += "<li><p>Check everything at once (the report's signature, the checkpoint's signature, the "
       "inclusion proof and the signed erasure event itself) with Kirjuri:</p>\n"
       "<pre>kirjuri verify-report report.json</pre>\n"
       "<p>Add <code>--pubkey ledger.pub.pem</code> with a copy of the ledger's public key that "
       "you obtained from the controller yourself, to make sure the report was signed by the "
       "ledger and not by anyone else.</p></li>\n";
  h += "<li><p>Without Kirjuri: the checkpoint is a C2SP signed note (any signed-note tool checks "
       "it with the verifier key below), <code>proof.tlogProof</code> in "
       "<code>report.json</code> is a C2SP tlog-proof of the event, and <code>proof.leaf</code> "
       "is the event itself (base64 of its canonical Cap&rsquo;n Proto encoding, the RFC 9162 "
       "Merkle leaf). The ledger's <code>FORMATS.md</code> gives every byte.</p></li>\n";
  h += "</ol>\n</section>\n";

  // Checkpoint and keys.
  h += "<section>\n<h2>Checkpoint and keys</h2>\n<dl>\n";
  h += "<dt>Log</dt><dd>" + Code(r.getLedger().getOrigin().cStr()) + "</dd>\n";
  h += "<dt>Event</dt><dd>number " + Esc(seq) + "; leaf hash (SHA-256) " +
       Code(leaf_hash_hex) + "</dd>\n";
  h += "<dt>Signed checkpoint</dt><dd><p>The ledger's signed statement of the log as it stood "
       "when this report was made: its first " + Plural(tree_size, "event", "events") +
       " (numbers 0 to " + std::to_string(tree_size - 1) +
       ") and their Merkle tree root.</p><pre>" + Esc(checkpoint_note) + "</pre></dd>\n";
  h += "<dt>Verifier key</dt><dd>" + Code(r.getLedger().getVerifierKey().cStr()) + "</dd>\n";
  h += "<dt>Ledger public key</dt><dd><pre>" + Esc(r.getLedger().getPublicKeyPem().cStr()) +
       "</pre></dd>\n";
  h += "</dl>\n</section>\n";

  h += "<footer>Generated on " + Time(r.getGeneratedAt().cStr()) + " by Kirjuri (report format " +
       Code(r.getFormat().cStr()) + "). This report holds no personal data: only identifiers, "
       "categories of data, dates, counts and cryptographic proofs.</footer>\n";
  h += "</main>\n</body>\n</html>\n";
  return h;
}

// ---- finding the event ----

// Copies the leaf of the subject's event at `seq` into *leaf if it is a subjectErased or
// retentionExpired event of `subject`; *found says whether it was.
Status ReadReportedEvent(const Ledger& ledger, const SubjectId& subject, uint64_t seq,
                         std::string* leaf, bool* found) {
  *found = false;
  if (seq >= ledger.size()) return Status::Ok();
  return ledger.ReadEvents(seq, seq + 1, [&](const EventView& e) {
    auto env = e.signed_event.getEvent().getEnvelope();
    auto s = env.getSubject();
    if (e.seq == seq && IsReportedType(env.getType()) && s.size() == subject.size() &&
        std::memcmp(s.begin(), subject.data(), subject.size()) == 0) {
      leaf->assign(reinterpret_cast<const char*>(e.leaf.data()), e.leaf.size());
      *found = true;
    }
    return Status::Ok();
  });
}

Status FindReportedEvent(const Ledger& ledger, const SubjectId& subject,
                         std::optional<uint64_t> seq, uint64_t* event_seq, std::string* leaf) {
  const std::string id = SubjectIdHex(subject);
  bool found = false;
  if (seq) {
    KIRJURI_RETURN_IF_ERROR(ReadReportedEvent(ledger, subject, *seq, leaf, &found));
    if (!found) {
      return Status::NotFound("seq " + std::to_string(*seq) +
                              " is not an erasure or retention-expiry event of subject " + id);
    }
    *event_seq = *seq;
    return Status::Ok();
  }
  SubjectSummary summary;
  KIRJURI_RETURN_IF_ERROR(ledger.GetSubject(subject, &summary));
  const Status none = Status::NotFound("subject " + id + " has no erasure event");
  if (!summary.erased_at_seq) return none;  // a retention expiry only ever follows an erasure
  // An erased subject takes no new data: its events after the erasure are retention expiries,
  // so its latest event is the one to report, or else the erasure itself.
  KIRJURI_RETURN_IF_ERROR(ReadReportedEvent(ledger, subject, summary.last_seq, leaf, &found));
  if (found) {
    *event_seq = summary.last_seq;
    return Status::Ok();
  }
  KIRJURI_RETURN_IF_ERROR(
      ReadReportedEvent(ledger, subject, *summary.erased_at_seq, leaf, &found));
  if (!found) return none;
  *event_seq = *summary.erased_at_seq;
  return Status::Ok();
}

}  // namespace

Status BuildDeletionReport(const Ledger& ledger, const SubjectId& subject,
                           std::optional<uint64_t> seq, DeletionReportFiles* out) {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  uint64_t event_seq = 0;
  std::string leaf_bytes;
  KIRJURI_RETURN_IF_ERROR(FindReportedEvent(ledger, subject, seq, &event_seq, &leaf_bytes));
  Leaf leaf;
  KIRJURI_RETURN_IF_ERROR(
      leaf.Decode(AsBytes(leaf_bytes)).Prefixed("seq " + std::to_string(event_seq)));

  // The latest checkpoint, and the proof against exactly its tree (appends may run meanwhile:
  // both are for the size read here, which covers the event).
  const uint64_t tree_size = ledger.size();
  std::string note;
  KIRJURI_RETURN_IF_ERROR(ledger.CheckpointAt(tree_size, &note));
  InclusionProofResult inclusion;
  KIRJURI_RETURN_IF_ERROR(ledger.ProveInclusion(event_seq, tree_size, &inclusion));
  // Never hand out a report that would not verify.
  const merkle::Hash leaf_hash = merkle::LeafHash(AsBytes(leaf_bytes));
  Checkpoint checkpoint;
  KIRJURI_RETURN_IF_ERROR(OpenCheckpoint(note, ledger.public_key(), &checkpoint)
                              .Prefixed("the ledger's checkpoint of size " +
                                        std::to_string(tree_size)));
  if (leaf_hash != inclusion.leaf_hash || checkpoint.size != tree_size ||
      checkpoint.root != inclusion.root ||
      !merkle::VerifyInclusion(event_seq, tree_size, leaf_hash, inclusion.hashes,
                               checkpoint.root)) {
    return Status::Corruption("seq " + std::to_string(event_seq) +
                              ": the inclusion proof does not match the checkpoint of size " +
                              std::to_string(tree_size) + " (run `kirjuri verify`)");
  }
  TlogProof tlog;
  tlog.index = event_seq;
  tlog.hashes = inclusion.hashes;
  tlog.checkpoint_note = note;

  capnp::MallocMessageBuilder message;
  auto report = message.initRoot<schema::DeletionReport>();
  kj::Maybe<kj::Exception> read_error =
      kj::runCatchingExceptions([&] { FillFromEvent(leaf.get().getEvent(), report); });
  if (read_error != nullptr) {
    return Status::Corruption("seq " + std::to_string(event_seq) + ": the event does not decode");
  }
  auto ledger_info = report.initLedger();
  ledger_info.setOrigin(ledger.origin());
  ledger_info.setPublicKeyPem(PublicKeyPem(ledger.public_key()));
  ledger_info.setVerifierKey(NoteVerifierKey(ledger.origin(), ledger.public_key()));
  auto proof = report.getProof();
  proof.setLeaf(Base64Encode(AsBytes(leaf_bytes)));
  proof.setTlogProof(FormatTlogProof(tlog));
  report.setGeneratedAt(FormatRfc3339(NowMicros()));

  std::string json, html;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::JsonCodec codec;
    codec.setPrettyPrint(true);
    kj::String text = codec.encode(report.asReader());
    json.assign(text.cStr(), text.size());
    html = RenderHtml(report.asReader(), HexEncode(leaf_hash), tree_size, note);
  });
  if (error != nullptr) return Status::Corruption("the report does not encode");
  json.push_back('\n');

  out->signature = ledger.SignDocument(AsBytes(json));
  out->json = std::move(json);
  out->html = std::move(html);
  return Status::Ok();
}

Status WriteDeletionReport(const DeletionReportFiles& files, const fs::path& dir) {
  capnp::MallocMessageBuilder message;
  auto report = message.initRoot<schema::DeletionReport>();
  KIRJURI_RETURN_IF_ERROR(DecodeReport(files.json, "report.json", report));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string());
  KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(dir / "report.json", files.json));
  KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(
      dir / "report.json.sig",
      std::string_view(reinterpret_cast<const char*>(files.signature.data()),
                       files.signature.size())));
  KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(dir / "report.html", files.html));
  return WriteFileAtomically(dir / "ledger.pub.pem",
                             report.asReader().getLedger().getPublicKeyPem().cStr());
}

Status VerifyDeletionReport(const fs::path& report_json, const PublicKey* pinned,
                            ReportCheck* out) {
  *out = ReportCheck{};
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  const std::string name = report_json.filename().string();
  const std::string sig_name = name + ".sig";
  fs::path sig_path = report_json;
  sig_path += ".sig";

  std::string json, sig;
  KIRJURI_RETURN_IF_ERROR(ReadReportFile(report_json, kMaxReportBytes, &json));
  KIRJURI_RETURN_IF_ERROR(ReadReportFile(sig_path, 1024, &sig));
  if (sig.size() != 64) {
    return Status::InvalidArgument(sig_name + ": not a 64-byte Ed25519 signature (" +
                                   std::to_string(sig.size()) + " bytes)");
  }
  capnp::MallocMessageBuilder message;
  auto builder = message.initRoot<schema::DeletionReport>();
  KIRJURI_RETURN_IF_ERROR(DecodeReport(json, name, builder));
  auto report = builder.asReader();
  out->subject = report.getSubject();

  // 1. The signature over the exact bytes.
  PublicKey report_key;
  const bool report_key_ok = ParsePublicKeyPem(report.getLedger().getPublicKeyPem().cStr(),
                                               &report_key).ok();
  const PublicKey* key = pinned ? pinned : (report_key_ok ? &report_key : nullptr);
  if (key == nullptr) {
    return Status::Corruption(sig_name + ": signature does not verify: " + name +
                              " holds no valid ledger.publicKeyPem");
  }
  if (!VerifySignature(*key, AsBytes(json), AsBytes(sig))) {
    return Status::Corruption(sig_name + ": signature does not verify" +
                              std::string(pinned ? " with the pinned key" : ""));
  }
  if (pinned && (!report_key_ok || report_key != *pinned)) {
    return Status::Corruption(sig_name + ": the report names a public key other than the pinned "
                              "one");
  }
  out->signature_ok = true;

  // The signed document must be a report of this format.
  if (std::string_view(report.getFormat().cStr()) != kReportFormat) {
    return Status::InvalidArgument(name + ": format is not '" + std::string(kReportFormat) + "'");
  }
  uint64_t seq = 0;
  if (!ParseU64(report.getProof().getSeq().cStr(), &seq)) {
    return Status::InvalidArgument(name + ": proof.seq is not a decimal number");
  }
  out->seq = seq;

  // 2. The checkpoint: the note after the tlog-proof's blank line, signed by the key.
  const std::string_view tlog_text = report.getProof().getTlogProof().cStr();
  const size_t blank = tlog_text.find("\n\n");
  if (blank == std::string_view::npos) {
    return Status::Corruption("checkpoint: proof.tlogProof holds no signed checkpoint");
  }
  Checkpoint checkpoint;
  if (Status s = OpenCheckpoint(tlog_text.substr(blank + 2), *key, &checkpoint); !s.ok()) {
    return Status::Corruption("checkpoint: " + s.message());
  }
  const std::string origin = report.getLedger().getOrigin();
  if (checkpoint.origin != origin) {
    return Status::Corruption("checkpoint: its origin is not the report's ledger.origin");
  }
  {
    std::string vkey_name;
    PublicKey vkey;
    if (!ParseNoteVerifierKey(report.getLedger().getVerifierKey().cStr(), &vkey_name, &vkey)
             .ok() ||
        vkey_name != origin || vkey != *key) {
      return Status::Corruption(
          "checkpoint: the report's verifier key does not match its origin and public key");
    }
  }
  out->checkpoint_ok = true;

  // 3. The inclusion proof of the leaf in the checkpoint's tree.
  TlogProof tlog;
  if (Status s = ParseTlogProof(tlog_text, &tlog); !s.ok()) {
    return Status::Corruption("inclusion proof: " + s.message());
  }
  if (tlog.index != seq) {
    return Status::Corruption("inclusion proof: it is for index " + std::to_string(tlog.index) +
                              ", the report's seq is " + std::to_string(seq));
  }
  if (seq >= checkpoint.size) {
    return Status::Corruption("inclusion proof: seq " + std::to_string(seq) +
                              " is not in the checkpoint's tree of " +
                              std::to_string(checkpoint.size) + " events");
  }
  std::vector<uint8_t> leaf_bytes;
  if (!Base64Decode(report.getProof().getLeaf().cStr(), &leaf_bytes).ok()) {
    return Status::Corruption("inclusion proof: proof.leaf is not canonical base64");
  }
  const merkle::Hash leaf_hash = merkle::LeafHash(leaf_bytes);
  if (!merkle::VerifyInclusion(seq, checkpoint.size, leaf_hash, tlog.hashes, checkpoint.root)) {
    return Status::Corruption("inclusion proof: the leaf at seq " + std::to_string(seq) +
                              " does not lead to the checkpoint's root (tree of " +
                              std::to_string(checkpoint.size) + " events)");
  }
  out->proof_ok = true;

  // 4. The leaf is the ledger's signed erasure event and says what the report says.
  Leaf leaf;
  if (Status s = leaf.Decode(leaf_bytes); !s.ok()) return Status::Corruption("event: " + s.message());
  if (!EventSignatureVerifies(leaf.get(), *key)) {
    return Status::Corruption("event: signature does not verify");
  }
  Status mismatch;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    auto event = leaf.get().getEvent();
    auto env = event.getEnvelope();
    if (env.getSeq() != seq) {
      mismatch = Status::Corruption("event: its seq " + std::to_string(env.getSeq()) +
                                    " is not the report's seq " + std::to_string(seq));
      return;
    }
    if (!IsReportedType(env.getType())) {
      mismatch = Status::Corruption("event: it is a " + EventTypeName(env.getType()) +
                                    " event, not an erasure or retention expiry");
      return;
    }
    capnp::MallocMessageBuilder expected_message;
    auto expected = expected_message.initRoot<schema::DeletionReport>();
    FillFromEvent(event, expected);
    capnp::JsonCodec codec;
    auto want = capnp::toDynamic(expected.asReader());
    auto have = capnp::toDynamic(report);
    for (const char* field_name : kEventBackedFields) {
      auto field = want.getSchema().getFieldByName(field_name);
      kj::String w = codec.encode(want.get(field), field.getType());
      kj::String h = codec.encode(have.get(field), field.getType());
      if (w != h) {
        mismatch = Status::Corruption("event: the report's " + std::string(field_name) +
                                      " is not what the signed event says");
        return;
      }
    }
  });
  if (error != nullptr) return Status::Corruption("event: it does not decode");
  KIRJURI_RETURN_IF_ERROR(mismatch);
  out->event_ok = true;
  return Status::Ok();
}

}  // namespace kirjuri
