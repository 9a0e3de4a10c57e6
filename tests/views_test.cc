// Projections: the customer, partner and marketing-audience views, kept incrementally and
// rebuilt from the log (byte for byte the same), queried now and as of a past point, with
// erased data replayed as erased and nothing personal stored in plaintext.
#include <capnp/message.h>
#include <catch2/catch.hpp>
#include <rocksdb/db.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kirjuri/canonical.h"
#include "kirjuri/schemas/view.capnp.h"
#include "kirjuri/subject_view.h"
#include "kirjuri/time.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

// `ip`, if given, is sealed under the "network" category, beside the event's own.
std::string Line(const std::string& reg, const std::string& subject, const std::string& type,
                 const std::string& category, const std::string& purpose,
                 const std::string& data = "", const std::string& source = "web_form",
                 const std::string& ip = "") {
  std::string basis = type.starts_with("consent") ? "consent" : "contract";
  std::string s = R"({"register":")" + reg + R"(","subject":")" + subject + R"(","type":")" +
                  type + R"(","category":")" + category + R"(","actor":"emp-0007","purpose":")" +
                  purpose + R"(","basis":")" + basis + R"(","source":")" + source + "\"";
  if (!data.empty()) s += ",\"data\":" + data;
  if (!ip.empty()) s += R"(,"ip":")" + ip + "\"";
  return s + "}\n";
}

class ViewsFixture : public LedgerFixture {
 public:
  ViewsFixture() { InitAndOpen(); OpenViews(); }
  ~ViewsFixture() { views.reset(); }

  void OpenViews() {
    views.reset();
    Status s = Views::Open(&ledger(), data(), nullptr, &views);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  // Appends and catches the views up, as every writing command does.
  std::vector<Appended> Add(const std::string& lines) {
    std::vector<Appended> out;
    Status s = AppendLines(lines, &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    s = views->CatchUp();
    INFO(s.ToString());
    REQUIRE(s.ok());
    return out;
  }
  SubjectId NewCustomer(const std::string& name, const std::string& city = "Oulu") {
    return Add(Line("customer", "new", "recorded", "profile", "service_delivery",
                    R"({"name":")" + name + R"(","email":"x@example.fi","city":")" + city +
                        "\"}"))[0]
        .subject;
  }
  void Event(const SubjectId& id, const std::string& type, const std::string& category,
             const std::string& purpose, const std::string& data = "") {
    Add(Line("customer", SubjectIdHex(id), type, category, purpose, data));
  }
  void Erase(const SubjectId& id) {
    uint64_t seq = 0;
    Status s = ledger().Erase({id, "REQ-1", "dpo-01", 0}, &seq);
    INFO(s.ToString());
    REQUIRE(s.ok());
    REQUIRE(views->CatchUp().ok());
  }

  SubjectView Get(const SubjectId& id, uint64_t as_of = 0) {
    SubjectView v;
    Status s = views->Get(id, as_of, &v);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return v;
  }
  std::set<SubjectId> Audience(uint64_t as_of = 0) {
    std::vector<SubjectView> rows;
    Status s = views->MarketingAudience(as_of, &rows);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::set<SubjectId> ids;
    for (const auto& v : rows) ids.insert(v.subject);
    return ids;
  }
  std::map<std::string, std::string> DumpAll() {
    std::map<std::string, std::string> dumps;
    for (const std::string& name : views->Names()) {
      REQUIRE(views->Dump(name, &dumps[name]).ok());
    }
    return dumps;
  }

  std::unique_ptr<Views> views;
};

std::string Field(const SubjectView& v, const std::string& category, const std::string& name) {
  auto c = v.categories.find(category);
  if (c == v.categories.end()) return "<none>";
  auto f = c->second.fields.find(name);
  if (f == c->second.fields.end()) return "<none>";
  return f->second.json ? *f->second.json : "<erased>";
}

}  // namespace

