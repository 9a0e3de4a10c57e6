#include "subject_commands.h"

#include <cstdio>
#include <limits>
#include <memory>
#include <optional>

#include "kirjuri/audit.h"
#include "kirjuri/deletion_report.h"
#include "kirjuri/json.h"
#include "kirjuri/subject_export.h"
#include "kirjuri/time.h"
#include "remote.h"
#include "service/service.h"

namespace kirjuri::cli {
namespace {

struct SubjectArgs {
  std::string subject, email, username, phone, request, actor, received, out, now, until, new_key;
  std::string pubkey;
  std::optional<uint64_t> seq;
};

int RunFind(const Globals& g, const SubjectArgs& a) {
  int given = !a.email.empty() + !a.username.empty() + !a.phone.empty();
  if (given != 1) return Fail(Status::InvalidArgument("give exactly one of --email, --username, --phone"));
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::vector<SubjectId> found;
  Status s = !a.email.empty()      ? ledger->Find(IndexKind::kEmail, a.email, &found)
             : !a.username.empty() ? ledger->Find(IndexKind::kUsername, a.username, &found)
                                   : ledger->Find(IndexKind::kPhone, a.phone, &found);
  if (!s.ok()) return Fail(s);
  std::vector<std::string> ids;
  for (const SubjectId& id : found) ids.push_back(SubjectIdHex(id));
  if (g.json) {
    std::printf("%s\n", JsonWriter().StringArray("subjects", ids).Finish().c_str());
  } else {
    for (const std::string& id : ids) std::printf("%s\n", id.c_str());
    if (ids.empty()) std::fprintf(stderr, "kirjuri: no subject found\n");
  }
  return ids.empty() ? 1 : 0;
}

int RunExport(const Globals& g, const SubjectArgs& a) {
  if (!g.server.empty()) return remote::Export(g, a.subject);
  SubjectId id;
  if (Status s = ParseSubjectId(a.subject, &id); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  SubjectExport doc;
  if (Status s = ExportSubject(*ledger, id, &doc); !s.ok()) return FailAsked(s);
  {
    AccessRecord read;
    read.subject = id;
    read.purpose = "service_delivery";
    read.operation = "export";
    read.categories = doc.CategoryNames();
    if (Status s = LogLocalAccess(g, *ledger, {std::move(read)}); !s.ok()) return Fail(s);
  }
  if (g.json) {
    std::printf("%s\n", doc.ToJson().c_str());
    return 0;
  }
  std::printf("subject %s, %s register, %llu events%s\n", a.subject.c_str(),
              doc.summary.register_name.c_str(),
              static_cast<unsigned long long>(doc.summary.event_count),
              doc.summary.erased_at_seq ? ", ERASED" : "");
  for (const auto& [name, c] : doc.categories) {
    std::printf("\n[%s]%s\n", name.c_str(), c.erased ? " erased" : "");
    for (const auto& [field, value] : c.current) {
      std::printf("  %-16s %s\n", field.c_str(), value.c_str());
    }
  }
  if (!doc.consents.empty()) std::printf("\nconsents\n");
  for (const auto& [purpose, c] : doc.consents) {
    std::printf("  %-22s %s %s\n", purpose.c_str(), c.given ? "given    " : "withdrawn",
                FormatRfc3339(c.at_micros).c_str());
  }
  std::printf("\nhistory\n");
  for (const auto& h : doc.history) {
    std::printf("  %6llu %s %-18s %-9s %-21s %-19s %-15s %s\n",
                static_cast<unsigned long long>(h.seq), FormatRfc3339(h.occurred_at_micros).c_str(),
                h.type.c_str(), h.category.c_str(), h.purpose.c_str(), h.basis.c_str(),
                h.source.c_str(), h.actor.c_str());
  }
  return 0;
}

int RunErase(const Globals& g, const SubjectArgs& a) {
  if (!g.server.empty()) {
    // The server records the token's actor, and the received date of the open request REF.
    if (!a.received.empty()) {
      return Fail(Status::InvalidArgument(
          "erase --received over --server: the server takes the date from the open request"));
    }
    if (!a.actor.empty()) {
      return Fail(Status::InvalidArgument(
          "erase --actor over --server: the server records the token's actor"));
    }
    return remote::Erase(g, a.subject, a.request);
  }
  EraseRequest request;
  if (Status s = ParseSubjectId(a.subject, &request.subject); !s.ok()) return Fail(s);
  request.request = a.request;
  request.actor = a.actor;
  if (Status s = ParseTimeOption(a.received, "--received", &request.received_at_micros);
      !s.ok()) {
    return Fail(s);
  }
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  uint64_t seq = 0;
  if (Status s = ledger->Erase(request, &seq); !s.ok()) {
    return FailAsked(s);
  }
  CatchUpViews(*views);
  std::vector<std::string> shredded, retained;
  Status s = ledger->ReadEvents(seq, seq + 1, [&](const EventView& e) {
    auto erasure = e.signed_event.getEvent().getErasure();
    for (auto k : erasure.getShredded()) shredded.push_back(k.getCategory());
    for (auto r : erasure.getRetained()) {
      retained.push_back(std::string(r.getCategory().cStr()) + " until " +
                         FormatRfc3339(r.getDueAtMicros()));
    }
    return Status::Ok();
  });
  if (!s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .String("subject", a.subject)
                            .Number("seq", seq)
                            .StringArray("shredded", shredded)
                            .StringArray("retained", retained)
                            .Finish()
                            .c_str());
  } else {
    std::string sh, re;
    for (const auto& c : shredded) sh += (sh.empty() ? "" : ", ") + c;
    for (const auto& c : retained) re += (re.empty() ? "" : "; ") + c;
    std::printf("erased subject %s (seq %llu)\nshredded: %s\nretained: %s\n", a.subject.c_str(),
                static_cast<unsigned long long>(seq), sh.empty() ? "-" : sh.c_str(),
                re.empty() ? "-" : re.c_str());
    std::printf("report:   kirjuri --data %s report deletion %s --out DIR\n", g.data.c_str(),
                a.subject.c_str());
  }
  return 0;
}

int RunRetention(const Globals& g, const SubjectArgs& a) {
  int64_t now = NowMicros();
  if (Status s = ParseTimeOption(a.now, "--now", &now); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  std::vector<uint64_t> seqs;
  if (Status s = ledger->RunRetention(now, &seqs); !s.ok()) return Fail(s);
  CatchUpViews(*views);
  for (uint64_t seq : seqs) {
    Status s = ledger->ReadEvents(seq, seq + 1, [&](const EventView& e) {
      auto env = e.signed_event.getEvent().getEnvelope();
      auto subject = env.getSubject();
      std::string categories;
      for (auto k : e.signed_event.getEvent().getErasure().getShredded()) {
        categories += (categories.empty() ? "" : ",") + std::string(k.getCategory().cStr());
      }
      std::string id = HexEncode({subject.begin(), subject.size()});
      if (g.json) {
        std::printf("{\"seq\":%llu,\"subject\":\"%s\",\"shredded\":\"%s\"}\n",
                    static_cast<unsigned long long>(seq), id.c_str(), categories.c_str());
      } else {
        std::printf("seq %llu  subject %s  shredded %s\n", static_cast<unsigned long long>(seq),
                    id.c_str(), categories.c_str());
      }
      return Status::Ok();
    });
    if (!s.ok()) return Fail(s);
  }
  if (!g.json) std::printf("%zu retained categories came due and were shredded\n", seqs.size());
  return 0;
}

// The retention schedule, read-only: what `retention run` shreds now (DUE) and what it will
// shred later (KEPT, until its date). Subject ids, categories and dates only.
int RunRetentionList(const Globals& g, const SubjectArgs& a) {
  int64_t now = NowMicros(), until = std::numeric_limits<int64_t>::max();
  if (Status s = ParseTimeOption(a.now, "--now", &now); !s.ok()) return Fail(s);
  if (Status s = ParseTimeOption(a.until, "--until", &until); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::vector<RetentionItem> items;
  if (Status s = ledger->RetentionDue(until, &items); !s.ok()) return Fail(s);
  size_t due = 0;
  if (!g.json) std::printf("%-32s %-16s %-10s %s\n", "SUBJECT", "CATEGORY", "UNTIL", "STATE");
  for (const RetentionItem& item : items) {
    const bool is_due = item.due_at_micros <= now;
    due += is_due;
    if (g.json) {
      std::printf("%s\n", JsonWriter()
                              .String("subject", SubjectIdHex(item.subject))
                              .String("category", item.category)
                              .String("until", FormatRfc3339(item.due_at_micros))
                              .Bool("due", is_due)
                              .Finish()
                              .c_str());
    } else {
      std::printf("%-32s %-16s %-10s %s\n", SubjectIdHex(item.subject).c_str(),
                  item.category.c_str(), FormatRfc3339(item.due_at_micros).substr(0, 10).c_str(),
                  is_due ? "DUE" : "kept");
    }
  }
  if (!g.json) {
    std::printf("%zu retained categor%s, %zu due (`kirjuri retention run` shreds those)\n",
                items.size(), items.size() == 1 ? "y" : "ies", due);
  }
  return 0;
}

int RunRotate(const Globals& g, const SubjectArgs& a) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  if (Status s = ledger->RotateMasterKey(a.new_key); !s.ok()) return Fail(s);
  std::printf("every data key is now wrapped under %s.\n"
              "Use it from now on (--master-key or KIRJURI_MASTER_KEY_FILE); the old master key\n"
              "opens nothing in the key store. Destroy the old key file to make old backups of\n"
              "the key store useless too.\n",
              a.new_key.c_str());
  return 0;
}

int RunBackup(const Globals& g, const SubjectArgs& a) {
  if (!g.server.empty()) {
    if (!a.out.empty()) {
      return Fail(Status::InvalidArgument(
          "with --server the server writes the copy into its --backup-dir: give no --out"));
    }
    return remote::Backup(g);
  }
  if (a.out.empty()) return Fail(Status::InvalidArgument("give --out DIR, a new directory"));
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  BackupResult result;
  if (Status s = ledger->Backup(a.out, &result); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", service::Service::BackupJson(a.out, result).c_str());
    return 0;
  }
  std::printf("backed up %llu events to %s: the log, the key store and the ledger key, as of\n"
              "one point between writes (not the views: they are rebuilt when it is opened).\n"
              "The master key is not in it: keep it apart from the backup. The copy opens with\n"
              "the same master key:  kirjuri --data %s --master-key FILE verify\n",
              static_cast<unsigned long long>(result.size), a.out.c_str(), a.out.c_str());
  return 0;
}

int RunReport(const Globals& g, const SubjectArgs& a) {
  SubjectId id;
  if (Status s = ParseSubjectId(a.subject, &id); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  DeletionReportFiles files;
  if (Status s = BuildDeletionReport(*ledger, id, a.seq, &files); !s.ok()) return FailAsked(s);
  if (Status s = WriteDeletionReport(files, a.out); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", JsonWriter().String("out", a.out).Finish().c_str());
  } else {
    std::printf("wrote %s/report.json, report.json.sig, report.html, ledger.pub.pem\n",
                a.out.c_str());
  }
  return 0;
}

int RunVerifyReport(const Globals& g, const std::string& file, const std::string& pubkey_file) {
  std::optional<PublicKey> pinned;
  if (!pubkey_file.empty()) {
    FILE* f = std::fopen(pubkey_file.c_str(), "r");
    if (!f) return Fail(Status::IOError("cannot read " + pubkey_file));
    std::string pem(4096, '\0');
    pem.resize(std::fread(pem.data(), 1, pem.size(), f));
    std::fclose(f);
    PublicKey key;
    if (Status s = ParsePublicKeyPem(pem, &key); !s.ok()) return Fail(s.Prefixed(pubkey_file));
    pinned = key;
  }
  // Both kinds of signed report: the check, then one line that says what held.
  std::string what;
  Status s;
  if (IsAuditReport(file)) {
    AuditReportCheck check;
    s = VerifyAuditReport(file, pinned ? &*pinned : nullptr, &check);
    what = "audit report signature, checkpoint signature and " + std::to_string(check.proofs) +
           " inclusion proofs of " + std::to_string(check.findings) + " findings verify" +
           (check.since ? "; the log extends the previous audit's checkpoint" : "");
  } else {
    ReportCheck check;
    s = VerifyDeletionReport(file, pinned ? &*pinned : nullptr, &check);
    what = "report signature, checkpoint signature and inclusion proof of seq " +
           std::to_string(check.seq) + " verify (subject " + check.subject + ")";
  }
  // A file that cannot be read is no verdict on the report: exit 2, not "does not verify".
  const bool unread = s.code() == Status::Code::kIOError;
  if (g.json) {
    JsonWriter w;
    w.Bool("ok", s.ok());
    if (!s.ok()) w.String("error", s.message());
    std::printf("%s\n", w.Finish().c_str());
    return s.ok() ? 0 : unread ? 2 : 1;
  }
  if (unread) return Fail(s);
  if (!s.ok()) return Fail(s.Prefixed("report does not verify"));
  std::printf("ok: %s%s\n", what.c_str(),
              pinned ? "" : "; the key is the report's own: compare it with the ledger's "
                            "published key, or pass --pubkey");
  return 0;
}

}  // namespace

void AddSubjectCommands(CLI::App& app, const Globals& g, int& rc) {
  static SubjectArgs a;  // lives as long as the app's parse
  auto* find = app.add_subcommand("find", "subject ids by email, username or phone (blind index)");
  find->add_option("--email", a.email);
  find->add_option("--username", a.username);
  find->add_option("--phone", a.phone);
  find->callback([&] { rc = RunFind(g, a); });

  auto* exp = app.add_subcommand("export", "everything held about a person (GDPR Art. 15 and 20)");
  exp->add_option("subject", a.subject, "subject id")->required();
  exp->callback([&] { rc = RunExport(g, a); });

  auto* erase = app.add_subcommand("erase", "crypto-shred a subject and record it");
  erase->add_option("subject", a.subject, "subject id")->required();
  erase->add_option("--request", a.request, "the erasure request's reference")->required();
  erase->add_option("--actor", a.actor, "who erases (an id; over --server, the token's actor)");
  erase->add_option("--received", a.received, "when the request was received (RFC 3339)");
  erase->callback([&] {
    if (g.server.empty() && a.actor.empty()) throw CLI::RequiredError("--actor");
    rc = RunErase(g, a);
  });

  auto* retention =
      app.add_subcommand("retention", "data kept after erasures under a duty, and its shredding");
  retention->require_subcommand(1);
  auto* run = retention->add_subcommand("run", "shred the retained categories that have come due");
  run->add_option("--now", a.now, "the time to run as (RFC 3339; default: now)");
  run->callback([&] { rc = RunRetention(g, a); });
  auto* list = retention->add_subcommand(
      "list", "the retention schedule: what is kept after erasures, until when (reads only)");
  list->add_option("--until", a.until, "only what comes due by then (RFC 3339; default: all)");
  list->add_option("--now", a.now, "judge what is due at this time (RFC 3339; default: now)");
  list->callback([&] { rc = RunRetentionList(g, a); });

  auto* keys = app.add_subcommand("keys", "the master key");
  keys->require_subcommand(1);
  auto* rotate = keys->add_subcommand("rotate-master", "re-wrap every data key under a new master key");
  rotate->add_option("--new", a.new_key, "the new master key file (created if missing)")->required();
  rotate->callback([&] { rc = RunRotate(g, a); });

  auto* backup = app.add_subcommand(
      "backup", "a consistent copy of the ledger (log, key store, ledger key; no master key)");
  backup->add_option("--out", a.out,
                     "a new directory outside the data directory (with --server: none, the "
                     "server's --backup-dir)");
  backup->callback([&] { rc = RunBackup(g, a); });

  auto* report = app.add_subcommand("report", "reports");
  report->require_subcommand(1);
  auto* deletion = report->add_subcommand("deletion", "proof-of-deletion report of an erasure");
  deletion->add_option("subject", a.subject, "subject id")->required();
  deletion->add_option("--out", a.out, "directory for report.json, .sig and .html")->required();
  deletion->add_option("--seq", a.seq, "the erasure event (default: the latest)")
      ->transform(Decimal());
  deletion->callback([&] { rc = RunReport(g, a); });

  static std::string report_file;
  auto* verify_report = app.add_subcommand("verify-report", "check a signed report (proof of deletion, or audit)");
  verify_report->add_option("file", report_file, "report.json (report.json.sig beside it)")->required();
  verify_report->add_option("--pubkey", a.pubkey, "the ledger's public key (PEM) to pin");
  verify_report->callback([&] { rc = RunVerifyReport(g, report_file, a.pubkey); });
}

}  // namespace kirjuri::cli
