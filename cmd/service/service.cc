#include "service/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "kirjuri/deletion_report.h"
#include "kirjuri/event_json.h"
#include "kirjuri/json.h"
#include "kirjuri/requests.h"
#include "kirjuri/subject_export.h"
#include "kirjuri/subject_view.h"
#include "kirjuri/time.h"

namespace kirjuri::service {
namespace {

constexpr std::string_view kDefaultPurpose = "service_delivery";
constexpr std::string_view kConsentsCategory = "consents";

struct ActionInfo {
  Action action;
  std::string_view name;    // as the policy's roles list it
  std::string_view phrase;  // what it lets a role do, for refusals
};
constexpr ActionInfo kActions[] = {
    {Action::kAppend, "append", "append events"},
    {Action::kQuery, "query", "query the views"},
    {Action::kMarketingAudience, "marketing_audience", "read the marketing audience"},
    {Action::kExport, "export", "export a person's data"},
    {Action::kRequests, "requests", "handle data subject requests"},
    {Action::kErase, "erase", "erase"},
    {Action::kProofs, "proofs", "fetch checkpoints and proofs"},
    {Action::kEnvelopes, "envelopes", "read event envelopes"},
    {Action::kReports, "reports", "read reports"},
    {Action::kAudit, "audit", "run the audit"},
    {Action::kTokens, "tokens", "manage tokens"},
    {Action::kBackup, "backup", "back up the ledger"},
};

const ActionInfo* FindAction(Action action) {
  for (const ActionInfo& a : kActions) {
    if (a.action == action) return &a;
  }
  return nullptr;
}

// Whether a policy list ("actions", "readCategories", ...) allows `name` ("*" allows all).
bool Allows(capnp::List<capnp::Text>::Reader list, std::string_view name) {
  for (auto item : list) {
    std::string_view v(item.cStr());
    if (v == "*" || v == name) return true;
  }
  return false;
}

// The policy's role called `name`, if it declares one.
std::optional<schema::Role::Reader> FindRole(const Ledger& ledger, std::string_view name) {
  for (auto r : ledger.policy().getRoles()) {
    if (std::string_view(r.getName().cStr()) == name) return r;
  }
  return std::nullopt;
}

Status ParseSubject(std::string_view hex, SubjectId* out) {
  Status s = ParseSubjectId(hex, out);
  if (!s.ok()) return Status::InvalidArgument("not a subject id (32 hex digits)");
  return Status::Ok();
}

// Requests and erasures name states rather than inputs when they refuse: for a client those
// are bad requests (409 for a state that forbids it).
Status AsClientError(const Status& s) {
  if (s.IsNotFound()) return Status::NotFound(s.message());
  return s;
}

}  // namespace

std::string_view ActionName(Action action) {
  const ActionInfo* a = FindAction(action);
  return a ? a->name : "unknown";
}

int HttpStatus(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk: return 200;
    case Status::Code::kInvalidArgument: return 400;
    case Status::Code::kUnauthenticated: return 401;
    case Status::Code::kPermissionDenied: return 403;
    case Status::Code::kNotFound: return 404;
    case Status::Code::kFailedPrecondition: return 409;
    case Status::Code::kCorruption:
    case Status::Code::kIOError: return 500;
    case Status::Code::kUnavailable: return 503;
  }
  return 500;
}

std::string ErrorJson(const Status& status) {
  std::string msg = status.message();
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  return JsonWriter().String("error", msg).Number("code", HttpStatus(status)).Finish();
}

struct Service::Impl {
  Ledger& ledger;
  Views& views;
  ServiceOptions options;
  GroupCommitter committer;
  std::function<void()> on_commit;

  // The views are caught up by one thread at a time (Views allows one CatchUp beside queries).
  std::mutex views_mu;
  // The follower: catches the views up after writes, off the committer's thread.
  std::mutex follow_mu;
  std::condition_variable follow_cv;
  bool follow_wanted = false, follow_stop = false;
  std::thread follower;

  // The access log's pending records and its writer.
  mutable std::mutex access_mu;
  std::condition_variable access_cv;
  std::vector<AccessRecord> access_queue;  // guarded by access_mu
  bool access_stop = false;
  std::thread access_writer;
  // No trace, no read: set while records the log could not take wait to be written again
  // (a full disk, say); reads of personal data are then refused (AccessLogWriting).
  std::atomic<bool> access_blocked{false};
  std::string access_block_reason;  // guarded by access_mu

  // Metrics.
  struct RouteStats {
    uint64_t count = 0;
    double seconds = 0;
  };
  mutable std::mutex metrics_mu;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests;  // front, route, code
  std::map<std::pair<std::string, std::string>, RouteStats> latency;     // front, route
  std::atomic<uint64_t> access_records{0}, access_failures{0};
  std::atomic<int64_t> feed_subscriptions{0};

  std::once_flag shutdown_once;

