// `kirjuri serve` over HTTP, as clients see it: a real server process on loopback.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "service_util.h"

using namespace kirjuri::testing;

namespace {

std::string ProfileLine(const std::string& subject = "new", const std::string& name = "Aino") {
  return R"({"register":"customer","subject":")" + subject +
         R"(","type":"recorded","category":"profile","actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form","data":{"name":")" +
         name + R"(","email":"aino@example.fi","city":"Jyväskylä"}})" + "\n";
}

std::string UsageLine(const std::string& subject) {
  return R"({"register":"customer","subject":")" + subject +
         R"(","type":"recorded","category":"usage","actor":"svc-learning","purpose":"service_delivery","basis":"contract","source":"cookies","data":{"kind":"login"}})" +
         "\n";
}

std::string MarketingConsentLine(const std::string& subject) {
  return R"({"register":"customer","subject":")" + subject +
         R"(","type":"consent_given","category":"consents","actor":"emp-0007","purpose":"marketing","basis":"consent","source":"web_form","data":{"notice":"privacy-notice-2026-01","method":"checkbox"}})" +
         "\n";
}

// The log's size as /healthz tells it.
long long LogSize(int port) {
  HttpResponse r = Http(port, "GET", "/healthz");
  REQUIRE(r.status == 200);
  return JsonNumber(r.body, "events");
}

// Appends `lines` as `token`; the acknowledged {"seq","subject"} lines.
std::vector<std::string> Append(int port, const std::string& lines, const std::string& token) {
  HttpResponse r = Http(port, "POST", "/v1/events", lines, token);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "application/x-ndjson");
  return Lines(r.body);
}

struct Tokens {
  std::map<std::string, std::string> by_role;
  explicit Tokens(ServiceLedger& ledger) {
    for (const char* role : {"dpo", "staff", "marketing", "auditor", "service"}) {
      by_role[role] = ledger.Token(std::string("emp-") + role, role);
    }
  }
  const std::string& operator[](const std::string& role) const { return by_role.at(role); }
};

}  // namespace

