#include "serve_commands.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "kirjuri/json.h"
#include "kirjuri/time.h"
#include "remote.h"
#include "service/rpc_front.h"
#include "service/server.h"
#include "service/service.h"

namespace kirjuri::cli {
namespace {

struct ServeArgs {
  service::ServeOptions options;
  std::string backup_dir;
};

struct TokenArgs {
  std::string actor, role, token;
};

int RunServe(const Globals& g, const ServeArgs& a) {
  // Before RocksDB and the Service start threads: Serve takes SIGTERM/SIGINT on its loop.
  service::BlockShutdownSignals();
  // Listening addresses and shutdown are worth seeing unless the operator chose a level.
  if (g.log_level.empty() && !std::getenv("KIRJURI_LOG_LEVEL") && !std::getenv("SPDLOG_LEVEL")) {
    spdlog::set_level(spdlog::level::info);
  }
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  service::ServiceOptions service_options;
  service_options.backup_dir = a.backup_dir;
  if (!a.backup_dir.empty() && !std::filesystem::is_directory(a.backup_dir)) {
    return Fail(Status::InvalidArgument("--backup-dir " + a.backup_dir + " is not a directory"));
  }
  service::Service svc(*ledger, *views, service_options);
  Status s = service::Serve(svc, a.options);
  svc.Shutdown();
  return s.ok() ? 0 : Fail(s);
}

int RunTokenIssue(const Globals& g, const TokenArgs& a) {
  if (!g.server.empty()) return remote::TokenIssue(g, a.actor, a.role);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::string token, id;
  if (Status s = ledger->IssueToken(a.actor, a.role, LocalActor(g), &token, &id); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .String("token", token)
                            .String("id", id)
                            .String("actor", a.actor)
                            .String("role", a.role)
                            .Finish()
                            .c_str());
  } else {
    std::printf("%s\n", token.c_str());
  }
  return 0;
}

int RunTokenList(const Globals& g) {
  if (!g.server.empty()) return remote::TokenList(g);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::vector<TokenRecord> all;
  if (Status s = ledger->ListTokens(&all); !s.ok()) return Fail(s);
  if (!g.json) std::printf("%-16s  %-20s  %-12s  %s\n", "ID", "ISSUED", "ROLE", "ACTOR");
  for (const TokenRecord& r : all) {
    if (g.json) {
      std::printf("%s\n", service::Service::TokenJson(r).c_str());
    } else {
      std::printf("%-16s  %-20s  %-12s  %s\n", r.id.c_str(),
                  (FormatRfc3339(r.info.issued_at_micros).substr(0, 19) + "Z").c_str(),
                  r.info.role.c_str(), r.info.actor.c_str());
    }
  }
  return 0;
}

int RunTokenRevoke(const Globals& g, const TokenArgs& a) {
  if (!g.server.empty()) return remote::TokenRevoke(g, a.token);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  TokenRecord revoked;
  if (Status s = ledger->RevokeToken(a.token, LocalActor(g), &revoked); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", service::Service::TokenJson(revoked).c_str());
  } else {
    std::printf("revoked %s (%s, %s)\n", revoked.id.c_str(), revoked.info.role.c_str(),
                revoked.info.actor.c_str());
  }
  return 0;
}

}  // namespace

void AddServeCommands(CLI::App& app, Globals& g, int& rc) {
  static ServeArgs serve_args;
  serve_args.options.rpc_bootstrap = service::MakeRpcBootstrap;
  auto* serve = app.add_subcommand(
      "serve", "serve HTTP/JSON and Cap'n Proto RPC over --data until SIGTERM or SIGINT");
  serve->add_option("--http", serve_args.options.http, "HOST:PORT for HTTP (port 0: any; \"\": none)")
      ->capture_default_str();
  serve->add_option("--rpc", serve_args.options.rpc, "HOST:PORT for RPC (port 0: any; \"\": none)")
      ->capture_default_str();
  serve->add_option("--port-file", serve_args.options.port_file,
                    "write {\"http\":P,\"rpc\":P} here once listening");
  serve->add_option("--max-body", serve_args.options.max_body_bytes,
                    "largest request body in bytes (larger: 413)")
      ->capture_default_str()
      ->transform(Decimal());
  serve->add_option("--backup-dir", serve_args.backup_dir,
                    "where the dpo's backups (POST /v1/backups) are written; none if not given");
  serve->add_option("--feed-keepalive", serve_args.options.feed_keepalive_seconds,
                    "seconds of nothing new before a change feed gets a keep-alive (0: none)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  serve->callback([&] { rc = RunServe(g, serve_args); });

  static TokenArgs token_args;
  auto* token = app.add_subcommand("token", "bearer tokens for `kirjuri serve` (stored hashed)");
  token->require_subcommand(1);
  auto* issue = token->add_subcommand("issue", "print a new token for an actor in a policy role");
  issue->add_option("--actor", token_args.actor, "who the token is for (an id)")->required();
  issue->add_option("--role", token_args.role, "dpo, staff, marketing, auditor, service, ...")
      ->required();
  issue->callback([&] { rc = RunTokenIssue(g, token_args); });
  auto* list = token->add_subcommand("list", "list live tokens: id, issued, role, actor (never the token)");
  list->callback([&] { rc = RunTokenList(g); });
  auto* revoke = token->add_subcommand("revoke", "revoke a token, named by itself or by its id");
  revoke->add_option("token", token_args.token, "the token, or its id from `token list`")->required();
  revoke->callback([&] { rc = RunTokenRevoke(g, token_args); });
}

}  // namespace kirjuri::cli