  Impl(Ledger& l, Views& v, ServiceOptions o)
      : ledger(l), views(v), options(o),
        committer(&l, GroupCommitter::Options{o.max_batch_events}) {}

  void Committed() {
    if (on_commit) on_commit();
    {
      std::lock_guard<std::mutex> lock(follow_mu);
      follow_wanted = true;
    }
    follow_cv.notify_one();
  }

  void CatchUpViews() {
    std::lock_guard<std::mutex> lock(views_mu);
    if (Status s = views.CatchUp(); !s.ok()) {
      spdlog::warn("views did not catch up: {}", s.ToString());
    }
  }

  // Queries see the log as of their start: a client that appended and then reads finds its
  // events (read-your-writes), whether or not the follower got there first.
  void EnsureViewsCurrent() {
    uint64_t applied = 0;
    const uint64_t size = ledger.size();
    for (const std::string& name : views.Names()) {
      if (!views.Applied(name, &applied).ok() || applied < size) {
        CatchUpViews();
        return;
      }
    }
  }

  // Under a stream of appends the follower waits a moment after being woken, so that one
  // catch-up covers many commits instead of competing with each (queries catch up themselves
  // when they must: EnsureViewsCurrent).
  static constexpr std::chrono::milliseconds kFollowDelay{100};
  void Follow() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(follow_mu);
        follow_cv.wait(lock, [&] { return follow_wanted || follow_stop; });
        if (!follow_wanted && follow_stop) return;
        follow_cv.wait_for(lock, kFollowDelay, [&] { return follow_stop; });
        follow_wanted = false;
      }
      CatchUpViews();
    }
  }

  void LogAccess(std::vector<AccessRecord> records) {
    if (records.empty()) return;
    std::lock_guard<std::mutex> lock(access_mu);
    for (AccessRecord& r : records) access_queue.push_back(std::move(r));
    if (access_queue.size() >= options.access_flush_records) access_cv.notify_one();
  }

  // OK unless the access log is behind: a read served now would leave no trace until it
  // catches up, so reads of personal data wait (Unavailable) until then.
  Status AccessLogWriting() const {
    if (!access_blocked.load()) return Status::Ok();
    std::lock_guard<std::mutex> lock(access_mu);
    return Status::Unavailable(
        "reads of personal data are refused until the access log can be written again: " +
        access_block_reason);
  }

  // Writes `batch`, leaving in it what is still to write. A record that breaks a rule
  // (InvalidArgument: e.g. a purpose a policy change withdrew meanwhile) can never be written
  // and is dropped, counted and logged; any other failure (the log cannot write now) is
  // returned, the records not yet written left in `batch` to write again.
  Status WriteAccessBatch(std::vector<AccessRecord>& batch) {
    Status s = ledger.RecordAccesses(batch);
    if (s.ok()) {
      access_records += batch.size();
      batch.clear();
      return s;
    }
    if (!s.IsInvalidArgument()) return s;
    size_t settled = 0;
    for (; settled < batch.size(); ++settled) {
      const AccessRecord& record = batch[settled];
      Status one = ledger.RecordAccesses({&record, 1});
      if (one.ok()) {
        ++access_records;
      } else if (one.IsInvalidArgument()) {
        ++access_failures;
        spdlog::error("access log: a read of subject {} cannot be written: {}",
                      SubjectIdHex(record.subject), one.ToString());
      } else {
        s = one;
        break;
      }
    }
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(settled));
    return batch.empty() ? Status::Ok() : s;
  }

  void WriteAccesses() {
    std::vector<AccessRecord> failed;  // the batch the log could not take, written first
    auto backoff = options.access_flush_interval;
    for (;;) {
      std::vector<AccessRecord> batch;
      bool stop = false;
      {
        std::unique_lock<std::mutex> lock(access_mu);
        const auto wait = failed.empty() ? options.access_flush_interval : backoff;
        access_cv.wait_for(lock, wait, [&] {
          return access_stop ||
                 (failed.empty() && access_queue.size() >= options.access_flush_records);
        });
        batch = std::move(failed);
        failed.clear();
        batch.insert(batch.end(), std::make_move_iterator(access_queue.begin()),
                     std::make_move_iterator(access_queue.end()));
        access_queue.clear();
        stop = access_stop;
      }
      if (!batch.empty()) {
        const size_t records = batch.size();
        if (Status s = WriteAccessBatch(batch); s.ok()) {
          if (access_blocked.exchange(false)) {
            spdlog::info("access log: written again; reads of personal data are served again");
          }
          backoff = options.access_flush_interval;
          Committed();
        } else if (stop) {
          access_failures += batch.size();
          if (batch.size() < records) Committed();
          spdlog::error("access log: {} records not written at shutdown: {}", batch.size(),
                        s.ToString());
        } else {
          if (batch.size() < records) Committed();  // some were written one by one
          {
            std::lock_guard<std::mutex> lock(access_mu);
            access_block_reason = s.message();
          }
          if (!access_blocked.exchange(true)) {
            spdlog::error("access log: {} records not written, reads of personal data refused "
                          "until they are: {}", batch.size(), s.ToString());
          }
          failed = std::move(batch);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
      }
      if (stop) return;
    }
  }

  // The categories `role` may read, applied to a view: what it may not read is left out.
  // Returns the categories whose values remain (for the access log).
  std::vector<std::string> Redact(schema::Role::Reader role, SubjectView* v) const {
    std::vector<std::string> returned;
    for (auto it = v->categories.begin(); it != v->categories.end();) {
      if (Allows(role.getReadCategories(), it->first)) {
        returned.push_back(it->first);
        ++it;
      } else {
        it = v->categories.erase(it);
      }
    }
    if (!Allows(role.getReadCategories(), kConsentsCategory)) {
      v->consents.clear();
      v->consent_history.clear();
    } else if (!v->consents.empty()) {
      returned.emplace_back(kConsentsCategory);
    }
    std::sort(returned.begin(), returned.end());
    returned.erase(std::unique(returned.begin(), returned.end()), returned.end());
    return returned;
  }

  AccessRecord Access(const Caller& caller, const SubjectId& subject, std::string_view purpose,
                      std::string_view operation, std::vector<std::string> categories,
                      std::string_view request = {}) const {
    AccessRecord a;
    a.subject = subject;
    a.actor = caller.actor;
    a.role = caller.role;
    a.purpose = purpose.empty() ? std::string(kDefaultPurpose) : std::string(purpose);
    a.via = caller.via;
    a.operation = operation;
    a.categories = std::move(categories);
    a.request = request;
    return a;
  }

  // The purpose a read of `register_name` is logged with (`purpose`, or the default), refused
  // before anything is returned unless the register declares it: the access log must be able
  // to name it.
  Status ReadPurpose(std::string_view register_name, std::string_view purpose,
                     std::string* out) const {
    *out = purpose.empty() ? std::string(kDefaultPurpose) : std::string(purpose);
    std::vector<std::string> declaring;
    KIRJURI_RETURN_IF_ERROR(ledger.RegistersDeclaring(*out, 0, &declaring));
    if (!std::ranges::binary_search(declaring, register_name)) {
      return Status::InvalidArgument("purpose '" + *out + "' is not declared by register '" +
                                     std::string(register_name) + "'");
    }
    return Status::Ok();
  }

  // After a request's step: the change feed woken, and the request as ListRequests gives it.
  Status RequestAnswer(std::string_view ref, std::string* json) {
    Committed();
    RequestRecord r;
    KIRJURI_RETURN_IF_ERROR(ledger.GetRequest(ref, &r));
    *json = RequestJson(r, NowMicros());
    return Status::Ok();
  }

  Status RoleOf(const Caller& caller, schema::Role::Reader* out) const {
    auto role = FindRole(ledger, caller.role);
    if (!role) return Status::PermissionDenied("role '" + caller.role + "' is not in the policy");
    *out = *role;
    return Status::Ok();
  }
};