TEST_CASE("a rebuilt view is byte-identical to the one kept incrementally, over a random history") {
  ViewsFixture t;
  std::mt19937 rng(20261125);
  auto pick = [&](unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng); };
  std::vector<std::pair<SubjectId, std::string>> people;  // (id, register)
  std::set<SubjectId> erased, restricted;
  uint64_t erasures = 0;
  const char* cities[] = {"Oulu", "Turku", "Kuopio"};
  while (t.ledger().size() < 3000) {
    std::string lines;
    std::vector<std::pair<size_t, std::string>> added;  // (line index, register) of new people
    size_t n = 0;
    const unsigned batch = 1 + pick(40);
    for (unsigned i = 0; i < batch; ++i) {
      if (people.empty() || pick(8) == 0) {
        std::string reg = pick(5) == 0 ? "partner" : "customer";
        lines += Line(reg, "new", "recorded", "profile",
                      reg == "customer" ? "service_delivery" : "partnership",
                      R"({"name":"Henkilö )" + std::to_string(people.size() + added.size()) +
                          R"(","city":")" + cities[pick(3)] + "\"}");
        added.emplace_back(n++, reg);
        continue;
      }
      const auto& [id, reg] = people[pick(static_cast<unsigned>(people.size()))];
      if (erased.count(id)) continue;
      const std::string s = SubjectIdHex(id);
      const std::string service = reg == "customer" ? "service_delivery" : "partnership";
      ++n;
      // While restricted, only what the restriction rule allows (rights and rectification).
      unsigned what = pick(9);
      if (restricted.count(id) && what >= 5) what = 4;
      if (what == 3) {
        if (pick(2)) {
          restricted.insert(id);
        } else {
          restricted.erase(id);
        }
      }
      switch (what) {
        case 0: lines += Line(reg, s, "consent_given", "consents", "marketing", R"({"method":"checkbox"})"); break;
        case 1: lines += Line(reg, s, "consent_withdrawn", "consents", "marketing"); break;
        case 2: lines += Line(reg, s, "marketing_objected", "consents", "marketing"); break;
        case 3: lines += Line(reg, s, restricted.count(id) ? "restricted" : "restriction_lifted", "profile", service); break;
        case 4: lines += Line(reg, s, "rectified", "profile", service, R"({"city":")" + std::string(cities[pick(3)]) + "\"}"); break;
        case 5: lines += Line(reg, s, "recorded", "billing", service, R"({"order_id":"O-)" + std::to_string(pick(1000)) + "\"}"); break;
        default:
          if (reg == "customer") {
            // Every other one with the address it came from: a second category changed.
            lines += Line(reg, s, "recorded", "usage", service,
                          R"({"kind":")" + std::string(pick(2) ? "exercise" : "badge") + "\"}",
                          "cookies", pick(2) ? "198.51.100." + std::to_string(pick(250)) : "");
          } else {
            lines += Line(reg, s, "recorded", "feedback", service, R"({"rating":)" + std::to_string(pick(5)) + "}");
          }
      }
    }
    if (lines.empty()) continue;
    std::vector<Appended> out = t.Add(lines);
    REQUIRE(out.size() == n);
    for (const auto& [index, reg] : added) people.emplace_back(out[index].subject, reg);
    if (pick(25) == 0 && people.size() > 5) {
      const SubjectId victim = people[pick(static_cast<unsigned>(people.size()))].first;
      if (!erased.count(victim)) {
        t.Erase(victim);
        erased.insert(victim);
        ++erasures;
      }
    }
    if (pick(30) == 0) t.OpenViews();  // a restart between appends
  }
  std::vector<uint64_t> retention;
  REQUIRE(t.ledger().RunRetention(NowMicros() + int64_t{20} * 365 * 86400 * 1000000, &retention).ok());
  REQUIRE(t.views->CatchUp().ok());
  REQUIRE(erasures > 0);
  REQUIRE_FALSE(retention.empty());

  // Every subject's row equals a replay of its own events.
  for (const auto& [id, reg] : people) {
    SubjectView replayed;
    REQUIRE(ReplaySubject(t.ledger(), id, 0, &replayed).ok());
    INFO("subject " << SubjectIdHex(id));
    CHECK(t.Get(id) == replayed);
    CHECK(replayed.erased == (erased.count(id) == 1));
  }

  // A list as of a point, page by page, equals the whole list as of that point (a page replays
  // its people alone; the whole list folds the log's prefix), erased people in or out, with a
  // filter on the city (which rectifications change) or without.
  for (uint64_t as_of : {uint64_t{1}, uint64_t{700}, uint64_t{1900}, t.ledger().size() - 1}) {
    for (const char* reg : {"customer", "partner"}) {
      for (auto [include_erased, city] : {std::pair{true, ""}, std::pair{false, ""},
                                          std::pair{true, "Turku"}, std::pair{false, "Turku"}}) {
        INFO("as of " << as_of << ", " << reg << ", erased " << include_erased << ", city "
                      << city);
        ViewFilter filter;
        filter.include_erased = include_erased;
        filter.city = city;
        std::vector<SubjectView> whole;
        REQUIRE(t.views->List(reg, filter, as_of, &whole).ok());
        std::vector<SubjectView> paged, page;
        filter.limit = 7;
        do {
          REQUIRE(t.views->List(reg, filter, as_of, &page).ok());
          CHECK(page.size() <= 7);
          paged.insert(paged.end(), page.begin(), page.end());
          if (!page.empty()) filter.after = page.back().subject;
        } while (page.size() == 7);
        CHECK(paged.size() == whole.size());
        CHECK(paged == whole);
        if (as_of > 1) CHECK_FALSE(whole.empty());
      }
    }
    // The audience then: exactly the people whose own events put them in it, with their data.
    std::vector<SubjectView> audience;
    REQUIRE(t.views->MarketingAudience(as_of, &audience).ok());
    std::map<SubjectId, const SubjectView*> listed;
    for (const SubjectView& v : audience) listed[v.subject] = &v;
    size_t expected = 0;
    for (const auto& [id, reg] : people) {
      SubjectView then;
      Status s = ReplaySubject(t.ledger(), id, as_of, &then);
      if (s.IsNotFound()) continue;  // not yet in the log
      REQUIRE(s.ok());
      INFO("as of " << as_of << ", subject " << SubjectIdHex(id));
      REQUIRE(listed.count(id) == (then.InMarketingAudience() ? 1u : 0u));
      if (!then.InMarketingAudience()) continue;
      ++expected;
      CHECK(listed[id]->categories == then.categories);
      CHECK(listed[id]->consents == then.consents);
    }
    CHECK(audience.size() == expected);
    if (as_of > 700) CHECK(expected > 0);
  }

  const auto incremental = t.DumpAll();
  for (const auto& [name, bytes] : incremental) {
    INFO("view " << name);
    CHECK(bytes.size() > 8);
    REQUIRE(t.views->Rebuild(name).ok());
    std::string rebuilt;
    REQUIRE(t.views->Dump(name, &rebuilt).ok());
    CHECK(rebuilt == bytes);
  }
  REQUIRE(t.views->Rebuild("").ok());
  CHECK(t.DumpAll() == incremental);
  CHECK(t.views->Rebuild("customers").IsInvalidArgument());

  // A long fold runs in passes, each for a share of the people: the same bytes.
  ViewsOptions small;
  small.events_per_pass = 300;
  t.views.reset();
  REQUIRE(Views::Open(&t.ledger(), t.data(), nullptr, &t.views, small).ok());
  REQUIRE(t.views->Rebuild("").ok());
  CHECK(t.DumpAll() == incremental);
}

