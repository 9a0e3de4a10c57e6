// CSV import: RFC 4180 parsing, rows -> events checked by the ledger's own policy check, a file
// imported whole or not at all, every bad row named by its line and none of its data echoed.
#include "kirjuri/csv_import.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ledger_fixture.h"

using namespace kirjuri;
using kirjuri::test::LedgerFixture;

namespace {

CsvImportOptions Customer() {
  CsvImportOptions o;
  o.register_name = "customer";
  o.source = "web_form";
  o.actor = "emp-0007";
  return o;
}

std::string Problems(const CsvImportPlan& plan) {
  std::string all;
  for (const auto& p : plan.problems) all += p.ToString() + "\n";
  return all;
}

bool HasProblemAt(const CsvImportPlan& plan, uint64_t line, const std::string& words) {
  for (const auto& p : plan.problems) {
    if (p.line == line && p.reason.find(words) != std::string::npos) return true;
  }
  return false;
}

// The opened fields of every event of the log: seq -> field name -> JSON value.
std::map<uint64_t, std::map<std::string, std::string>> Fields(Ledger& ledger) {
  std::map<uint64_t, std::map<std::string, std::string>> out;
  Status s = ledger.ReadEvents(0, ledger.size(), [&](const EventView& e) {
    std::vector<FieldValue> fields;
    KIRJURI_RETURN_IF_ERROR(ledger.ReadFields(e, &fields));
    for (const auto& f : fields) out[e.seq][f.name] = f.json.value_or("(erased)");
    return Status::Ok();
  });
  REQUIRE(s.ok());
  return out;
}

// Personal values used in the bad files; none may appear in any message.
const char* const kPersonal[] = {"Aino Virtanen", "aino@example.fi", "Hunter2secret",
                                 "Kuopio",        "Pekka Puupää",    "pekka@example.fi",
                                 "4711.90",       "198.51.100.23"};

}  // namespace

TEST_CASE(
    "RFC 4180: quoted commas, doubled quotes, line breaks in quotes, CRLF, a BOM and blank lines") {
  const std::string text =
      "\xEF\xBB\xBF"
      "name,title\r\n"
      "\"Virtanen, Aino\",\"the \"\"best\"\" teacher\"\r\n"
      "\r\n"
      "\"two\nlines\",plain\n"
      "last,\n"
      ",";
  std::vector<CsvRecord> records;
  Status s = ParseCsv(text, &records);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(records.size() == 5);
  CHECK(records[0].cells == std::vector<std::string>{"name", "title"});
  CHECK(records[0].line == 1);
  CHECK(records[1].cells == std::vector<std::string>{"Virtanen, Aino", "the \"best\" teacher"});
  CHECK(records[1].line == 2);
  CHECK(records[2].cells == std::vector<std::string>{"two\nlines", "plain"});
  CHECK(records[2].line == 4);  // line 3 is blank
  CHECK(records[3].cells == std::vector<std::string>{"last", ""});
  CHECK(records[3].line == 6);  // the record above took two lines
  CHECK(records[4].cells == std::vector<std::string>{"", ""});
  CHECK(records[4].line == 7);
  for (const auto& r : records) CHECK(r.error.empty());
}

TEST_CASE("malformed quotes are named by line, and an unclosed quote stops the parse") {
  std::vector<CsvRecord> records;
  REQUIRE(ParseCsv("a,b\nx\"y,z\n\"q\"r,s\nok,ok\n", &records).ok());
  REQUIRE(records.size() == 4);
  CHECK(records[1].error == "a quote inside an unquoted field");
  CHECK(records[2].error == "text after the closing quote of a field");
  CHECK(records[3].error.empty());
  CHECK(records[3].cells == std::vector<std::string>{"ok", "ok"});

  Status s = ParseCsv("a,b\nok,ok\n\"never closed,x\ny,z\n", &records);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "line 3: a quoted field is not closed");
}

