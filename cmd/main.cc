// kirjuri: the command line. Parsing (CLI11), printing and wiring only; the work is in the
// libraries. The contract of every subcommand is in the README's tour.
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "audit_commands.h"
#include "cli.h"
#include "demo.h"
#include "document_commands.h"
#include "subject_commands.h"
#include "remote.h"
#include "request_commands.h"
#include "serve_commands.h"
#include "view_commands.h"
#include "kirjuri/event_json.h"
#include "kirjuri/json.h"
#include "kirjuri/ledger.h"
#include "kirjuri/note.h"
#include "kirjuri/time.h"

namespace kirjuri::cli {
namespace {

int RunInit(const Globals& g, const std::string& policy_file, const std::string& origin) {
  if (!g.server.empty()) {
    return Fail(Status::InvalidArgument("init does not run over --server"));
  }
  InitOptions options;
  options.origin = origin;
  options.master_key_file = g.master_key;
  const std::filesystem::path master =
      g.master_key.empty() ? DefaultMasterKeyPath(g.data) : std::filesystem::path(g.master_key);
  const bool new_master = !std::filesystem::exists(master);
  if (!policy_file.empty()) {
    std::ifstream in(policy_file);
    if (!in) return Fail(Status::IOError("cannot read the policy file " + policy_file));
    options.policy_json.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (Status s = Ledger::Init(g.data, options); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::string vkey = NoteVerifierKey(ledger->origin(), ledger->public_key());
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .String("data", g.data)
                            .String("origin", ledger->origin())
                            .String("verifier_key", vkey)
                            .String("master_key", master.string())
                            .Bool("master_key_created", new_master)
                            .Finish()
                            .c_str());
  } else {
    std::printf("initialised a ledger in %s\norigin:       %s\nverifier key: %s\n",
                g.data.c_str(), ledger->origin().c_str(), vkey.c_str());
    std::printf("master key:   %s%s\n", master.string().c_str(),
                new_master ? " (created)" : " (existing)");
    std::printf("Keep the master key apart from backups of %s: whoever holds both can read\n"
                "all personal data, and destroying it after a key rotation makes old backups\n"
                "of the key store unreadable.\n",
                g.data.c_str());
  }
  return 0;
}

int RunAppend(const Globals& g, const std::string& file) {
  std::string text;
  if (file.empty() || file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(Status::IOError("cannot read " + file));
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (!g.server.empty()) return remote::Append(g, text);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::vector<NewEvent> events;
  if (Status s = ledger->ParseLines(text, &events); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  std::vector<Appended> appended;
  {
    Progress progress("appending");
    if (Status s = ledger->Append(events, &appended); !s.ok()) return Fail(s);
  }
  // Acknowledged as soon as durable; the views follow.
  for (const Appended& a : appended) {
    if (g.json) {
      std::printf("{\"seq\":%llu,\"subject\":\"%s\"}\n", static_cast<unsigned long long>(a.seq),
                  SubjectIdHex(a.subject).c_str());
    } else {
      std::printf("seq %llu  subject %s\n", static_cast<unsigned long long>(a.seq),
                  SubjectIdHex(a.subject).c_str());
    }
  }
  if (!g.json) std::printf("appended %zu events\n", appended.size());
  std::fflush(stdout);
  // The input and its events are done with: their memory goes to the views' fold (an import's
  // peak was both at once).
  std::string().swap(text);
  std::vector<NewEvent>().swap(events);
  CatchUpViews(*views);
  return 0;
}

// `access`: only dataAccessed events, as a table of who read what, when and why.
int RunLog(const Globals& g, uint64_t from, std::optional<uint64_t> to, const std::string& subject,
           bool access) {
  if (to && *to < from) {
    return Fail(Status::InvalidArgument("--from " + std::to_string(from) + " is after --to " +
                                        std::to_string(*to)));
  }
  if (!g.server.empty()) return remote::Log(g, from, to, subject, access);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  uint64_t end = to ? *to + 1 : ledger->size();
  if (access && !g.json) {
    std::printf("%6s  %-27s  %-20s %-9s %-4s %-18s %-21s %s\n", "SEQ", "TIME", "ACTOR", "ROLE",
                "VIA", "OPERATION", "PURPOSE", "CATEGORIES");
  }
  auto print = [&](const EventView& e) {
    if (e.seq < from || e.seq >= end) return Status::Ok();
    auto env = e.signed_event.getEvent().getEnvelope();
    if (access && env.getType() != schema::EventType::DATA_ACCESSED) return Status::Ok();
    if (access && !g.json) {
      auto a = e.signed_event.getEvent().getAccess();
      std::string categories;
      for (auto c : a.getCategories()) categories += (categories.empty() ? "" : ",") + std::string(c.cStr());
      std::printf("%6llu  %-27s  %-20s %-9s %-4s %-18s %-21s %s\n",
                  static_cast<unsigned long long>(e.seq),
                  FormatRfc3339(env.getRecordedAtMicros()).c_str(), env.getActor().cStr(),
                  a.getRole().cStr(), a.getVia().cStr(), a.getOperation().cStr(),
                  env.getPurpose().cStr(), categories.empty() ? "-" : categories.c_str());
      return Status::Ok();
    }
    if (g.json) {
      std::printf("%s\n", EnvelopeJson(e, /*with_leaf=*/true).c_str());
    } else {
      std::printf("%s\n", EnvelopeRow(e).c_str());
    }
    return Status::Ok();
  };
  Status s;
  if (!subject.empty()) {
    SubjectId id;
    if (s = ParseSubjectId(subject, &id); !s.ok()) return Fail(s);
    s = ledger->ReadSubjectEvents(id, print);
  } else {
    s = ledger->ReadEvents(from, end, print);
  }
  return s.ok() ? 0 : Fail(s);
}

// `verify --since FILE`: today's log extends the checkpoint an auditor kept.
int RunVerifySince(const Globals& g, Ledger& ledger, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(Status::IOError("cannot read " + file));
  std::string note((std::istreambuf_iterator<char>(in)), {});
  ExtendsResult r;
  if (Status s = ledger.CheckExtends(note, &r); !s.ok()) {
    return Fail(s.Prefixed("the log does not extend " + file));
  }
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .Bool("ok", true)
                            .Number("old_size", r.old_size)
                            .Number("new_size", r.new_size)
                            .String("old_root", HexEncode(r.old_root))
                            .String("new_root", HexEncode(r.new_root))
                            .Number("proof_hashes", r.proof.size())
                            .Finish()
                            .c_str());
  } else {
    std::printf("ok: the log of %llu events extends the checkpoint of %llu events in %s "
                "(consistency proof of %zu hashes verified)\n",
                static_cast<unsigned long long>(r.new_size),
                static_cast<unsigned long long>(r.old_size), file.c_str(), r.proof.size());
  }
  return 0;
}

int RunVerify(const Globals& g, bool tree_only, const std::string& since) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger, /*check_on_open=*/false); !s.ok()) return Fail(s);
  if (!since.empty()) return RunVerifySince(g, *ledger, since);
  Progress progress(tree_only ? "verifying the tree" : "verifying");
  VerifyOptions options;
  options.tree_only = tree_only;
  options.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  VerifyResult result;
  Status s = ledger->Verify(options, &result);
  if (g.json) {
    JsonWriter w;
    w.Bool("ok", s.ok()).Number("events", result.events).Number("checkpoints", result.checkpoints);
    if (s.ok()) w.String("root", HexEncode(result.root));
    if (!s.ok()) w.String("error", s.message());
    if (result.first_bad_seq) w.Number("first_bad_seq", *result.first_bad_seq);
    w.Bool("signatures_checked", !tree_only);
    std::printf("%s\n", w.Finish().c_str());
    return s.ok() ? 0 : 1;
  }
  if (!s.ok()) return Fail(s.Prefixed("verification failed"));
  std::printf("ok: %llu events, %llu checkpoints, %s; root %s\n",
              static_cast<unsigned long long>(result.events),
              static_cast<unsigned long long>(result.checkpoints),
              tree_only ? "tree only (signatures not checked)" : "all signatures valid",
              HexEncode(result.root).c_str());
  return 0;
}