TEST_CASE("each role gets 200 or 403 as the policy says, no token 401, and a refusal does nothing",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();

  const std::string subject =
      JsonString(Append(port, ProfileLine() , tokens["dpo"]).at(0), "subject");
  Append(port, MarketingConsentLine(subject), tokens["dpo"]);
  REQUIRE(subject.size() == 32);
  HttpResponse opened = Http(port, "POST", "/v1/requests",
                             R"({"subject":")" + subject + R"(","kind":"access","ref":"REQ-1"})",
                             tokens["staff"]);
  INFO(opened.body);
  REQUIRE(opened.status == 200);
  CHECK(JsonString(opened.body, "ref") == "REQ-1");
  REQUIRE(Http(port, "POST", "/v1/requests",
               R"({"subject":")" + subject + R"(","kind":"erasure","ref":"REQ-2"})",
               tokens["dpo"])
              .status == 200);

  struct Op {
    std::string method, target, body;
    std::set<std::string> allowed;  // roles answered 200; the others 403
  };
  const std::vector<Op> ops = {
      {"POST", "/v1/events", ProfileLine(), {"dpo", "staff"}},
      {"POST", "/v1/events", UsageLine(subject), {"dpo", "staff", "service"}},
      {"GET", "/v1/customers/" + subject, "", {"dpo", "staff"}},
      {"GET", "/v1/customers?city=Oulu&limit=10", "", {"dpo", "staff"}},
      {"GET", "/v1/marketing-audience", "", {"dpo", "marketing"}},
      {"GET", "/v1/subjects/" + subject + "/export", "", {"dpo", "staff"}},
      {"GET", "/v1/requests", "", {"dpo", "staff"}},
      {"POST", "/v1/requests/REQ-1/extend?months=1", R"({"reason":"busy"})", {"dpo", "staff"}},
      {"GET", "/v1/checkpoint", "", {"dpo", "staff", "auditor"}},
      {"GET", "/v1/proofs/inclusion/0", "", {"dpo", "staff", "auditor"}},
      {"GET", "/v1/proofs/consistency?first=1&second=2", "", {"dpo", "staff", "auditor"}},
      {"GET", "/v1/events?from=0&limit=5", "", {"dpo", "auditor"}},
      {"GET", "/v1/subjects/" + subject + "/access-log", "", {"dpo", "auditor"}},
      {"GET", "/v1/tokens", "", {"dpo"}},
      {"POST", "/v1/tokens", R"({"actor":"crm-9","role":"staff"})", {"dpo"}},
      {"POST", "/v1/subjects/" + subject + "/erase?request=REQ-2", "", {"dpo"}},
  };

  // Refusals first, while nothing else writes (reads that succeed log accesses).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long long before = LogSize(port);
  for (const Op& op : ops) {
    for (const auto& [role, token] : tokens.by_role) {
      if (op.allowed.count(role)) continue;
      HttpResponse r = Http(port, op.method, op.target, op.body, token);
      INFO(role << " " << op.method << " " << op.target << ": " << r.body);
      CHECK(r.status == 403);
      CHECK(JsonNumber(r.body, "code") == 403);
      CHECK(r.headers["content-type"] == "application/json");
    }
    for (const std::string& bad : {std::string(), std::string("not-a-token")}) {
      HttpResponse r = Http(port, op.method, op.target, op.body, bad);
      INFO(op.method << " " << op.target << ": " << r.body);
      CHECK(r.status == 401);
      CHECK(JsonNumber(r.body, "code") == 401);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(LogSize(port) == before);

  // Then each allowed role (erasure last: dpo is the only one, and it ends the person's data).
  for (const Op& op : ops) {
    for (const std::string& role : op.allowed) {
      HttpResponse r = Http(port, op.method, op.target, op.body, tokens[role]);
      INFO(role << " " << op.method << " " << op.target << ": " << r.body);
      CHECK(r.status == 200);
    }
  }

  // The erasure's deletion report is for auditors (and the dpo), not for staff.
  long long erasure_seq = -1;
  HttpResponse events = Http(port, "GET", "/v1/events?from=0", "", tokens["auditor"]);
  for (const std::string& line : Lines(events.body)) {
    if (JsonString(line, "type") == "subject_erased") erasure_seq = JsonNumber(line, "seq");
  }
  REQUIRE(erasure_seq > 0);
  const std::string report = "/v1/reports/deletion/" + std::to_string(erasure_seq);
  CHECK(Http(port, "GET", report, "", tokens["auditor"]).status == 200);
  CHECK(Http(port, "GET", report, "", tokens["dpo"]).status == 200);
  CHECK(Http(port, "GET", report, "", tokens["staff"]).status == 403);
  CHECK(Http(port, "GET", report, "", tokens["marketing"]).status == 403);

  // Asked again, the erasure already done answers the new request, with its report.
  REQUIRE(Http(port, "POST", "/v1/requests",
               R"({"subject":")" + subject + R"(","kind":"erasure","ref":"REQ-4"})",
               tokens["dpo"])
              .status == 200);
  HttpResponse again =
      Http(port, "POST", "/v1/subjects/" + subject + "/erase?request=REQ-4", "", tokens["dpo"]);
  INFO(again.body);
  CHECK(again.status == 200);
  CHECK(again.body.find("\"REQ-2\"") != std::string::npos);  // the first erasure's report
  bool answered = false;
  for (const std::string& line : Lines(Http(port, "GET", "/v1/requests", "", tokens["dpo"]).body)) {
    if (JsonString(line, "ref") == "REQ-4") answered = JsonString(line, "state") == "fulfilled";
  }
  CHECK(answered);
  CHECK(Http(port, "POST", "/v1/subjects/" + subject + "/erase?request=REQ-4", "", tokens["dpo"])
            .status == 409);  // answered: no longer open

  // Requests are opened and fulfilled by staff and the dpo only.
  const std::string other = JsonString(Append(port, ProfileLine(), tokens["staff"]).at(0), "subject");
  const std::string objection = R"({"subject":")" + other + R"(","kind":"objection","ref":"REQ-3"})";
  CHECK(Http(port, "POST", "/v1/requests", objection, tokens["marketing"]).status == 403);
  CHECK(Http(port, "POST", "/v1/requests", objection, tokens["service"]).status == 403);
  REQUIRE(Http(port, "POST", "/v1/requests", objection, tokens["staff"]).status == 200);
  CHECK(Http(port, "POST", "/v1/requests/REQ-3/fulfil", "", tokens["auditor"]).status == 403);
  HttpResponse fulfilled = Http(port, "POST", "/v1/requests/REQ-3/fulfil", "", tokens["staff"]);
  INFO(fulfilled.body);
  CHECK(fulfilled.status == 200);
  CHECK(JsonString(fulfilled.body, "state") == "fulfilled");

  // What a role may not read is left out of its answers.
  HttpResponse audience = Http(port, "GET", "/v1/marketing-audience", "", tokens["marketing"]);
  CHECK(audience.body.find(subject) == std::string::npos);  // erased above: no longer listed
  CHECK(server.Stop() == 0);

  // The server's log names addresses and shutdown, never people's data or tokens.
  const std::string log = server.log();
  CHECK(log.find("serving HTTP on 127.0.0.1:") != std::string::npos);
  CHECK(log.find("Aino") == std::string::npos);
  CHECK(log.find("aino@example.fi") == std::string::npos);
  for (const auto& [role, token] : tokens.by_role) CHECK(log.find(token) == std::string::npos);
}

TEST_CASE("a read of a person leaves an access event that auditors and `kirjuri log` show",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();
  const std::string subject =
      JsonString(Append(port, ProfileLine(), tokens["staff"]).at(0), "subject");

  HttpResponse read = Http(port, "GET",
                           "/v1/customers/" + subject + "?purpose=customer_relationship", "",
                           tokens["staff"]);
  INFO(read.body);
  REQUIRE(read.status == 200);
  CHECK(read.body.find("Aino") != std::string::npos);

  // An undeclared purpose is refused before anything is returned.
  HttpResponse bad_purpose = Http(port, "GET", "/v1/customers/" + subject + "?purpose=gossip",
                                  "", tokens["staff"]);
  CHECK(bad_purpose.status == 400);

  std::vector<std::string> accesses;
  for (int i = 0; i < 100 && accesses.empty(); ++i) {
    HttpResponse log = Http(port, "GET", "/v1/subjects/" + subject + "/access-log", "",
                            tokens["auditor"]);
    REQUIRE(log.status == 200);
    accesses = Lines(log.body);
    if (accesses.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(accesses.size() == 1);
  const std::string& a = accesses[0];
  CHECK(JsonString(a, "type") == "data_accessed");
  CHECK(JsonString(a, "actor") == "emp-staff");
  CHECK(JsonString(a, "purpose") == "customer_relationship");
  CHECK(JsonString(a, "role") == "staff");
  CHECK(JsonString(a, "via") == "http");
  CHECK(JsonString(a, "operation") == "query");
  CHECK(a.find(R"("categories":["profile"])") != std::string::npos);
  CHECK(a.find("Aino") == std::string::npos);  // the access log holds no personal data

  // A read just before a clean shutdown is in the log after it.
  REQUIRE(Http(port, "GET", "/v1/subjects/" + subject + "/export", "", tokens["dpo"]).status ==
          200);
  REQUIRE(server.Stop() == 0);

  RunResult log = ledger.Kirjuri({"log", "--subject", subject, "--access"});
  INFO(Describe(log));
  REQUIRE(log.code == 0);
  CHECK(log.out.find("emp-staff") != std::string::npos);
  CHECK(log.out.find("customer_relationship") != std::string::npos);
  CHECK(log.out.find("http") != std::string::npos);
  CHECK(log.out.find("profile") != std::string::npos);
  CHECK(log.out.find("recorded") == std::string::npos);  // only accesses are listed
  CHECK(log.out.find("emp-dpo") != std::string::npos);
  CHECK(log.out.find("export") != std::string::npos);
}

TEST_CASE("GET /v1/customers/{id}?as_of= gives the person as they stood then, or a 400 in the "
          "API's own words",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();
  const std::string first = Append(port, ProfileLine(), tokens["staff"]).at(0);
  const std::string subject = JsonString(first, "subject");
  const std::string seq = std::to_string(JsonNumber(first, "seq"));
  Append(port, ProfileLine(subject, "Elina"), tokens["staff"]);
  const std::string path = "/v1/customers/" + subject;

  HttpResponse now = Http(port, "GET", path, "", tokens["staff"]);
  REQUIRE(now.status == 200);
  CHECK(now.body.find("Elina") != std::string::npos);
  HttpResponse then = Http(port, "GET", path + "?as_of=" + seq, "", tokens["staff"]);
  INFO(then.body);
  REQUIRE(then.status == 200);
  CHECK(then.body.find("Aino") != std::string::npos);
  CHECK(then.body.find("Elina") == std::string::npos);

  for (const char* bad : {"yesterday", "99999999"}) {
    HttpResponse r = Http(port, "GET", path + "?as_of=" + std::string(bad), "", tokens["staff"]);
    INFO(r.body);
    CHECK(r.status == 400);
    CHECK(r.body.find("as of") != std::string::npos);
    CHECK(r.body.find("--as-of") == std::string::npos);  // not the command line's flag
  }
  CHECK(server.Stop() == 0);
}

TEST_CASE("GET /v1/customers lists a register page by page, as of a point too",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();
  const std::string first = Append(port, ProfileLine(), tokens["staff"]).at(0);
  const std::string seq = std::to_string(JsonNumber(first, "seq"));
  Append(port, ProfileLine("new", "Elina"), tokens["staff"]);
  auto get = [&](const std::string& query) {
    HttpResponse r = Http(port, "GET", "/v1/customers" + query, "", tokens["staff"]);
    INFO(query << ": " << r.body);
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"] == "application/x-ndjson");
    return Lines(r.body);
  };

  const std::vector<std::string> both = get("");
  REQUIRE(both.size() == 2);
  const std::vector<std::string> one = get("?limit=1");
  REQUIRE(one.size() == 1);
  CHECK(one[0] == both[0]);
  const std::vector<std::string> next = get("?limit=1&after=" + JsonString(one[0], "subject"));
  REQUIRE(next.size() == 1);
  CHECK(next[0] == both[1]);
  CHECK(get("?after=" + JsonString(both[1], "subject")).empty());
  const std::vector<std::string> then = get("?as_of=" + seq);
  REQUIRE(then.size() == 1);
  CHECK(then[0].find("Aino") != std::string::npos);
  CHECK(get("?city=Rovaniemi").empty());
  CHECK(get("?city=Jyv%C3%A4skyl%C3%A4").size() == 2);  // Jyväskylä
  CHECK(get("?erased=false").size() == 2);

  for (const char* bad : {"?after=zz", "?limit=-1", "?erased=maybe", "?limit=1&limit=2",
                          "?purpose=gossip", "?asof=3"}) {
    HttpResponse r = Http(port, "GET", std::string("/v1/customers") + bad, "", tokens["staff"]);
    INFO(bad << ": " << r.body);
    CHECK(r.status == 400);
  }
  CHECK(server.Stop() == 0);
}

TEST_CASE("the change feed delivers every event once, in order, also across a reconnect",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();
  // The log holds the tokens' tokenIssued events already: the feed is followed from after them.
  const long long base = LogSize(port);
  REQUIRE(base == static_cast<long long>(tokens.by_role.size()));
  Append(port, ProfileLine() + ProfileLine(), tokens["dpo"]);  // a backlog of two

  std::vector<long long> seen;
  {
    HttpConnection feed(port);
    REQUIRE(feed.Send("GET", "/v1/changes?from=" + std::to_string(base), "", tokens["auditor"]));
    HttpResponse head;
    REQUIRE(feed.ReadHead(&head));
    REQUIRE(head.status == 200);
    CHECK(head.headers["content-type"] == "application/x-ndjson");
    // No Catch2 assertion on this thread (they are not thread-safe): its failures are counted.
    std::atomic<int> refused{0};
    std::thread writer([&] {
      for (int i = 0; i < 10; ++i) {
        if (Http(port, "POST", "/v1/events", ProfileLine() + ProfileLine(), tokens["dpo"]).status !=
            200) {
          ++refused;
        }
      }
    });
    while (seen.size() < 12) {
      auto line = feed.ReadLine(10000);
      REQUIRE(line);
      if (line->empty()) continue;  // a keep-alive
      seen.push_back(JsonNumber(*line, "seq"));
      CHECK(line->find("Aino") == std::string::npos);  // envelopes: no personal data
    }
    writer.join();
    CHECK(refused == 0);
  }  // the client goes away mid-stream
  // More events while nobody listens, then a reconnect from the last seq seen plus one.
  Append(port, ProfileLine(), tokens["dpo"]);
  {
    HttpConnection feed(port);
    REQUIRE(feed.Send("GET", "/v1/changes?from=" + std::to_string(seen.back() + 1), "",
                      tokens["staff"]));  // "query" may follow the feed too
    HttpResponse head;
    REQUIRE(feed.ReadHead(&head));
    REQUIRE(head.status == 200);
    while (seen.size() < 23) {
      auto line = feed.ReadLine(10000);
      REQUIRE(line);
      if (line->empty()) continue;  // a keep-alive
      seen.push_back(JsonNumber(*line, "seq"));
    }
    CHECK_FALSE(feed.ReadLine(300));  // nothing more, nothing twice
  }
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == base + static_cast<long long>(i));
  CHECK(Http(port, "GET", "/v1/changes", "", tokens["marketing"]).status == 403);

  // A clean shutdown ends open feeds (they never end by themselves) and exits.
  HttpConnection open_feed(port);
  REQUIRE(open_feed.Send("GET", "/v1/changes?from=" + std::to_string(base + seen.size()), "",
                         tokens["auditor"]));
  HttpResponse head;
  REQUIRE(open_feed.ReadHead(&head));
  CHECK(server.Stop() == 0);
  CHECK_FALSE(open_feed.ReadLine(5000));
}

TEST_CASE("an idle change feed gets keep-alive lines, and a client gone silently is let go",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger, {"--http", "127.0.0.1:0", "--rpc", "", "--feed-keepalive", "0.2"});
  server.Start();
  const int port = server.http_port();
  auto open_feeds = [&] {
    return MetricValue(Http(port, "GET", "/metrics").body, "kirjuri_change_feed_subscriptions");
  };
  CHECK(open_feeds() == 0);
  const long long size = LogSize(port);
  {
    HttpConnection feed(port);
    REQUIRE(feed.Send("GET", "/v1/changes?from=" + std::to_string(size), "", tokens["auditor"]));
    HttpResponse head;
    REQUIRE(feed.ReadHead(&head));
    REQUIRE(head.status == 200);
    // Nothing is appended: what comes are empty lines, every 0.2 s.
    for (int i = 0; i < 3; ++i) {
      auto line = feed.ReadLine(3000);
      REQUIRE(line);
      CHECK(line->empty());
    }
    CHECK(open_feeds() == 1);
  }  // the client closes its socket, and nothing is committed after
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (open_feeds() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(open_feeds() == 0);
  CHECK(LogSize(port) == size);
  CHECK(server.Stop() == 0);
}

// Whether the server's end of every established connection to 127.0.0.1:`port` runs a TCP
// keep-alive timer (the "tr" column of /proc/net/tcp is 2), and there is at least one.
bool ServerConnectionsKeepAlive(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  char local[16];
  std::snprintf(local, sizeof local, ":%04X", port);
  int found = 0, kept = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local_address, remote_address, state, queues, timer;
    fields >> sl >> local_address >> remote_address >> state >> queues >> timer;
    if (!local_address.ends_with(local) || state != "01") continue;
    ++found;
    kept += timer.starts_with("02:");
  }
  return found > 0 && kept == found;
}

TEST_CASE("the server's connections send TCP keep-alive probes, so vanished hosts are dropped",
          "[service][http]") {
  ServiceLedger ledger;
  ServerProcess server(ledger);
  server.Start();
  HttpConnection http(server.http_port());  // connected, nothing sent yet
  HttpConnection rpc(server.rpc_port());    // a bare TCP connection is enough
  REQUIRE(http.connected());
  REQUIRE(rpc.connected());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(ServerConnectionsKeepAlive(server.http_port()));
  CHECK(ServerConnectionsKeepAlive(server.rpc_port()));
  CHECK(server.Stop() == 0);
}

TEST_CASE("the dpo backs up a served ledger into --backup-dir over HTTP and RPC, others may not",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  const std::filesystem::path backups = ledger.dir() / "backups";
  std::filesystem::create_directory(backups);
  ServerProcess server(ledger, {"--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--backup-dir",
                                backups.string()});
  server.Start();
  const int port = server.http_port();
  Append(port, ProfileLine() + ProfileLine(), tokens["staff"]);
  const long long size = LogSize(port);

  for (const char* role : {"staff", "marketing", "auditor", "service"}) {
    INFO(role);
    CHECK(Http(port, "POST", "/v1/backups", "", tokens[role]).status == 403);
  }
  CHECK(Http(port, "POST", "/v1/backups", "").status == 401);
  CHECK(std::filesystem::is_empty(backups));

  HttpResponse made = Http(port, "POST", "/v1/backups", "", tokens["dpo"]);
  INFO(made.body);
  REQUIRE(made.status == 200);
  CHECK(JsonNumber(made.body, "events") == size);
  const std::string dir = JsonString(made.body, "dir");
  CHECK(std::filesystem::path(dir).parent_path() == backups);
  // Over RPC, through the client: a second copy.
  RunResult rpc = RunKirjuri({"--server", "127.0.0.1:" + std::to_string(server.rpc_port()),
                              "--token", tokens["dpo"], "backup"},
                             ledger.dir());
  INFO(Describe(rpc));
  REQUIRE(rpc.code == 0);
  const std::string second = JsonString(rpc.out, "dir");
  CHECK(second != dir);
  CHECK(server.Stop() == 0);

  // Each copy opens with the ledger's master key and verifies.
  for (const std::string& copy : {dir, second}) {
    RunResult verify =
        RunKirjuri({"--data", copy, "--master-key", ledger.master_key(), "verify"}, ledger.dir());
    INFO(Describe(verify));
    CHECK(verify.code == 0);
  }

  // A server started without --backup-dir refuses, 409, and writes nothing.
  ServerProcess plain(ledger);
  plain.Start();
  HttpResponse refused = Http(plain.http_port(), "POST", "/v1/backups", "", tokens["dpo"]);
  CHECK(refused.status == 409);
  CHECK(refused.body.find("--backup-dir") != std::string::npos);
  CHECK(plain.Stop() == 0);
}

TEST_CASE("many concurrent appenders end with a gap-free log that verifies", "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();
  const long long base = LogSize(port);  // the tokens' tokenIssued events
  constexpr int kThreads = 16, kPosts = 20;
  std::mutex mu;
  std::set<long long> seqs;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPosts; ++i) {
        HttpResponse r = Http(port, "POST", "/v1/events", ProfileLine(), tokens["staff"]);
        if (r.status != 200) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        seqs.insert(JsonNumber(r.body, "seq"));
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  REQUIRE(seqs.size() == kThreads * kPosts);
  CHECK(*seqs.begin() == base);
  CHECK(*seqs.rbegin() == base + kThreads * kPosts - 1);  // distinct and gap-free

  HttpResponse events = Http(port, "GET", "/v1/events?from=" + std::to_string(base) + "&limit=1000",
                             "", tokens["auditor"]);
  REQUIRE(events.status == 200);
  CHECK(Lines(events.body).size() == kThreads * kPosts);
  HttpResponse metrics = Http(port, "GET", "/metrics");
  CHECK(metrics.body.find(R"(route="POST /v1/events",code="200"} 320)") != std::string::npos);
  REQUIRE(server.Stop() == 0);
  RunResult verify = ledger.Kirjuri({"verify"});
  INFO(Describe(verify));
  CHECK(verify.code == 0);
}

namespace {

// Appends from 8 threads until `stop`; the acknowledged seq -> subject.
struct Load {
  std::mutex mu;
  std::map<long long, std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;

  void Start(int port, const std::string& token) {
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([this, port, token] {
        while (!stop) {
          HttpResponse r = Http(port, "POST", "/v1/events", ProfileLine() + ProfileLine(), token);
          if (r.status != 200) continue;  // refused, or cut off by the server's end
          std::lock_guard<std::mutex> lock(mu);
          for (const std::string& line : Lines(r.body)) {
            acked[JsonNumber(line, "seq")] = JsonString(line, "subject");
          }
        }
      });
    }
  }
  void Join() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

// Every acknowledged append is in the log, under its seq and subject.
void CheckAcknowledgedPresent(int port, const std::string& token,
                              const std::map<long long, std::string>& acked) {
  HttpResponse events = Http(port, "GET", "/v1/events?from=0&limit=10000", "", token);
  REQUIRE(events.status == 200);
  std::map<long long, std::string> logged;
  for (const std::string& line : Lines(events.body)) {
    logged[JsonNumber(line, "seq")] = JsonString(line, "subject");
  }
  for (const auto& [seq, subject] : acked) {
    INFO("seq " << seq);
    CHECK(logged[seq] == subject);
  }
}

}  // namespace

TEST_CASE("after SIGKILL under load, every acknowledged append is present and the log verifies",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  Load load;
  load.Start(server.http_port(), tokens["staff"]);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  CHECK(server.Signal(SIGKILL) == 128 + SIGKILL);
  load.Join();
  CHECK(load.acked.size() > 10);

  server.Start();  // the same data directory
  CheckAcknowledgedPresent(server.http_port(), tokens["auditor"], load.acked);
  REQUIRE(server.Stop() == 0);
  RunResult verify = ledger.Kirjuri({"verify"});
  INFO(Describe(verify));
  CHECK(verify.code == 0);
}

TEST_CASE("SIGTERM while appending: a clean exit and every acknowledged append present",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  Load load;
  load.Start(server.http_port(), tokens["staff"]);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(server.Stop() == 0);
  load.Join();
  CHECK(load.acked.size() > 10);
  CHECK(server.log().find("SIGTERM: shutting down") != std::string::npos);

  server.Start();
  CheckAcknowledgedPresent(server.http_port(), tokens["auditor"], load.acked);
  REQUIRE(server.Stop() == 0);
  CHECK(ledger.Kirjuri({"verify"}).code == 0);
}

TEST_CASE("bad requests get a one-line JSON error and the server keeps serving others",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger, {"--http", "127.0.0.1:0", "--rpc", "", "--max-body", "4096"});
  server.Start();
  const int port = server.http_port();
  const long long before = LogSize(port);

  // A slow client holding a connection open does not hold up the others.
  HttpConnection slow(port);
  REQUIRE(slow.SendRaw("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"));

  auto expect_error = [](const HttpResponse& r, int status) {
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(JsonNumber(r.body, "code") == status);
    CHECK(r.body.find('\n') == r.body.size() - 1);  // one line
  };
  expect_error(Http(port, "POST", "/v1/events", std::string(5000, ' '), tokens["dpo"]), 413);
  expect_error(Http(port, "GET", "/v1/nothing-here", "", tokens["dpo"]), 404);
  HttpResponse wrong_method = Http(port, "DELETE", "/v1/events", "", tokens["dpo"]);
  expect_error(wrong_method, 405);
  CHECK(wrong_method.headers["allow"] == "POST, GET");
  expect_error(Http(port, "POST", "/v1/events", "{\"register\":", tokens["dpo"]), 400);
  expect_error(Http(port, "POST", "/v1/requests", "not json", tokens["dpo"]), 400);
  expect_error(Http(port, "GET", "/v1/customers/xyz", "", tokens["dpo"]), 400);
  expect_error(Http(port, "GET", "/v1/events?from=-1", "", tokens["dpo"]), 400);
  // A misspelt or repeated query parameter is refused, not ignored (?asof= would answer "now").
  HttpResponse misspelt = Http(port, "GET", "/v1/marketing-audience?asof=1", "", tokens["dpo"]);
  expect_error(misspelt, 400);
  CHECK(misspelt.body.find("'asof'") != std::string::npos);
  CHECK(misspelt.body.find("as_of") != std::string::npos);  // what the route takes
  expect_error(Http(port, "GET", "/v1/events?from=1&from=2", "", tokens["dpo"]), 400);
  expect_error(Http(port, "GET", "/v1/checkpoint?x=%FF%FE", "", tokens["dpo"]), 400);
  expect_error(Http(port, "GET", "/healthz?verbose=1"), 400);
  {
    HttpConnection garbage(port);
    REQUIRE(garbage.SendRaw("GET /healthz HTTP/1.1\r\nthis is no header\r\n\r\n"));
    HttpResponse r;
    REQUIRE(garbage.ReadHead(&r));
    REQUIRE(garbage.ReadBody(&r));
    expect_error(r, 400);
  }
  // Chunked upload beyond the limit, without a length up front.
  {
    HttpConnection chunked(port);
    std::string req = "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      tokens["dpo"] + "\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; ++i) req += "400\r\n" + std::string(1024, ' ') + "\r\n";
    req += "0\r\n\r\n";
    REQUIRE(chunked.SendRaw(req));
    HttpResponse r;
    REQUIRE(chunked.ReadHead(&r));
    REQUIRE(chunked.ReadBody(&r));
    expect_error(r, 413);
  }
  CHECK(LogSize(port) == before);  // nothing was done
  Append(port, ProfileLine(), tokens["dpo"]);  // and others are served
  CHECK(LogSize(port) == before + 1);
  CHECK(Http(port, "GET", "/metrics").body.find("kirjuri_requests_total{front=\"http\"") !=
        std::string::npos);
  CHECK(server.Stop() == 0);
}

