// People's requests (GDPR Art. 15-21) and their deadlines (Art. 12(3)): each step a signed
// event, the request's record (schema::RequestState under "request/" || ref in the log's default
// column family) written in the same batch.
#include <capnp/message.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>

#include "kirjuri/canonical.h"
#include "fold_check.h"
#include "ledger_impl.h"
#include "policy.h"
#include "request_fold.h"

namespace kirjuri {
namespace {

using T = schema::EventType;

constexpr std::array<std::string_view, 5> kKinds = {"access", "rectification", "erasure",
                                                    "objection", "restriction"};
constexpr unsigned kMaxExtensionMonths = 2;

Status DecodeRequest(std::string_view bytes, RequestRecord* out) {
  RequestRecord r;
  KIRJURI_RETURN_IF_ERROR(ReadCanonical<schema::RequestState>(
      bytes, "a request record", [&](schema::RequestState::Reader s) {
        r.ref = s.getRef();
        if (s.getSubject().size() == r.subject.size()) {
          std::memcpy(r.subject.data(), s.getSubject().begin(), r.subject.size());
        }
        r.kind = s.getKind();
        r.received_at_micros = s.getReceivedAtMicros();
        r.due_at_micros = s.getDueAtMicros();
        r.extended_months = s.getExtendedMonths();
        r.state = s.getState();
        r.closed_at_micros = s.getClosedAtMicros();
        for (uint64_t seq : s.getSeqs()) r.seqs.push_back(seq);
        return Status::Ok();
      }));
  *out = std::move(r);
  return Status::Ok();
}

std::string EncodeRequest(const RequestRecord& r) {
  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<schema::RequestState>();
  s.setRef(r.ref);
  s.setSubject(kj::arrayPtr(r.subject.data(), r.subject.size()));
  s.setKind(r.kind);
  s.setReceivedAtMicros(r.received_at_micros);
  s.setDueAtMicros(r.due_at_micros);
  s.setExtendedMonths(static_cast<uint8_t>(r.extended_months));
  s.setState(r.state);
  s.setClosedAtMicros(r.closed_at_micros);
  auto seqs = s.initSeqs(static_cast<unsigned>(r.seqs.size()));
  for (unsigned i = 0; i < seqs.size(); ++i) seqs.set(i, r.seqs[i]);
  return CanonicalBytes(s.asReader());
}

// Checks the free text of a reason: one line, short. (That it names no person is the
// controller's duty; it is signed into the log.)
Status CheckReason(std::string_view reason, bool required) {
  if (required && reason.empty()) return Status::InvalidArgument("a reason is required");
  if (reason.size() > 500) return Status::InvalidArgument("the reason is longer than 500 bytes");
  for (char c : reason) {
    if (c == '\n' || c == '\r') return Status::InvalidArgument("the reason must be one line");
  }
  return Status::Ok();
}

}  // namespace

int64_t AddMonths(int64_t micros, unsigned months) {
  const int64_t seconds = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  const int64_t rest = micros - seconds * 1000000;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const int day = tm.tm_mday;
  tm.tm_mon += static_cast<int>(months);
  tm.tm_year += tm.tm_mon / 12;
  tm.tm_mon %= 12;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int year = tm.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int last = kDays[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0);
  tm.tm_mday = std::min(day, last);
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + rest;
}

static Status ReadRequest(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta, std::string_view ref,
                   RequestRecord* out) {
  std::string value;
  rocksdb::Status s = db.Get(rocksdb::ReadOptions(), meta, store::RequestKey(ref), &value);
  if (s.IsNotFound()) return Status::NotFound("no request '" + std::string(ref) + "'");
  KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading a request"));
  return DecodeRequest(value, out);
}

Status Ledger::GetRequest(std::string_view ref, RequestRecord* out) const {
  return ReadRequest(*impl_->db, impl_->meta, ref, out);
}

Status Ledger::ListRequests(std::vector<RequestRecord>* out) const {
  out->clear();
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta));
  for (it->Seek(store::kRequestPrefix);
       it->Valid() && it->key().starts_with(store::kRequestPrefix); it->Next()) {
    RequestRecord r;
    KIRJURI_RETURN_IF_ERROR(DecodeRequest(it->value().ToStringView(), &r));
    out->push_back(std::move(r));
  }
  return FromRocks(it->status(), "reading the requests");
}