int RunCheckpoint(const Globals& g) {
  if (!g.server.empty()) return remote::Checkpoint(g);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::string note;
  if (Status s = ledger->LatestCheckpoint(&note); !s.ok()) return Fail(s);
  return PrintCheckpoint(g, note);
}

int RunProveInclusion(const Globals& g, uint64_t seq, uint64_t size) {
  if (!g.server.empty()) return remote::ProveInclusion(g, seq, size);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  InclusionProofResult p;
  if (Status s = ledger->ProveInclusion(seq, size, &p); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", InclusionProofJson(p).c_str());
    return 0;
  }
  TlogProof proof;
  proof.index = p.index;
  proof.hashes = p.hashes;
  if (Status s = ledger->CheckpointAt(p.tree_size, &proof.checkpoint_note); !s.ok()) return Fail(s);
  std::string text = FormatTlogProof(proof);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int RunProveConsistency(const Globals& g, uint64_t first, uint64_t second) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  ConsistencyProofResult p;
  if (Status s = ledger->ProveConsistency(first, second, &p); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", ConsistencyProofJson(p).c_str());
    return 0;
  }
  // Same shape as a C2SP tlog-proof (which covers only inclusion): header, sizes, hashes, blank
  // line, the signed checkpoint of the newer tree. See schemas/FORMATS.md.
  std::string note;
  if (Status s = ledger->CheckpointAt(p.second, &note); !s.ok()) return Fail(s);
  std::string text = "kirjuri.local/consistency-proof@v1\nold " + std::to_string(p.first) +
                     "\nnew " + std::to_string(p.second) + "\n";
  for (const auto& h : p.hashes) text += Base64Encode(h) + "\n";
  text += "\n" + note;
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int RunPubkey(const Globals& g, bool note) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  if (note) {
    std::printf("%s\n", NoteVerifierKey(ledger->origin(), ledger->public_key()).c_str());
  } else {
    std::fputs(PublicKeyPem(ledger->public_key()).c_str(), stdout);
  }
  return 0;
}