Service::Service(Ledger& ledger, Views& views, ServiceOptions options)
    : impl_(std::make_unique<Impl>(ledger, views, options)) {
  impl_->committer.SetAfterCommit([impl = impl_.get()] { impl->Committed(); });
  impl_->follower = std::thread([impl = impl_.get()] { impl->Follow(); });
  impl_->access_writer = std::thread([impl = impl_.get()] { impl->WriteAccesses(); });
}

Service::~Service() { Shutdown(); }

void Service::Shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    impl_->committer.Stop();  // every queued append written and acknowledged
    {
      std::lock_guard<std::mutex> lock(impl_->access_mu);
      impl_->access_stop = true;
    }
    impl_->access_cv.notify_one();
    impl_->access_writer.join();  // the pending access log written
    {
      std::lock_guard<std::mutex> lock(impl_->follow_mu);
      impl_->follow_stop = true;
    }
    impl_->follow_cv.notify_one();
    impl_->follower.join();
    impl_->CatchUpViews();
  });
}

void Service::SetOnCommit(std::function<void()> hook) { impl_->on_commit = std::move(hook); }

uint64_t Service::size() const { return impl_->ledger.size(); }

Status Service::Health() const { return impl_->AccessLogWriting(); }

Ledger& Service::ledger() { return impl_->ledger; }

Status Service::Authenticate(std::string_view bearer_token, std::string_view via,
                             Caller* out) const {
  if (bearer_token.empty()) return Status::Unauthenticated("a bearer token is required");
  TokenInfo info;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.Authenticate(bearer_token, &info));
  out->actor = std::move(info.actor);
  out->role = std::move(info.role);
  out->via = via;
  return Status::Ok();
}

