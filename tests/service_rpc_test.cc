// The Cap'n Proto RPC front (schemas/service.capnp) against a real server on loopback: login,
// the role matrix, appends, reads that leave access events, the change feed across a
// reconnect, many concurrent appenders, acknowledged appends across a SIGKILL, and the
// `kirjuri --server` client.
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/schemas/service.capnp.h"
#include "service_util.h"
#include "test_util.h"

using kirjuri::testing::RunKirjuri;

namespace {

using kirjuri::schema::ChangeSink;
using kirjuri::schema::Gateway;
using kirjuri::schema::Session;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string JsonString(const std::string& json, const std::string& name) {
  std::smatch m;
  return std::regex_search(json, m, std::regex("\"" + name + "\": *\"([^\"]*)\"")) ? m[1].str()
                                                                                 : "";
}

uint64_t JsonNumber(const std::string& json, const std::string& name) {
  std::smatch m;
  return std::regex_search(json, m, std::regex("\"" + name + "\":([0-9]+)"))
             ? std::stoull(m[1].str())
             : ~uint64_t{0};
}

std::string NewCustomer(const std::string& name) {
  return R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
         R"("actor":"emp-0007","purpose":"service_delivery","basis":"contract",)"
         R"("source":"web_form","data":{"name":")" +
         name + R"(","email":"t@example.fi"}})";
}

std::string Usage(const std::string& subject) {
  return R"({"register":"customer","subject":")" + subject +
         R"(","type":"recorded","category":"usage","actor":"svc-learning",)"
         R"("purpose":"service_delivery","basis":"contract","source":"cookies",)"
         R"("data":{"kind":"exercise"}})";
}

// The HTTP-like code in a rejected call's description ({"error":…,"code":N}); 0 if none.
int ErrorCode(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  uint64_t code = JsonNumber(d, "code");
  return code == ~uint64_t{0} ? 0 : static_cast<int>(code);
}

// An RPC client logged in (pipelined) with one token.
struct Client {
  capnp::EzRpcClient rpc;
  Session::Client session;

  Client(const std::string& address, const std::string& token)
      : rpc(address), session(Login(rpc, token)) {}

  static Session::Client Login(capnp::EzRpcClient& rpc, const std::string& token) {
    auto login = rpc.getMain<Gateway>().loginRequest();
    login.setToken(token);
    return login.send().getSession();
  }
  kj::WaitScope& ws() { return rpc.getWaitScope(); }

  // The code a call failed with (200 if it did not).
  template <typename Request>
  int CodeOf(Request&& request) {
    try {
      request.send().wait(ws());
      return 200;
    } catch (const kj::Exception& e) {
      INFO(e.getDescription().cStr());
      return ErrorCode(e);
    }
  }

  std::vector<std::pair<uint64_t, std::string>> Append(const std::string& lines) {
    auto request = session.appendRequest();
    request.setLines(lines);
    auto response = request.send().wait(ws());
    std::vector<std::pair<uint64_t, std::string>> out;
    for (auto a : response.getAppended()) {
      kirjuri::SubjectId id{};
      // KJ_REQUIRE, not Catch2's: clients append from several threads in some tests.
      KJ_REQUIRE(a.getSubject().size() == id.size(), "an acknowledged subject id of a wrong size");
      std::copy(a.getSubject().begin(), a.getSubject().end(), id.begin());
      out.emplace_back(a.getSeq(), kirjuri::SubjectIdHex(id));
    }
    return out;
  }

  std::string GetCustomer(const std::string& subject) {
    auto request = session.getSubjectRequest();
    request.setRegister("customer");
    request.setSubject(subject);
    return request.send().wait(ws()).getJson();
  }

  // Runs the event loop (incoming calls included) for a while.
  void Pump(std::chrono::milliseconds d) {
    rpc.getIoProvider().getTimer().afterDelay(d.count() * kj::MILLISECONDS).wait(ws());
  }
};

// A real `kirjuri serve` (HTTP and RPC on ports of the system's choosing) over a fresh ledger,
// with a token for each of the policy's roles, issued before it starts.
class RpcServer {
 public:
  RpcServer() : process_(ledger_) {
    for (const char* role : {"dpo", "staff", "marketing", "auditor", "service"}) {
      tokens_[role] = ledger_.Token(actor(role), role);
    }
    process_.Start();
    REQUIRE(process_.rpc_port() > 0);
  }