Status Ledger::OpenRequest(const SubjectId& subject, std::string_view kind, std::string_view ref,
                           std::string_view actor, int64_t received_at_micros, uint64_t* seq) {
  if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end()) {
    return Status::InvalidArgument("unknown request kind '" + std::string(kind) +
                                   "' (access, rectification, erasure, objection, restriction)");
  }
  KIRJURI_RETURN_IF_ERROR(CheckRequestRef(ref));
  if (ref.empty()) return Status::InvalidArgument("a request needs a reference (--ref)");
  if (subject == SubjectId{}) {
    return Status::InvalidArgument("the all-zero subject is the ledger itself, not a person");
  }
  KIRJURI_RETURN_IF_ERROR(CheckActor(actor));
  auto lock = impl_->LockForWrite();
  KIRJURI_RETURN_IF_ERROR(impl_->health.Prefixed("the ledger is damaged, requests are refused"));
  RequestRecord existing;
  if (ReadRequest(*impl_->db, impl_->meta, ref, &existing).ok()) {
    return Status::InvalidArgument("request '" + std::string(ref) + "' already exists");
  }
  SubjectState state;
  KIRJURI_RETURN_IF_ERROR(impl_->LoadSubject(subject, &state));
  capnp::MallocMessageBuilder message;
  auto event = impl_->StartInternalEventLocked(message, subject, state, T::REQUEST_RECEIVED,
                                               actor, ref);
  RequestRecord r;
  r.ref = ref;
  r.subject = subject;
  r.kind = kind;
  r.received_at_micros =
      received_at_micros ? received_at_micros : event.getEnvelope().getRecordedAtMicros();
  r.due_at_micros = AddMonths(r.received_at_micros, 1);
  r.state = "open";
  event.getEnvelope().setOccurredAtMicros(r.received_at_micros);
  auto info = event.initRequestInfo();
  info.setKind(r.kind);
  info.setReceivedAtMicros(r.received_at_micros);
  info.setDueAtMicros(r.due_at_micros);
  r.seqs.push_back(event.getEnvelope().getSeq());
  return impl_->CommitInternalLocked(event.asReader(), subject, state,
                                     [&](rocksdb::WriteBatch& batch) {
                                       batch.Put(impl_->meta, store::RequestKey(ref),
                                                 EncodeRequest(r));
                                     },
                                     seq);
}

Status Ledger::Impl::AdvanceRequest(std::string_view ref, T type, unsigned months,
                                    std::string_view reason, std::span<const uint64_t> outcome,
                                    std::string_view actor, uint64_t* seq) {
  KIRJURI_RETURN_IF_ERROR(CheckActor(actor));
  auto lock = LockForWrite();
  KIRJURI_RETURN_IF_ERROR(health.Prefixed("the ledger is damaged, requests are refused"));
  RequestRecord r;
  KIRJURI_RETURN_IF_ERROR(ReadRequest(*db, meta, ref, &r));
  if (r.state != "open") {
    return Status::FailedPrecondition("request '" + std::string(ref) + "' is already " + r.state);
  }
  for (uint64_t s : outcome) {
    if (s >= size.load()) {
      return Status::InvalidArgument("outcome seq " + std::to_string(s) + " is not in the log");
    }
  }
  SubjectState state;
  KIRJURI_RETURN_IF_ERROR(LoadSubject(r.subject, &state));
  capnp::MallocMessageBuilder message;
  auto event = StartInternalEventLocked(message, r.subject, state, type, actor, ref);
  const int64_t now = event.getEnvelope().getRecordedAtMicros();
  if (type == T::REQUEST_EXTENDED) {
    // Art. 12(3): the person is told of an extension, and why, within one month of receipt.
    if (now > AddMonths(r.received_at_micros, 1)) {
      return Status::InvalidArgument("request '" + std::string(ref) +
                                     "': an extension must be decided within one month of "
                                     "receipt (GDPR Art. 12(3)), and that month has passed");
    }
    if (months == 0 || r.extended_months + months > kMaxExtensionMonths) {
      return Status::InvalidArgument(
          "a request may be extended by at most two months in all (GDPR Art. 12(3)); '" +
          std::string(ref) + "' is extended by " + std::to_string(r.extended_months) +
          " already");
    }
    r.extended_months += months;
    r.due_at_micros = AddMonths(r.received_at_micros, 1 + r.extended_months);
  } else {
    r.state = type == T::REQUEST_FULFILLED ? "fulfilled" : "refused";
    r.closed_at_micros = now;
  }
  auto info = event.initRequestInfo();
  info.setKind(r.kind);
  info.setReceivedAtMicros(r.received_at_micros);
  info.setDueAtMicros(r.due_at_micros);
  info.setExtendedMonths(static_cast<uint8_t>(r.extended_months));
  info.setReason(std::string(reason));
  auto outcome_list = info.initOutcomeSeqs(static_cast<unsigned>(outcome.size()));
  for (unsigned i = 0; i < outcome_list.size(); ++i) outcome_list.set(i, outcome[i]);
  r.seqs.push_back(event.getEnvelope().getSeq());
  return CommitInternalLocked(event.asReader(), r.subject, state,
                              [&](rocksdb::WriteBatch& batch) {
                                batch.Put(meta, store::RequestKey(ref), EncodeRequest(r));
                              },
                              seq);
}