Status Service::Authorize(const Caller& caller, Action action) const {
  schema::Role::Reader role;
  KIRJURI_RETURN_IF_ERROR(impl_->RoleOf(caller, &role));
  if (Allows(role.getActions(), ActionName(action))) return Status::Ok();
  const ActionInfo* a = FindAction(action);
  return Status::PermissionDenied("role '" + caller.role + "' may not " +
                                  std::string(a ? a->phrase : "do that") + " (policy action '" +
                                  std::string(a ? a->name : "unknown") + "')");
}

void Service::Append(const Caller& caller, std::string_view lines, GroupCommitter::Done done) {
  std::vector<NewEvent> events;
  Status s = Authorize(caller, Action::kAppend);
  if (s.ok()) s = impl_->ledger.ParseLines(lines, &events);
  if (s.ok() && events.empty()) s = Status::InvalidArgument("no events in the request body");
  if (s.ok()) {
    schema::Role::Reader role;
    s = impl_->RoleOf(caller, &role);
    for (size_t i = 0; s.ok() && i < events.size(); ++i) {
      if (!Allows(role.getAppendCategories(), events[i].category)) {
        s = Status::PermissionDenied("line " + std::to_string(events[i].line) + ": role '" +
                                     caller.role + "' may not record category '" +
                                     events[i].category + "'");
      }
    }
  }
  if (!s.ok()) {
    done(s, {});
    return;
  }
  impl_->committer.Submit(std::move(events), std::move(done));
}

std::string Service::AppendedJson(std::span<const Appended> appended) {
  std::string out;
  for (const Appended& a : appended) {
    out += JsonWriter().Number("seq", a.seq).String("subject", SubjectIdHex(a.subject)).Finish();
    out += "\n";
  }
  return out;
}

Status Service::GetSubject(const Caller& caller, std::string_view register_name,
                           std::string_view subject_hex, std::string_view as_of,
                           std::string_view purpose, std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kQuery));
  KIRJURI_RETURN_IF_ERROR(impl_->AccessLogWriting());
  schema::Role::Reader role;
  KIRJURI_RETURN_IF_ERROR(impl_->RoleOf(caller, &role));
  SubjectId id;
  KIRJURI_RETURN_IF_ERROR(ParseSubject(subject_hex, &id));
  uint64_t size = 0;
  if (!as_of.empty()) KIRJURI_RETURN_IF_ERROR(ResolveAsOf(impl_->ledger, as_of, &size));
  impl_->EnsureViewsCurrent();
  SubjectView v;
  // What the role may not read is never opened (Redact below still leaves out consents).
  const auto readable = [role](std::string_view c) { return Allows(role.getReadCategories(), c); };
  KIRJURI_RETURN_IF_ERROR(impl_->views.Get(id, size, &v, readable));
  if (v.register_name != register_name) {
    return Status::NotFound("the " + std::string(register_name) + " register holds no " +
                            std::string(subject_hex));
  }
  std::string p;
  KIRJURI_RETURN_IF_ERROR(impl_->ReadPurpose(register_name, purpose, &p));
  std::vector<std::string> categories = impl_->Redact(role, &v);
  *json = v.ToJson();
  std::vector<AccessRecord> records;
  records.push_back(impl_->Access(caller, id, p, "query", std::move(categories)));
  impl_->LogAccess(std::move(records));
  return Status::Ok();
}

Status Service::PageAfter(std::string_view after, ViewFilter* filter) {
  filter->after.reset();
  if (after.empty()) return Status::Ok();
  filter->after.emplace();
  if (ParseSubjectId(after, &*filter->after).ok()) return Status::Ok();
  return Status::InvalidArgument("after must be a subject id (32 hex digits)");
}

Status Service::ListSubjects(const Caller& caller, std::string_view register_name,
                            ViewFilter filter, std::string_view as_of, std::string_view purpose,
                            std::string* ndjson) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kQuery));
  KIRJURI_RETURN_IF_ERROR(impl_->AccessLogWriting());
  schema::Role::Reader role;
  KIRJURI_RETURN_IF_ERROR(impl_->RoleOf(caller, &role));
  ndjson->clear();
  if (!std::ranges::binary_search(impl_->ledger.RegisterNames(), register_name)) {
    return Status::InvalidArgument("no register named '" + std::string(register_name) + "'");
  }
  std::string p;
  KIRJURI_RETURN_IF_ERROR(impl_->ReadPurpose(register_name, purpose, &p));
  const bool profile = Allows(role.getReadCategories(), "profile");
  if ((!filter.city.empty() || !filter.organisation.empty()) && !profile) {
    return Status::PermissionDenied("role '" + caller.role +
                                    "' may not filter by city or organisation: they are in the "
                                    "profile, which it may not read");
  }
  uint64_t size = 0;
  if (!as_of.empty()) KIRJURI_RETURN_IF_ERROR(ResolveAsOf(impl_->ledger, as_of, &size));
  if (filter.limit == 0) return Status::Ok();
  filter.limit = std::min(filter.limit, kMaxSubjectsPerCall);
  impl_->EnsureViewsCurrent();
  std::vector<SubjectView> rows;
  const auto readable = [role](std::string_view c) { return Allows(role.getReadCategories(), c); };
  KIRJURI_RETURN_IF_ERROR(impl_->views.List(register_name, filter, size, &rows, readable));
  std::vector<AccessRecord> records;
  for (SubjectView& v : rows) {
    std::vector<std::string> categories = impl_->Redact(role, &v);
    *ndjson += v.ToJson() + "\n";
    // A row with no personal data left (an erased person: ids and dates) is no read of any.
    if (!categories.empty()) {
      records.push_back(impl_->Access(caller, v.subject, p, "query", std::move(categories)));
    }
  }
  impl_->LogAccess(std::move(records));
  return Status::Ok();
}