  std::string rpc_address() const { return "127.0.0.1:" + std::to_string(process_.rpc_port()); }
  const std::string& token(const std::string& role) const { return tokens_.at(role); }
  static std::string actor(const std::string& role) { return "test-" + role; }
  const std::filesystem::path& scratch() const { return ledger_.dir(); }
  // SIGTERM; a clean shutdown exits 0.
  void Stop() {
    const int code = process_.Stop();
    INFO(process_.log());
    CHECK(code == 0);
  }
  // SIGKILL, then a new server on the same ledger (new ports).
  void KillAndRestart() {
    CHECK(process_.Signal(SIGKILL) == 128 + SIGKILL);
    process_.Start();
  }
  // `kirjuri --data D --master-key K ARGS…` (for after Stop: the server holds the ledger).
  kirjuri::testing::RunResult Kirjuri(const std::vector<std::string>& args) {
    return ledger_.Kirjuri(args);
  }

  // The log's size, as the dpo's envelopes see it.
  uint64_t LogSize() const {
    capnp::EzRpcClient rpc(rpc_address());
    auto login = rpc.getMain<Gateway>().loginRequest();
    login.setToken(token("dpo"));
    auto session = login.send().getSession();
    uint64_t next = 0;
    for (;;) {  // a call answers at most Service::kMaxEnvelopesPerCall
      auto request = session.envelopesRequest();
      request.setFrom(next);
      request.setMax(1u << 30);
      const uint64_t after = request.send().wait(rpc.getWaitScope()).getNext();
      if (after == next) return next;
      next = after;
    }
  }

 private:
  kirjuri::testing::ServiceLedger ledger_;
  kirjuri::testing::ServerProcess process_;
  std::map<std::string, std::string> tokens_;
};

// What a change-feed subscriber saw, in order.
class RecordingSink final : public ChangeSink::Server {
 public:
  explicit RecordingSink(std::vector<uint64_t>* seqs) : seqs_(seqs) {}

 protected:
  kj::Promise<void> events(EventsContext context) override {
    auto p = context.getParams();
    uint64_t expect = p.getFirst();
    for (auto line : p.getEnvelopes()) {
      // Each envelope is at the position the call says.
      const uint64_t seq = JsonNumber(line.cStr(), "seq");
      if (seq != expect) FAIL_CHECK("envelope seq " << seq << " delivered as " << expect);
      seqs_->push_back(seq);
      ++expect;
    }
    return kj::READY_NOW;
  }

 private:
  std::vector<uint64_t>* seqs_;
};

}  // namespace

TEST_CASE("an RPC login with a missing or unknown token is refused with 401", "[service][rpc]") {
  RpcServer server;
  for (const std::string token : {"", "kjr_not-a-token", "x"}) {
    Client c(server.rpc_address(), token);
    CHECK(c.CodeOf(c.session.checkpointRequest()) == 401);
  }
  Client good(server.rpc_address(), server.token("auditor"));
  CHECK(good.CodeOf(good.session.checkpointRequest()) == 200);
}

