#include "request_commands.h"

#include <cstdio>

#include "kirjuri/event_json.h"
#include "kirjuri/json.h"
#include "kirjuri/requests.h"
#include "kirjuri/time.h"
#include "remote.h"

namespace kirjuri::cli {
namespace {

struct RequestArgs {
  std::string subject, kind, ref, received, actor = "dpo", now, reason, out, lang = "en", data;
  std::string category = "profile";
  unsigned months = 0;
  bool overdue = false, refuse = false;
};

int RunOpen(const Globals& g, const RequestArgs& a) {
  SubjectId id;
  if (Status s = ParseSubjectId(a.subject, &id); !s.ok()) return Fail(s);
  int64_t received = 0;
  if (Status s = ParseTimeOption(a.received, "--received", &received); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  uint64_t seq = 0;
  if (Status s = ledger->OpenRequest(id, a.kind, a.ref, a.actor, received, &seq); !s.ok()) {
    return FailAsked(s);
  }
  CatchUpViews(*views);
  RequestRecord r;
  if (Status s = ledger->GetRequest(a.ref, &r); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", RequestJson(r, NowMicros()).c_str());
  } else {
    std::printf("request %s (%s) of %s opened at seq %llu; due %s (GDPR Art. 12(3))\n",
                r.ref.c_str(), r.kind.c_str(), a.subject.c_str(),
                static_cast<unsigned long long>(seq), FormatRfc3339(r.due_at_micros).c_str());
  }
  return 0;
}

int RunList(const Globals& g, const RequestArgs& a) {
  int64_t now = NowMicros();
  if (Status s = ParseTimeOption(a.now, "--now", &now); !s.ok()) return Fail(s);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::vector<RequestRecord> all;
  if (Status s = ledger->ListRequests(&all); !s.ok()) return Fail(s);
  size_t shown = 0;
  if (!g.json) {
    std::printf("%-16s %-32s %-13s %-10s %-10s %-9s %s\n", "REF", "SUBJECT", "KIND", "RECEIVED",
                "DUE", "STATE", "");
  }
  for (const RequestRecord& r : all) {
    if (a.overdue && !r.Overdue(now)) continue;
    ++shown;
    if (g.json) {
      std::printf("%s\n", RequestJson(r, now).c_str());
    } else {
      std::printf("%-16s %-32s %-13s %-10s %-10s %-9s %s\n", r.ref.c_str(),
                  SubjectIdHex(r.subject).c_str(), r.kind.c_str(),
                  FormatRfc3339(r.received_at_micros).substr(0, 10).c_str(),
                  FormatRfc3339(r.due_at_micros).substr(0, 10).c_str(), r.state.c_str(),
                  r.Overdue(now) ? "OVERDUE" : "");
    }
  }
  if (!g.json) std::printf("%zu request(s)%s\n", shown, a.overdue ? " overdue" : "");
  return 0;
}

int RunExtend(const Globals& g, const RequestArgs& a) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  uint64_t seq = 0;
  if (Status s = ledger->ExtendRequest(a.ref, a.months, a.reason, a.actor, &seq); !s.ok()) {
    return FailAsked(s);
  }
  RequestRecord r;
  if (Status s = ledger->GetRequest(a.ref, &r); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", RequestJson(r, NowMicros()).c_str());
  } else {
    std::printf("request %s extended (seq %llu); now due %s\n", a.ref.c_str(),
                static_cast<unsigned long long>(seq), FormatRfc3339(r.due_at_micros).c_str());
  }
  return 0;
}

int RunClose(const Globals& g, const RequestArgs& a) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  if (a.refuse) {
    uint64_t seq = 0;
    if (Status s = ledger->CloseRequest(a.ref, false, a.reason, {}, a.actor, &seq); !s.ok()) {
      return FailAsked(s);
    }
    CatchUpViews(*views);
    std::printf(g.json ? "{\"ref\":%s,\"state\":\"refused\",\"seq\":%llu}\n"
                       : "request %s refused (seq %llu)\n",
                g.json ? JsonWriter::Quote(a.ref).c_str() : a.ref.c_str(),
                static_cast<unsigned long long>(seq));
    return 0;
  }
  FulfilOptions o;
  o.ref = a.ref;
  o.actor = a.actor;
  o.out = a.out;
  o.lang = a.lang;
  o.data_json = a.data;
  o.category = a.category;
  FulfilResult result;
  if (Status s = FulfilRequest(*ledger, views.get(), o, &result); !s.ok()) return FailAsked(s);
  if (g.json) {
    std::vector<std::string> files;
    for (const auto& f : result.files) files.push_back(f.string());
    std::printf("%s\n", JsonWriter()
                            .String("ref", a.ref)
                            .String("state", "fulfilled")
                            .Number("seq", result.closing_seq)
                            .Raw("outcome_seqs", SeqsJson(result.outcome_seqs))
                            .StringArray("files", files)
                            .Finish()
                            .c_str());
  } else {
    std::printf("request %s fulfilled (seq %llu)\n", a.ref.c_str(),
                static_cast<unsigned long long>(result.closing_seq));
    for (uint64_t s : result.outcome_seqs) {
      std::printf("  the work: seq %llu\n", static_cast<unsigned long long>(s));
    }
    for (const auto& f : result.files) std::printf("  wrote %s\n", f.c_str());
  }
  return 0;
}

// Over --server the server records the token's actor and its own time, answers with the
// documents (printed, not written to files) and rectifies the profile: an option of `c` that
// would say otherwise is refused (*rc set), not ignored.
bool GivenLocalOnly(CLI::App* c, std::initializer_list<std::string_view> local_only, int* rc) {
  for (std::string_view option : local_only) {
    if (c->count(std::string(option)) == 0) continue;
    const char* why = option == "--out" || option == "--lang"
                          ? "the answer is printed, not written to files"
                      : option == "--category" ? "the server rectifies the profile"
                                               : "the server records the token's actor and its "
                                                 "own time";
    *rc = Fail(Status::InvalidArgument("request " + c->get_name() + " over --server takes no " +
                                       std::string(option) + ": " + why));
    return true;
  }
  return false;
}

}  // namespace