Status Service::MarketingAudience(const Caller& caller, std::string_view as_of,
                                  std::string* ndjson) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kMarketingAudience));
  KIRJURI_RETURN_IF_ERROR(impl_->AccessLogWriting());
  schema::Role::Reader role;
  KIRJURI_RETURN_IF_ERROR(impl_->RoleOf(caller, &role));
  uint64_t size = 0;
  if (!as_of.empty()) KIRJURI_RETURN_IF_ERROR(ResolveAsOf(impl_->ledger, as_of, &size));
  impl_->EnsureViewsCurrent();
  const bool profile = Allows(role.getReadCategories(), "profile");
  std::vector<SubjectView> rows;
  // Only the profile is opened, and only if the role may read it.
  KIRJURI_RETURN_IF_ERROR(impl_->views.MarketingAudience(
      size, &rows, [profile](std::string_view c) { return profile && c == "profile"; }));
  std::vector<AccessRecord> records;
  ndjson->clear();
  for (const SubjectView& v : rows) {
    // What a mailer needs, and no more.
    JsonWriter w;
    w.String("subject", SubjectIdHex(v.subject)).String("register", v.register_name);
    std::vector<std::string> categories;
    if (profile) {
      for (const char* field : {"name", "email"}) {
        if (std::string text = v.ProfileText(field); !text.empty()) w.String(field, text);
      }
      categories.push_back("profile");
    }
    *ndjson += w.Finish() + "\n";
    if (profile) {
      records.push_back(
          impl_->Access(caller, v.subject, "marketing", "marketing_audience", categories));
    }
  }
  impl_->LogAccess(std::move(records));
  return Status::Ok();
}

Status Service::Export(const Caller& caller, std::string_view subject_hex,
                       std::string_view request, std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kExport));
  KIRJURI_RETURN_IF_ERROR(impl_->AccessLogWriting());
  schema::Role::Reader role;
  KIRJURI_RETURN_IF_ERROR(impl_->RoleOf(caller, &role));
  SubjectId id;
  KIRJURI_RETURN_IF_ERROR(ParseSubject(subject_hex, &id));
  if (!Allows(role.getReadCategories(), "*")) {
    return Status::PermissionDenied("role '" + caller.role +
                                    "' may not read every category, which an export holds");
  }
  RequestRecord r;
  if (!request.empty()) {
    KIRJURI_RETURN_IF_ERROR(impl_->ledger.GetRequest(request, &r));
    if (r.kind != "access" || r.subject != id || r.state != "open") {
      return Status::FailedPrecondition("request '" + std::string(request) +
                                        "' is not an open access request of this subject");
    }
  }
  SubjectExport doc;
  KIRJURI_RETURN_IF_ERROR(ExportSubject(impl_->ledger, id, &doc));
  AccessRecord access = impl_->Access(caller, id, "", "export", doc.CategoryNames(), request);
  if (request.empty()) {
    *json = doc.ToJson();
    impl_->LogAccess({std::move(access)});
    return Status::Ok();
  }
  // Answering a request: its access event is written now, and closes the request.
  std::vector<uint64_t> seqs;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.RecordAccesses({&access, 1}, &seqs));
  uint64_t closing = 0;
  KIRJURI_RETURN_IF_ERROR(
      impl_->ledger.CloseRequest(request, true, "", seqs, caller.actor, &closing));
  impl_->Committed();
  *json = doc.ToJson();
  return Status::Ok();
}

Status Service::OpenRequest(const Caller& caller, std::string_view subject_hex,
                            std::string_view kind, std::string_view ref, std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kRequests));
  SubjectId id;
  KIRJURI_RETURN_IF_ERROR(ParseSubject(subject_hex, &id));
  uint64_t seq = 0;
  KIRJURI_RETURN_IF_ERROR(
      AsClientError(impl_->ledger.OpenRequest(id, kind, ref, caller.actor, 0, &seq)));
  return impl_->RequestAnswer(ref, json);
}

