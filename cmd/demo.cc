#include "demo.h"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kirjuri/json.h"
#include "kirjuri/note.h"
#include "kirjuri/requests.h"
#include "kirjuri/time.h"

namespace kirjuri::cli {
namespace {

// Fictional people: common Finnish first and family names, combined at random.
const char* const kFirst[] = {"Aino", "Eino", "Helmi", "Väinö", "Ilona", "Onni", "Sofia",
                              "Leevi", "Aada", "Elias", "Venla", "Oliver", "Lilja", "Eetu"};
const char* const kLast[] = {"Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen",
                             "Laine", "Heikkinen", "Koskinen", "Järvinen", "Lehtonen"};
const char* const kCities[] = {"Jyväskylä", "Helsinki", "Tampere", "Oulu", "Turku", "Kuopio"};
const char* const kSchools[] = {"Keskuskoulu", "Harjun koulu", "Kypärämäen koulu",
                                "Puistokoulu", "Lyseon lukio", "Kilpisen koulu"};
const char* const kPartnerOrgs[] = {"Oppimo Oy", "Tietotaito ry", "Kaupungin opetustoimi",
                                    "EduVerkko Oy", "Lukuklubi ry"};
const char* const kSources[] = {"web_form", "contact", "event_form", "meeting", "partner_website"};
const char* const kPupilUsage[] = {"exercise", "exercise", "exercise", "badge", "submission",
                                   "analytics"};
const char* const kTeacherUsage[] = {"content", "publication", "comment", "activity"};

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

// Appends `text` (JSON lines) atomically and brings the views up to date.
Status AppendText(Ledger& ledger, Views& views, const std::string& text,
                  std::vector<Appended>* out) {
  std::vector<NewEvent> events;
  KIRJURI_RETURN_IF_ERROR(ledger.ParseLines(text, &events));
  {
    Progress progress("appending the sample");
    KIRJURI_RETURN_IF_ERROR(ledger.Append(events, out));
  }
  CatchUpViews(views);
  return Status::Ok();
}

struct Person {
  std::string id;
  bool customer = false;
  bool teacher = false;
};

}  // namespace

int RunDemo(const Globals& g, const DemoOptions& options) {
  if (options.customers < 20) {
    return Fail(Status::InvalidArgument("the demo needs at least 20 customers"));
  }
  std::unique_ptr<Ledger> ledger;
  Status s = OpenLedger(g, &ledger);
  if (s.IsNotFound()) {
    if (s = Ledger::Init(g.data, InitOptions()); !s.ok()) return Fail(s);
    std::printf("created a new ledger in %s (policy: Almerin Oy, customer and partner registers)\n",
                g.data.c_str());
    s = OpenLedger(g, &ledger);
  }
  if (!s.ok()) return Fail(s);
  std::unique_ptr<Views> views;
  if (s = OpenViews(g, ledger.get(), &views); !s.ok()) return Fail(s);
  const uint64_t start = ledger->size();
  std::mt19937 rng(static_cast<uint32_t>(start) + 2026);
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };

  // 1. The people: customers are teachers (who order for their school) and pupils (who use the
  // service), partners are contacts at partner organisations. One event each; the ledger picks
  // their ids.
  std::string text;
  std::vector<Person> people;
  for (unsigned i = 0; i < options.customers + options.partners; ++i) {
    Person p;
    p.customer = i < options.customers;
    p.teacher = p.customer && i % 10 == 0;
    const char* reg = p.customer ? "customer" : "partner";
    std::string first = Pick(rng, kFirst), last = Pick(rng, kLast);
    std::string handle = Ascii(first) + "." + Ascii(last) + std::to_string(start + i);
    JsonWriter data;
    data.String("name", first + " " + last)
        .String("username", handle)
        .String("organisation", p.customer ? Pick(rng, kSchools) : Pick(rng, kPartnerOrgs))
        .String("city", Pick(rng, kCities))
        .String("mother_tongue", chance(92) ? "fi" : "sv");
    if (p.teacher || !p.customer) data.String("email", handle + "@example.fi");
    if (p.customer) data.String("title", p.teacher ? "opettaja" : "oppilas");
    if (p.customer && !p.teacher) data.String("class", std::to_string(1 + i % 9) + "A");
    text += Line(reg, "new", "recorded", "profile", p.customer ? "service_delivery" : "partnership",
                 p.customer ? "contract" : "legitimate_interest", Pick(rng, kSources),
                 data.Finish(), ",\"ip\":\"192.0.2." + std::to_string(i % 250 + 1) + "\"");
    people.push_back(p);
  }
  std::vector<Appended> recorded;
  if (s = AppendText(*ledger, *views, text, &recorded); !s.ok()) return Fail(s);
  for (size_t i = 0; i < recorded.size(); ++i) people[i].id = SubjectIdHex(recorded[i].subject);

