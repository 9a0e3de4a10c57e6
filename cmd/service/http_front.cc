// Routes (Authorization: Bearer TOKEN on all but /healthz and /metrics):
//
//   GET  /healthz                          {"status":"ok","events":N}              no token
//                                          (503 "degraded", "reason": access log not writing)
//   GET  /metrics                          Prometheus text                          no token
//   POST /v1/events                        JSON lines in, {"seq","subject"} lines out (NDJSON)
//   GET  /v1/customers/{id}                ?as_of=SEQ|RFC3339 &purpose=P
//   GET  /v1/partners/{id}                 same
//   GET  /v1/customers                     ?city=&organisation=&erased=true|false&as_of=
//                                          &purpose=&after=ID&limit=N   NDJSON, by subject id
//   GET  /v1/partners                      same
//   GET  /v1/marketing-audience            ?as_of=        NDJSON
//   GET  /v1/subjects/{id}/export          ?request=REF
//   POST /v1/subjects/{id}/erase           ?request=REF   the signed deletion report
//   POST /v1/requests                      {"subject","kind","ref"}
//   GET  /v1/requests                      NDJSON
//   POST /v1/requests/{ref}/fulfil         body: rectification JSON lines, or empty
//   POST /v1/requests/{ref}/extend         ?months=1|2   body {"reason"}
//   POST /v1/requests/{ref}/refuse         body {"reason"}
//   GET  /v1/reports/deletion/{seq}
//   GET  /v1/checkpoint                    the signed note (text/plain)
//   GET  /v1/proofs/inclusion/{seq}        ?size=N
//   GET  /v1/proofs/consistency            ?first=&second=
//   GET  /v1/events                        ?from=SEQ&limit=N   envelopes, NDJSON
//   GET  /v1/subjects/{id}/access-log      NDJSON
//   GET  /v1/changes                       ?from=SEQ   a chunked NDJSON stream of envelopes,
//                                          never ending while the server runs
//   POST /v1/tokens                        {"actor","role"}: a new token
//   GET  /v1/tokens                        NDJSON, no token itself
//   DELETE /v1/tokens/{id}                 revokes; by id only, never the token in a URL
//
// The change feed is open to roles with "envelopes" or "query": envelopes hold no personal
// data, and a copy of the register kept by a staff tool must learn of erasures to drop people.
//
// The Service's calls run on a pool of worker threads (Append on the group committer's), so
// that a slow read or a synced write (erase, requests) holds up no other client; their answers
// are written on the loop. Authentication and the change feed's reads stay on the loop.
#include "service/http_front.h"

#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <kj/compat/url.h>
#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/event_json.h"
#include "kirjuri/json.h"

namespace kirjuri::service {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kNdjson[] = "application/x-ndjson";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kPrometheus[] = "text/plain; version=0.0.4; charset=utf-8";

kj::StringPtr Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

// A decimal uint64 query value; InvalidArgument naming the parameter otherwise.
Status ParseU64(std::string_view name, std::string_view text, uint64_t* out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *out);
  if (text.empty() || ec != std::errc() || p != end) {
    return Status::InvalidArgument(std::string(name) + " must be a non-negative integer");
  }
  return Status::Ok();
}