void SetUpLogging(const Globals& g) {
  auto logger = spdlog::stderr_color_mt("kirjuri");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=info, ...
  if (const char* env = std::getenv("KIRJURI_LOG_LEVEL")) {
    spdlog::set_level(spdlog::level::from_str(env));
  }
  if (!g.log_level.empty()) spdlog::set_level(spdlog::level::from_str(g.log_level));
}

}  // namespace
}  // namespace kirjuri::cli

int main(int argc, char** argv) {
  using namespace kirjuri::cli;
  Globals g;
  if (argc > 0) g.program = argv[0];
  CLI::App app{"kirjuri: a signed, verifiable audit ledger for GDPR personal-data registers"};
  app.require_subcommand(1);
  // Global options (--data, --json, ...) may also follow the subcommand: `kirjuri log --json`.
  app.fallthrough();
  app.set_version_flag("--version", "kirjuri 0.1.0");
  app.add_option("--data", g.data, "ledger directory")->capture_default_str();
  app.add_flag("--json", g.json, "machine-readable JSON output");
  app.add_option("--master-key", g.master_key,
                 "master key file (or KIRJURI_MASTER_KEY_FILE; default: beside --data)");
  app.add_option("--log-level", g.log_level,
                 "trace|debug|info|warn|error|off (or KIRJURI_LOG_LEVEL)");
  app.add_option("--server", g.server,
                 "HOST:PORT of a `kirjuri serve` RPC endpoint: run there instead of on --data");
  app.add_option("--token", g.token, "bearer token for --server (or KIRJURI_TOKEN)");
  app.add_option("--actor", g.actor,
                 "who you are, for the access log of local reads (or KIRJURI_ACTOR)");

  int rc = 0;
  std::string policy_file, origin;
  auto* init = app.add_subcommand("init", "create a new ledger: keys, policy, empty log");
  init->add_option("--policy", policy_file, "register policy JSON (default: the shipped Almerin policy)");
  init->add_option("--origin", origin, "checkpoint origin / note key name");
  init->callback([&] { rc = RunInit(g, policy_file, origin); });

  std::string file;
  auto* append = app.add_subcommand("append", "append JSON lines of register changes atomically");
  append->add_option("file", file, "input file, or - for standard input (default)");
  append->callback([&] { rc = RunAppend(g, file); });

  uint64_t from = 0;
  std::optional<uint64_t> to;
  std::string subject;
  auto* log = app.add_subcommand("log", "list events (envelopes; with --json also the leaf bytes)");
  log->add_option("--from", from, "first sequence number")->transform(Decimal());
  log->add_option("--to", to, "last sequence number (inclusive)")->transform(Decimal());
  log->add_option("--subject", subject, "only this subject's events");
  bool access_only = false;
  log->add_flag("--access", access_only,
                "only reads of personal data (the access log): who, when, why, which categories");
  log->callback([&] { rc = RunLog(g, from, to, subject, access_only); });

  bool tree_only = false;
  std::string since;
  auto* verify = app.add_subcommand("verify", "check signatures, tree, checkpoints; name the first bad seq");
  verify->add_flag("--tree-only", tree_only, "re-hash and check the tree and checkpoints, skip event signatures");
  verify->add_option("--since", since,
                     "instead: prove the log extends this checkpoint (kept from the last audit)");
  verify->callback([&] { rc = RunVerify(g, tree_only, since); });

  auto* checkpoint = app.add_subcommand("checkpoint", "print the latest signed checkpoint (C2SP note)");
  checkpoint->callback([&] { rc = RunCheckpoint(g); });

  auto* prove = app.add_subcommand("prove", "RFC 9162 proofs");
  prove->require_subcommand(1);
  uint64_t seq = 0, size = 0, old_size = 0, new_size = 0;
  auto* inclusion = prove->add_subcommand("inclusion", "inclusion proof of an event");
  inclusion->add_option("seq", seq, "sequence number")->required()->transform(Decimal());
  inclusion->add_option("--size", size, "tree size (default: the whole log)")->transform(Decimal());
  inclusion->callback([&] { rc = RunProveInclusion(g, seq, size); });
  auto* consistency = prove->add_subcommand("consistency", "consistency proof between two sizes");
  consistency->add_option("old_size", old_size)->required()->transform(Decimal());
  consistency->add_option("new_size", new_size)->required()->transform(Decimal());
  consistency->callback([&] { rc = RunProveConsistency(g, old_size, new_size); });

  bool pem = false, note = false;
  auto* pubkey = app.add_subcommand("pubkey", "print the ledger's public key");
  auto* pem_flag = pubkey->add_flag("--pem", pem, "PEM SubjectPublicKeyInfo (default)");
  pubkey->add_flag("--note", note, "C2SP signed-note verifier key")->excludes(pem_flag);
  pubkey->callback([&] { rc = RunPubkey(g, note); });

  DemoOptions demo_options;
  auto* demo = app.add_subcommand("demo", "load a sample register into --data and walk through it");
  demo->add_option("--customers", demo_options.customers, "sample customers")
      ->capture_default_str()
      ->transform(Decimal());
  demo->add_option("--partners", demo_options.partners, "sample partners")
      ->capture_default_str()
      ->transform(Decimal());
  demo->add_option("--reports", demo_options.reports, "where to write the deletion report")
      ->capture_default_str();
  demo->callback([&] { rc = RunDemo(g, demo_options); });

  AddSubjectCommands(app, g, rc);
  AddViewCommands(app, g, rc);
  AddDocumentCommands(app, g, rc);
  AddRequestCommands(app, g, rc);
  AddServeCommands(app, g, rc);
  AddAuditCommands(app, g, rc);

  app.parse_complete_callback([&] {
    if (g.master_key.empty()) {
      if (const char* env = std::getenv("KIRJURI_MASTER_KEY_FILE")) g.master_key = env;
    }
    if (g.token.empty()) {
      if (const char* env = std::getenv("KIRJURI_TOKEN")) g.token = env;
    }
    if (g.actor.empty()) {
      if (const char* env = std::getenv("KIRJURI_ACTOR")) g.actor = env;
    }
    SetUpLogging(g);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "kirjuri: %s\n", e.what());
    return 2;
  }
  return rc;
}