Status Service::ListRequests(const Caller& caller, std::string* ndjson) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kRequests));
  std::vector<RequestRecord> all;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.ListRequests(&all));
  const int64_t now = NowMicros();
  ndjson->clear();
  for (const RequestRecord& r : all) *ndjson += RequestJson(r, now) + "\n";
  return Status::Ok();
}

Status Service::ExtendRequest(const Caller& caller, std::string_view ref, unsigned months,
                              std::string_view reason, std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kRequests));
  uint64_t seq = 0;
  KIRJURI_RETURN_IF_ERROR(
      AsClientError(impl_->ledger.ExtendRequest(ref, months, reason, caller.actor, &seq)));
  return impl_->RequestAnswer(ref, json);
}

Status Service::RefuseRequest(const Caller& caller, std::string_view ref, std::string_view reason,
                              std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kRequests));
  uint64_t seq = 0;
  KIRJURI_RETURN_IF_ERROR(
      AsClientError(impl_->ledger.CloseRequest(ref, false, reason, {}, caller.actor, &seq)));
  return impl_->RequestAnswer(ref, json);
}

Status Service::FulfilRequest(const Caller& caller, std::string_view ref, std::string_view body,
                              std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kRequests));
  RequestRecord r;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.GetRequest(ref, &r));
  if (r.kind == "access" || r.kind == "erasure") {
    // Their answers are documents for the caller, not files on the server.
    return Status::InvalidArgument(
        r.kind == "access"
            ? "an access request is answered by the export: GET /v1/subjects/{id}/export?request=REF"
            : "an erasure request is fulfilled by erasing: POST /v1/subjects/{id}/erase?request=REF");
  }
  FulfilOptions o;
  o.ref = ref;
  o.actor = caller.actor;
  o.data_json = body;
  FulfilResult result;
  {
    std::lock_guard<std::mutex> lock(impl_->views_mu);
    KIRJURI_RETURN_IF_ERROR(
        AsClientError(kirjuri::FulfilRequest(impl_->ledger, &impl_->views, o, &result)));
  }
  impl_->Committed();
  *json = JsonWriter()
              .String("ref", ref)
              .String("state", "fulfilled")
              .Number("seq", result.closing_seq)
              .Raw("outcome_seqs", SeqsJson(result.outcome_seqs))
              .Finish();
  return Status::Ok();
}

Status Service::Erase(const Caller& caller, std::string_view subject_hex, std::string_view request,
                      std::string* report_json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kErase));
  EraseRequest er;
  KIRJURI_RETURN_IF_ERROR(ParseSubject(subject_hex, &er.subject));
  er.request = request;
  er.actor = caller.actor;
  RequestRecord r;
  SubjectSummary summary;
  if (!request.empty()) {
    KIRJURI_RETURN_IF_ERROR(impl_->ledger.GetRequest(request, &r));
    if (r.kind != "erasure" || r.subject != er.subject || r.state != "open") {
      return Status::FailedPrecondition("request '" + std::string(request) +
                                        "' is not an open erasure request of this subject");
    }
    er.received_at_micros = r.received_at_micros;
    KIRJURI_RETURN_IF_ERROR(impl_->ledger.GetSubject(er.subject, &summary));
  }
  uint64_t seq = 0;
  if (summary.erased_at_seq) {
    // Erased before: that erasure answers the request, with its report (as `request close`).
    seq = *summary.erased_at_seq;
  } else {
    // No catch-up folds the person's old events back in while the erasure removes their rows.
    std::lock_guard<std::mutex> lock(impl_->views_mu);
    KIRJURI_RETURN_IF_ERROR(impl_->ledger.Erase(er, &seq));
  }
  if (!request.empty()) {
    uint64_t closing = 0;
    const uint64_t outcome[] = {seq};
    KIRJURI_RETURN_IF_ERROR(
        impl_->ledger.CloseRequest(request, true, "", outcome, caller.actor, &closing));
  }
  impl_->Committed();
  DeletionReportFiles files;
  KIRJURI_RETURN_IF_ERROR(BuildDeletionReport(impl_->ledger, er.subject, seq, &files));
  *report_json = files.json;
  return Status::Ok();
}

Status Service::DeletionReport(const Caller& caller, uint64_t seq, std::string* report_json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kReports));
  std::optional<SubjectId> subject;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.ReadEvents(seq, seq + 1, [&](const EventView& e) {
    auto id = e.signed_event.getEvent().getEnvelope().getSubject();
    SubjectId s{};
    if (id.size() == s.size()) std::copy(id.begin(), id.end(), s.begin());
    subject = s;
    return Status::Ok();
  }));
  if (!subject) return Status::NotFound("no event " + std::to_string(seq));
  DeletionReportFiles files;
  KIRJURI_RETURN_IF_ERROR(BuildDeletionReport(impl_->ledger, *subject, seq, &files));
  *report_json = files.json;
  return Status::Ok();
}