// The route templates; a segment "{…}" matches any one path segment.
enum class RouteId {
  kHealthz, kMetrics, kAppend, kCustomer, kPartner, kCustomers, kPartners, kAudience, kExport,
  kErase, kOpenRequest, kListRequests, kFulfil, kExtend, kRefuse, kDeletionReport, kCheckpoint,
  kInclusion, kConsistency, kEvents, kAccessLog, kChanges, kIssueToken, kListTokens,
  kRevokeToken, kBackup,
};
struct Route {
  RouteId id;
  kj::HttpMethod method;
  std::string_view pattern;
  bool body;  // reads a request body
  // The query parameters it takes, separated by spaces: any other, or one given twice, is a
  // 400 (a misspelt "?asof=" must not quietly answer as of now).
  std::string_view query = "";
};
constexpr std::string_view kListQuery = "city organisation erased as_of purpose after limit";
constexpr Route kRoutes[] = {
    {RouteId::kHealthz, kj::HttpMethod::GET, "/healthz", false},
    {RouteId::kMetrics, kj::HttpMethod::GET, "/metrics", false},
    {RouteId::kAppend, kj::HttpMethod::POST, "/v1/events", true},
    {RouteId::kEvents, kj::HttpMethod::GET, "/v1/events", false, "from limit"},
    {RouteId::kCustomer, kj::HttpMethod::GET, "/v1/customers/{id}", false, "as_of purpose"},
    {RouteId::kPartner, kj::HttpMethod::GET, "/v1/partners/{id}", false, "as_of purpose"},
    {RouteId::kCustomers, kj::HttpMethod::GET, "/v1/customers", false, kListQuery},
    {RouteId::kPartners, kj::HttpMethod::GET, "/v1/partners", false, kListQuery},
    {RouteId::kAudience, kj::HttpMethod::GET, "/v1/marketing-audience", false, "as_of"},
    {RouteId::kExport, kj::HttpMethod::GET, "/v1/subjects/{id}/export", false, "request"},
    {RouteId::kErase, kj::HttpMethod::POST, "/v1/subjects/{id}/erase", false, "request"},
    {RouteId::kAccessLog, kj::HttpMethod::GET, "/v1/subjects/{id}/access-log", false},
    {RouteId::kOpenRequest, kj::HttpMethod::POST, "/v1/requests", true},
    {RouteId::kListRequests, kj::HttpMethod::GET, "/v1/requests", false},
    {RouteId::kFulfil, kj::HttpMethod::POST, "/v1/requests/{ref}/fulfil", true},
    {RouteId::kExtend, kj::HttpMethod::POST, "/v1/requests/{ref}/extend", true, "months"},
    {RouteId::kRefuse, kj::HttpMethod::POST, "/v1/requests/{ref}/refuse", true},
    {RouteId::kDeletionReport, kj::HttpMethod::GET, "/v1/reports/deletion/{seq}", false},
    {RouteId::kCheckpoint, kj::HttpMethod::GET, "/v1/checkpoint", false},
    {RouteId::kInclusion, kj::HttpMethod::GET, "/v1/proofs/inclusion/{seq}", false, "size"},
    {RouteId::kConsistency, kj::HttpMethod::GET, "/v1/proofs/consistency", false, "first second"},
    {RouteId::kChanges, kj::HttpMethod::GET, "/v1/changes", false, "from"},
    {RouteId::kIssueToken, kj::HttpMethod::POST, "/v1/tokens", true},
    {RouteId::kListTokens, kj::HttpMethod::GET, "/v1/tokens", false},
    {RouteId::kRevokeToken, kj::HttpMethod::DELETE, "/v1/tokens/{id}", false},
    {RouteId::kBackup, kj::HttpMethod::POST, "/v1/backups", false},
};

// OK if every query parameter of `url` is one `route` takes, and none is given twice.
Status CheckQuery(const Route& route, const kj::Url& url) {
  std::vector<std::string_view> seen;
  for (const auto& q : url.query) {
    const std::string_view name(q.name.cStr(), q.name.size());
    bool known = false;
    for (std::string_view rest = route.query; !rest.empty() && !known;) {
      const size_t space = rest.find(' ');
      known = rest.substr(0, space) == name;
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
    // Named back only if it is a plain word (never arbitrary bytes in the JSON error).
    const bool plain = !name.empty() && name.size() <= 32 &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                c == '-' || c == '.';
                       });
    const std::string shown = plain ? "'" + std::string(name) + "'" : "(not a plain word)";
    if (!known) {
      return Status::InvalidArgument(
          "unknown query parameter " + shown + " (" +
          (route.query.empty() ? std::string("this route takes none")
                               : "this route takes: " + std::string(route.query)) +
          ")");
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Status::InvalidArgument("query parameter " + shown + " given twice");
    }
    seen.push_back(name);
  }
  return Status::Ok();
}

// Whether `path` fits `pattern`; the values of its "{…}" segments go to *params.
bool Match(std::string_view pattern, const kj::Vector<kj::String>& path,
           std::vector<std::string>* params) {
  params->clear();
  size_t i = 0;
  pattern.remove_prefix(1);
  while (!pattern.empty()) {
    const size_t slash = pattern.find('/');
    std::string_view seg = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash + 1);
    if (i >= path.size()) return false;
    std::string_view actual(path[i].cStr(), path[i].size());
    if (seg.size() > 2 && seg.front() == '{') {
      params->emplace_back(actual);
    } else if (seg != actual) {
      return false;
    }
    ++i;
  }
  return i == path.size();
}

