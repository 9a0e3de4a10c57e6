// Serve: runs `kirjuri serve` — one KJ event loop serving HTTP/JSON (http_front.h) and Cap'n
// Proto RPC (rpc_front.h) over one Service — until SIGTERM or SIGINT, then shuts down cleanly:
// stops accepting, lets every acknowledged append finish (Service::Shutdown), closes the feed.
#pragma once

#include <functional>
#include <string>

#include "kirjuri/status.h"
#include "service/service.h"

namespace kirjuri::service {

struct ServeOptions {
  std::string http = "127.0.0.1:8380";  // HOST:PORT; port 0 picks a free one; "" = no HTTP
  std::string rpc = "127.0.0.1:8381";   // HOST:PORT; port 0 picks a free one; "" = no RPC
  // Once listening, the ports are written here as {"http":P,"rpc":P} (atomically), so that
  // tests and scripts can use port 0.
  std::string port_file;
  size_t max_body_bytes = 16u << 20;  // larger request bodies get 413
};

// Blocks until a shutdown signal. IOError if an address cannot be bound.
Status Serve(Service& service, const ServeOptions& options);

}  // namespace kirjuri::service