  // 2. What happens to them: consents, learning analytics, orders, feedback, and the rights the
  // people use: withdrawals, objections to direct marketing, a restriction.
  text.clear();
  for (size_t i = 0; i < people.size(); ++i) {
    const Person& p = people[i];
    const char* reg = p.customer ? "customer" : "partner";
    const char* service = p.customer ? "service_delivery" : "partnership";
    // Adults may consent to direct marketing; pupils (children) are asked only whether their
    // exercises may be used to develop the service.
    const char* asked = p.customer && !p.teacher ? "service_development" : "marketing";
    if (chance(70)) {
      text += Line(reg, p.id.c_str(), "consent_given", "consents", asked, "consent",
                   "web_form", R"({"notice":"privacy-notice-2026-01","method":"checkbox"})");
      if (chance(8)) {
        text += Line(reg, p.id.c_str(), "consent_withdrawn", "consents", asked, "consent",
                     "contact", R"({"method":"email","reason":"too many messages"})");
      }
    }
    if (p.customer) {
      const int n = p.teacher ? 2 : 3 + static_cast<int>(i % 4);
      for (int k = 0; k < n; ++k) {
        const char* kind = p.teacher ? Pick(rng, kTeacherUsage) : Pick(rng, kPupilUsage);
        JsonWriter usage;
        usage.String("kind", kind);
        if (std::string(kind) == "exercise") usage.String("result", chance(80) ? "passed" : "retry");
        if (std::string(kind) == "badge") usage.String("badge", "lukumestari");
        if (std::string(kind) == "analytics") usage.String("analytics", "reading-speed:+12%");
        text += Line(reg, p.id.c_str(), "recorded", "usage", service, "contract", "cookies",
                     usage.Finish());
      }
    }
    if ((p.teacher || !p.customer) && chance(60)) {
      text += Line(reg, p.id.c_str(), "recorded", "billing", service, "contract", "contact",
                   JsonWriter()
                       .String("order_id", "ORD-" + std::to_string(start + 1000 + i))
                       .String("product", p.customer ? "Lukumestari, koululisenssi" : "Kumppanuus")
                       .String("amount", "490.00")
                       .String("currency", "EUR")
                       .Finish());
    }
    if (chance(5)) {
      text += Line(reg, p.id.c_str(), "recorded", "feedback", service, "legitimate_interest",
                   "contact", R"({"rating":4,"channel":"email"})");
    }
    if ((p.teacher || !p.customer) && chance(3)) {
      text += Line(reg, p.id.c_str(), "marketing_objected", "consents", "marketing",
                   "legitimate_interest", "contact", R"({"reason":"no direct marketing"})");
    }
  }
  std::vector<Appended> history;
  if (s = AppendText(*ledger, *views, text, &history); !s.ok()) return Fail(s);