// The token of "Authorization: Bearer TOKEN" (scheme case-insensitive); empty if none.
std::string BearerToken(kj::Maybe<kj::StringPtr> header) {
  std::string_view v;
  KJ_IF_MAYBE(h, header) { v = std::string_view(h->cStr(), h->size()); }
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size()) return "";
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return "";
  }
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return std::string(v);
}

enum class BodyRead { kComplete, kTooLarge, kTimedOut };

// Reads a request body of at most `max` bytes: kComplete once all of it is in data(), kTooLarge
// as soon as it would exceed `max` (the rest is not read). Rejects if the stream breaks or the
// framing (chunked encoding) is malformed.
class BodyReader {
 public:
  BodyReader(kj::AsyncInputStream& in, size_t max) : in_(in), max_(max) {}

  kj::Promise<BodyRead> Read() {
    KJ_IF_MAYBE(length, in_.tryGetLength()) {
      if (*length > max_) return BodyRead::kTooLarge;
      data_.reserve(*length);
    }
    return Loop();
  }
  std::string& data() { return data_; }

 private:
  kj::Promise<BodyRead> Loop() {
    return in_.tryRead(buffer_, 1, sizeof buffer_)
        .then([this](size_t n) -> kj::Promise<BodyRead> {
          if (n == 0) return BodyRead::kComplete;
          if (data_.size() + n > max_) return BodyRead::kTooLarge;
          data_.append(reinterpret_cast<const char*>(buffer_), n);
          return Loop();
        });
  }

  kj::AsyncInputStream& in_;
  const size_t max_;
  std::string data_;
  kj::byte buffer_[16384];
};

// A body that is a JSON object of exactly the string members `names` (each non-empty), with
// capnp's JSON codec: {"subject","kind","ref"} for POST /v1/requests, {"actor","role"} for
// POST /v1/tokens. values[i] gets member names[i].
Status ParseStringObject(std::string_view body, std::span<const std::string_view> names,
                         std::vector<std::string>* values) {
  std::string listed;
  for (std::string_view n : names) listed += (listed.empty() ? "" : ", ") + std::string(n);
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<capnp::JsonValue>();
  capnp::JsonCodec codec;
  codec.setMaxNestingDepth(8);
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    codec.decodeRaw(kj::ArrayPtr<const char>(body.data(), body.size()), root);
  });
  if (error != nullptr || !root.isObject()) {
    return Status::InvalidArgument("the body must be a JSON object with " + listed);
  }
  values->assign(names.size(), std::string());
  for (auto field : root.getObject()) {
    const std::string_view name(field.getName().cStr());
    const auto at = std::find(names.begin(), names.end(), name);
    if (at == names.end()) {
      return Status::InvalidArgument("unknown key in the request body (" + listed + ")");
    }
    if (!field.getValue().isString()) {
      return Status::InvalidArgument(std::string(name) + " must be a string");
    }
    (*values)[static_cast<size_t>(at - names.begin())] = field.getValue().getString().cStr();
  }
  if (std::any_of(values->begin(), values->end(), [](const std::string& v) { return v.empty(); })) {
    return Status::InvalidArgument("the body needs " + listed);
  }
  return Status::Ok();
}

// A fixed pool of threads for the Service's blocking calls (view reads, synced writes), so that
// the event loop keeps serving other clients meanwhile.
class Workers {
 public:
  explicit Workers(unsigned n) {
    for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~Workers() { Stop(); }

  void Run(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  // Runs what is queued, then joins. Idempotent; Run must not be called afterwards.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::vector<std::thread> threads_;
};

struct AppendResult {
  Status status;
  std::vector<Appended> appended;
};

}  // namespace

struct HttpFront::Impl final : public kj::HttpServerErrorHandler {
  Service& service;
  ChangeFeed& feed;
  kj::Timer& timer;
  HttpFrontOptions options;
  kj::HttpHeaderId authorization;
  kj::HttpHeaderId www_authenticate;
  kj::HttpHeaderId allow;
  const kj::HttpHeaderTable* table = nullptr;
  Workers workers;

  Impl(Service& s, ChangeFeed& f, kj::Timer& t, HttpFrontOptions o)
      : service(s), feed(f), timer(t), options(o),
        workers(std::max(4u, std::thread::hardware_concurrency())) {}

