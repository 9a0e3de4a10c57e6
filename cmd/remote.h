// The client side of `--server HOST:PORT --token T`: subcommands that run against a
// `kirjuri serve` over Cap'n Proto RPC (schemas/service.capnp) instead of the local --data.
// Each prints what its local form prints with --json, and returns the exit code (errors as
// cli::Fail: one line, non-zero; 401/403 are refused input).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli.h"

namespace kirjuri::cli::remote {

int Append(const Globals& g, const std::string& text);
// what: "customer"|"partner" with a subject, or "customers"|"partners" (every page, `filter`'s
// city, organisation and erased) or "marketing-audience".
int Query(const Globals& g, const std::string& what, const std::string& subject,
          const std::string& as_of, const ViewFilter& filter);
int Checkpoint(const Globals& g);
int Backup(const Globals& g);
int ProveInclusion(const Globals& g, uint64_t seq, uint64_t size);
int Export(const Globals& g, const std::string& subject);
int Erase(const Globals& g, const std::string& subject, const std::string& request);
// People's requests on the server (the "requests" action): one opened as received now, by the
// token's actor; every request (or the overdue ones, as the server judges them now).
int RequestOpen(const Globals& g, const std::string& subject, const std::string& kind,
                const std::string& ref);
int RequestList(const Globals& g, bool overdue);
// An open request's deadline extended, or the request refused, by the token's actor.
int RequestExtend(const Globals& g, const std::string& ref, unsigned months,
                  const std::string& reason);
int RequestRefuse(const Globals& g, const std::string& ref, const std::string& reason);
// An open request fulfilled by the token's actor, as `request close` does locally: an access
// request by the export (printed: the document for the person), an erasure request by the
// erasure (printed: its deletion report), the others by the server (`data`: a rectification's
// corrected profile values, a JSON object).
int RequestClose(const Globals& g, const std::string& ref, const std::string& data);
// Envelopes from `from` to `to` (inclusive; else the end); with a subject, that person's access
// log within the same bounds. `access` without a subject is refused: the service lists reads
// one person at a time.
int Log(const Globals& g, uint64_t from, std::optional<uint64_t> to, const std::string& subject,
        bool access);
// Bearer tokens on the server (the "tokens" action): issue, list, revoke by token or id.
int TokenIssue(const Globals& g, const std::string& actor, const std::string& role);
int TokenList(const Globals& g);
int TokenRevoke(const Globals& g, const std::string& token_or_id);

}  // namespace kirjuri::cli::remote