TEST_CASE("a good file becomes one checked event per row, and every value reads back") {
  LedgerFixture f;
  f.InitAndOpen();
  const std::string csv =
      "name,email,phone,city,organisation,title,ip\r\n"
      "Aino Virtanen,aino@example.fi,+358 40 1234567,Jyväskylä,Koulu Oy,Opettaja,198.51.100.23\r\n"
      "\"Puupää, Pekka\",pekka@example.fi,,Kuopio,\"Firma \"\"X\"\"\",\"Rehtori\nja opettaja\",\r\n"
      ",,,,,,203.0.113.5\r\n";
  CsvImportPlan plan;
  Status s = BuildCsvImport(f.ledger(), csv, Customer(), &plan);
  INFO(s.ToString() << "\n" << Problems(plan));
  REQUIRE(s.ok());
  REQUIRE(plan.events.size() == 3);
  CHECK(plan.events[0].line == 2);
  CHECK(plan.events[1].line == 3);
  CHECK(plan.events[2].line == 5);
  for (const NewEvent& e : plan.events) {
    CHECK(e.register_name == "customer");
    CHECK_FALSE(e.subject);
    CHECK(e.type == "recorded");
    CHECK(e.purpose == "customer_relationship");  // the customer register's default
    CHECK(e.basis == "legitimate_interest");
    CHECK(e.source == "web_form");
    CHECK(e.actor == "emp-0007");
  }
  CHECK(plan.events[0].category == "profile");
  CHECK(plan.events[0].ip == std::optional<std::string>("\"198.51.100.23\""));
  CHECK(plan.events[1].data.size() == 5);  // the empty phone cell is left out
  CHECK_FALSE(plan.events[1].ip);
  CHECK(plan.events[2].category == "network");  // an ip alone

  std::vector<Appended> appended;
  REQUIRE(f.ledger().Append(plan.events, &appended).ok());
  REQUIRE(appended.size() == 3);
  CHECK(appended[0].subject != appended[1].subject);
  auto fields = Fields(f.ledger());
  CHECK(fields[0]["name"] == "\"Aino Virtanen\"");
  CHECK(fields[0]["city"] == "\"Jyväskylä\"");
  CHECK(fields[0]["ip"] == "\"198.51.100.23\"");
  CHECK(fields[1]["name"] == "\"Puupää, Pekka\"");
  CHECK(fields[1]["organisation"] == "\"Firma \\\"X\\\"\"");
  CHECK(fields[1]["title"] == "\"Rehtori\\nja opettaja\"");
  CHECK(fields[1].count("phone") == 0);
  CHECK(fields[2]["ip"] == "\"203.0.113.5\"");

  // The partner register's default purpose, and an override the policy checks.
  CsvImportOptions partner = Customer();
  partner.register_name = "partner";
  REQUIRE(BuildCsvImport(f.ledger(), "name\nX\n", partner, &plan).ok());
  CHECK(plan.events[0].purpose == "partnership");
  partner.purpose = "events";
  REQUIRE(BuildCsvImport(f.ledger(), "name\nX\n", partner, &plan).ok());
  CHECK(plan.events[0].purpose == "events");
  partner.purpose = "customer_relationship";  // the customer register's, not the partner's
  CHECK_FALSE(BuildCsvImport(f.ledger(), "name\nX\n", partner, &plan).ok());
  CHECK(Problems(plan).find(
            "purpose 'customer_relationship' is not declared in the partner register") !=
        std::string::npos);
}

TEST_CASE(
    "every bad column and row is reported by its line, none quotes the data, and nothing is "
    "built") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(2);
  const uint64_t size = f.ledger().size();

  SECTION("bad header columns: unknown, cleartext password, another category's field") {
    const std::string csv =
        "name,emial,password,amount,user_agent\n"
        "Aino Virtanen,aino@example.fi,Hunter2secret,4711.90,Kuopio\n";
    CsvImportPlan plan;
    Status s = BuildCsvImport(f.ledger(), csv, Customer(), &plan);
    INFO(Problems(plan));
    CHECK(s.IsInvalidArgument());
    CHECK(HasProblemAt(plan, 1, "column 2 ('emial'): field 'emial' is not declared"));
    CHECK(HasProblemAt(plan, 1, "column 3 ('password'): a cleartext 'password' is never accepted"));
    CHECK(HasProblemAt(plan, 1, "column 4 ('amount')"));
    CHECK(HasProblemAt(plan, 1, "a field of category 'billing'"));
    CHECK(HasProblemAt(plan, 1, "column 5 ('user_agent')"));
    CHECK(HasProblemAt(plan, 1, "a field of category 'network'"));
    CHECK(plan.problems.size() == 4);
    for (const char* p : kPersonal) CHECK(Problems(plan).find(p) == std::string::npos);
  }

  SECTION("bad rows among good ones: each is named, not only the first") {
    const std::string csv =
        "name,email,city\n"                               // 1
        "Aino Virtanen,aino@example.fi,Kuopio\n"          // 2 good
        "Pekka Puupää,pekka@example.fi,Kuopio,4711.90\n"  // 3 too many cells
        "\"Aino\nVirtanen\",aino@example.fi,Kuopio\n"     // 4-5 good
        "Pekka Puupää\n"                                  // 6 too few
        ",,\n"                                            // 7 nothing
        "Aino \"V\" Virtanen,x,y\n"                       // 8 stray quote
        "Pekka Puupää,\xff\xfe,Kuopio\n";                 // 9 not UTF-8
    CsvImportPlan plan;
    Status s = BuildCsvImport(f.ledger(), csv, Customer(), &plan);
    INFO(Problems(plan));
    CHECK(s.IsInvalidArgument());
    CHECK(s.message() == "5 problems in the CSV");
    CHECK(HasProblemAt(plan, 3, "4 cells, the header has 3"));
    CHECK(HasProblemAt(plan, 6, "1 cell, the header has 3"));
    CHECK(HasProblemAt(plan, 7, "no value"));
    CHECK(HasProblemAt(plan, 8, "a quote inside an unquoted field"));
    CHECK(HasProblemAt(plan, 9, "column 2 ('email'): not valid UTF-8"));
    CHECK(plan.problems.size() == 5);
    for (const char* p : kPersonal) CHECK(Problems(plan).find(p) == std::string::npos);
  }

  SECTION("a file without a header names no data as a column") {
    CsvImportPlan plan;
    CHECK_FALSE(
        BuildCsvImport(f.ledger(), "Aino Virtanen,aino@example.fi\nx,y\n", Customer(), &plan).ok());
    INFO(Problems(plan));
    CHECK(plan.problems.size() == 2);
    for (const char* p : kPersonal) CHECK(Problems(plan).find(p) == std::string::npos);
  }

  SECTION("bad options are one problem, not one per row") {
    CsvImportOptions o = Customer();
    o.source = "carrier_pigeon";
    CsvImportPlan plan;
    CHECK_FALSE(BuildCsvImport(f.ledger(), "name\nA\nB\nC\n", o, &plan).ok());
    REQUIRE(plan.problems.size() == 1);
    CHECK(plan.problems[0].ToString() ==
          "source 'carrier_pigeon' is not declared in the customer register");
  }

  CHECK(f.ledger().size() == size);
}

