// The HTTP/JSON front of `kirjuri serve`: a kj::HttpService translating routes onto the Service
// (service.h), which enforces roles and writes the access log. The routes and their answers are
// listed in http_front.cc and in the README ("The service").
//
// Every answer is JSON (NDJSON for lists and streams, text for the checkpoint note and
// /metrics); every error is one line, service::ErrorJson, with the Service's HTTP status, and
// nothing is done on an error. Request bodies are read up to a limit (413 beyond it) and within
// a time limit (408), never buffered unbounded.
//
// Thread-safety: lives on the server's event loop thread and is called only there. The
// Service's calls run on the front's worker threads (appends on the group committer's); their
// answers come back to the loop through cross-thread fulfillers before anything is written to
// the client.
#pragma once

#include <kj/async.h>
#include <kj/compat/http.h>
#include <kj/timer.h>

#include <cstddef>

#include "service/change_feed.h"
#include "service/service.h"

namespace kirjuri::service {

struct HttpFrontOptions {
  size_t max_body_bytes = 16u << 20;           // larger bodies get 413
  kj::Duration body_timeout = 30 * kj::SECONDS;  // a body not received by then gets 408
  // GET /v1/events: the most envelopes per answer (the service's own cap is the upper bound)
  size_t max_events_per_read = Service::kMaxEnvelopesPerCall;
};

class HttpFront final : public kj::HttpService {
 public:
  // `service`, `feed` and `timer` must outlive the front and every request it serves.
  HttpFront(Service& service, ChangeFeed& feed, kj::Timer& timer, HttpFrontOptions options);
  ~HttpFront() noexcept(false);

  // The request headers the front reads; pass it to the kj::HttpServer.
  const kj::HttpHeaderTable& header_table() const { return *table_; }

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                            Response& response) override;

  // Waits for the Service calls already handed to the worker threads, then stops them.
  // REQUIRES: no request is served afterwards (the server has drained); called before
  // Service::Shutdown, so that the reads' access records are written.
  void StopWorkers();

  // Answers protocol errors (unparseable requests) and uncaught failures with a JSON error
  // body instead of KJ's text; give it to HttpServerSettings::errorHandler.
  kj::HttpServerErrorHandler& error_handler();

 private:
  struct Impl;
  kj::Own<Impl> impl_;
  kj::Own<kj::HttpHeaderTable> table_;
};

}  // namespace kirjuri::service