Status Ledger::ExtendRequest(std::string_view ref, unsigned months, std::string_view reason,
                             std::string_view actor, uint64_t* seq) {
  KIRJURI_RETURN_IF_ERROR(CheckReason(reason, /*required=*/true));
  return impl_->AdvanceRequest(ref, T::REQUEST_EXTENDED, months, reason, {}, actor, seq);
}

Status Ledger::CloseRequest(std::string_view ref, bool fulfilled, std::string_view reason,
                            std::span<const uint64_t> outcome_seqs, std::string_view actor,
                            uint64_t* seq) {
  KIRJURI_RETURN_IF_ERROR(CheckReason(reason, /*required=*/!fulfilled));
  return impl_->AdvanceRequest(ref, fulfilled ? T::REQUEST_FULFILLED : T::REQUEST_REFUSED, 0,
                               reason, outcome_seqs, actor, seq);
}

bool RequestFacts::IsRequestEvent(T type) {
  return type == T::REQUEST_RECEIVED || type == T::REQUEST_EXTENDED ||
         type == T::REQUEST_FULFILLED || type == T::REQUEST_REFUSED;
}

RequestFacts RequestFacts::From(schema::Event::Reader event) {
  RequestFacts f;
  auto env = event.getEnvelope();
  f.type = env.getType();
  f.seq = env.getSeq();
  f.recorded_at_micros = env.getRecordedAtMicros();
  f.ref = env.getRequest();
  if (env.getSubject().size() == f.subject.size()) {
    std::memcpy(f.subject.data(), env.getSubject().begin(), f.subject.size());
  }
  auto info = event.getRequestInfo();
  f.kind = info.getKind();
  f.received_at_micros = info.getReceivedAtMicros();
  f.due_at_micros = info.getDueAtMicros();
  f.extended_months = info.getExtendedMonths();
  return f;
}

// As OpenRequest and AdvanceRequest write the record beside each event.
void FoldRequest(const RequestFacts& f, std::map<std::string, RequestRecord>* records) {
  RequestRecord& r = (*records)[f.ref];
  if (f.type == T::REQUEST_RECEIVED) {
    r = RequestRecord{};
    r.ref = f.ref;
    r.subject = f.subject;
    r.kind = f.kind;
    r.received_at_micros = f.received_at_micros;
    r.due_at_micros = f.due_at_micros;
    r.state = "open";
  } else if (f.type == T::REQUEST_EXTENDED) {
    r.extended_months = f.extended_months;
    r.due_at_micros = f.due_at_micros;
  } else {
    r.state = f.type == T::REQUEST_FULFILLED ? "fulfilled" : "refused";
    r.closed_at_micros = f.recorded_at_micros;
  }
  r.seqs.push_back(f.seq);
}

Status CheckRequestRecords(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                           const rocksdb::ReadOptions& ro,
                           const std::map<std::string, RequestRecord>& folded) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, meta));
  auto key_of = [](std::string_view key, std::string* ref) {
    ref->assign(key);
    return Status::Ok();
  };
  auto differs = [](std::string_view value, const RequestRecord& w) -> std::string {
    RequestRecord stored;
    if (!DecodeRequest(value, &stored).ok()) return "its encoding";
    if (stored.subject != w.subject || stored.kind != w.kind) return "its subject or kind";
    if (stored.received_at_micros != w.received_at_micros) return "its receipt";
    if (stored.due_at_micros != w.due_at_micros || stored.extended_months != w.extended_months) {
      return "its deadline";
    }
    if (stored.state != w.state || stored.closed_at_micros != w.closed_at_micros) {
      return "its state";
    }
    if (stored.seqs != w.seqs || stored.ref != w.ref) return "its events";
    return "";
  };
  auto fault = [](FoldMismatch kind, const std::string& ref, const std::string& what) {
    // A key added to the database may be any bytes: quoted only if it is a reference at all.
    const std::string record = "the record of request " +
                               (CheckRequestRef(ref).ok() ? "'" + ref + "'"
                                                          : std::string("(not a valid reference)"));
    switch (kind) {
      case FoldMismatch::kAdded:
        return Status::Corruption(record + " has no event in the log (a record was added)");
      case FoldMismatch::kRemoved:
        return Status::Corruption(record + " is missing (it was removed)");
      case FoldMismatch::kAltered: break;
    }
    return Status::Corruption(record + " differs from the log in " + what + " (altered)");
  };
  return CompareWithFold(*it, store::kRequestPrefix, "reading the requests", folded, key_of,
                         differs, fault);
}

}  // namespace kirjuri
