// Serve: runs `kirjuri serve` — one KJ event loop serving HTTP/JSON (http_front.h) and Cap'n
// Proto RPC (rpc_front.h) over one Service — until SIGTERM or SIGINT, then shuts down cleanly:
// stops accepting, lets every acknowledged append finish (Service::Shutdown), closes the feed.
#pragma once

#include <capnp/capability.h>

#include <functional>
#include <string>

#include "kirjuri/status.h"
#include "service/change_feed.h"
#include "service/service.h"

namespace kirjuri::service {

struct ServeOptions {
  std::string http = "127.0.0.1:8380";  // HOST:PORT; port 0 picks a free one; "" = no HTTP
  std::string rpc = "127.0.0.1:8381";   // HOST:PORT; port 0 picks a free one; "" = no RPC
  // Once listening, the ports are written here as {"http":P,"rpc":P} (atomically), so that
  // tests and scripts can use port 0.
  std::string port_file;
  size_t max_body_bytes = 16u << 20;  // larger request bodies get 413
  // A change feed with nothing to deliver for this long gets a keep-alive (change_feed.h): an
  // empty line on HTTP; the caller's token is checked again. 0: none.
  double feed_keepalive_seconds = 15;
  // Makes the RPC front's bootstrap capability (rpc_front.h: MakeRpcBootstrap), called once on
  // the loop thread. Null: no RPC listener, whatever `rpc` says (a warning is logged). A
  // function rather than a direct call so that the HTTP front builds without the RPC front.
  std::function<capnp::Capability::Client(Service&, ChangeFeed&)> rpc_bootstrap;
};

// Blocks SIGTERM and SIGINT in the calling thread, and so in every thread it starts afterwards.
// Serve receives them through the event loop (kj::UnixEventPort), which requires them blocked in
// every thread of the process: call this first in main or the command, before opening the
// ledger (RocksDB starts threads) and constructing the Service (which starts its own).
void BlockShutdownSignals();

// Blocks until SIGTERM or SIGINT, then shuts down cleanly: stops accepting, ends the change
// feeds, waits (up to 10 s) for requests in flight — every append is answered once durable —,
// calls service.Shutdown() and returns OK. IOError if an address cannot be bound or the port
// file written; InvalidArgument if there is nothing to serve.
// REQUIRES: BlockShutdownSignals() was called before any other thread was started; the
// Service is not serving another loop; one Serve per process at a time.
Status Serve(Service& service, const ServeOptions& options);

}  // namespace kirjuri::service
