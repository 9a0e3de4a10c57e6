// The Cap'n Proto RPC front of `kirjuri serve` (schemas/service.capnp): the bootstrap
// capability a TwoPartyServer hands each connection. A client logs in with its bearer token and
// gets a Session whose methods are the Service's, under the token's role.
#pragma once

#include <capnp/capability.h>

#include "service/change_feed.h"
#include "service/service.h"

namespace kirjuri::service {

// The bootstrap capability. `service` and `feed` outlive every connection (loop thread).
capnp::Capability::Client MakeRpcBootstrap(Service& service, ChangeFeed& feed);

}  // namespace kirjuri::service
