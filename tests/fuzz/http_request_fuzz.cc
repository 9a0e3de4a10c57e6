// Fuzz target: raw bytes as the HTTP connection a client opens to `kirjuri serve`, served by
// the project's kj-http front (service/http_front.h) with a real Service on a scratch ledger,
// over an in-memory pipe on one KJ event loop. The server must answer or close, never crash;
// the client's side is closed after the bytes, and whatever is still open after a short while
// (a change feed streams for ever) is cancelled, as a client hanging up would.
//
// "@TOKEN@" in an input stands for a valid bearer token (role dpo), so that the fuzzer reaches
// past authentication; the seeds use it.
#include <kj/async-io.h>
#include <kj/compat/http.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_util.h"
#include "kirjuri/views.h"
#include "service/change_feed.h"
#include "service/http_front.h"
#include "service/service.h"

namespace {

using kirjuri::service::ChangeFeed;
using kirjuri::service::HttpFront;
using kirjuri::service::HttpFrontOptions;
using kirjuri::service::Service;

// How long one input's connection may stay open: everything but the change feed answers well
// within it (a synced append included).
constexpr kj::Duration kConnectionTime = 500 * kj::MILLISECONDS;

HttpFrontOptions FrontOptions() {
  HttpFrontOptions o;
  o.max_body_bytes = 64u << 10;
  o.body_timeout = 200 * kj::MILLISECONDS;
  o.max_events_per_read = 100;
  return o;
}

kj::HttpServerSettings ServerSettings(HttpFront& front) {
  kj::HttpServerSettings s;
  s.headerTimeout = 200 * kj::MILLISECONDS;
  s.pipelineTimeout = 200 * kj::MILLISECONDS;
  s.errorHandler = front.error_handler();
  return s;
}

// Never destroyed: libFuzzer may end the process from any point.
struct Server {
  kirjuri::Ledger& ledger = kirjuri::fuzz::SharedLedger();
  kj::AsyncIoContext io = kj::setupAsyncIo();
  std::unique_ptr<kirjuri::Views> views = OpenViews(ledger);
  Service service{ledger, *views};
  ChangeFeed feed{service};
  HttpFront front{service, feed, io.provider->getTimer(), FrontOptions()};
  kj::HttpServer http{io.provider->getTimer(), front.header_table(), front, ServerSettings(front)};
  std::string token = IssueToken(ledger);

  Server() {
    service.SetOnCommit([this] { feed.Wake(); });
  }

  static std::unique_ptr<kirjuri::Views> OpenViews(kirjuri::Ledger& ledger) {
    std::unique_ptr<kirjuri::Views> views;
    kirjuri::Status s =
        kirjuri::Views::Open(&ledger, kirjuri::fuzz::ScratchDir() / "data", nullptr, &views);
    if (!s.ok()) kirjuri::fuzz::Die("views", s);
    return views;
  }
  static std::string IssueToken(kirjuri::Ledger& ledger) {
    std::string token;
    kirjuri::Status s = ledger.IssueToken("emp-fuzz", "dpo", "fuzz", &token);
    if (!s.ok()) kirjuri::fuzz::Die("token", s);
    return token;
  }

  void Serve(const std::string& request) {
    auto pipe = kj::newTwoWayPipe();
    kj::Own<kj::AsyncIoStream> client = kj::mv(pipe.ends[1]);
    auto served = http.listenHttp(kj::mv(pipe.ends[0]))
                      .catch_([](kj::Exception&&) {})
                      .eagerlyEvaluate(nullptr);
    auto talk = client->write(request.data(), request.size())
                    .then([&client] {
                      client->shutdownWrite();
                      return client->readAllBytes(1u << 20);
                    })
                    .then([](kj::Array<kj::byte>) {});
    kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
      io.provider->getTimer()
          .timeoutAfter(kConnectionTime, talk.exclusiveJoin(kj::mv(served)))
          .catch_([](kj::Exception&&) {})
          .wait(io.waitScope);
    });
    (void)error;  // a protocol error or the time limit: the connection is dropped
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server* server = new Server;
  if (size > (64u << 10)) return -1;
  std::string request(reinterpret_cast<const char*>(data), size);
  for (size_t at = request.find("@TOKEN@"); at != std::string::npos;
       at = request.find("@TOKEN@", at)) {
    request.replace(at, 7, server->token);
    at += server->token.size();
  }
  server->Serve(request);
  return 0;
}