TEST_CASE("a customer as of before and after a rectification, by sequence number and by time") {
  ViewsFixture t;
  SubjectId id = t.NewCustomer("Aino Testinen", "Oulu");
  const uint64_t before = t.ledger().size();
  const int64_t between = NowMicros();
  t.Event(id, "rectified", "profile", "customer_relationship", R"({"city":"Turku"})");

  CHECK(Field(t.Get(id), "profile", "city") == "\"Turku\"");
  CHECK(Field(t.Get(id, before), "profile", "city") == "\"Oulu\"");
  CHECK(Field(t.Get(id, before + 1), "profile", "city") == "\"Turku\"");
  CHECK(t.Get(id, before).event_count == 1);

  uint64_t size = 0;
  REQUIRE(ResolveAsOf(t.ledger(), std::to_string(before - 1), &size).ok());
  CHECK(size == before);
  REQUIRE(ResolveAsOf(t.ledger(), FormatRfc3339(between), &size).ok());
  CHECK(size == before);
  CHECK(ResolveAsOf(t.ledger(), "1999-01-01", &size).IsNotFound());
  const Status past_end = ResolveAsOf(t.ledger(), std::to_string(t.ledger().size()), &size);
  CHECK(past_end.IsInvalidArgument());
  CHECK(past_end.message() == "as of " + std::to_string(t.ledger().size()) +
                                  ": the log holds seq 0 to " +
                                  std::to_string(t.ledger().size() - 1));
  CHECK(ResolveAsOf(t.ledger(), "yesterday", &size).IsInvalidArgument());
  const Status huge = ResolveAsOf(t.ledger(), "123456789012345678901", &size);
  CHECK(huge.IsInvalidArgument());
  CHECK(huge.message() == "as of 123456789012345678901: the sequence number is too big");
  // A view or register the ledger does not have is named, not taken for an empty one.
  std::vector<SubjectView> none;
  const Status unknown = t.views->List("suppliers", ViewFilter(), 0, &none);
  CHECK(unknown.IsInvalidArgument());
  CHECK(unknown.message() == "no register named 'suppliers'");
  uint64_t applied = 0;
  CHECK(t.views->Applied("suppliers", &applied).IsNotFound());
  CHECK(t.views->Rebuild("suppliers").IsInvalidArgument());

  // The list as of then holds the old city too, and a filter sees it.
  std::vector<SubjectView> rows;
  ViewFilter oulu;
  oulu.city = "Oulu";
  REQUIRE(t.views->List("customer", oulu, before, &rows).ok());
  CHECK(rows.size() == 1);
  REQUIRE(t.views->List("customer", oulu, 0, &rows).ok());
  CHECK(rows.empty());
}

