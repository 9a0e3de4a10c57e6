#include "service/server.h"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/compat/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kirjuri/json.h"
#include "service/change_feed.h"
#include "service/http_front.h"

namespace kirjuri::service {
namespace {

// Slow or silent clients hold a connection only this long; a body has body_timeout.
constexpr auto kHeaderTimeout = 15 * kj::SECONDS;
constexpr auto kPipelineTimeout = 10 * kj::SECONDS;
// How long shutdown waits for requests in flight (appends awaiting their commit, bodies being
// received) before it drops their connections. Queued appends are written either way.
constexpr auto kDrainTimeout = 10 * kj::SECONDS;

struct Listening {
  kj::Own<kj::ConnectionReceiver> receiver;
  std::string address;  // as bound, e.g. "127.0.0.1:41234"
};

// TCP keep-alive probes on every connection: a client whose host vanished (no FIN ever comes)
// is dropped after about kKeepIdle + kKeepCount * kKeepInterval of silence, instead of holding
// its connection (and its change-feed subscription) for good. Set on the listening socket,
// which Linux hands down to each accepted one.
constexpr int kKeepIdle = 60, kKeepInterval = 10, kKeepCount = 6;  // seconds, seconds, probes

Status Listen(kj::AsyncIoContext& io, const std::string& address, Listening* out) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    auto addr = io.provider->getNetwork().parseAddress(address).wait(io.waitScope);
    out->receiver = addr->listen();
    out->address = kj::str(addr->toString()).cStr();
    const int on = 1;
    out->receiver->setsockopt(SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    out->receiver->setsockopt(IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdle, sizeof kKeepIdle);
    out->receiver->setsockopt(IPPROTO_TCP, TCP_KEEPINTVL, &kKeepInterval, sizeof kKeepInterval);
    out->receiver->setsockopt(IPPROTO_TCP, TCP_KEEPCNT, &kKeepCount, sizeof kKeepCount);
  });
  KJ_IF_MAYBE(e, error) {
    return Status::IOError("cannot listen on " + address + ": " + e->getDescription().cStr());
  }
  // The bound port (port 0 picks one): the receiver knows it, the address as given does not.
  const auto colon = out->address.rfind(':');
  out->address = out->address.substr(0, colon) + ":" + std::to_string(out->receiver->getPort());
  return Status::Ok();
}

// Written to a temporary file and renamed, so that a reader never sees half of it.
Status WritePortFile(const std::string& path, unsigned http, unsigned rpc) {
  JsonWriter w;
  if (http) w.Number("http", http);
  if (rpc) w.Number("rpc", rpc);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << w.Finish() << "\n";
    if (!out.flush()) return Status::IOError("cannot write the port file " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename the port file to " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Status Serve(Service& service, const ServeOptions& options) {
  // A client that vanishes mid-answer must not kill the server.
  ::signal(SIGPIPE, SIG_IGN);
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Timer& timer = io.provider->getTimer();

  ChangeFeed feed(service, timer,
                  static_cast<int64_t>(options.feed_keepalive_seconds * 1e3) * kj::MILLISECONDS);
  service.SetOnCommit([&feed] { feed.Wake(); });

  HttpFrontOptions front_options;
  front_options.max_body_bytes = options.max_body_bytes;
  HttpFront front(service, feed, timer, front_options);
  kj::HttpServerSettings settings;
  settings.headerTimeout = kHeaderTimeout;
  settings.pipelineTimeout = kPipelineTimeout;
  settings.errorHandler = front.error_handler();
  kj::HttpServer http_server(timer, front.header_table(), front, settings);
  kj::Maybe<kj::Own<capnp::TwoPartyServer>> rpc_server;

  Listening http, rpc;
  Status status;
  if (!options.http.empty()) status = Listen(io, options.http, &http);
  if (status.ok() && !options.rpc.empty()) {
    if (options.rpc_bootstrap) {
      status = Listen(io, options.rpc, &rpc);
      if (status.ok()) rpc_server = kj::heap<capnp::TwoPartyServer>(options.rpc_bootstrap(service, feed));
    } else {
      spdlog::warn("this build has no RPC front; not listening on {}", options.rpc);
    }
  }
  if (status.ok() && !http.receiver && !rpc.receiver) {
    status = Status::InvalidArgument("nothing to serve: give --http or --rpc");
  }
  if (!status.ok()) {
    service.SetOnCommit(nullptr);
    return status;
  }

  auto log_error = [](const char* what) {
    return [what](kj::Exception&& e) {
      spdlog::error("{}: {}", what, e.getDescription().cStr());
    };
  };
  kj::Promise<void> http_task = nullptr, rpc_task = nullptr;
  if (http.receiver) {
    http_task = http_server.listenHttp(*http.receiver).eagerlyEvaluate(log_error("http listener"));
    spdlog::info("serving HTTP on {}", http.address);
  }
  KJ_IF_MAYBE(server, rpc_server) {
    rpc_task = (*server)->listen(*rpc.receiver).eagerlyEvaluate(log_error("rpc listener"));
    spdlog::info("serving Cap'n Proto RPC on {}", rpc.address);
  }
  if (!options.port_file.empty()) {
    status = WritePortFile(options.port_file, http.receiver ? http.receiver->getPort() : 0,
                           rpc.receiver ? rpc.receiver->getPort() : 0);
  }

  if (status.ok()) {
    auto term = io.unixEventPort.onSignal(SIGTERM).then([](siginfo_t) { return SIGTERM; });
    auto intr = io.unixEventPort.onSignal(SIGINT).then([](siginfo_t) { return SIGINT; });
    const int sig = term.exclusiveJoin(kj::mv(intr)).wait(io.waitScope);
    spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  }

  // Stop accepting, end the change feeds (they never end by themselves), let requests in
  // flight finish — an append is answered once durable — then write what is still queued.
  http_task = nullptr;
  rpc_task = nullptr;
  http.receiver = nullptr;
  rpc.receiver = nullptr;
  feed.Close();
  bool drained = timer.timeoutAfter(kDrainTimeout, http_server.drain().then([] { return true; }))
                     .catch_([](kj::Exception&&) { return false; })
                     .wait(io.waitScope);
  if (!drained) spdlog::warn("requests still in flight after the drain timeout were dropped");
  rpc_server = nullptr;
  front.StopWorkers();  // reads still running finish, and log their accesses below
  service.Shutdown();
  service.SetOnCommit(nullptr);  // every writer thread has stopped
  spdlog::info("shut down: {} events in the log", service.size());
  return status;
}

}  // namespace kirjuri::service