TEST_CASE("kirjuri import loads a register atomically, and a file with a bad row imports nothing") {
  using kirjuri::testing::RunKirjuri;
  using kirjuri::testing::SplitArgs;
  kirjuri::testing::TempDir dir("kirjuri-import-cli");
  const std::string k = "--data " + (dir.path() / "data").string() + " ";
  auto run = [&](const std::string& args) {
    auto r = RunKirjuri(SplitArgs(k + args), dir.path());
    INFO("kirjuri " << args << "\n" << kirjuri::test::Describe(r));
    return r;
  };
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  };
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  };
  REQUIRE(run("init").code == 0);
  const std::string args = " --register customer --source event_form --actor emp-0007";

  const std::string good = write("good.csv",
                                 "name,email,city,ip\n"
                                 "Aino Virtanen,aino@example.fi,Kuopio,198.51.100.23\n"
                                 "\"Puupää, Pekka\",pekka@example.fi,\"Kuo\npio\",\n"
                                 "Third Person,third@example.fi,Oulu,\n");
  auto imported = run("import " + good + args + " --json");
  REQUIRE(imported.code == 0);
  auto seqs = lines(imported.out);
  REQUIRE(seqs.size() == 3);
  CHECK(seqs[0].rfind("{\"seq\":0,\"subject\":\"", 0) == 0);
  CHECK(seqs[2].rfind("{\"seq\":2,\"subject\":\"", 0) == 0);
  auto customers = run("query customers --json");
  REQUIRE(customers.code == 0);
  CHECK(lines(customers.out).size() == 3);
  CHECK(customers.out.find("Puupää, Pekka") != std::string::npos);
  CHECK(customers.out.find("Kuo\\npio") != std::string::npos);

  auto text = run("import " + good + " --register partner --source meeting --actor emp-0007");
  REQUIRE(text.code == 0);
  CHECK(text.out.find("imported 3 rows") != std::string::npos);
  CHECK(lines(run("query partners --json").out).size() == 3);

  const std::string bad = write("bad.csv",
                                "name,email,city\n"
                                "Aino Virtanen,aino@example.fi,Kuopio\n"
                                "Pekka Puupää,pekka@example.fi,Kuopio,4711.90\n"
                                "Aino Virtanen,aino@example.fi,Kuopio\n"
                                "Pekka Puupää,pekka@example.fi\n");
  auto refused = run("import " + bad + args);
  CHECK(refused.code == 1);
  CHECK(refused.err.find("line 3: 4 cells, the header has 3") != std::string::npos);
  CHECK(refused.err.find("line 5: 2 cells, the header has 3") != std::string::npos);
  CHECK(refused.err.find("nothing imported") != std::string::npos);
  for (const char* p : kPersonal) {
    CHECK(refused.err.find(p) == std::string::npos);
    CHECK(refused.out.find(p) == std::string::npos);
  }
  auto password =
      run("import " + write("pw.csv", "name,password\nAino Virtanen,Hunter2secret\n") + args);
  CHECK(password.code == 1);
  CHECK(password.err.find("line 1: column 2 ('password')") != std::string::npos);
  CHECK(password.err.find("Hunter2secret") == std::string::npos);

  auto verify = run("verify --json");
  REQUIRE(verify.code == 0);
  // The two good imports only; the queries above left their reads in the access log.
  size_t written = 0;
  for (const std::string& line : lines(run("log --json").out)) {
    written += line.find("\"type\":\"data_accessed\"") == std::string::npos;
  }
  CHECK(written == 6);
}