Status Service::Checkpoint(const Caller& caller, std::string* note) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kProofs));
  return impl_->ledger.LatestCheckpoint(note);
}

Status Service::InclusionProof(const Caller& caller, uint64_t seq, uint64_t size,
                               std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kProofs));
  InclusionProofResult p;
  Status s = impl_->ledger.ProveInclusion(seq, size, &p);
  if (s.IsInvalidArgument() && seq >= impl_->ledger.size()) return Status::NotFound(s.message());
  KIRJURI_RETURN_IF_ERROR(s);
  *json = InclusionProofJson(p);
  return Status::Ok();
}

Status Service::ConsistencyProof(const Caller& caller, uint64_t first, uint64_t second,
                                 std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kProofs));
  ConsistencyProofResult p;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.ProveConsistency(first, second, &p));
  *json = ConsistencyProofJson(p);
  return Status::Ok();
}

Status Service::ReadEnvelopes(uint64_t from, size_t max,
                              const std::function<void(const EventView&)>& fn,
                              uint64_t* next) const {
  const uint64_t size = impl_->ledger.size();
  *next = from;
  if (from >= size || max == 0) return Status::Ok();
  const uint64_t to = from + std::min<uint64_t>(max, size - from);
  uint64_t last = from;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.ReadEvents(from, to, [&](const EventView& e) {
    fn(e);
    last = e.seq + 1;
    return Status::Ok();
  }));
  *next = last;
  return Status::Ok();
}

Status Service::Envelopes(const Caller& caller, uint64_t from, size_t max, std::string* ndjson,
                          uint64_t* next) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kEnvelopes));
  ndjson->clear();
  return ReadEnvelopes(
      from, std::min(max, kMaxEnvelopesPerCall),
      [&](const EventView& e) { *ndjson += EnvelopeJson(e, false) + "\n"; }, next);
}

Status Service::IssueToken(const Caller& caller, std::string_view actor, std::string_view role,
                           std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kTokens));
  std::string token, id;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.IssueToken(actor, role, caller.actor, &token, &id));
  // Ids only: the token goes to the caller and nowhere else.
  spdlog::info("token {} issued for {} ({}) by {}", id, actor, role, caller.actor);
  *json = JsonWriter()
              .String("token", token)
              .String("id", id)
              .String("actor", actor)
              .String("role", role)
              .Finish();
  return Status::Ok();
}

Status Service::ListTokens(const Caller& caller, std::string* ndjson) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kTokens));
  std::vector<TokenRecord> all;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.ListTokens(&all));
  ndjson->clear();
  for (const TokenRecord& r : all) *ndjson += TokenJson(r) + "\n";
  return Status::Ok();
}

Status Service::RevokeToken(const Caller& caller, std::string_view token_or_id,
                            std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kTokens));
  TokenRecord revoked;
  Status s = impl_->ledger.RevokeToken(token_or_id, caller.actor, &revoked);
  // An unknown token named whole is the request's fault, not the caller's login.
  if (s.code() == Status::Code::kUnauthenticated) return Status::NotFound(s.message());
  KIRJURI_RETURN_IF_ERROR(s);
  spdlog::info("token {} of {} ({}) revoked by {}", revoked.id, revoked.info.actor,
               revoked.info.role, caller.actor);
  *json = TokenJson(revoked);
  return Status::Ok();
}

std::string Service::TokenJson(const TokenRecord& r) {
  return JsonWriter()
      .String("id", r.id)
      .String("actor", r.info.actor)
      .String("role", r.info.role)
      .String("issued_at", FormatRfc3339(r.info.issued_at_micros))
      .Finish();
}

Status Service::AccessLog(const Caller& caller, std::string_view subject_hex,
                          std::string* ndjson) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kAudit));
  SubjectId id;
  KIRJURI_RETURN_IF_ERROR(ParseSubject(subject_hex, &id));
  SubjectSummary summary;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.GetSubject(id, &summary));
  ndjson->clear();
  return impl_->ledger.ReadSubjectEvents(id, [&](const EventView& e) {
    if (e.signed_event.getEvent().getEnvelope().getType() == schema::EventType::DATA_ACCESSED) {
      *ndjson += EnvelopeJson(e, false) + "\n";
    }
    return Status::Ok();
  });
}

void Service::CountRequest(std::string_view front, std::string_view route, int status,
                           double seconds) {
  std::lock_guard<std::mutex> lock(impl_->metrics_mu);
  ++impl_->requests[{std::string(front), std::string(route), status}];
  auto& l = impl_->latency[{std::string(front), std::string(route)}];
  ++l.count;
  l.seconds += seconds;
}