TEST_CASE("over RPC each role may do what the policy says, and gets 403 for the rest",
          "[service][rpc]") {
  RpcServer server;
  std::string subject;
  {
    Client staff(server.rpc_address(), server.token("staff"));
    subject = staff.Append(NewCustomer("Matrix Person")).at(0).second;
  }
  struct Row {
    const char* role;
    int append_profile, append_usage, get, audience, checkpoint, envelopes, access_log, erase;
  };
  // erase is last and runs only for the dpo, who is allowed it.
  const Row rows[] = {
      {"dpo", 200, 200, 200, 200, 200, 200, 200, 200},
      {"staff", 200, 200, 200, 403, 200, 403, 403, 403},
      {"marketing", 403, 403, 403, 200, 403, 403, 403, 403},
      {"auditor", 403, 403, 403, 403, 200, 200, 200, 403},
      {"service", 403, 200, 403, 403, 403, 403, 403, 403},
  };
  for (const Row& row : rows) {
    INFO("role " << row.role);
    Client c(server.rpc_address(), server.token(row.role));
    const uint64_t size_before = server.LogSize();
    auto profile = c.session.appendRequest();
    profile.setLines(NewCustomer("Another Person"));
    CHECK(c.CodeOf(kj::mv(profile)) == row.append_profile);
    auto usage = c.session.appendRequest();
    usage.setLines(Usage(subject));
    CHECK(c.CodeOf(kj::mv(usage)) == row.append_usage);
    // Refused appends append nothing.
    const uint64_t appended = (row.append_profile == 200) + (row.append_usage == 200);
    CHECK(server.LogSize() >= size_before + appended);
    auto get = c.session.getSubjectRequest();
    get.setRegister("customer");
    get.setSubject(subject);
    CHECK(c.CodeOf(kj::mv(get)) == row.get);
    CHECK(c.CodeOf(c.session.marketingAudienceRequest()) == row.audience);
    CHECK(c.CodeOf(c.session.checkpointRequest()) == row.checkpoint);
    auto envelopes = c.session.envelopesRequest();
    envelopes.setMax(10);
    CHECK(c.CodeOf(kj::mv(envelopes)) == row.envelopes);
    auto access = c.session.accessLogRequest();
    access.setSubject(subject);
    CHECK(c.CodeOf(kj::mv(access)) == row.access_log);
    if (row.erase == 403) {
      auto erase = c.session.eraseRequest();
      erase.setSubject(subject);
      CHECK(c.CodeOf(kj::mv(erase)) == 403);
    }
  }
  // The person is still there: nobody but the dpo could erase them. Now the dpo does.
  Client dpo(server.rpc_address(), server.token("dpo"));
  auto open = dpo.session.openRequestRequest();
  open.setSubject(subject);
  open.setKind("erasure");
  open.setRef("REQ-RPC-1");
  CHECK(JsonString(open.send().wait(dpo.ws()).getJson(), "ref") == "REQ-RPC-1");
  auto erase = dpo.session.eraseRequest();
  erase.setSubject(subject);
  erase.setRequest("REQ-RPC-1");
  const std::string report = erase.send().wait(dpo.ws()).getReportJson();
  CHECK(JsonString(report, "subject") == subject);
  // Bad input is 400, an unknown person 404, and neither ends the session.
  auto bad = dpo.session.getSubjectRequest();
  bad.setRegister("customer");
  bad.setSubject("not-hex");
  CHECK(dpo.CodeOf(kj::mv(bad)) == 400);
  auto unknown = dpo.session.getSubjectRequest();
  unknown.setRegister("customer");
  unknown.setSubject(std::string(32, '0').replace(31, 1, "1"));
  CHECK(dpo.CodeOf(kj::mv(unknown)) == 404);
  CHECK(dpo.CodeOf(dpo.session.checkpointRequest()) == 200);
}

TEST_CASE("an RPC append answers with seqs and subjects, and a read leaves an access event",
          "[service][rpc]") {
  RpcServer server;
  Client staff(server.rpc_address(), server.token("staff"));
  auto appended = staff.Append(NewCustomer("Read Me") + "\n" + NewCustomer("Someone Else"));
  REQUIRE(appended.size() == 2);
  CHECK(appended[1].first == appended[0].first + 1);
  CHECK(appended[0].second != appended[1].second);
  const std::string subject = appended[0].second;
  auto more = staff.Append(Usage(subject));
  REQUIRE(more.size() == 1);
  CHECK(more[0].second == subject);

  // Read-your-writes: the view has the row at once.
  const std::string row = staff.GetCustomer(subject);
  CHECK(JsonString(row, "subject") == subject);
  CHECK(row.find("Read Me") != std::string::npos);

  // The auditor sees who read, not what.
  Client auditor(server.rpc_address(), server.token("auditor"));
  std::string log;
  for (int i = 0; i < 200 && log.empty(); ++i) {
    auto request = auditor.session.accessLogRequest();
    request.setSubject(subject);
    log = request.send().wait(auditor.ws()).getJson();
    if (log.empty()) auditor.Pump(std::chrono::milliseconds(10));
  }
  const auto lines = Lines(log);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("\"actor\":\"" + server.actor("staff") + "\"") != std::string::npos);
  CHECK(lines[0].find("\"via\":\"rpc\"") != std::string::npos);
  CHECK(lines[0].find("Read Me") == std::string::npos);
}