TEST_CASE("each rule of the marketing audience takes a subject out, and a new consent brings it back") {
  ViewsFixture t;
  const SubjectId a = t.NewCustomer("Audience Member");
  const SubjectId bystander = t.NewCustomer("Never Consented");
  CHECK(t.Audience().empty());
  t.Event(a, "consent_given", "consents", "marketing");
  CHECK(t.Audience() == std::set<SubjectId>{a});
  // Consent for another purpose is not consent for marketing.
  t.Event(bystander, "consent_given", "consents", "events");
  CHECK(t.Audience() == std::set<SubjectId>{a});

  SECTION("withdrawn consent") {
    t.Event(a, "consent_withdrawn", "consents", "marketing");
    CHECK(t.Audience().empty());
    t.Event(a, "consent_given", "consents", "marketing");
    CHECK(t.Audience() == std::set<SubjectId>{a});
  }
  SECTION("objection to direct marketing") {
    const uint64_t before = t.ledger().size();
    t.Event(a, "marketing_objected", "consents", "marketing");
    CHECK(t.Audience().empty());
    CHECK(t.Audience(before) == std::set<SubjectId>{a});
    t.Event(a, "consent_given", "consents", "marketing");
    CHECK(t.Audience() == std::set<SubjectId>{a});
  }
  SECTION("restriction") {
    t.Event(a, "restricted", "profile", "service_delivery");
    CHECK(t.Audience().empty());
    t.Event(a, "restriction_lifted", "profile", "service_delivery");
    CHECK(t.Audience() == std::set<SubjectId>{a});
  }
  SECTION("erasure") {
    t.Erase(a);
    CHECK(t.Audience().empty());
  }
  // Whatever happened, the stored audience is what a fold of the log gives.
  std::string kept, rebuilt;
  REQUIRE(t.views->Dump(kMarketingAudienceView, &kept).ok());
  REQUIRE(t.views->Rebuild(kMarketingAudienceView).ok());
  REQUIRE(t.views->Dump(kMarketingAudienceView, &rebuilt).ok());
  CHECK(kept == rebuilt);
}

TEST_CASE("a partner view never holds usage data") {
  ViewsFixture t;
  std::vector<Appended> p = t.Add(Line("partner", "new", "recorded", "profile", "partnership",
                                       R"({"name":"Kumppani Oy:n Testi"})"));
  Status s = t.AppendLines(Line("partner", SubjectIdHex(p[0].subject), "recorded", "usage",
                                "partnership", R"({"kind":"exercise"})"));
  CHECK(s.IsInvalidArgument());
  REQUIRE(t.views->CatchUp().ok());
  SubjectView v = t.Get(p[0].subject);
  CHECK(v.register_name == "partner");
  CHECK(v.categories.count("usage") == 0);
  CHECK(v.ToJson().find("\"usage\"") == std::string::npos);
}

