#include "document_commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "kirjuri/csv_import.h"
#include "kirjuri/json.h"
#include "kirjuri/register_description.h"

namespace kirjuri::cli {
namespace {

struct DocumentArgs {
  std::string lang_describe = "fi";  // the original register description is Finnish
  std::string lang_report = "en";
  bool html = false;
  std::string file, register_name, source, actor, purpose, basis = "legitimate_interest";
};

DocFormat FormatOf(const Globals& g, bool html) {
  return html ? DocFormat::kHtml : g.json ? DocFormat::kJson : DocFormat::kText;
}

int RunDescribe(const Globals& g, const DocumentArgs& a) {
  Lang lang;
  if (Status s = ParseLang(a.lang_describe, &lang); !s.ok()) return Fail(s.Prefixed("--lang"));
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::string doc = DescribeRegisters(ledger->policy(), lang, FormatOf(g, a.html));
  std::fwrite(doc.data(), 1, doc.size(), stdout);
  return 0;
}

int RunProcessing(const Globals& g, const DocumentArgs& a) {
  Lang lang;
  if (Status s = ParseLang(a.lang_report, &lang); !s.ok()) return Fail(s.Prefixed("--lang"));
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::string doc = ProcessingRecord(ledger->policy(), lang, FormatOf(g, a.html));
  std::fwrite(doc.data(), 1, doc.size(), stdout);
  return 0;
}

int RunImport(const Globals& g, const DocumentArgs& a) {
  std::string text;
  if (a.file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(a.file, std::ios::binary);
    if (!in) return Fail(Status::IOError("cannot read " + a.file));
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);

  CsvImportOptions options;
  options.register_name = a.register_name;
  options.source = a.source;
  options.actor = a.actor;
  options.purpose = a.purpose;
  options.basis = a.basis;
  CsvImportPlan plan;
  Status built;
  {
    Progress progress("checking rows");
    options.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
    built = BuildCsvImport(*ledger, text, options, &plan);
  }
  if (!built.ok()) {
    // Every problem on its own line; none quotes a cell (see kirjuri/csv_import.h).
    for (const CsvImportProblem& p : plan.problems) {
      std::fprintf(stderr, "kirjuri: %s: %s\n", a.file.c_str(), p.ToString().c_str());
    }
    return Fail(built.Prefixed("nothing imported"));
  }

  std::unique_ptr<Views> views;
  if (Status s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  std::vector<Appended> appended;
  {
    Progress progress("appending");
    if (Status s = ledger->Append(plan.events, &appended); !s.ok()) {
      return Fail(s.Prefixed("nothing imported"));
    }
  }
  // Acknowledged as soon as durable; the views follow.
  if (g.json) {
    for (const Appended& e : appended) {
      std::printf("{\"seq\":%llu,\"subject\":\"%s\"}\n", static_cast<unsigned long long>(e.seq),
                  SubjectIdHex(e.subject).c_str());
    }
  } else {
    std::printf("imported %zu rows into the %s register as %zu new subjects (seq %llu..%llu)\n",
                appended.size(), a.register_name.c_str(), appended.size(),
                static_cast<unsigned long long>(appended.front().seq),
                static_cast<unsigned long long>(appended.back().seq));
  }
  std::fflush(stdout);
  // As in `append`: the input's memory goes to the views' fold.
  std::string().swap(text);
  plan = CsvImportPlan();
  CatchUpViews(*views);
  return 0;
}

int RunPolicyApply(const Globals& g, const std::string& file, const std::string& actor) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(Status::IOError("cannot read " + file));
  std::string json((std::istreambuf_iterator<char>(in)), {});
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedger(g, &ledger); !s.ok()) return Fail(s);
  uint64_t seq = 0;
  if (Status s = ledger->ApplyPolicy(json, actor, &seq); !s.ok()) return Fail(s);
  auto p = ledger->policy();
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .Number("seq", seq)
                            .String("policy", p.getName().cStr())
                            .Number("version", p.getVersion())
                            .Finish()
                            .c_str());
  } else {
    std::printf("policy %s version %u is in force from seq %llu (a signed policy_changed event)\n",
                p.getName().cStr(), p.getVersion(), static_cast<unsigned long long>(seq));
  }
  return 0;
}

int RunPolicyShow(const Globals& g, bool initial) {
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger); !s.ok()) return Fail(s);
  std::string json;
  if (Status s = ledger->PolicyJson(initial, &json); !s.ok()) return Fail(s);
  std::printf("%s%s", json.c_str(), !json.empty() && json.back() == '\n' ? "" : "\n");
  return 0;
}

}  // namespace

void AddDocumentCommands(CLI::App& app, const Globals& g, int& rc) {
  static DocumentArgs a;  // lives as long as the app's parse

  static std::string policy_file, policy_actor = "dpo";
  static bool policy_initial = false;
  auto* policy = app.add_subcommand("policy", "the policy in force, and changing it");
  policy->require_subcommand(1);
  auto* apply = policy->add_subcommand("apply", "put a new policy version in force (signed event)");
  apply->add_option("file", policy_file, "the policy (JSON, schemas/policy.capnp)")->required();
  apply->add_option("--actor", policy_actor, "who changes it (default: dpo)");
  apply->callback([&] { rc = RunPolicyApply(g, policy_file, policy_actor); });
  auto* show = policy->add_subcommand("show", "print the policy in force (JSON)");
  show->add_flag("--initial", policy_initial, "the one given to init instead");
  show->callback([&] { rc = RunPolicyShow(g, policy_initial); });

  auto* describe = app.add_subcommand(
      "describe", "the register description (rekisteriseloste), generated from the policy");
  describe->add_option("--lang", a.lang_describe, "fi or en")
      ->check(CLI::IsMember({"fi", "en"}))
      ->capture_default_str();
  describe->add_flag("--html", a.html, "a self-contained, printable HTML page");
  describe->callback([&] { rc = RunDescribe(g, a); });

  auto* report = app.get_subcommand("report");
  auto* processing = report->add_subcommand(
      "processing", "the record of processing activities (GDPR Art. 30), from the policy");
  processing->add_option("--lang", a.lang_report, "en or fi")
      ->check(CLI::IsMember({"fi", "en"}))
      ->capture_default_str();
  processing->add_flag("--html", a.html, "a self-contained, printable HTML page");
  processing->callback([&] { rc = RunProcessing(g, a); });

  auto* import = app.add_subcommand(
      "import", "load an existing register from CSV: one new subject per row, all rows or none");
  import->add_option("file", a.file, "CSV file (header: profile fields and ip), or -")->required();
  import->add_option("--register", a.register_name, "customer or partner")->required();
  import->add_option("--source", a.source, "where the data came from (a declared source)")
      ->required();
  import->add_option("--actor", a.actor, "who imports (an id)")->required();
  import->add_option("--purpose", a.purpose,
                     "purpose (default: customer_relationship / partnership)");
  import->add_option("--basis", a.basis, "lawful basis")->capture_default_str();
  import->callback([&] { rc = RunImport(g, a);
});
}  // namespace kirjuri::cli

}  // namespace kirjuri::cli