TEST_CASE("the RPC change feed delivers every event once in order, and resumes after a "
          "reconnect", "[service][rpc]") {
  RpcServer server;
  Client staff(server.rpc_address(), server.token("staff"));
  const std::string subject = staff.Append(NewCustomer("Feed Person")).at(0).second;
  for (int i = 0; i < 5; ++i) staff.Append(Usage(subject) + "\n" + Usage(subject));

  auto follow = [&](uint64_t from, size_t want, const std::function<void()>& meanwhile) {
    std::vector<uint64_t> seqs;
    Client auditor(server.rpc_address(), server.token("auditor"));
    auto request = auditor.session.subscribeRequest();
    request.setFrom(from);
    request.setSink(kj::heap<RecordingSink>(&seqs));
    auto subscription = request.send().wait(auditor.ws()).getSubscription();
    meanwhile();
    for (int i = 0; i < 500 && seqs.size() < want; ++i) {
      auditor.Pump(std::chrono::milliseconds(10));
    }
    return seqs;  // the subscription and the connection end here
  };

  // The backlog, then what is appended while subscribed (by another client).
  std::vector<uint64_t> first = follow(0, 11 + 6, [&] {
    for (int i = 0; i < 3; ++i) staff.Append(Usage(subject) + "\n" + Usage(subject));
  });
  REQUIRE(first.size() >= 17);
  for (size_t i = 0; i < first.size(); ++i) REQUIRE(first[i] == i);

  // More while nobody listens; a new subscription from the last seen + 1 continues.
  for (int i = 0; i < 4; ++i) staff.Append(Usage(subject));
  const uint64_t size = server.LogSize();
  std::vector<uint64_t> second = follow(first.back() + 1, size - first.back() - 1, [] {});
  REQUIRE(!second.empty());
  CHECK(second.front() == first.back() + 1);
  for (size_t i = 1; i < second.size(); ++i) REQUIRE(second[i] == second[i - 1] + 1);
  CHECK(second.back() + 1 >= size);

  // A role without envelopes or query may not subscribe.
  std::vector<uint64_t> none;
  Client marketing(server.rpc_address(), server.token("marketing"));
  auto refused = marketing.session.subscribeRequest();
  refused.setSink(kj::heap<RecordingSink>(&none));
  CHECK(marketing.CodeOf(kj::mv(refused)) == 403);
}