TEST_CASE("a query given the categories a caller may read never opens the others") {
  ViewsFixture t;
  const SubjectId id = t.NewCustomer("Rajattu Lukija", "Oulu");
  t.Event(id, "consent_given", "consents", "marketing", R"({"method":"checkbox"})");
  t.Event(id, "recorded", "billing", "service_delivery", R"({"order_id":"ORD-RAJA"})");
  const uint64_t before_billing = t.ledger().size() - 1;
  const SubjectView full = t.Get(id);
  REQUIRE(full.categories.count("billing") == 1);

  // Damage the sealed billing category of the stored row: opening it now fails.
  t.views.reset();
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), (t.data() / "views").string(),
                              {{rocksdb::kDefaultColumnFamilyName, {}}, {"rows", {}},
                               {"audience", {}}},
                              &handles, &raw)
                .ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string key = "customer";
    key.push_back('\0');
    key.append(reinterpret_cast<const char*>(id.data()), id.size());
    std::string row;
    REQUIRE(db->Get(rocksdb::ReadOptions(), handles[1], key, &row).ok());
    REQUIRE(ReadCanonical<schema::SubjectRow>(row, "a row", [&](auto reader) {
              capnp::MallocMessageBuilder message;
              message.setRoot(reader);
              bool damaged = false;
              for (auto c : message.getRoot<schema::SubjectRow>().getCategories()) {
                if (c.getCategory() != "billing") continue;
                c.getSealed()[c.getSealed().size() / 2] ^= 0x01;
                damaged = true;
              }
              REQUIRE(damaged);
              row = CanonicalBytes(message.getRoot<schema::SubjectRow>().asReader());
              return Status::Ok();
            }).ok());
    REQUIRE(db->Put(rocksdb::WriteOptions(), handles[1], key, row).ok());
    for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
    REQUIRE(db->Close().ok());
  }
  t.OpenViews();
  SubjectView v;
  CHECK(t.views->Get(id, 0, &v).IsCorruption());

  // Asked for the profile only: the billing seal is never opened, and nothing else is returned.
  const CategoryFilter profile = [](std::string_view c) { return c == "profile"; };
  Status s = t.views->Get(id, 0, &v, profile);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(v.categories.size() == 1);
  CHECK(v.categories["profile"] == full.categories.at("profile"));
  CHECK(v.consents == full.consents);  // plaintext facts are not categories: all there
  std::vector<SubjectView> audience;
  REQUIRE(t.views->MarketingAudience(0, &audience, profile).ok());
  REQUIRE(audience.size() == 1);
  CHECK(Field(audience[0], "profile", "name") == "\"Rajattu Lukija\"");
  CHECK(audience[0].categories.size() == 1);
  CHECK(t.views->MarketingAudience(0, &audience).IsCorruption());
  std::vector<SubjectView> listed;
  CHECK(t.views->List("customer", {}, 0, &listed).IsCorruption());
  REQUIRE(t.views->List("customer", {}, 0, &listed, profile).ok());
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].categories.size() == 1);
  // A filter on the city reads the profile even for a caller who asked for none of it.
  ViewFilter in_oulu;
  in_oulu.city = "Oulu";
  const CategoryFilter nothing = [](std::string_view) { return false; };
  REQUIRE(t.views->List("customer", in_oulu, 0, &listed, nothing).ok());
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].categories.empty());
  in_oulu.city = "Turku";
  REQUIRE(t.views->List("customer", in_oulu, 0, &listed, nothing).ok());
  CHECK(listed.empty());

  // As of an earlier point (a replay of the log), the others are left out the same way.
  REQUIRE(t.views->Get(id, before_billing, &v, [](std::string_view c) { return c == "consents"; })
              .ok());
  CHECK(v.categories.size() == 1);
  CHECK(v.categories.count("consents") == 1);
  REQUIRE(t.views->Get(id, before_billing, &v, [](std::string_view) { return false; }).ok());
  CHECK(v.categories.empty());
  CHECK(v.consents.count("marketing") == 1);
}