TEST_CASE("token issue prints a token once, revoke makes it useless, roles must be the policy's",
          "[service][http]") {
  ServiceLedger ledger;
  RunResult issued = ledger.Kirjuri({"token", "issue", "--actor", "emp-0007", "--role", "staff",
                                     "--json"});
  INFO(Describe(issued));
  REQUIRE(issued.code == 0);
  const std::string token = JsonString(issued.out, "token");
  CHECK(JsonString(issued.out, "actor") == "emp-0007");
  CHECK(JsonString(issued.out, "role") == "staff");
  const std::string other = ledger.Token("emp-0008", "staff");
  CHECK(ledger.Kirjuri({"token", "issue", "--actor", "emp-0009", "--role", "janitor"}).code != 0);

  // The list names each token by an id, never by the token.
  RunResult listed = ledger.Kirjuri({"token", "list", "--json"});
  INFO(Describe(listed));
  REQUIRE(listed.code == 0);
  REQUIRE(Lines(listed.out).size() == 2);
  CHECK(JsonString(Lines(listed.out)[0], "id") == JsonString(issued.out, "id"));
  CHECK(JsonString(Lines(listed.out)[0], "actor") == "emp-0007");
  CHECK(listed.out.find("kjr_") == std::string::npos);

  RunResult revoked = ledger.Kirjuri({"token", "revoke", token});
  INFO(Describe(revoked));
  REQUIRE(revoked.code == 0);
  CHECK(ledger.Kirjuri({"token", "revoke", token}).code != 0);  // already gone
  CHECK(Lines(ledger.Kirjuri({"token", "list", "--json"}).out).size() == 1);

  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();
  CHECK(Http(port, "GET", "/v1/requests", "", token).status == 401);
  CHECK(Http(port, "GET", "/v1/requests", "", other).status == 200);
  CHECK(server.Stop() == 0);
}

