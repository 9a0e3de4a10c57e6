#include "demo.h"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kirjuri/deletion_report.h"
#include "kirjuri/json.h"
#include "kirjuri/note.h"

namespace kirjuri::cli {
namespace {

// Fictional people: common Finnish first and family names, combined at random.
const char* const kFirst[] = {"Aino", "Eino", "Helmi", "Väinö", "Ilona", "Onni", "Sofia",
                              "Leevi", "Aada", "Elias", "Venla", "Oliver", "Lilja", "Eetu"};
const char* const kLast[] = {"Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen",
                             "Laine", "Heikkinen", "Koskinen", "Järvinen", "Lehtonen"};
const char* const kCities[] = {"Jyväskylä", "Helsinki", "Tampere", "Oulu", "Turku", "Kuopio"};
const char* const kOrgs[] = {"Keskuskoulu", "Harjun lukio", "Kaupungin opetustoimi",
                             "Oppimo Oy", "Tietotaito ry"};
const char* const kSources[] = {"web_form", "contact", "event_form", "meeting", "partner_website"};

std::string Ascii(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0xc3 && i + 1 < s.size()) {  // ä ö å, lower and upper case
      unsigned char d = static_cast<unsigned char>(s[++i]);
      out.push_back(d == 0xa4 || d == 0x84 || d == 0xa5 || d == 0x85 ? 'a' : 'o');
    } else {
      out.push_back(static_cast<char>(std::tolower(c)));
    }
  }
  return out;
}

template <size_t N>
const char* Pick(std::mt19937& rng, const char* const (&a)[N]) {
  return a[std::uniform_int_distribution<size_t>(0, N - 1)(rng)];
}

std::string Line(const char* reg, const std::string& subject, const char* type,
                 const char* category, const char* purpose, const char* basis, const char* source,
                 const std::string& data, const std::string& extra = "") {
  std::string s = std::string("{\"register\":\"") + reg + "\",\"subject\":\"" + subject +
                  "\",\"type\":\"" + type + "\",\"category\":\"" + category +
                  "\",\"actor\":\"emp-0007\",\"purpose\":\"" + purpose + "\",\"basis\":\"" +
                  basis + "\",\"source\":\"" + source + "\"";
  if (!data.empty()) s += ",\"data\":" + data;
  return s + extra + "}\n";
}

Status AppendText(Ledger& ledger, const std::string& text, std::vector<Appended>* out) {
  std::vector<NewEvent> events;
  KIRJURI_RETURN_IF_ERROR(ledger.ParseLines(text, &events));
  return ledger.Append(events, out);
}

}  // namespace

