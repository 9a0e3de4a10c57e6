// The RPC front: schemas/service.capnp onto the Service.
//
// Threads. Cap'n Proto objects live on the event loop's thread, and nothing there may block for
// long: every client and the change feed share that thread. So
//   - append hands its lines to the Service's group commit, whose `done` runs on the committer
//     thread and fulfils the call's promise across threads;
//   - every other Service call (a view read, an export, an erasure's synced write) runs on a
//     small pool of worker threads (the Service is thread-safe), its answer brought back to the
//     loop the same way;
//   - only login (one token lookup) and the feed's envelope reads (at most one batch) run on
//     the loop itself.
// Parameters are copied before a call leaves the loop: a client that hangs up releases its call
// context while the worker may still be running, and the worker then answers nobody.
#include "service/rpc_front.h"

#include <capnp/capability.h>
#include <kj/async.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kirjuri/event_json.h"
#include "kirjuri/schemas/service.capnp.h"

namespace kirjuri::service {
namespace {

// The exception every failed call rejects with: its description is the Service's error body,
// which the client parses back (schemas/service.capnp, Errors).
kj::Exception StatusException(const Status& s) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::str(ErrorJson(s).c_str()));
}

std::string Str(capnp::Text::Reader t) { return std::string(t.begin(), t.size()); }