  // 3. The showcase: a teacher moves (rectification), a pupil's guardian restricts processing,
  // and the first teacher asks to be forgotten (billing is kept under the Accounting Act).
  const Person& mover = people[10];
  const Person& restricted = people[1];
  const uint64_t before_rectification = ledger->size();
  text = Line("customer", mover.id, "rectified", "profile", "customer_relationship",
              "legitimate_interest", "contact",
              JsonWriter().String("city", "Rovaniemi").Finish()) +
         Line("customer", restricted.id, "restricted", "profile", "service_delivery", "contract",
              "contact", R"({"reason":"guardian's request pending review"})");
  std::vector<Appended> showcase;
  if (s = AppendText(*ledger, *views, text, &showcase); !s.ok()) return Fail(s);
  // The first teacher: billed, so something is kept under a retention duty.
  const Person& forgotten = people[0];
  text = Line("customer", forgotten.id, "recorded", "billing", "service_delivery", "contract",
              "contact", R"({"order_id":"ORD-FORGET-1","amount":"49.00","currency":"EUR"})");
  if (s = AppendText(*ledger, *views, text, &showcase); !s.ok()) return Fail(s);
  SubjectId forgotten_id;
  if (s = ParseSubjectId(forgotten.id, &forgotten_id); !s.ok()) return Fail(s);
  // The erasure comes as a request, received five days ago: fulfilling it erases the person and
  // writes the proof-of-deletion report.
  const std::string request_ref = "DEMO-REQ-" + std::to_string(start);
  const int64_t received = NowMicros() - int64_t{5} * 86400 * 1000000;
  uint64_t request_seq = 0;
  if (s = ledger->OpenRequest(forgotten_id, "erasure", request_ref, "dpo-01", received,
                              &request_seq);
      !s.ok()) {
    return Fail(s);
  }
  const std::string report_dir = options.reports + "/" + forgotten.id;
  FulfilOptions fulfil;
  fulfil.ref = request_ref;
  fulfil.actor = "dpo-01";
  fulfil.out = report_dir;
  FulfilResult fulfilled;
  if (s = FulfilRequest(*ledger, views.get(), fulfil, &fulfilled); !s.ok()) return Fail(s);
  const uint64_t erasure_seq = fulfilled.outcome_seqs.at(0);

  // 4. The walk.
  VerifyResult result;
  {
    Progress progress("verifying");
    VerifyOptions vo;
    vo.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
    if (s = ledger->Verify(vo, &result); !s.ok()) return Fail(s);
  }
  std::string note;
  if (s = ledger->LatestCheckpoint(&note); !s.ok()) return Fail(s);
  SubjectId mover_id;
  if (s = ParseSubjectId(mover.id, &mover_id); !s.ok()) return Fail(s);
  SubjectView now, then;
  if (s = views->Get(mover_id, 0, &now); !s.ok()) return Fail(s);
  if (s = views->Get(mover_id, before_rectification, &then); !s.ok()) return Fail(s);
  std::vector<SubjectView> audience, customers;
  if (s = views->MarketingAudience(0, &audience); !s.ok()) return Fail(s);
  if (s = views->List("customer", ViewFilter(), 0, &customers); !s.ok()) return Fail(s);
  size_t erased = 0;
  for (const SubjectView& v : customers) erased += v.erased;

  std::printf(
      "appended %llu sample events for %zu people (%u customers: teachers and pupils; %u "
      "partners), seq %llu..%llu\n\n"
      "verify: %llu events, %llu checkpoints, every signature valid; latest checkpoint:\n%s\n",
      static_cast<unsigned long long>(ledger->size() - start), people.size(), options.customers,
      options.partners, static_cast<unsigned long long>(start),
      static_cast<unsigned long long>(ledger->size() - 1),
      static_cast<unsigned long long>(result.events),
      static_cast<unsigned long long>(result.checkpoints), note.c_str());
  std::printf("customer %s (%s), a teacher who moved:\n  now:                    city %s\n"
              "  as of seq %llu (before the rectification): city %s\n\n",
              mover.id.c_str(), now.ProfileText("name").c_str(), now.ProfileText("city").c_str(),
              static_cast<unsigned long long>(before_rectification - 1),
              then.ProfileText("city").c_str());
  std::printf("marketing audience: %zu of %zu people may receive direct marketing today\n"
              "  (consent given and not withdrawn, no objection, not restricted, not erased)\n\n",
              audience.size(), people.size());
  std::printf("erasure request %s (received 5 days ago, due in a month) fulfilled:\n"
              "  customer %s erased at seq %llu: keys shredded, billing kept under the\n"
              "  Accounting Act; the customers view shows %zu erased customer(s) by id and dates only.\n"
              "  proof-of-deletion report: %s/report.html (and report.json, .sig)\n\n",
              request_ref.c_str(), forgotten.id.c_str(),
              static_cast<unsigned long long>(erasure_seq), erased, report_dir.c_str());
  // The commands as this binary was invoked, so that they can be pasted as they are.
  const std::string k = g.program + " --data " + g.data;
  std::printf("try:\n");
  std::printf("  %s query customer %s\n", k.c_str(), mover.id.c_str());
  std::printf("  %s query customer %s --as-of %llu\n", k.c_str(), mover.id.c_str(),
              static_cast<unsigned long long>(before_rectification - 1));
  std::printf("  %s query customers --city Rovaniemi\n", k.c_str());
  std::printf("  %s query marketing-audience --json | head\n", k.c_str());
  std::printf("  %s query customer %s\n", k.c_str(), forgotten.id.c_str());
  std::printf("  %s verify-report %s/report.json\n", g.program.c_str(), report_dir.c_str());
  std::printf("  %s request list\n", k.c_str());
  std::printf("  %s retention list\n", k.c_str());
  std::printf("  %s describe --lang fi\n", k.c_str());
  std::printf("  %s export %s\n", k.c_str(), restricted.id.c_str());
  std::printf("  %s rebuild\n", k.c_str());
  std::printf("  %s prove inclusion %llu\n", k.c_str(), static_cast<unsigned long long>(start));
  return 0;
}

}  // namespace kirjuri::cli