TEST_CASE("views survive a restart and catch up with appends made while they were closed") {
  ViewsFixture t;
  const SubjectId id = t.NewCustomer("Kestävä Testaaja", "Oulu");
  uint64_t applied = 0;
  REQUIRE(t.views->Applied("customer", &applied).ok());
  CHECK(applied == t.ledger().size());
  t.views.reset();
  REQUIRE(t.AppendLines(Line("customer", SubjectIdHex(id), "rectified", "profile",
                             "customer_relationship", R"({"city":"Kuopio"})"))
              .ok());
  t.Reopen();
  t.OpenViews();  // catches up on open
  for (const std::string& name : t.views->Names()) {
    REQUIRE(t.views->Applied(name, &applied).ok());
    CHECK(applied == t.ledger().size());
  }
  CHECK(Field(t.Get(id), "profile", "city") == "\"Kuopio\"");
}

TEST_CASE("erased subjects replay as erased, never as errors, and keep ids and dates only") {
  ViewsFixture t;
  const SubjectId id = t.NewCustomer("Unohdettava Testi");
  t.Event(id, "consent_given", "consents", "marketing");
  t.Event(id, "recorded", "billing", "service_delivery", R"({"order_id":"ORD-UNOHDA"})");
  const uint64_t before_erasure = t.ledger().size();
  t.Erase(id);
  // The erasure reached the views before it was signed: the row's two sealed categories
  // (profile, billing; the consent carried no data) and the audience entry, and the event says so.
  uint64_t removed = 0;
  REQUIRE(t.ledger().ReadEvents(before_erasure, before_erasure + 1, [&](const EventView& e) {
    removed = e.signed_event.getEvent().getErasure().getViewRowsRemoved();
    return Status::Ok();
  }).ok());
  CHECK(removed == 3);

  SubjectView now = t.Get(id);
  CHECK(now.erased);
  CHECK(now.categories.empty());
  CHECK(now.consents.empty());
  CHECK(now.retained.count("billing") == 1);  // kept under the Accounting Act, with a due date
  CHECK(now.event_count == 4);
  std::vector<SubjectView> rows;
  REQUIRE(t.views->List("customer", ViewFilter{}, 0, &rows).ok());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].erased);
  ViewFilter held;
  held.include_erased = false;
  REQUIRE(t.views->List("customer", held, 0, &rows).ok());
  CHECK(rows.empty());

  // As of before the erasure: the profile's key is shredded, so its fields are placeholders;
  // billing's key is retained, so it still reads.
  SubjectView then = t.Get(id, before_erasure);
  CHECK_FALSE(then.erased);
  CHECK(Field(then, "profile", "name") == "<erased>");
  CHECK(then.categories.at("profile").erased());
  CHECK(Field(then, "billing", "order_id") == "\"ORD-UNOHDA\"");
  CHECK(then.ToJson().find("\"erased\":true") != std::string::npos);

  // The same after a rebuild from the log.
  REQUIRE(t.views->Rebuild("").ok());
  CHECK(t.Get(id) == now);
  CHECK(t.Audience().empty());
}

TEST_CASE("the views directory holds no personal data in plaintext") {
  ViewsFixture t;
  const SubjectId id = t.NewCustomer("Salainen Näkymätesti", "Näkymälä");
  t.Event(id, "recorded", "usage", "service_delivery", R"({"kind":"näkymäharjoitus"})");
  t.views.reset();  // close: what is in memtables reaches the WAL and files as they are
  // Owner-only, like the log and the key store.
  const fs::perms others = fs::perms::group_all | fs::perms::others_all;
  CHECK((fs::status(t.data() / "views").permissions() & others) == fs::perms::none);
  for (const auto& entry : fs::recursive_directory_iterator(t.data() / "views")) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = ReadFile(entry.path());
    for (const char* needle : {"Salainen", "Näkymälä", "näkymäharjoitus", "x@example.fi"}) {
      INFO(entry.path() << " holds " << needle);
      CHECK(bytes.find(needle) == std::string::npos);
    }
  }
}