TEST_CASE("32 concurrent RPC appenders leave a gap-free log that verifies", "[service][rpc]") {
  RpcServer server;
  std::string subject;
  {
    Client staff(server.rpc_address(), server.token("staff"));
    subject = staff.Append(NewCustomer("Busy Person")).at(0).second;
  }
  constexpr int kClients = 32, kAppends = 10;
  std::vector<std::vector<uint64_t>> seqs(kClients);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      try {
        Client c(server.rpc_address(), server.token("service"));
        for (int i = 0; i < kAppends; ++i) {
          for (const auto& [seq, s] : c.Append(Usage(subject) + "\n" + Usage(subject))) {
            seqs[t].push_back(seq);
          }
        }
      } catch (const kj::Exception& e) {
        ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  REQUIRE(failures == 0);
  std::vector<uint64_t> all;
  for (const auto& s : seqs) {
    // Each append's two events are consecutive (atomic), and a client's appends in order.
    for (size_t i = 1; i < s.size(); ++i) CHECK(s[i] > s[i - 1]);
    for (size_t i = 0; i + 1 < s.size(); i += 2) CHECK(s[i + 1] == s[i] + 1);
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  REQUIRE(all.size() == size_t{kClients} * kAppends * 2);
  for (size_t i = 1; i < all.size(); ++i) REQUIRE(all[i] == all[i - 1] + 1);

  server.Stop();
  auto verify = server.Kirjuri({"verify", "--json"});
  INFO(kirjuri::testing::Describe(verify));
  CHECK(verify.code == 0);
  CHECK(verify.out.find("\"ok\":true") != std::string::npos);
}

TEST_CASE("kirjuri --server --token runs append, query, checkpoint, proofs, export and log over "
          "RPC",
          "[service][rpc]") {
  RpcServer server;
  const std::filesystem::path& scratch = server.scratch();
  // No --data: a remote command needs no local ledger.
  auto run = [&](const std::string& role, const std::vector<std::string>& args,
                 const std::string& stdin_path = "/dev/null") {
    std::vector<std::string> all = {"--server", server.rpc_address(), "--token",
                                    server.token(role)};
    all.insert(all.end(), args.begin(), args.end());
    return RunKirjuri(all, scratch, stdin_path);
  };
  {
    std::ofstream(scratch / "in.jsonl") << NewCustomer("Cli Person") << "\n";
  }
  auto append = run("staff", {"append", "--json"}, (scratch / "in.jsonl").string());
  INFO(kirjuri::testing::Describe(append));
  REQUIRE(append.code == 0);
  const std::string subject = JsonString(append.out, "subject");
  REQUIRE(subject.size() == 32);

  auto query = run("staff", {"query", "customer", subject, "--json"});
  INFO(kirjuri::testing::Describe(query));
  REQUIRE(query.code == 0);
  CHECK(JsonString(query.out, "subject") == subject);
  CHECK(query.out.find("Cli Person") != std::string::npos);

  auto checkpoint = run("auditor", {"checkpoint"});
  INFO(kirjuri::testing::Describe(checkpoint));
  REQUIRE(checkpoint.code == 0);
  CHECK(checkpoint.out.find("\n\xE2\x80\x94 ") != std::string::npos);  // a signed note

  std::string log;
  for (int i = 0; i < 100; ++i) {
    auto r = run("auditor", {"log", "--subject", subject});
    INFO(kirjuri::testing::Describe(r));
    REQUIRE(r.code == 0);
    log = r.out;
    if (!log.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(Lines(log).size() == 1);
  CHECK(log.find("\"via\":\"rpc\"") != std::string::npos);
  // --from and --to bound the access log and the envelopes as they do locally.
  const std::string read_seq = std::to_string(JsonNumber(log, "seq"));
  const std::string append_seq = std::to_string(JsonNumber(append.out, "seq"));
  CHECK(run("auditor", {"log", "--subject", subject, "--from", read_seq, "--to", read_seq}).out ==
        log);
  CHECK(run("auditor", {"log", "--subject", subject, "--to", append_seq}).out.empty());
  auto one = run("auditor", {"log", "--from", append_seq, "--to", append_seq});
  INFO(kirjuri::testing::Describe(one));
  REQUIRE(Lines(one.out).size() == 1);
  CHECK(std::to_string(JsonNumber(one.out, "seq")) == append_seq);
  CHECK(JsonString(one.out, "subject") == subject);
  auto all_reads = run("auditor", {"log", "--access"});  // the service lists one person's reads
  CHECK(all_reads.code == 1);
  CHECK(Lines(all_reads.err).size() == 1);

  auto proof = run("auditor", {"prove", "inclusion", std::to_string(JsonNumber(append.out, "seq"))});
  INFO(kirjuri::testing::Describe(proof));
  CHECK(proof.code == 0);
  CHECK(proof.out.find("\"leaf_hash\":") != std::string::npos);

  auto exported = run("staff", {"export", subject});
  INFO(kirjuri::testing::Describe(exported));
  CHECK(exported.code == 0);
  CHECK(exported.out.find("Cli Person") != std::string::npos);

  // A register's list, all its pages; the filters as the local command takes them.
  auto list = run("staff", {"query", "customers"});
  INFO(kirjuri::testing::Describe(list));
  REQUIRE(list.code == 0);
  REQUIRE(Lines(list.out).size() == 1);
  CHECK(JsonString(list.out, "subject") == subject);
  CHECK(run("staff", {"query", "customers", "--city", "Nowhere"}).out.empty());
  CHECK(run("staff", {"query", "customers", "--no-erased"}).out == list.out);
  {  // past the server's page of 1000: the client asks for the next
    std::ofstream many(scratch / "many.jsonl");
    for (int i = 0; i < 1000; ++i) many << NewCustomer("Page Person") << "\n";
  }
  REQUIRE(run("staff", {"append"}, (scratch / "many.jsonl").string()).code == 0);
  auto pages = run("staff", {"query", "customers"});
  REQUIRE(pages.code == 0);
  const std::vector<std::string> people = Lines(pages.out);
  std::set<std::string> distinct;
  for (const std::string& line : people) distinct.insert(JsonString(line, "subject"));
  CHECK(people.size() == 1001);
  CHECK(distinct.size() == 1001);

  // Refused: one line, exit 1, no token or personal data in it.
  auto erase = run("staff", {"erase", subject, "--request", "REQ-CLI-1"});
  CHECK(erase.code == 1);
  CHECK(erase.err == "kirjuri: role 'staff' may not erase (policy action 'erase')\n");
  // A received date or an actor the server would not use (it takes the open request's date and
  // the token's actor) is refused, rather than left out in silence.
  auto received = run("dpo", {"erase", subject, "--request", "REQ-CLI-1", "--received",
                              "2026-12-01T00:00:00Z"});
  CHECK(received.code == 1);
  CHECK(received.err.find("--received") != std::string::npos);
  CHECK(Lines(received.err).size() == 1);
  auto actor = run("dpo", {"erase", subject, "--request", "REQ-CLI-1", "--actor", "x"});
  CHECK(actor.code == 1);
  CHECK(actor.err == "kirjuri: erase --actor over --server: the server records the token's actor\n");
  CHECK(run("staff", {"query", "customer", subject}).code == 0);  // nothing was erased
  auto denied = run("marketing", {"query", "customer", subject});
  CHECK(denied.code == 1);
  CHECK(denied.err == "kirjuri: role 'marketing' may not query the views (policy action 'query')\n");
  auto unknown = RunKirjuri({"--server", server.rpc_address(), "--token", "kjr_wrong",
                             "checkpoint"},
                            scratch);
  CHECK(unknown.code == 1);
  CHECK(Lines(unknown.err).size() == 1);
  CHECK(unknown.err.find("kjr_wrong") == std::string::npos);

  // An erasure from the command line alone: the request opened, listed, then fulfilled by it.
  auto opened = run("dpo", {"request", "open", subject, "--kind", "erasure", "--ref", "REQ-CLI-2"});
  INFO(kirjuri::testing::Describe(opened));
  REQUIRE(opened.code == 0);
  CHECK(JsonString(opened.out, "state") == "open");
  CHECK(run("dpo", {"request", "open", subject, "--kind", "erasure", "--ref", "REQ-CLI-3",
                    "--actor", "x"})
            .code == 1);
  auto requests = run("staff", {"request", "list"});
  REQUIRE(requests.code == 0);
  REQUIRE(Lines(requests.out).size() == 1);
  CHECK(JsonString(requests.out, "ref") == "REQ-CLI-2");
  CHECK(run("staff", {"request", "list", "--overdue"}).out.empty());
  CHECK(run("staff", {"request", "list", "--now", "2030-01-01T00:00:00Z"}).code == 1);
  auto erased = run("dpo", {"erase", subject, "--request", "REQ-CLI-2"});
  INFO(kirjuri::testing::Describe(erased));
  REQUIRE(erased.code == 0);
  CHECK(erased.out.find("\"request\": \"REQ-CLI-2\"") != std::string::npos);
  CHECK(JsonString(run("staff", {"request", "list"}).out, "state") == "fulfilled");

  // Another request extended, then refused.
  REQUIRE(run("staff", {"request", "open", subject, "--kind", "objection", "--ref", "REQ-CLI-4"})
              .code == 0);
  auto extended = run("staff", {"request", "extend", "REQ-CLI-4", "--months", "1", "--reason",
                                "identity-check"});
  INFO(kirjuri::testing::Describe(extended));
  REQUIRE(extended.code == 0);
  CHECK(JsonNumber(extended.out, "extended_months") == 1);
  CHECK(run("staff", {"request", "extend", "REQ-CLI-4", "--months", "1", "--reason", "x",
                      "--actor", "x"})
            .code == 1);
  auto to_files = run("staff", {"request", "close", "REQ-CLI-4", "--out", "x"});
  CHECK(to_files.code == 1);
  CHECK(to_files.err == "kirjuri: request close over --server takes no --out: the answer is "
                        "printed, not written to files\n");
  auto refused_request = run("staff", {"request", "close", "REQ-CLI-4", "--refuse", "--reason",
                                       "not-identified"});
  INFO(kirjuri::testing::Describe(refused_request));
  REQUIRE(refused_request.code == 0);
  CHECK(JsonString(refused_request.out, "state") == "refused");
  CHECK(run("staff", {"request", "close", "REQ-CLI-4", "--refuse", "--reason", "again"}).code == 1);
}

TEST_CASE("tokens issued and revoked over RPC while serving take effect at once, also on open "
          "sessions and change feeds",
          "[service][rpc]") {
  RpcServer server;
  const std::filesystem::path& scratch = server.scratch();
  auto run = [&](const std::string& token, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--server", server.rpc_address(), "--token", token};
    all.insert(all.end(), args.begin(), args.end());
    return RunKirjuri(all, scratch);
  };
  // `kirjuri --server … token issue` as the dpo; staff may not.
  auto issued = run(server.token("dpo"), {"token", "issue", "--actor", "crm-7", "--role", "auditor"});
  INFO(kirjuri::testing::Describe(issued));
  REQUIRE(issued.code == 0);
  const std::string token = JsonString(issued.out, "token");
  const std::string id = JsonString(issued.out, "id");
  REQUIRE(token.starts_with("kjr_"));
  auto refused = run(server.token("staff"), {"token", "issue", "--actor", "crm-8", "--role", "dpo"});
  CHECK(refused.code == 1);
  CHECK(refused.err == "kirjuri: role 'staff' may not manage tokens (policy action 'tokens')\n");

  auto listed = run(server.token("dpo"), {"token", "list"});
  REQUIRE(listed.code == 0);
  CHECK(Lines(listed.out).size() == 6);  // the five of RpcServer and crm-7
  CHECK(listed.out.find(id) != std::string::npos);
  CHECK(listed.out.find("kjr_") == std::string::npos);

  // The new token logs in at once; a session and a change feed are open with it when it is
  // revoked.
  Client auditor(server.rpc_address(), token);
  CHECK(auditor.CodeOf(auditor.session.checkpointRequest()) == 200);
  std::vector<uint64_t> seqs;
  auto subscribe = auditor.session.subscribeRequest();
  subscribe.setFrom(0);
  subscribe.setSink(kj::heap<RecordingSink>(&seqs));
  auto subscription = subscribe.send().wait(auditor.ws()).getSubscription();
  Client staff(server.rpc_address(), server.token("staff"));
  const std::string subject = staff.Append(NewCustomer("Token Person")).at(0).second;
  for (int i = 0; i < 300 && seqs.empty(); ++i) auditor.Pump(std::chrono::milliseconds(10));
  REQUIRE(!seqs.empty());

  auto revoked = run(server.token("dpo"), {"token", "revoke", id});
  INFO(kirjuri::testing::Describe(revoked));
  REQUIRE(revoked.code == 0);
  CHECK(JsonString(revoked.out, "actor") == "crm-7");
  // The open session's next call is refused, and the feed delivers nothing more.
  CHECK(auditor.CodeOf(auditor.session.checkpointRequest()) == 401);
  const size_t delivered = seqs.size();
  staff.Append(Usage(subject));
  auditor.Pump(std::chrono::milliseconds(300));
  CHECK(seqs.size() == delivered);
  Client again(server.rpc_address(), token);
  CHECK(again.CodeOf(again.session.checkpointRequest()) == 401);
  // Revoking what is gone is 404; the others' tokens still work.
  CHECK(run(server.token("dpo"), {"token", "revoke", id}).code == 1);
  CHECK(staff.CodeOf(staff.session.checkpointRequest()) == 200);

  // A command with no --server form refuses it rather than run on a local directory.
  auto verify = run(server.token("dpo"), {"verify"});
  CHECK(verify.code == 1);
  CHECK(verify.err.find("does not run over --server") != std::string::npos);
}

TEST_CASE("RPC appends acknowledged before a SIGKILL are in the log after a restart",
          "[service][rpc]") {
  RpcServer server;
  std::string subject;
  {
    Client staff(server.rpc_address(), server.token("staff"));
    subject = staff.Append(NewCustomer("Crash Person")).at(0).second;
  }
  constexpr int kClients = 8;
  std::atomic<uint64_t> max_acked{0};
  std::atomic<int> acked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&] {
      try {
        Client c(server.rpc_address(), server.token("service"));
        for (;;) {  // until the server dies under us
          for (const auto& [seq, s] : c.Append(Usage(subject))) {
            uint64_t seen = max_acked.load();
            while (seq > seen && !max_acked.compare_exchange_weak(seen, seq)) {
            }
            ++acked;
          }
        }
      } catch (const kj::Exception&) {
      }
    });
  }
  for (int i = 0; i < 3000 && acked < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(acked >= 200);  // under load when killed (and the clients end either way)
  server.KillAndRestart();
  for (std::thread& t : threads) t.join();
  // Every acknowledged event is there, the log has no gap (envelopes are read by position).
  CHECK(server.LogSize() > max_acked.load());
  server.Stop();
  auto verify = server.Kirjuri({"verify", "--json"});
  INFO(kirjuri::testing::Describe(verify));
  CHECK(verify.code == 0);
}

TEST_CASE("kirjuri --server request close fulfils each kind of request as the local command "
          "does: the export, the erasure's report, the server's own work",
          "[service][rpc]") {
  RpcServer server;
  const std::filesystem::path& scratch = server.scratch();
  auto run = [&](const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null") {
    std::vector<std::string> all = {"--server", server.rpc_address(), "--token",
                                    server.token("dpo")};
    all.insert(all.end(), args.begin(), args.end());
    return RunKirjuri(all, scratch, stdin_path);
  };
  {
    std::ofstream in(scratch / "in.jsonl");
    for (int i = 0; i < 3; ++i) in << NewCustomer("Close Person") << "\n";
  }
  auto append = run({"append", "--json"}, (scratch / "in.jsonl").string());
  REQUIRE(append.code == 0);
  const std::vector<std::string> acks = Lines(append.out);
  REQUIRE(acks.size() == 3);
  const std::string reader = JsonString(acks[0], "subject");
  const std::string corrected = JsonString(acks[1], "subject");
  const std::string forgotten = JsonString(acks[2], "subject");
  auto state = [&](const std::string& ref) {
    for (const std::string& line : Lines(run({"request", "list"}).out)) {
      if (JsonString(line, "ref") == ref) return JsonString(line, "state");
    }
    return std::string("none");
  };
  REQUIRE(run({"request", "open", reader, "--kind", "access", "--ref", "REQ-A"}).code == 0);
  REQUIRE(run({"request", "open", corrected, "--kind", "rectification", "--ref", "REQ-R"}).code ==
          0);
  REQUIRE(run({"request", "open", forgotten, "--kind", "erasure", "--ref", "REQ-E"}).code == 0);

  // Refused before anything is done: an unknown ref, --data where no rectification is asked,
  // a rectification without it.
  auto unknown = run({"request", "close", "REQ-NONE"});
  CHECK(unknown.code == 1);
  CHECK(unknown.err == "kirjuri: no request 'REQ-NONE'\n");
  auto stray = run({"request", "close", "REQ-A", "--data", R"({"city":"Oulu"})"});
  CHECK(stray.code == 1);
  CHECK(Lines(stray.err).size() == 1);
  CHECK(run({"request", "close", "REQ-R"}).code == 1);
  CHECK(state("REQ-A") == "open");
  CHECK(state("REQ-R") == "open");

  // Access: the export is the answer, printed; the read is logged with the request.
  auto access = run({"request", "close", "REQ-A"});
  INFO(kirjuri::testing::Describe(access));
  REQUIRE(access.code == 0);
  CHECK(access.out.find("Close Person") != std::string::npos);
  CHECK(state("REQ-A") == "fulfilled");
  auto reads = run({"log", "--subject", reader, "--access"});
  REQUIRE(reads.code == 0);
  CHECK(reads.out.find("\"request\":\"REQ-A\"") != std::string::npos);

  // Rectification: the corrected values recorded, the view shows them.
  auto rectified = run({"request", "close", "REQ-R", "--data", R"({"city":"Kemi"})"});
  INFO(kirjuri::testing::Describe(rectified));
  REQUIRE(rectified.code == 0);
  CHECK(JsonString(rectified.out, "state") == "fulfilled");
  CHECK(state("REQ-R") == "fulfilled");
  CHECK(run({"query", "customer", corrected, "--json"}).out.find("Kemi") != std::string::npos);

  // Erasure: the person erased, the signed report printed.
  auto erased = run({"request", "close", "REQ-E"});
  INFO(kirjuri::testing::Describe(erased));
  REQUIRE(erased.code == 0);
  CHECK(erased.out.find("\"request\": \"REQ-E\"") != std::string::npos);
  CHECK(state("REQ-E") == "fulfilled");
  CHECK(run({"query", "customer", forgotten, "--json"}).out.find("Close Person") ==
        std::string::npos);
  auto again = run({"request", "close", "REQ-E"});
  CHECK(again.code == 1);
  CHECK(Lines(again.err).size() == 1);
}