// Counts a finished call for /metrics, under the route "<method>".
void Count(Service& service, const char* route, const Status& s,
           std::chrono::steady_clock::time_point started) {
  service.CountRequest(
      "rpc", route, HttpStatus(s),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

// Worker threads for the Service calls that may block (see the top of this file). Run() brings
// a job's status back to the loop thread. Destruction finishes the queued jobs and joins.
class Workers {
 public:
  explicit Workers(size_t n) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
  }
  ~Workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // REQUIRES: called on an event loop's thread; the promise resolves on it, with the job's
  // status.
  kj::Promise<Status> Run(std::function<Status()> job) {
    // The value crosses threads beside a void promise (whose fulfilment orders the write before
    // the read): GCC 12 misreads kj's cross-thread fulfiller of a non-trivial T.
    auto status = std::make_shared<Status>();
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back([job = std::move(job), status, fulfiller] {
        *status = job();
        (*fulfiller)->fulfill();
      });
    }
    cv_.notify_one();
    return paf.promise.then([status] { return *status; });
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to do
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::vector<std::thread> threads_;
};

// One pool for every connection and session of the process (a bootstrap may be made per
// connection), kept while any of them lives: enough workers for the cores, a few more for calls
// that wait on a synced write.
std::shared_ptr<Workers> SharedWorkers() {
  static std::mutex mu;
  static std::weak_ptr<Workers> shared;
  std::lock_guard<std::mutex> lock(mu);
  std::shared_ptr<Workers> w = shared.lock();
  if (!w) {
    w = std::make_shared<Workers>(
        std::clamp<size_t>(std::thread::hardware_concurrency() + 2, 4, 16));
    shared = w;
  }
  return w;
}

class SubscriptionImpl final : public schema::Subscription::Server {
 public:
  explicit SubscriptionImpl(kj::Promise<void> feed) : feed_(kj::mv(feed)) {}

 private:
  kj::Promise<void> feed_;  // destroying it cancels the subscription
};

// A logged-in client. Its token is checked again on every call (and before every delivery of a
// change feed), so that a token revoked while the server runs stops working at once.
class SessionImpl final : public schema::Session::Server {
 public:
  SessionImpl(Service& service, ChangeFeed& feed, std::shared_ptr<Workers> workers,
              std::string token)
      : service_(service), feed_(feed), workers_(std::move(workers)), token_(std::move(token)) {}

 protected:
  kj::Promise<void> append(AppendContext context) override {
    struct Outcome {
      Status status;
      std::vector<Appended> appended;
    };
    const auto started = std::chrono::steady_clock::now();
    Caller caller;
    if (Status s = service_.Authenticate(token_, "rpc", &caller); !s.ok()) {
      Count(service_, "append", s, started);
      return StatusException(s);
    }
    auto outcome = std::make_shared<Outcome>();
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    // Checked and queued here, on the loop, not on a worker: calls on one capability arrive in
    // the order sent, and so a client's pipelined appends reach the log in that order too.
    // `done` runs on the committer thread, or here at once if the lines are refused.
    service_.Append(caller, Str(context.getParams().getLines()),
                    [outcome, fulfiller](const Status& s, std::vector<Appended> appended) {
                      outcome->status = s;
                      outcome->appended = std::move(appended);
                      (*fulfiller)->fulfill();
                    });
    // Continuations name the Service, never `this`: a session may be released mid-call.
    return paf.promise.then([service = &service_, context, outcome,
                             started]() mutable -> kj::Promise<void> {
      const Outcome& o = *outcome;
      Count(*service, "append", o.status, started);
      if (!o.status.ok()) return StatusException(o.status);
      auto list = context.getResults().initAppended(static_cast<unsigned>(o.appended.size()));
      for (size_t i = 0; i < o.appended.size(); ++i) {
        list[i].setSeq(o.appended[i].seq);
        const SubjectId& id = o.appended[i].subject;
        list[i].setSubject(kj::arrayPtr(id.data(), id.size()));
      }
      return kj::READY_NOW;
    });
  }

  kj::Promise<void> getSubject(GetSubjectContext context) override {
    auto p = context.getParams();
    return Text("getSubject", context,
                [reg = Str(p.getRegister()), subject = Str(p.getSubject()),
                 as_of = Str(p.getAsOf()), purpose = Str(p.getPurpose())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.GetSubject(c, reg, subject, as_of, purpose, out);
                },
                [](GetSubjectContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> marketingAudience(MarketingAudienceContext context) override {
    return Text("marketingAudience", context,
                [as_of = Str(context.getParams().getAsOf())](Service& s, const Caller& c,
                                                              std::string* out) {
                  return s.MarketingAudience(c, as_of, out);
                },
                [](MarketingAudienceContext& ctx, std::string& out) {
                  ctx.getResults().setJson(out);
                });
  }

  kj::Promise<void> export_(ExportContext context) override {
    auto p = context.getParams();
    return Text("export", context,
                [subject = Str(p.getSubject()), request = Str(p.getRequest())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.Export(c, subject, request, out);
                },
                [](ExportContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> openRequest(OpenRequestContext context) override {
    auto p = context.getParams();
    return Text("openRequest", context,
                [subject = Str(p.getSubject()), kind = Str(p.getKind()), ref = Str(p.getRef())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.OpenRequest(c, subject, kind, ref, out);
                },
                [](OpenRequestContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> listRequests(ListRequestsContext context) override {
    return Text(
        "listRequests", context,
        [](Service& s, const Caller& c, std::string* out) { return s.ListRequests(c, out); },
        [](ListRequestsContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> fulfilRequest(FulfilRequestContext context) override {
    auto p = context.getParams();
    return Text("fulfilRequest", context,
                [ref = Str(p.getRef()), body = Str(p.getBody())](Service& s, const Caller& c,
                                                                std::string* out) {
                  return s.FulfilRequest(c, ref, body, out);
                },
                [](FulfilRequestContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> issueToken(IssueTokenContext context) override {
    auto p = context.getParams();
    return Text("issueToken", context,
                [actor = Str(p.getActor()), role = Str(p.getRole())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.IssueToken(c, actor, role, out);
                },
                [](IssueTokenContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> listTokens(ListTokensContext context) override {
    return Text(
        "listTokens", context,
        [](Service& s, const Caller& c, std::string* out) { return s.ListTokens(c, out); },
        [](ListTokensContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> revokeToken(RevokeTokenContext context) override {
    return Text("revokeToken", context,
                [token = Str(context.getParams().getTokenOrId())](Service& s, const Caller& c,
                                                                  std::string* out) {
                  return s.RevokeToken(c, token, out);
                },
                [](RevokeTokenContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> listSubjects(ListSubjectsContext context) override {
    auto p = context.getParams();
    ViewFilter filter;
    filter.city = Str(p.getCity());
    filter.organisation = Str(p.getOrganisation());
    filter.include_erased = p.getIncludeErased();
    filter.limit = p.getLimit();
    return Text("listSubjects", context,
                [filter, after = Str(p.getAfter()), reg = Str(p.getRegister()),
                 as_of = Str(p.getAsOf()), purpose = Str(p.getPurpose())](
                    Service& s, const Caller& c, std::string* out) {
                  ViewFilter page = filter;
                  KIRJURI_RETURN_IF_ERROR(Service::PageAfter(after, &page));
                  return s.ListSubjects(c, reg, page, as_of, purpose, out);
                },
                [](ListSubjectsContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> extendRequest(ExtendRequestContext context) override {
    auto p = context.getParams();
    return Text("extendRequest", context,
                [ref = Str(p.getRef()), months = p.getMonths(), reason = Str(p.getReason())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.ExtendRequest(c, ref, months, reason, out);
                },
                [](ExtendRequestContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> refuseRequest(RefuseRequestContext context) override {
    auto p = context.getParams();
    return Text("refuseRequest", context,
                [ref = Str(p.getRef()), reason = Str(p.getReason())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.RefuseRequest(c, ref, reason, out);
                },
                [](RefuseRequestContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> backup(BackupContext context) override {
    return Text(
        "backup", context,
        [](Service& s, const Caller& c, std::string* out) { return s.Backup(c, out); },
        [](BackupContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> erase(EraseContext context) override {
    auto p = context.getParams();
    return Text("erase", context,
                [subject = Str(p.getSubject()), request = Str(p.getRequest())](
                    Service& s, const Caller& c, std::string* out) {
                  return s.Erase(c, subject, request, out);
                },
                [](EraseContext& ctx, std::string& out) { ctx.getResults().setReportJson(out); });
  }

  kj::Promise<void> deletionReport(DeletionReportContext context) override {
    return Text("deletionReport", context,
                [seq = context.getParams().getSeq()](Service& s, const Caller& c,
                                                     std::string* out) {
                  return s.DeletionReport(c, seq, out);
                },
                [](DeletionReportContext& ctx, std::string& out) {
                  ctx.getResults().setReportJson(out);
                });
  }

  kj::Promise<void> checkpoint(CheckpointContext context) override {
    return Text(
        "checkpoint", context,
        [](Service& s, const Caller& c, std::string* out) { return s.Checkpoint(c, out); },
        [](CheckpointContext& ctx, std::string& out) { ctx.getResults().setNote(out); });
  }

  kj::Promise<void> inclusionProof(InclusionProofContext context) override {
    auto p = context.getParams();
    return Text("inclusionProof", context,
                [seq = p.getSeq(), size = p.getSize()](Service& s, const Caller& c,
                                                       std::string* out) {
                  return s.InclusionProof(c, seq, size, out);
                },
                [](InclusionProofContext& ctx, std::string& out) {
                  ctx.getResults().setJson(out);
                });
  }

  kj::Promise<void> consistencyProof(ConsistencyProofContext context) override {
    auto p = context.getParams();
    return Text("consistencyProof", context,
                [first = p.getFirst(), second = p.getSecond()](Service& s, const Caller& c,
                                                               std::string* out) {
                  return s.ConsistencyProof(c, first, second, out);
                },
                [](ConsistencyProofContext& ctx, std::string& out) {
                  ctx.getResults().setJson(out);
                });
  }

  kj::Promise<void> envelopes(EnvelopesContext context) override {
    auto p = context.getParams();
    auto next = std::make_shared<uint64_t>(0);
    return Text("envelopes", context,
                [from = p.getFrom(), max = p.getMax(), next](Service& s, const Caller& c,
                                                             std::string* out) {
                  return s.Envelopes(c, from, max, out, next.get());
                },
                [next](EnvelopesContext& ctx, std::string& out) {
                  ctx.getResults().setJson(out);
                  ctx.getResults().setNext(*next);
                });
  }

  kj::Promise<void> accessLog(AccessLogContext context) override {
    return Text("accessLog", context,
                [subject = Str(context.getParams().getSubject())](Service& s, const Caller& c,
                                                                  std::string* out) {
                  return s.AccessLog(c, subject, out);
                },
                [](AccessLogContext& ctx, std::string& out) { ctx.getResults().setJson(out); });
  }

  kj::Promise<void> subscribe(SubscribeContext context) override {
    const auto started = std::chrono::steady_clock::now();
    // Envelopes hold no personal data; a role that may query may follow the log too.
    Caller caller;
    Status s = service_.Authenticate(token_, "rpc", &caller);
    if (s.ok()) s = service_.Authorize(caller, Action::kEnvelopes);
    if (s.code() == Status::Code::kPermissionDenied &&
        service_.Authorize(caller, Action::kQuery).ok()) {
      s = Status::Ok();
    }
    Count(service_, "subscribe", s, started);
    if (!s.ok()) return StatusException(s);
    auto params = context.getParams();
    schema::ChangeSink::Client sink = params.getSink();
    Service& service = service_;
    kj::Promise<void> feed = feed_.Subscribe(
        params.getFrom(),
        [&service, sink, token = token_](uint64_t from, uint64_t to) mutable -> kj::Promise<void> {
          Caller still;
          if (Status live = service.Authenticate(token, "rpc", &still); !live.ok()) {
            return StatusException(live);  // revoked: the subscription ends
          }
          if (from == to) return kj::READY_NOW;  // a keep-alive: the sink gets no empty call
          std::vector<std::string> lines;
          uint64_t next = from;
          Status read = service.ReadEnvelopes(
              from, to - from, [&](const EventView& e) { lines.push_back(EnvelopeJson(e, false)); },
              &next);
          if (!read.ok()) return StatusException(read);
          // The feed only offers committed ranges; a short read would skip events silently.
          if (next != to || lines.size() != to - from) {
            return StatusException(Status::Corruption(
                "change feed: read " + std::to_string(lines.size()) + " envelopes of [" +
                std::to_string(from) + ", " + std::to_string(to) + ")"));
          }
          auto request = sink.eventsRequest();
          request.setFirst(from);
          auto list = request.initEnvelopes(static_cast<unsigned>(lines.size()));
          for (size_t i = 0; i < lines.size(); ++i) list.set(static_cast<unsigned>(i), lines[i]);
          return request.send().ignoreResult();
        });
    // The feed ends by rejecting when the sink goes away: that is the client leaving, not an
    // error of ours.
    feed = feed.eagerlyEvaluate([](kj::Exception&& e) {
      spdlog::debug("rpc: a change feed subscription ended: {}", e.getDescription().cStr());
    });
    context.getResults().setSubscription(kj::heap<SubscriptionImpl>(kj::mv(feed)));
    return kj::READY_NOW;
  }

 private:
  // Runs `call` (a Service method answering text) on a worker and, on success, `answer` with
  // its text on the loop thread; a failure rejects with the error body.
  template <typename Context, typename Call, typename Answer>
  kj::Promise<void> Text(const char* route, Context& context, Call call, Answer answer) {
    const auto started = std::chrono::steady_clock::now();
    auto out = std::make_shared<std::string>();
    Service* service = &service_;
    return workers_
        ->Run([service, token = token_, call = std::move(call), out]() {
          Caller caller;
          KIRJURI_RETURN_IF_ERROR(service->Authenticate(token, "rpc", &caller));
          return call(*service, caller, out.get());
        })
        .then([service, context, route, answer = std::move(answer), out,
               started](Status s) mutable -> kj::Promise<void> {
          Count(*service, route, s, started);
          if (!s.ok()) return StatusException(s);
          answer(context, *out);
          return kj::READY_NOW;
        });
  }

  Service& service_;
  ChangeFeed& feed_;
  std::shared_ptr<Workers> workers_;
  const std::string token_;
};

class GatewayImpl final : public schema::Gateway::Server {
 public:
  GatewayImpl(Service& service, ChangeFeed& feed)
      : service_(service), feed_(feed), workers_(SharedWorkers()) {}

 protected:
  kj::Promise<void> login(LoginContext context) override {
    const auto started = std::chrono::steady_clock::now();
    Caller caller;
    std::string token = Str(context.getParams().getToken());
    Status s = service_.Authenticate(token, "rpc", &caller);
    Count(service_, "login", s, started);
    if (!s.ok()) return StatusException(s);
    context.getResults().setSession(
        kj::heap<SessionImpl>(service_, feed_, workers_, std::move(token)));
    return kj::READY_NOW;
  }

 private:
  Service& service_;
  ChangeFeed& feed_;
  std::shared_ptr<Workers> workers_;  // shared with the sessions, which may outlive this
};

}  // namespace

capnp::Capability::Client MakeRpcBootstrap(Service& service, ChangeFeed& feed) {
  return kj::heap<GatewayImpl>(service, feed);
}

}  // namespace kirjuri::service
