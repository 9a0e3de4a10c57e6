#include "view_commands.h"

#include <chrono>
#include <cstdio>

#include "kirjuri/json.h"
#include "remote.h"
#include "kirjuri/time.h"

namespace kirjuri::cli {
namespace {

struct QueryArgs {
  std::string what, subject, as_of;
  ViewFilter filter;
  bool no_erased = false;
};

// `text` padded with spaces to `width` characters (UTF-8 code points, not bytes).
std::string Pad(const std::string& text, size_t width) {
  size_t chars = 0;
  for (char c : text) chars += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return text + std::string(chars < width ? width - chars : 0, ' ');
}

std::string Day(int64_t micros) { return FormatRfc3339(micros).substr(0, 10); }

std::string Flags(const SubjectView& v) {
  std::string f;
  auto add = [&](const char* s) { f += (f.empty() ? "" : ",") + std::string(s); };
  if (v.erased) add("erased");
  if (v.restricted) add("restricted");
  if (v.marketing_objected) add("objected");
  if (v.InMarketingAudience()) add("marketing");
  if (!v.retained.empty()) add("retained");
  return f.empty() ? "-" : f;
}

void PrintSubject(const SubjectView& v, const std::string& when) {
  std::printf("%s %s, %s\n", v.register_name.c_str(), SubjectIdHex(v.subject).c_str(),
              when.c_str());
  std::printf("  created %s, updated %s, %llu events (seq %llu..%llu)\n",
              FormatRfc3339(v.created_at_micros).c_str(), FormatRfc3339(v.updated_at_micros).c_str(),
              static_cast<unsigned long long>(v.event_count),
              static_cast<unsigned long long>(v.first_seq),
              static_cast<unsigned long long>(v.last_seq));
  if (v.erased) {
    std::printf("  ERASED at %s (seq %llu)\n", FormatRfc3339(v.erased_at_micros).c_str(),
                static_cast<unsigned long long>(v.erased_at_seq));
  }
  for (const auto& [category, r] : v.retained) {
    std::printf("  %s retained until %s: %s\n", category.c_str(),
                FormatRfc3339(r.due_at_micros).c_str(), r.reason.c_str());
  }
  std::printf("  restricted: %s, direct marketing objected: %s, in marketing audience: %s\n",
              v.restricted ? "yes" : "no", v.marketing_objected ? "yes" : "no",
              v.InMarketingAudience() ? "yes" : "no");
  for (const auto& [category, c] : v.categories) {
    std::printf("\n  [%s]%s\n", category.c_str(), c.erased() ? " erased" : "");
    for (const auto& [name, f] : c.fields) {
      std::printf("    %-16s %-32s seq %-6llu %s %s\n", name.c_str(),
                  f.json ? f.json->c_str() : "(erased)", static_cast<unsigned long long>(f.seq),
                  Day(f.at_micros).c_str(), f.source.c_str());
    }
    for (const auto& [kind, n] : c.usage) {
      std::printf("    usage %-10s %llu events\n", kind.c_str(), static_cast<unsigned long long>(n));
    }
  }
  if (v.last_activity_micros) {
    std::printf("    last activity    %s\n", FormatRfc3339(v.last_activity_micros).c_str());
  }
  if (!v.consents.empty()) std::printf("\n  consents\n");
  for (const auto& [purpose, c] : v.consents) {
    std::printf("    %-24s %-9s %s via %s (seq %llu)\n", purpose.c_str(),
                c.given ? "given" : "withdrawn", FormatRfc3339(c.at_micros).c_str(),
                c.source.c_str(), static_cast<unsigned long long>(c.seq));
  }
}

void PrintTable(const std::vector<SubjectView>& rows) {
  auto row = [](const std::string& id, const std::string& created, const std::string& name,
                const std::string& city, const std::string& org, const std::string& flags) {
    std::printf("%s  %s  %s  %s  %s  %s\n", Pad(id, 32).c_str(), Pad(created, 10).c_str(),
                Pad(name, 24).c_str(), Pad(city, 12).c_str(), Pad(org, 22).c_str(), flags.c_str());
  };
  row("SUBJECT", "CREATED", "NAME", "CITY", "ORGANISATION", "FLAGS");
  for (const SubjectView& v : rows) {
    row(SubjectIdHex(v.subject), Day(v.created_at_micros), v.ProfileText("name"),
        v.ProfileText("city"), v.ProfileText("organisation"), Flags(v));
  }
}

// The categories whose values an answer about `v` shows: what the table prints (profile
// fields), or with --json everything the view holds.
std::vector<std::string> ShownCategories(const SubjectView& v, bool json) {
  std::vector<std::string> shown;
  for (const auto& [name, c] : v.categories) {
    if (json || name == "profile") shown.push_back(name);
  }
  // Consents are shown from their own summary too; the category is named once.
  if (json && !v.consents.empty() && !v.categories.contains("consents")) {
    shown.emplace_back("consents");
  }
  return shown;
}

AccessRecord LocalRead(const SubjectView& v, std::string purpose, std::vector<std::string> categories) {
  AccessRecord a;
  a.subject = v.subject;
  a.purpose = std::move(purpose);
  a.operation = "query";
  a.categories = std::move(categories);
  return a;
}

int RunQuery(const Globals& g, QueryArgs a) {
  a.filter.include_erased = !a.no_erased;
  if (!g.server.empty()) return remote::Query(g, a.what, a.subject, a.as_of, a.filter);
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  uint64_t as_of = 0;
  std::string when = "now (after " + std::to_string(ledger->size()) + " events)";
  if (!a.as_of.empty()) {
    if (Status s = ResolveAsOf(*ledger, a.as_of, &as_of); !s.ok()) return FailAsked(s);
    when = "as of seq " + std::to_string(as_of - 1);
  }
  const std::vector<std::string> registers = ledger->RegisterNames();
  auto is_register = [&](const std::string& r) {
    return std::find(registers.begin(), registers.end(), r) != registers.end();
  };

  if (is_register(a.what)) {  // one subject
    if (a.subject.empty()) return Fail(Status::InvalidArgument("query " + a.what + " needs an ID"));
    SubjectId id;
    if (Status s = ParseSubjectId(a.subject, &id); !s.ok()) return Fail(s);
    SubjectView v;
    if (Status s = views->Get(id, as_of, &v); !s.ok()) {
      return FailAsked(s);
    }
    if (v.register_name != a.what) {
      return Fail(Status::InvalidArgument("subject " + a.subject + " is in the " +
                                          v.register_name + " register, not " + a.what));
    }
    // A single person shows every category the view holds, table or JSON.
    if (Status s = LogLocalAccess(
            g, *ledger, {LocalRead(v, "service_delivery", ShownCategories(v, true))});
        !s.ok()) {
      return Fail(s);
    }
    if (g.json) {
      std::printf("%s\n", v.ToJson().c_str());
    } else {
      PrintSubject(v, when);
    }
    return 0;
  }
  if (!a.subject.empty()) {
    return Fail(Status::InvalidArgument("query " + a.what + " takes no ID"));
  }
  std::vector<SubjectView> rows;
  Status s;
  // Only what is shown is opened: the table and the audience show profile fields alone.
  const CategoryFilter profile = [](std::string_view c) { return c == "profile"; };
  if (a.what == kMarketingAudienceView) {
    s = views->MarketingAudience(as_of, &rows, profile);
  } else if (a.what.size() > 1 && a.what.back() == 's' &&
             is_register(a.what.substr(0, a.what.size() - 1))) {
    s = views->List(a.what.substr(0, a.what.size() - 1), a.filter, as_of, &rows,
                    g.json ? nullptr : profile);
  } else {
    std::string known;
    for (const std::string& r : registers) known += r + "|" + r + "s|";
    return Fail(Status::InvalidArgument("query what? (" + known + "marketing-audience)"));
  }
  if (!s.ok()) return FailAsked(s);
  {
    const bool audience = a.what == kMarketingAudienceView;
    std::vector<AccessRecord> reads;
    for (const SubjectView& v : rows) {
      std::vector<std::string> shown =
          audience ? std::vector<std::string>{"profile"} : ShownCategories(v, g.json);
      if (!shown.empty()) {
        reads.push_back(LocalRead(v, audience ? "marketing" : "service_delivery", std::move(shown)));
      }
    }
    if (Status logged = LogLocalAccess(g, *ledger, std::move(reads)); !logged.ok()) {
      return Fail(logged);
    }
  }
  if (g.json) {
    for (const SubjectView& v : rows) {
      if (a.what == kMarketingAudienceView) {
        // What a mailer needs, and no more.
        JsonWriter w;
        w.String("subject", SubjectIdHex(v.subject)).String("register", v.register_name);
        for (const char* field : {"name", "email"}) {
          if (std::string text = v.ProfileText(field); !text.empty()) w.String(field, text);
        }
        std::printf("%s\n", w.Finish().c_str());
      } else {
        std::printf("%s\n", v.ToJson().c_str());
      }
    }
    return 0;
  }
  PrintTable(rows);
  std::printf("%zu %s, %s\n", rows.size(), a.what.c_str(), when.c_str());
  return 0;
}

int RunRebuild(const Globals& g, const std::string& view) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  const auto started = std::chrono::steady_clock::now();
  {
    Progress progress("rebuilding " + (view.empty() ? std::string("every view") : view));
    Status s = views->Rebuild(view, [&](uint64_t done, uint64_t total) {
      progress.Update(done, total);
    });
    if (!s.ok()) return Fail(s);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const uint64_t n = ledger->size();
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .String("view", view.empty() ? "all" : view)
                            .Number("events", n)
                            .Number("millis", static_cast<uint64_t>(seconds * 1000))
                            .Finish()
                            .c_str());
  } else {
    std::printf("rebuilt %s from %llu events in %.2f s\n",
                view.empty() ? "every view" : view.c_str(), static_cast<unsigned long long>(n),
                seconds);
  }
  return 0;
}

}  // namespace

void AddViewCommands(CLI::App& app, const Globals& g, int& rc) {
  static std::string rebuild_view;
  auto* rebuild = app.add_subcommand("rebuild", "drop a view (default: all) and fold it again from the log");
  rebuild->add_option("view", rebuild_view, "customer, partner or marketing-audience");
  rebuild->callback([&] { rc = RunRebuild(g, rebuild_view); });

  static QueryArgs q;
  auto* query = app.add_subcommand(
      "query", "query the views: customer|partner ID, customers|partners|marketing-audience");
  query->add_option("what", q.what, "customer, partner, customers, partners, marketing-audience")
      ->required();
  query->add_option("id", q.subject, "subject id (with customer or partner)");
  query->add_option("--as-of", q.as_of, "the view as it stood after SEQ, or at an RFC 3339 time");
  query->add_option("--city", q.filter.city, "only subjects whose current city is this");
  query->add_option("--organisation", q.filter.organisation, "only this organisation");
  query->add_flag("--no-erased", q.no_erased, "leave erased subjects out of lists");
  query->callback([&] { rc = RunQuery(g, q); });
}

}  // namespace kirjuri::cli