int RunDemo(const Globals& g, const DemoOptions& options) {
  std::unique_ptr<Ledger> ledger;
  Status s = OpenLedger(g, &ledger);
  if (s.IsNotFound()) {
    if (s = Ledger::Init(g.data, InitOptions()); !s.ok()) return Fail(s);
    std::printf("created a new ledger in %s (policy: Almerin Oy, customer and partner registers)\n",
                g.data.c_str());
    s = OpenLedger(g, &ledger);
  }
  if (!s.ok()) return Fail(s);
  const uint64_t start = ledger->size();

  // First the people are recorded, one event each; their ids come back from the ledger.
  std::mt19937 rng(static_cast<uint32_t>(start) + 2026);
  std::string text;
  struct Person {
    const char* reg;
  };
  std::vector<Person> people;
  for (unsigned i = 0; i < options.customers + options.partners; ++i) {
    bool customer = i < options.customers;
    const char* reg = customer ? "customer" : "partner";
    std::string first = Pick(rng, kFirst), last = Pick(rng, kLast);
    std::string email = Ascii(first) + "." + Ascii(last) + std::to_string(i) + "@example.fi";
    std::string data = JsonWriter()
                           .String("name", first + " " + last)
                           .String("email", email)
                           .String("organisation", Pick(rng, kOrgs))
                           .String("city", Pick(rng, kCities))
                           .String("mother_tongue", "fi")
                           .Finish();
    text += Line(reg, "new", "recorded", "profile",
                 customer ? "service_delivery" : "partnership",
                 customer ? "contract" : "legitimate_interest", Pick(rng, kSources), data,
                 ",\"ip\":\"192.0.2." + std::to_string(i % 250 + 1) + "\"");
    people.push_back({reg});
  }
  std::vector<Appended> recorded;
  Progress progress("appending the sample");
  if (s = AppendText(*ledger, text, &recorded); !s.ok()) return Fail(s);

  // Then what happens to them over time, as one more atomic append.
  text.clear();
  for (size_t i = 0; i < recorded.size(); ++i) {
    std::string id = SubjectIdHex(recorded[i].subject);
    const char* reg = people[i].reg;
    bool customer = std::string(reg) == "customer";
    if (i % 3 != 2) {
      text += Line(reg, id, "consent_given", "consents", "marketing", "consent", "web_form",
                   R"({"notice":"privacy-notice-2026-01","method":"checkbox"})");
    }
    if (customer) {
      text += Line(reg, id, "recorded", "usage", "service_delivery", "contract", "cookies",
                   JsonWriter().String("kind", "exercise").String("result", "passed").Finish());
      if (i % 4 == 0) {
        text += Line(reg, id, "recorded", "billing", "service_delivery", "contract", "contact",
                     JsonWriter()
                         .String("order_id", "ORD-" + std::to_string(1000 + i))
                         .String("amount", "49.00")
                         .String("currency", "EUR")
                         .Finish());
      }
    }
    if (i % 7 == 3) {
      text += Line(reg, id, "rectified", "profile",
                   customer ? "customer_relationship" : "partnership", "legitimate_interest",
                   "contact", JsonWriter().String("city", Pick(rng, kCities)).Finish());
    }
    if (i % 9 == 4) {
      text += Line(reg, id, "consent_withdrawn", "consents", "marketing", "consent", "contact",
                   R"({"method":"email"})");
    }
    if (i % 11 == 5) {
      text += Line(reg, id, "marketing_objected", "consents", "marketing", "legitimate_interest",
                   "contact", "");
    }
  }
  std::vector<Appended> later;
  if (s = AppendText(*ledger, text, &later); !s.ok()) return Fail(s);

  // A person asks to be forgotten: erase them and write the proof-of-deletion report.
  const SubjectId forgotten = recorded.front().subject;
  uint64_t erasure_seq = 0;
  EraseRequest erase{forgotten, "DEMO-REQ-" + std::to_string(start), "dpo-01", 0};
  if (s = ledger->Erase(erase, &erasure_seq); !s.ok()) return Fail(s);
  DeletionReportFiles report;
  if (s = BuildDeletionReport(*ledger, forgotten, std::nullopt, &report); !s.ok()) return Fail(s);
  const std::string report_dir = options.reports + "/" + SubjectIdHex(forgotten);
  if (s = WriteDeletionReport(report, report_dir); !s.ok()) return Fail(s);

  VerifyResult result;
  VerifyOptions vo;
  vo.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  if (s = ledger->Verify(vo, &result); !s.ok()) return Fail(s);
  std::string note;
  if (s = ledger->LatestCheckpoint(&note); !s.ok()) return Fail(s);
  InclusionProofResult proof;
  if (s = ledger->ProveInclusion(start, 0, &proof); !s.ok()) return Fail(s);

  std::printf(
      "appended %zu sample events for %zu people (seq %llu..%llu)\n"
      "verified: %llu events, %llu checkpoints, every signature valid\n\n"
      "latest checkpoint (C2SP tlog-checkpoint, signed note):\n%s\n"
      "inclusion of seq %llu: %zu hashes up to root %s\n\n"
      "erased subject %s (seq %llu): its keys are shredded, billing kept under the\n"
      "Accounting Act; proof-of-deletion report in %s/ (report.html, report.json, .sig)\n\n"
      "try:\n",
      recorded.size() + later.size(), recorded.size(), static_cast<unsigned long long>(start),
      static_cast<unsigned long long>(ledger->size() - 1),
      static_cast<unsigned long long>(result.events),
      static_cast<unsigned long long>(result.checkpoints), note.c_str(),
      static_cast<unsigned long long>(start), proof.hashes.size(),
      HexEncode(proof.root).c_str(), SubjectIdHex(forgotten).c_str(),
      static_cast<unsigned long long>(erasure_seq), report_dir.c_str());
  // The commands as this binary was invoked, so that they can be pasted as they are.
  const std::string k = g.program + " --data " + g.data;
  std::printf("  %s export %s\n", k.c_str(), SubjectIdHex(recorded[1].subject).c_str());
  std::printf("  %s verify-report %s/report.json\n", g.program.c_str(), report_dir.c_str());
  std::printf("  %s log --subject %s\n", k.c_str(), SubjectIdHex(forgotten).c_str());
  std::printf("  %s prove inclusion %llu\n", k.c_str(), static_cast<unsigned long long>(start));
  std::printf("  %s pubkey --pem | openssl pkey -pubin -noout -text\n", k.c_str());
  return 0;
}

}  // namespace kirjuri::cli