  // One request in flight; lives until its promise is done.
  struct Call {
    Response& response;
    const kj::HttpHeaders& headers;
    kj::AsyncInputStream& body_stream;
    kj::Url url;
    const Route* route = nullptr;
    std::vector<std::string> params;
    Caller caller;
    kj::Own<BodyReader> body;
    std::string allow;  // for 405: the methods the path takes
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    Call(Response& r, const kj::HttpHeaders& h, kj::AsyncInputStream& b)
        : response(r), headers(h), body_stream(b) {}

    // The value of query parameter `name`; empty if absent.
    std::string Query(std::string_view name) const {
      for (const auto& q : url.query) {
        if (std::string_view(q.name.cStr(), q.name.size()) == name) {
          return std::string(q.value.cStr(), q.value.size());
        }
      }
      return "";
    }
    // The metrics' route label: method and template ("GET /v1/customers/{id}"), as GET and
    // POST /v1/events are different operations.
    std::string RouteName() const {
      if (route == nullptr) return "unmatched";
      return std::string(kj::str(route->method).cStr()) + " " + std::string(route->pattern);
    }
  };

  double Seconds(const Call& call) const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - call.started).count();
  }

  // Sends a whole answer and counts it.
  kj::Promise<void> Reply(Call& call, int status, std::string body, kj::StringPtr content_type) {
    service.CountRequest("http", call.RouteName(), status, Seconds(call));
    kj::HttpHeaders headers(*table);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, content_type);
    if (status == 401) headers.set(www_authenticate, "Bearer");
    if (status == 405) headers.set(allow, kj::StringPtr(call.allow.c_str()));
    auto stream = call.response.send(status, Reason(status), headers, body.size());
    auto text = kj::heapString(body.data(), body.size());
    auto write = stream->write(text.begin(), text.size());
    return write.attach(kj::mv(stream), kj::mv(text));
  }

  kj::Promise<void> ReplyError(Call& call, const Status& s) {
    return Reply(call, HttpStatus(s), ErrorJson(s) + "\n", kJson);
  }
  // For answers the Service does not produce (405, 408, 413): ErrorJson's shape, our code.
  kj::Promise<void> ReplyError(Call& call, int status, std::string_view message) {
    std::string body =
        JsonWriter().String("error", message).Number("code", status).Finish() + "\n";
    return Reply(call, status, std::move(body), kJson);
  }
  kj::Promise<void> ReplyResult(Call& call, const Status& s, std::string body,
                                kj::StringPtr content_type) {
    if (!s.ok()) return ReplyError(call, s);
    if (content_type == kJson && (body.empty() || body.back() != '\n')) body += "\n";
    return Reply(call, 200, std::move(body), content_type);
  }

  kj::Promise<void> Handle(kj::HttpMethod method, kj::StringPtr url, Call& call) {
    KJ_IF_MAYBE(parsed, kj::Url::tryParse(url, kj::Url::HTTP_REQUEST)) {
      call.url = kj::mv(*parsed);
    } else {
      return ReplyError(call, Status::InvalidArgument("malformed request target"));
    }
    const Route* path_match = nullptr;
    for (const Route& r : kRoutes) {
      if (!Match(r.pattern, call.url.path, &call.params)) continue;
      if (r.method == method) {
        call.route = &r;
        break;
      }
      path_match = &r;
      call.allow += (call.allow.empty() ? "" : ", ") + std::string(kj::str(r.method).cStr());
    }
    if (call.route == nullptr) {
      if (path_match != nullptr) {
        call.route = path_match;
        return ReplyError(call, 405, "method not allowed here");
      }
      return ReplyError(call, 404, "no such route");
    }
    if (Status q = CheckQuery(*call.route, call.url); !q.ok()) return ReplyError(call, q);
    const RouteId id = call.route->id;
    if (id == RouteId::kHealthz) {
      // Degraded (503) while reads of personal data are refused: the access log cannot write.
      const Status health = service.Health();
      JsonWriter w;
      w.String("status", health.ok() ? "ok" : "degraded").Number("events", service.size());
      if (!health.ok()) w.String("reason", health.message());
      return Reply(call, health.ok() ? 200 : 503, w.Finish() + "\n", kJson);
    }
    if (id == RouteId::kMetrics) return Reply(call, 200, service.Metrics(), kPrometheus);

    Status s = service.Authenticate(BearerToken(call.headers.get(authorization)), "http",
                                    &call.caller);
    if (!s.ok()) return ReplyError(call, s);
    if (!call.route->body) return HandleRead(call);

    // Refused before the body is read: nothing is done on an error.
    if (id == RouteId::kAppend) s = service.Authorize(call.caller, Action::kAppend);
    if (id == RouteId::kOpenRequest || id == RouteId::kFulfil || id == RouteId::kExtend ||
        id == RouteId::kRefuse) {
      s = service.Authorize(call.caller, Action::kRequests);
    }
    if (id == RouteId::kIssueToken) s = service.Authorize(call.caller, Action::kTokens);
    if (!s.ok()) return ReplyError(call, s);
    call.body = kj::heap<BodyReader>(call.body_stream, options.max_body_bytes);
    auto timeout = timer.afterDelay(options.body_timeout).then([] { return BodyRead::kTimedOut; });
    return call.body->Read()
        .exclusiveJoin(kj::mv(timeout))
        .then(
            [this, &call](BodyRead read) -> kj::Promise<void> {
              switch (read) {
                case BodyRead::kComplete: return HandleWrite(call, std::move(call.body->data()));
                case BodyRead::kTooLarge:
                  return ReplyError(call, 413,
                                    "the request body is larger than " +
                                        std::to_string(options.max_body_bytes) + " bytes");
                case BodyRead::kTimedOut: break;
              }
              return ReplyError(call, 408, "the request body was not received in time");
            },
            [this, &call](kj::Exception&& e) -> kj::Promise<void> {
              if (e.getType() == kj::Exception::Type::DISCONNECTED) return kj::mv(e);
              return ReplyError(call, Status::InvalidArgument("malformed request body framing"));
            });
  }

  // The answer of a Service call, computed on a worker.
  struct Answer {
    Status status;
    std::string body;
  };
  using Work = std::function<Answer()>;

  // Runs `work` on a worker and replies with its answer on the loop. `work` must not touch
  // `call` (the client may go away, destroying it): it captures what it needs by value.
  kj::Promise<void> OffLoop(Call& call, kj::StringPtr content_type, Work work) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<kj::Own<Answer>>();
    auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<kj::Own<Answer>>>>(
        kj::mv(paf.fulfiller));
    workers.Run([fulfiller, work = std::move(work)] {
      Answer answer;
      try {
        answer = work();
      } catch (const std::exception& e) {
        spdlog::error("http: a request failed: {}", e.what());
        answer.status = Status::IOError("internal error; the server's log says more");
      }
      (*fulfiller)->fulfill(kj::heap<Answer>(std::move(answer)));
    });
    return paf.promise.then([this, &call, content_type](kj::Own<Answer> a) {
      return ReplyResult(call, a->status, std::move(a->body), content_type);
    });
  }

  kj::Promise<void> HandleWrite(Call& call, std::string body) {
    Service* svc = &service;
    const Caller caller = call.caller;
    switch (call.route->id) {
      case RouteId::kAppend: return Append(call, std::move(body));
      case RouteId::kOpenRequest:
        return OffLoop(call, kJson, [svc, caller, body = std::move(body)] {
          Answer a;
          static constexpr std::string_view kNames[] = {"subject", "kind", "ref"};
          std::vector<std::string> v;
          a.status = ParseStringObject(body, kNames, &v);
          if (a.status.ok()) a.status = svc->OpenRequest(caller, v[0], v[1], v[2], &a.body);
          return a;
        });
      case RouteId::kIssueToken:
        return OffLoop(call, kJson, [svc, caller, body = std::move(body)] {
          Answer a;
          static constexpr std::string_view kNames[] = {"actor", "role"};
          std::vector<std::string> v;
          a.status = ParseStringObject(body, kNames, &v);
          if (a.status.ok()) a.status = svc->IssueToken(caller, v[0], v[1], &a.body);
          return a;
        });
      case RouteId::kExtend:
      case RouteId::kRefuse:
        return OffLoop(call, kJson,
                       [svc, caller, ref = call.params[0], body = std::move(body),
                        extend = call.route->id == RouteId::kExtend,
                        months_text = call.Query("months")] {
                         Answer a;
                         static constexpr std::string_view kNames[] = {"reason"};
                         std::vector<std::string> v;
                         uint64_t months = 0;
                         a.status = ParseStringObject(body, kNames, &v);
                         if (a.status.ok() && extend) {
                           a.status = ParseU64("months", months_text, &months);
                         }
                         if (a.status.ok() && months > 2) {  // never cut to 32 bits
                           a.status = Status::InvalidArgument("months must be 1 or 2");
                         }
                         if (!a.status.ok()) return a;
                         a.status = extend ? svc->ExtendRequest(caller, ref,
                                                                static_cast<unsigned>(months),
                                                                v[0], &a.body)
                                           : svc->RefuseRequest(caller, ref, v[0], &a.body);
                         return a;
                       });
      case RouteId::kFulfil:
        return OffLoop(call, kJson, [svc, caller, ref = call.params[0], body = std::move(body)] {
          Answer a;
          a.status = svc->FulfilRequest(caller, ref, body, &a.body);
          return a;
        });
      default: break;
    }
    KJ_FAIL_ASSERT("route without a body handler", call.route->pattern.data());
  }

  // The answer is written only once the group committer has made the events durable (or
  // refused them); `done` runs on the committer thread, so it hands the result to the loop.
  kj::Promise<void> Append(Call& call, std::string body) {
    // Own<>, not the struct itself: GCC 12 warns (falsely) about a vector moved into KJ's
    // nullable storage.
    auto paf = kj::newPromiseAndCrossThreadFulfiller<kj::Own<AppendResult>>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<kj::Own<AppendResult>>>>(
            kj::mv(paf.fulfiller));
    service.Append(call.caller, body, [fulfiller](const Status& s, std::vector<Appended> a) {
      (*fulfiller)->fulfill(kj::heap<AppendResult>(AppendResult{s, std::move(a)}));
    });
    return paf.promise.then([this, &call](kj::Own<AppendResult> r) {
      if (!r->status.ok()) return ReplyError(call, r->status);
      return Reply(call, 200, Service::AppendedJson(r->appended), kNdjson);
    });
  }

  kj::Promise<void> HandleRead(Call& call) {
    Service* svc = &service;
    const Caller caller = call.caller;
    const std::string param = call.params.empty() ? std::string() : call.params[0];
    const size_t max_events = options.max_events_per_read;
    switch (call.route->id) {
      case RouteId::kCustomer:
      case RouteId::kPartner: {
        const char* reg = call.route->id == RouteId::kCustomer ? "customer" : "partner";
        return OffLoop(call, kJson,
                       [svc, caller, reg, param, as_of = call.Query("as_of"),
                        purpose = call.Query("purpose")] {
                         Answer a;
                         a.status = svc->GetSubject(caller, reg, param, as_of, purpose, &a.body);
                         return a;
                       });
      }
      case RouteId::kCustomers:
      case RouteId::kPartners: {
        const char* reg = call.route->id == RouteId::kCustomers ? "customer" : "partner";
        ViewFilter filter;
        filter.city = call.Query("city");
        filter.organisation = call.Query("organisation");
        filter.limit = Service::kMaxSubjectsPerCall;
        Status parsed;
        if (const std::string erased = call.Query("erased"); erased == "false") {
          filter.include_erased = false;
        } else if (!erased.empty() && erased != "true") {
          parsed = Status::InvalidArgument("erased must be true or false");
        }
        if (parsed.ok()) parsed = Service::PageAfter(call.Query("after"), &filter);
        if (const std::string limit = call.Query("limit"); parsed.ok() && !limit.empty()) {
          uint64_t n = 0;
          parsed = ParseU64("limit", limit, &n);
          filter.limit = std::min<uint64_t>(n, Service::kMaxSubjectsPerCall);
        }
        if (!parsed.ok()) return ReplyError(call, parsed);
        return OffLoop(call, kNdjson,
                       [svc, caller, reg, filter, as_of = call.Query("as_of"),
                        purpose = call.Query("purpose")] {
                         Answer a;
                         a.status = svc->ListSubjects(caller, reg, filter, as_of, purpose, &a.body);
                         return a;
                       });
      }
      case RouteId::kAudience:
        return OffLoop(call, kNdjson, [svc, caller, as_of = call.Query("as_of")] {
          Answer a;
          a.status = svc->MarketingAudience(caller, as_of, &a.body);
          return a;
        });
      case RouteId::kExport:
      case RouteId::kErase: {
        const bool erase = call.route->id == RouteId::kErase;
        return OffLoop(call, kJson, [svc, caller, param, erase, req = call.Query("request")] {
          Answer a;
          a.status = erase ? svc->Erase(caller, param, req, &a.body)
                           : svc->Export(caller, param, req, &a.body);
          return a;
        });
      }
      case RouteId::kBackup:
        return OffLoop(call, kJson, [svc, caller] {
          Answer a;
          a.status = svc->Backup(caller, &a.body);
          return a;
        });
      case RouteId::kListRequests:
        return OffLoop(call, kNdjson, [svc, caller] {
          Answer a;
          a.status = svc->ListRequests(caller, &a.body);
          return a;
        });
      case RouteId::kDeletionReport:
        return OffLoop(call, kJson, [svc, caller, param] {
          Answer a;
          uint64_t seq = 0;
          a.status = ParseU64("seq", param, &seq);
          if (a.status.ok()) a.status = svc->DeletionReport(caller, seq, &a.body);
          return a;
        });
      case RouteId::kCheckpoint:
        return OffLoop(call, kText, [svc, caller] {
          Answer a;
          a.status = svc->Checkpoint(caller, &a.body);
          return a;
        });
      case RouteId::kInclusion:
        return OffLoop(call, kJson, [svc, caller, param, size_text = call.Query("size")] {
          Answer a;
          uint64_t seq = 0, size = 0;
          a.status = ParseU64("seq", param, &seq);
          if (a.status.ok() && !size_text.empty()) a.status = ParseU64("size", size_text, &size);
          if (a.status.ok()) a.status = svc->InclusionProof(caller, seq, size, &a.body);
          return a;
        });
      case RouteId::kConsistency:
        return OffLoop(call, kJson,
                       [svc, caller, first_text = call.Query("first"),
                        second_text = call.Query("second")] {
                         Answer a;
                         uint64_t first = 0, second = 0;
                         a.status = ParseU64("first", first_text, &first);
                         if (a.status.ok()) a.status = ParseU64("second", second_text, &second);
                         if (a.status.ok()) {
                           a.status = svc->ConsistencyProof(caller, first, second, &a.body);
                         }
                         return a;
                       });
      case RouteId::kEvents:
        return OffLoop(call, kNdjson,
                       [svc, caller, max_events, from_text = call.Query("from"),
                        limit_text = call.Query("limit")] {
                         Answer a;
                         uint64_t from = 0, limit = max_events, next = 0;
                         if (!from_text.empty()) a.status = ParseU64("from", from_text, &from);
                         if (a.status.ok() && !limit_text.empty()) {
                           a.status = ParseU64("limit", limit_text, &limit);
                         }
                         if (a.status.ok()) {
                           a.status = svc->Envelopes(caller, from,
                                                     std::min<uint64_t>(limit, max_events),
                                                     &a.body, &next);
                         }
                         return a;
                       });
      case RouteId::kAccessLog:
        return OffLoop(call, kNdjson, [svc, caller, param] {
          Answer a;
          a.status = svc->AccessLog(caller, param, &a.body);
          return a;
        });
      case RouteId::kListTokens:
        return OffLoop(call, kNdjson, [svc, caller] {
          Answer a;
          a.status = svc->ListTokens(caller, &a.body);
          return a;
        });
      case RouteId::kRevokeToken:
        // By id only: a token in a URL would end up in logs.
        return OffLoop(call, kJson, [svc, caller, param] {
          Answer a;
          a.status = param.starts_with("kjr_")
                         ? Status::InvalidArgument(
                               "revoke by the token's id (GET /v1/tokens), never the token")
                         : svc->RevokeToken(caller, param, &a.body);
          return a;
        });
      case RouteId::kChanges: return Changes(call);
      default: break;
    }
    KJ_FAIL_ASSERT("route without a handler", call.route->pattern.data());
  }

  kj::Promise<void> Changes(Call& call) {
    Status s = service.Authorize(call.caller, Action::kEnvelopes);
    if (!s.ok() && service.Authorize(call.caller, Action::kQuery).ok()) s = Status::Ok();
    uint64_t from = 0;
    if (s.ok() && !call.Query("from").empty()) s = ParseU64("from", call.Query("from"), &from);
    if (!s.ok()) return ReplyError(call, s);
    // Counted when the stream starts: its duration is the client's, not ours.
    service.CountRequest("http", call.RouteName(), 200, Seconds(call));
    kj::HttpHeaders headers(*table);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, kNdjson);
    kj::Own<kj::AsyncOutputStream> stream = call.response.send(200, "OK", headers);
    kj::AsyncOutputStream& out = *stream;
    // The token is checked again before each delivery: revoking it ends the stream.
    auto deliver = [this, &out, token = BearerToken(call.headers.get(authorization))](
                       uint64_t from, uint64_t to) -> kj::Promise<void> {
      Caller still;
      if (!service.Authenticate(token, "http", &still).ok()) {
        return KJ_EXCEPTION(DISCONNECTED, "change feed: the token was revoked");
      }
      if (from == to) return out.write("\n", 1);  // a keep-alive: an empty line
      auto lines = kj::heap<std::string>();
      uint64_t next = 0;
      Status s = service.ReadEnvelopes(
          from, to - from,
          [&](const EventView& e) { *lines += EnvelopeJson(e, /*with_leaf=*/false) + "\n"; },
          &next);
      if (!s.ok() || next != to) {
        // The client cannot be told in-band: end the stream, it reconnects from its last seq.
        spdlog::error("change feed: events {}..{} not read: {}", from, to, s.ToString());
        return KJ_EXCEPTION(FAILED, "change feed read failed");
      }
      auto write = out.write(lines->data(), lines->size());
      return write.attach(kj::mv(lines));
    };
    return feed.Subscribe(from, kj::mv(deliver)).attach(kj::mv(stream));
  }

  // kj::HttpServerErrorHandler: JSON bodies for what never reached request().
  kj::Promise<void> handleClientProtocolError(kj::HttpHeaders::ProtocolError error,
                                              kj::HttpService::Response& response) override {
    kj::HttpHeaders headers(*table);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, kJson);
    const int code = static_cast<int>(error.statusCode);
    std::string body = JsonWriter()
                           .String("error", std::string("malformed HTTP request: ") +
                                                error.description.cStr())
                           .Number("code", code)
                           .Finish() +
                       "\n";
    service.CountRequest("http", "unparsed", code, 0);
    auto stream = response.send(error.statusCode, error.statusMessage, headers, body.size());
    auto text = kj::heapString(body.data(), body.size());
    auto write = stream->write(text.begin(), text.size());
    return write.attach(kj::mv(stream), kj::mv(text));
  }

  kj::Promise<void> handleApplicationError(
      kj::Exception exception, kj::Maybe<kj::HttpService::Response&> response) override {
    if (exception.getType() == kj::Exception::Type::DISCONNECTED) return kj::READY_NOW;
    spdlog::error("http: request failed: {}", exception.getDescription().cStr());
    KJ_IF_MAYBE(r, response) {
      kj::HttpHeaders headers(*table);
      headers.set(kj::HttpHeaderId::CONTENT_TYPE, kJson);
      std::string body =
          ErrorJson(Status::IOError("internal error; the server's log says more")) + "\n";
      auto stream = r->send(500, "Internal Server Error", headers, body.size());
      auto text = kj::heapString(body.data(), body.size());
      auto write = stream->write(text.begin(), text.size());
      return write.attach(kj::mv(stream), kj::mv(text));
    }
    return kj::READY_NOW;
  }
};

HttpFront::HttpFront(Service& service, ChangeFeed& feed, kj::Timer& timer,
                     HttpFrontOptions options)
    : impl_(kj::heap<Impl>(service, feed, timer, options)) {
  kj::HttpHeaderTable::Builder builder;
  impl_->authorization = builder.add("Authorization");
  impl_->www_authenticate = builder.add("WWW-Authenticate");
  impl_->allow = builder.add("Allow");
  table_ = builder.build();
  impl_->table = table_.get();
}

HttpFront::~HttpFront() noexcept(false) = default;

kj::HttpServerErrorHandler& HttpFront::error_handler() { return *impl_; }

void HttpFront::StopWorkers() { impl_->workers.Stop(); }

kj::Promise<void> HttpFront::request(kj::HttpMethod method, kj::StringPtr url,
                                     const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                                     Response& response) {
  auto call = kj::heap<Impl::Call>(response, headers, body);
  Impl::Call& ref = *call;
  return kj::evalNow([&] { return impl_->Handle(method, url, ref); }).attach(kj::mv(call));
}

}  // namespace kirjuri::service