TEST_CASE("the dpo issues, lists and revokes tokens while the server runs, effective at once",
          "[service][http]") {
  ServiceLedger ledger;
  Tokens tokens(ledger);
  ServerProcess server(ledger);
  server.Start();
  const int port = server.http_port();

  HttpResponse issued =
      Http(port, "POST", "/v1/tokens", R"({"actor":"crm-2","role":"staff"})", tokens["dpo"]);
  INFO(issued.body);
  REQUIRE(issued.status == 200);
  const std::string token = JsonString(issued.body, "token");
  const std::string id = JsonString(issued.body, "id");
  REQUIRE(token.starts_with("kjr_"));
  REQUIRE(id.size() == 16);
  CHECK(JsonString(issued.body, "role") == "staff");
  // Usable on the very next request, with the role it was given.
  CHECK(Http(port, "GET", "/v1/requests", "", token).status == 200);
  CHECK(Http(port, "GET", "/v1/marketing-audience", "", token).status == 403);

  // Bad bodies and roles the policy does not declare are refused, and issue nothing.
  CHECK(Http(port, "POST", "/v1/tokens", R"({"actor":"crm-3","role":"janitor"})", tokens["dpo"])
            .status == 400);
  CHECK(Http(port, "POST", "/v1/tokens", R"({"actor":"crm-3"})", tokens["dpo"]).status == 400);
  CHECK(Http(port, "POST", "/v1/tokens", R"({"actor":"crm-3","role":"staff","x":"y"})",
             tokens["dpo"])
            .status == 400);
  CHECK(Http(port, "POST", "/v1/tokens", "not json", tokens["dpo"]).status == 400);

  HttpResponse listed = Http(port, "GET", "/v1/tokens", "", tokens["dpo"]);
  REQUIRE(listed.status == 200);
  CHECK(Lines(listed.body).size() == tokens.by_role.size() + 1);
  CHECK(listed.body.find("\"id\":\"" + id + "\"") != std::string::npos);
  CHECK(listed.body.find("kjr_") == std::string::npos);

  // Revoked by id (never the token in a URL): refused from the next request on.
  CHECK(Http(port, "DELETE", "/v1/tokens/" + token, "", tokens["dpo"]).status == 400);
  CHECK(Http(port, "DELETE", "/v1/tokens/" + id, "", tokens["staff"]).status == 403);
  HttpResponse revoked = Http(port, "DELETE", "/v1/tokens/" + id, "", tokens["dpo"]);
  INFO(revoked.body);
  CHECK(revoked.status == 200);
  CHECK(JsonString(revoked.body, "actor") == "crm-2");
  CHECK(Http(port, "GET", "/v1/requests", "", token).status == 401);
  CHECK(Http(port, "DELETE", "/v1/tokens/" + id, "", tokens["dpo"]).status == 404);
  CHECK(Http(port, "GET", "/v1/requests", "", tokens["staff"]).status == 200);

  // The log tells auditors who gave and took back the token, and to whom, never the token.
  HttpResponse events = Http(port, "GET", "/v1/events?from=0", "", tokens["auditor"]);
  REQUIRE(events.status == 200);
  std::vector<std::string> changes;
  for (const std::string& line : Lines(events.body)) {
    if (line.find("\"id\":\"" + id + "\"") == std::string::npos) continue;
    CHECK(JsonString(line, "actor") == "emp-dpo");
    changes.push_back(JsonString(line, "type"));
  }
  CHECK(changes == std::vector<std::string>{"token_issued", "token_revoked"});
  CHECK(events.body.find("kjr_") == std::string::npos);
  CHECK(server.Stop() == 0);
  RunResult verify = ledger.Kirjuri({"verify"});
  INFO(Describe(verify));
  CHECK(verify.code == 0);
  RunResult audit = ledger.Kirjuri({"audit", "--out", (ledger.dir() / "audit").string()});
  INFO(Describe(audit));
  CHECK(audit.code == 0);

  // The server's log names token ids and actors, never a token.
  const std::string log = server.log();
  CHECK(log.find(id) != std::string::npos);
  CHECK(log.find(token) == std::string::npos);
  CHECK(log.find("kjr_") == std::string::npos);
}
