@0xd5fc9a6890362c98;
# The Cap'n Proto RPC interface of `kirjuri serve` (cmd/service/rpc_front.h).
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kirjuri::schema");