Status Service::Backup(const Caller& caller, std::string* json) {
  KIRJURI_RETURN_IF_ERROR(Authorize(caller, Action::kBackup));
  if (impl_->options.backup_dir.empty()) {
    return Status::FailedPrecondition(
        "backups are not enabled on this server: start kirjuri serve with --backup-dir DIR");
  }
  // Named after the time, to the microsecond: "kirjuri-20261206T234700.123456Z".
  std::string stamp = FormatRfc3339(NowMicros());
  std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
  const std::filesystem::path dir = impl_->options.backup_dir / ("kirjuri-" + stamp);
  BackupResult result;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger.Backup(dir, &result));
  spdlog::info("backup by {}: {} events to {}", caller.actor, result.size, dir.string());
  *json = BackupJson(dir.string(), result);
  return Status::Ok();
}

std::string Service::BackupJson(const std::string& dir, const BackupResult& result) {
  return JsonWriter()
      .String("dir", dir)
      .Number("events", result.size)
      .String("checkpoint", result.checkpoint)
      .Finish();
}

void Service::CountFeedSubscriptions(int delta) { impl_->feed_subscriptions += delta; }

std::string Service::Metrics() const {
  std::string out;
  auto line = [&](std::string_view name, std::string_view labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    out += std::string(name) + (labels.empty() ? "" : "{" + std::string(labels) + "}") + " " +
           buf + "\n";
  };
  {
    std::lock_guard<std::mutex> lock(impl_->metrics_mu);
    out += "# HELP kirjuri_requests_total Requests answered, by front, route and status.\n"
           "# TYPE kirjuri_requests_total counter\n";
    for (const auto& [k, n] : impl_->requests) {
      const auto& [front, route, code] = k;
      line("kirjuri_requests_total",
           "front=\"" + front + "\",route=\"" + route + "\",code=\"" + std::to_string(code) + "\"",
           static_cast<double>(n));
    }
    out += "# HELP kirjuri_request_seconds Time to answer, by front and route.\n"
           "# TYPE kirjuri_request_seconds summary\n";
    for (const auto& [k, l] : impl_->latency) {
      const std::string labels = "front=\"" + k.first + "\",route=\"" + k.second + "\"";
      line("kirjuri_request_seconds_sum", labels, l.seconds);
      line("kirjuri_request_seconds_count", labels, static_cast<double>(l.count));
    }
  }
  const GroupCommitter::Stats c = impl_->committer.stats();
  out += "# HELP kirjuri_appended_events_total Events appended through group commit.\n"
         "# TYPE kirjuri_appended_events_total counter\n";
  line("kirjuri_appended_events_total", "", static_cast<double>(c.events));
  out += "# HELP kirjuri_group_commit_batches_total Synced writes of group commit.\n"
         "# TYPE kirjuri_group_commit_batches_total counter\n";
  line("kirjuri_group_commit_batches_total", "", static_cast<double>(c.batches));
  out += "# HELP kirjuri_appends_refused_total Appends refused (nothing written).\n"
         "# TYPE kirjuri_appends_refused_total counter\n";
  line("kirjuri_appends_refused_total", "", static_cast<double>(c.refused));
  out += "# HELP kirjuri_access_records_total Reads of personal data written to the access log.\n"
         "# TYPE kirjuri_access_records_total counter\n";
  line("kirjuri_access_records_total", "", static_cast<double>(impl_->access_records.load()));
  out += "# HELP kirjuri_access_records_failed_total Access records never written (a rule they "
         "break, or the log still failing at shutdown).\n"
         "# TYPE kirjuri_access_records_failed_total counter\n";
  line("kirjuri_access_records_failed_total", "",
       static_cast<double>(impl_->access_failures.load()));
  out += "# HELP kirjuri_access_log_blocked 1 while the access log cannot be written and reads "
         "of personal data are refused.\n"
         "# TYPE kirjuri_access_log_blocked gauge\n";
  line("kirjuri_access_log_blocked", "", impl_->access_blocked.load() ? 1.0 : 0.0);
  out += "# HELP kirjuri_change_feed_subscriptions Change-feed subscriptions open (HTTP and RPC).\n"
         "# TYPE kirjuri_change_feed_subscriptions gauge\n";
  line("kirjuri_change_feed_subscriptions", "",
       static_cast<double>(impl_->feed_subscriptions.load()));
  const uint64_t size = impl_->ledger.size();
  out += "# HELP kirjuri_log_events Events in the log (the Merkle tree's size).\n"
         "# TYPE kirjuri_log_events gauge\n";
  line("kirjuri_log_events", "", static_cast<double>(size));
  out += "# HELP kirjuri_view_lag_events Events the view has yet to apply.\n"
         "# TYPE kirjuri_view_lag_events gauge\n";
  for (const std::string& name : impl_->views.Names()) {
    uint64_t applied = 0;
    if (impl_->views.Applied(name, &applied).ok()) {
      line("kirjuri_view_lag_events", "view=\"" + name + "\"",
           static_cast<double>(size > applied ? size - applied : 0));
    }
  }
  return out;
}

}  // namespace kirjuri::service