void AddRequestCommands(CLI::App& app, const Globals& g, int& rc) {
  static RequestArgs a;  // lives as long as the app's parse
  auto* request = app.add_subcommand("request", "people's requests and their deadlines");
  request->require_subcommand(1);
  auto actor = [&](CLI::App* c) {
    c->add_option("--actor", a.actor, "who records it (default: dpo)");
  };

  auto* open = request->add_subcommand("open", "record a request as received; due in one month");
  open->add_option("subject", a.subject, "subject id")->required();
  open->add_option("--kind", a.kind, "access|rectification|erasure|objection|restriction")
      ->required();
  open->add_option("--ref", a.ref, "the request's reference")->required();
  open->add_option("--received", a.received, "when it was received (RFC 3339; default now)");
  actor(open);
  open->callback([&, open] {
    if (g.server.empty()) {
      rc = RunOpen(g, a);
    } else if (!GivenLocalOnly(open, {"--received", "--actor"}, &rc)) {
      rc = remote::RequestOpen(g, a.subject, a.kind, a.ref);
    }
  });

  auto* list = request->add_subcommand("list", "requests, with their deadlines");
  list->add_flag("--overdue", a.overdue, "only those past their deadline");
  list->add_option("--now", a.now, "the time to judge deadlines at (RFC 3339; default now)");
  list->callback([&, list] {
    if (g.server.empty()) {
      rc = RunList(g, a);
    } else if (!GivenLocalOnly(list, {"--now"}, &rc)) {
      rc = remote::RequestList(g, a.overdue);
    }
  });

  auto* extend = request->add_subcommand("extend", "extend a deadline (at most two months in all)");
  extend->add_option("ref", a.ref, "the request's reference")->required();
  extend->add_option("--months", a.months, "1 or 2")->required()->transform(Decimal());
  extend->add_option("--reason", a.reason, "why (no personal data)")->required();
  actor(extend);
  extend->callback([&, extend] {
    if (g.server.empty()) {
      rc = RunExtend(g, a);
    } else if (!GivenLocalOnly(extend, {"--actor"}, &rc)) {
      rc = remote::RequestExtend(g, a.ref, a.months, a.reason);
    }
  });

  auto* close = request->add_subcommand("close", "fulfil a request (doing its work) or refuse it");
  close->add_option("ref", a.ref, "the request's reference")->required();
  close->add_flag("--refuse", a.refuse, "refuse it, with --reason");
  close->add_option("--reason", a.reason, "why it is refused (no personal data)");
  close->add_option("--out", a.out, "access, erasure: where the documents go");
  close->add_option("--lang", a.lang, "access: the page's language (fi|en)");
  close->add_option("--data", a.data, "rectification: the corrected values, a JSON object");
  close->add_option("--category", a.category, "rectification: their category (default profile)");
  actor(close);
  close->callback([&, close] {
    if (g.server.empty()) {
      rc = RunClose(g, a);
    } else if (a.refuse) {
      if (!GivenLocalOnly(close, {"--actor", "--out", "--lang", "--data", "--category"}, &rc)) {
        rc = remote::RequestRefuse(g, a.ref, a.reason);
      }
    } else if (!GivenLocalOnly(close, {"--actor", "--out", "--lang", "--category"}, &rc)) {
      rc = remote::RequestClose(g, a.ref, a.data);
    }
  });
}

}  // namespace kirjuri::cli
