// service_bench: `kirjuri serve` under load, beside the in-process cost of the same work.
//
//   through the server (loopback)                  in-process baseline
//   GET /v1/customers/{id}, 1/8/64 clients (HTTP)  Views::Get + ToJson, no access log
//   Session.getSubject, 1/8/64 clients (RPC)       Service::GetSubject (the same plus the log)
//   Session.append, 64 clients, one event a call   Ledger::Append in batches of 1000, fresh ledger
//   Session.append, 64 clients, 16 events a call   (the same)
//
// Goal (issue 6): RPC append with 64 clients >= 50% of the in-process batched append rate, judged
// for clients that send one event a call and for clients that send 16 (a service flushing what
// it has gathered): with one each, a synced write can never gather more than 64 events. The
// cost of the access log on reads is Service::GetSubject against Views::Get + ToJson, one thread,
// same people; its writes (one dataAccessed event per read, batched) also compete with the
// served reads above.
//
// The server runs in this process: the Ledger, Views and Service, and Serve on a thread with
// port 0 (so the clients and the server share the machine's cores, as a client on the same
// host would). HTTP clients are threads with one keep-alive blocking socket each; RPC clients
// threads with one EzRpcClient each. RPC appenders are 64 connections driven from one thread
// (AsyncAppends), each with one append in flight.
//
// Usage: service_bench [--customers N] [--seconds S] [--append-seconds S] [--baseline-events N]
//                      [--dir PATH] [--keep] [--quick]
// Prints a table, then exactly one JSON line (the last line of stdout).
#include <arpa/inet.h>
#include <capnp/compat/json.h>
#include <capnp/ez-rpc.h>
#include <kj/vector.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "kirjuri/ledger.h"
#include "kirjuri/schemas/service.capnp.h"
#include "kirjuri/subject_view.h"
#include "kirjuri/views.h"
#include "service/rpc_front.h"
#include "service/server.h"
#include "service/service.h"

namespace fs = std::filesystem;
using namespace kirjuri;
using namespace kirjuri::bench;

namespace {

struct Args {
  uint64_t customers = 2000;
  double seconds = 2.0;         // per read configuration
  double append_seconds = 3.0;  // RPC appends
  uint64_t baseline_events = 20000;
  std::string dir;
  bool keep = false;
  bool quick = false;
};

NewEvent Customer(uint64_t i) {
  NewEvent e;
  e.register_name = "customer";
  e.type = "recorded";
  e.category = "profile";
  e.actor = "staff:bench";
  e.purpose = "service_delivery";
  e.basis = "contract";
  e.source = "web_form";
  const std::string n = Fmt("%07llu", static_cast<unsigned long long>(i));
  e.data = {{"name", "\"Bench Person " + n + "\""},
            {"email", "\"bench." + n + "@example.fi\""},
            {"city", "\"Jyvaskyla\""}};
  return e;
}

// The same event as a `kirjuri append` line.
std::string CustomerLine(uint64_t i) {
  const std::string n = Fmt("%07llu", static_cast<unsigned long long>(i));
  return R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
         R"("actor":"staff:bench","purpose":"service_delivery","basis":"contract",)"
         R"("source":"web_form","data":{"name":"Bench Person )" +
         n + R"(","email":"bench.)" + n + R"(@example.fi","city":"Jyvaskyla"}})";
}

struct Latencies {
  std::vector<double> micros;
  double Percentile(double p) {
    if (micros.empty()) return 0;
    std::sort(micros.begin(), micros.end());
    return micros[std::min(micros.size() - 1, static_cast<size_t>(p * micros.size()))];
  }
};

struct Result {
  double qps = 0, p50 = 0, p99 = 0;
  uint64_t ops = 0;  // operations done (an op may count several)
};

// Runs `clients` threads, each `setup()` once then `op(i)` until `seconds` have passed; every
// op's latency is kept. `op` returns how many operations it did (an RPC client may keep several
// appends in flight and wait for them together); qps counts those.
template <typename Setup>
Result Load(int clients, double seconds, Setup setup) {
  std::vector<Latencies> lat(clients);
  std::atomic<uint64_t> ops{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  double started = 0, ended = 0;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        auto op = setup(c);
        ++ready;
        while (!go) std::this_thread::yield();
        const double until = started + seconds;
        for (uint64_t i = 0;; ++i) {
          const double t0 = Now();
          if (t0 >= until || failed) break;
          ops += op(i);
          lat[c].micros.push_back((Now() - t0) * 1e6);
        }
      } catch (const std::exception& e) {
        if (!failed.exchange(true)) std::fprintf(stderr, "client %d: %s\n", c, e.what());
        ++ready;
      } catch (const kj::Exception& e) {
        if (!failed.exchange(true)) {
          std::fprintf(stderr, "client %d: %s\n", c, e.getDescription().cStr());
        }
        ++ready;
      }
    });
  }
  while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  started = Now();
  go = true;
  for (std::thread& t : threads) t.join();
  ended = Now();
  if (failed) Die("a client failed");
  Latencies all;
  for (auto& l : lat) all.micros.insert(all.micros.end(), l.micros.begin(), l.micros.end());
  Result r;
  r.ops = ops;
  r.qps = static_cast<double>(r.ops) / (ended - started);
  r.p50 = all.Percentile(0.50);
  r.p99 = all.Percentile(0.99);
  return r;
}

// One keep-alive HTTP/1.1 connection with blocking reads; answers must carry Content-Length.
class HttpConnection {
 public:
  explicit HttpConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Die("cannot connect to the HTTP port");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpConnection() { ::close(fd_); }

  // Returns the status code; the body in *body.
  int Get(const std::string& path, const std::string& token, std::string* body) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " +
                                token + "\r\n\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      Die("HTTP send failed");
    }
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) Fill();
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    int status = 0;
    std::sscanf(head.c_str(), "HTTP/1.1 %d", &status);
    size_t length = 0;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const size_t at = lower.find("content-length:");
    if (at == std::string::npos) Die("HTTP answer without Content-Length");
    length = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
    while (buf_.size() < length) Fill();
    body->assign(buf_, 0, length);
    buf_.erase(0, length);
    return status;
  }

 private:
  void Fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) Die("HTTP connection closed");
    buf_.append(chunk, static_cast<size_t>(n));
  }
  int fd_ = -1;
  std::string buf_;
};

// An RPC client logged in (pipelined) with a token.
struct RpcClient {
  capnp::EzRpcClient rpc;
  schema::Session::Client session;
  RpcClient(const std::string& address, const std::string& token)
      : rpc(address), session(nullptr) {
    auto login = rpc.getMain<schema::Gateway>().loginRequest();
    login.setToken(token);
    session = login.send().getSession();
  }
};

// `clients` RPC connections driven from one thread (one event loop): each sends an append of
// `lines` new people (as many JSON lines), waits for its answer, sends the next. With a thread
// per client, 64 client threads would take much of the two cores the server needs for signing
// and sealing. Result.ops counts events, the latencies are per call.
Result AsyncAppends(const std::string& address, const std::string& token, int clients,
                    uint64_t lines, double seconds) {
  std::vector<std::unique_ptr<RpcClient>> conns;
  for (int c = 0; c < clients; ++c) conns.push_back(std::make_unique<RpcClient>(address, token));
  kj::WaitScope& ws = conns[0]->rpc.getWaitScope();  // one event loop for the thread
  // Logged in before the clock starts.
  for (auto& conn : conns) conn->session.checkpointRequest().send().wait(ws);
  Latencies lat;
  uint64_t ops = 0;
  const double started = Now(), until = started + seconds;
  std::function<kj::Promise<void>(int, uint64_t)> next = [&](int c,
                                                             uint64_t i) -> kj::Promise<void> {
    if (Now() >= until) return kj::READY_NOW;
    auto request = conns[c]->session.appendRequest();
    std::string text;
    for (uint64_t k = 0; k < lines; ++k) {
      text += CustomerLine(static_cast<uint64_t>(c) * 100000000 + i + k) + "\n";
    }
    request.setLines(text);
    const double t0 = Now();
    return request.send().then([&, c, i, t0](auto&&) {
      lat.micros.push_back((Now() - t0) * 1e6);
      ops += lines;
      return next(c, i + lines);
    });
  };
  kj::Vector<kj::Promise<void>> all;
  for (int c = 0; c < clients; ++c) all.add(next(c, 0));
  kj::joinPromises(all.releaseAsArray()).wait(ws);
  Result r;
  r.ops = ops;
  r.qps = static_cast<double>(ops) / (Now() - started);
  r.p50 = lat.Percentile(0.50);
  r.p99 = lat.Percentile(0.99);
  return r;
}

// Group commit's synced writes so far (from the /metrics text).
double Batches(const service::Service& svc) {
  const std::string metrics = svc.Metrics();
  const std::string key = "\nkirjuri_group_commit_batches_total ";
  const size_t at = metrics.find(key);
  return at == std::string::npos ? 0 : std::strtod(metrics.c_str() + at + key.size(), nullptr);
}

int PortOf(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::atoi(json.c_str() + at + key.size() + 3);
}

int Run(int argc, char** argv) {
  Args a;
  ArgReader args(argc, argv, nullptr);  // no usage text: a complaint is Die's, exit 1
  while (args.Next()) {
    const std::string& arg = args.flag();
    if (arg == "--customers") a.customers = args.PositiveNumber();
    else if (arg == "--seconds") a.seconds = args.PositiveSeconds();
    else if (arg == "--append-seconds") a.append_seconds = args.PositiveSeconds();
    else if (arg == "--baseline-events") a.baseline_events = args.PositiveNumber();
    else if (arg == "--dir") a.dir = args.Value();
    else if (arg == "--keep") a.keep = true;
    else if (arg == "--quick") a.quick = true;
    else args.Fail("unknown argument " + arg);
  }
  // --quick: a smoke run, the figures above capped to small ones.
  if (a.quick) {
    a.customers = std::min<uint64_t>(a.customers, 300);
    a.seconds = std::min(a.seconds, 0.5);
    a.append_seconds = std::min(a.append_seconds, 1.0);
    a.baseline_events = std::min<uint64_t>(a.baseline_events, 2000);
  }
  // Before any thread starts: Serve takes SIGTERM on its loop (how this bench stops it).
  service::BlockShutdownSignals();
  spdlog::set_level(spdlog::level::warn);
  Scratch scratch(a.dir, "kirjuri-service-bench", a.keep);

  // --- The in-process batched append rate on a fresh ledger (the goal's baseline).
  double baseline_rate = 0;
  {
    const fs::path dir = scratch.Sub("baseline");
    scratch.Track(DefaultMasterKeyPath(dir));
    Check(Ledger::Init(dir, {}), "init");
    std::unique_ptr<Ledger> ledger;
    Check(Ledger::Open(dir, {}, &ledger), "open");
    Progress progress("in-process append", a.baseline_events);
    const double t0 = Now();
    for (uint64_t done = 0; done < a.baseline_events;) {
      std::vector<NewEvent> batch;
      for (uint64_t i = 0; i < 1000 && done + i < a.baseline_events; ++i) {
        batch.push_back(Customer(done + i));
      }
      std::vector<Appended> out;
      Check(ledger->Append(batch, &out), "append");
      done += batch.size();
      progress.Update(done);
      CheckInterrupted();
    }
    baseline_rate = static_cast<double>(a.baseline_events) / (Now() - t0);
    ledger.reset();
    scratch.Drop(dir);
  }

  // --- The served ledger: customers, tokens, the views caught up.
  const fs::path data = scratch.Sub("data");
  scratch.Track(DefaultMasterKeyPath(data));
  Check(Ledger::Init(data, {}), "init");
  std::unique_ptr<Ledger> ledger;
  Check(Ledger::Open(data, {}, &ledger), "open");
  std::vector<std::string> ids;
  for (uint64_t done = 0; done < a.customers;) {
    std::vector<NewEvent> batch;
    for (uint64_t i = 0; i < 1000 && done + i < a.customers; ++i) {
      batch.push_back(Customer(1000000 + done + i));
    }
    std::vector<Appended> out;
    Check(ledger->Append(batch, &out), "append customers");
    for (const Appended& x : out) ids.push_back(SubjectIdHex(x.subject));
    done += batch.size();
  }
  std::string staff_token;
  Check(ledger->IssueToken("bench-staff", "staff", "bench", &staff_token), "token");
  std::unique_ptr<Views> views;
  Check(Views::Open(ledger.get(), data, nullptr, &views), "views");
  service::Service svc(*ledger, *views);
  const service::Caller caller_for_appends{"bench-staff", "staff", "bench"};

  // --- The cost of the access log: the same reads in-process, without and with it.
  const uint64_t direct_reads = std::min<uint64_t>(ids.size() * 4, 20000);
  double plain_us = 0, logged_us = 0;
  {
    std::vector<SubjectId> parsed(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) Check(ParseSubjectId(ids[i], &parsed[i]), "id");
    double t0 = Now();
    size_t bytes = 0;
    for (uint64_t i = 0; i < direct_reads; ++i) {
      SubjectView v;
      Check(views->Get(parsed[i % parsed.size()], 0, &v), "get");
      bytes += v.ToJson().size();
    }
    plain_us = (Now() - t0) * 1e6 / static_cast<double>(direct_reads);
    service::Caller caller{"bench-staff", "staff", "bench"};
    t0 = Now();
    for (uint64_t i = 0; i < direct_reads; ++i) {
      std::string json;
      Check(svc.GetSubject(caller, "customer", ids[i % ids.size()], "", "", &json), "GetSubject");
      bytes += json.size();
    }
    logged_us = (Now() - t0) * 1e6 / static_cast<double>(direct_reads);
    if (bytes == 0) Die("empty answers");
  }

  // --- What an append's line costs before the ledger sees it (Service::Append runs it on the
  // event loop): Ledger::ParseLines of one line beside Cap'n Proto's parse of its JSON alone.
  const uint64_t parsed_lines = a.quick ? 2000 : 20000;
  double parse_us = 0, json_us = 0;
  {
    std::vector<std::string> lines;
    for (uint64_t i = 0; i < parsed_lines; ++i) lines.push_back(CustomerLine(900000000 + i));
    size_t n = 0;
    double t0 = Now();
    for (const std::string& line : lines) {
      capnp::MallocMessageBuilder message;
      auto value = message.initRoot<capnp::JsonValue>();
      capnp::JsonCodec().decodeRaw(kj::ArrayPtr<const char>(line.data(), line.size()), value);
      n += value.asReader().getObject().size();
    }
    json_us = (Now() - t0) * 1e6 / static_cast<double>(parsed_lines);
    t0 = Now();
    for (const std::string& line : lines) {
      std::vector<NewEvent> events;
      Check(ledger->ParseLines(line, &events), "ParseLines");
      n += events.size();
    }
    parse_us = (Now() - t0) * 1e6 / static_cast<double>(parsed_lines);
    if (n != parsed_lines * 10) Die("the lines did not parse as expected");
  }

  // --- Group commit without the network: 64 threads calling Service::Append, one new person
  // each time, waiting for the acknowledgement (the views follow, as when served).
  Result service_append = Load(64, a.append_seconds, [&](int c) {
    return [&, c](uint64_t i) {
      std::promise<Status> acked;
      svc.Append(caller_for_appends, CustomerLine(static_cast<uint64_t>(c) * 100000000 + 50000000 + i),
                 [&acked](const Status& s, std::vector<Appended>) { acked.set_value(s); });
      Check(acked.get_future().get(), "Service::Append");
      return uint64_t{1};
    };
  });

  // --- Serve on a thread.
  const fs::path port_file = scratch.root() / "ports.json";
  scratch.Track(port_file);
  service::ServeOptions options;
  options.http = "127.0.0.1:0";
  options.rpc = "127.0.0.1:0";
  options.port_file = port_file.string();
  options.rpc_bootstrap = service::MakeRpcBootstrap;
  Status serve_status;
  std::thread server([&] { serve_status = service::Serve(svc, options); });
  // Stops the server however this function ends (SIGTERM reaches Serve through its loop).
  struct StopServer {
    std::thread& t;
    ~StopServer() {
      if (!t.joinable()) return;
      ::kill(::getpid(), SIGTERM);
      t.join();
    }
  } stop_server{server};
  const double wait_until = Now() + 30;
  while (!fs::exists(port_file)) {
    if (Now() > wait_until) Die("the server did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string ports;
  {
    std::ifstream in(port_file);
    std::stringstream ss;
    ss << in.rdbuf();
    ports = ss.str();
  }
  const int http_port = PortOf(ports, "http"), rpc_port = PortOf(ports, "rpc");
  const std::string rpc_address = "127.0.0.1:" + std::to_string(rpc_port);

  struct ReadRow {
    const char* front;
    int clients;
    Result r;
  };
  std::vector<ReadRow> reads;
  for (int clients : {1, 8, 64}) {
    reads.push_back({"http", clients, Load(clients, a.seconds, [&](int c) {
                       auto conn = std::make_shared<HttpConnection>(http_port);
                       return [&, conn, c](uint64_t i) {
                         std::string body;
                         const int status = conn->Get(
                             "/v1/customers/" + ids[(i * 64 + c) % ids.size()], staff_token, &body);
                         if (status != 200) Die("HTTP " + std::to_string(status) + ": " + body);
                         return uint64_t{1};
                       };
                     })});
    CheckInterrupted();
  }
  for (int clients : {1, 8, 64}) {
    reads.push_back({"rpc", clients, Load(clients, a.seconds, [&](int c) {
                       auto client = std::make_shared<RpcClient>(rpc_address, staff_token);
                       return [&, client, c](uint64_t i) {
                         auto request = client->session.getSubjectRequest();
                         request.setRegister("customer");
                         request.setSubject(ids[(i * 64 + c) % ids.size()]);
                         request.send().wait(client->rpc.getWaitScope());
                         return uint64_t{1};
                       };
                     })});
    CheckInterrupted();
  }

  // --- Appends through RPC, 64 clients: one new person per call, then 16 per call.
  const uint64_t size_before = svc.size();
  const double batches_before = Batches(svc);
  Result append = AsyncAppends(rpc_address, staff_token, 64, 1, a.append_seconds);
  const double batches = Batches(svc) - batches_before;
  const uint64_t size_mid = svc.size();
  const double batches_mid = Batches(svc);
  Result append16 = AsyncAppends(rpc_address, staff_token, 64, 16, a.append_seconds);
  const double batches16 = Batches(svc) - batches_mid;

  ::kill(::getpid(), SIGTERM);
  server.join();
  Check(serve_status, "serve");
  const double per_batch = batches > 0 ? static_cast<double>(append.ops) / batches : 0;
  const double per_batch16 = batches16 > 0 ? static_cast<double>(append16.ops) / batches16 : 0;
  if (size_mid < size_before + append.ops || svc.size() < size_mid + append16.ops) {
    Die("acknowledged appends are missing");
  }
  const double ratio = append.qps / baseline_rate;
  const double ratio16 = append16.qps / baseline_rate;

  // --- The table and the JSON line.
  std::printf("service_bench: %s customers, %.1f s per read configuration, %.1f s of appends\n\n",
              Thousands(static_cast<double>(a.customers)).c_str(), a.seconds, a.append_seconds);
  std::printf("%-40s %8s %12s %10s %10s\n", "single-customer reads", "clients", "reads/s",
              "p50 us", "p99 us");
  for (ReadRow& row : reads) {
    std::printf("%-40s %8d %12s %10.0f %10.0f\n",
                std::string(row.front) == "http" ? "  HTTP GET /v1/customers/{id}"
                                                 : "  RPC Session.getSubject",
                row.clients, Thousands(row.r.qps).c_str(), row.r.p50, row.r.p99);
  }
  std::printf("\n%-40s %12s\n", "access log cost (in-process, 1 thread)", "us/read");
  std::printf("%-40s %12.1f\n", "  Views::Get + ToJson, no log", plain_us);
  std::printf("%-40s %12.1f   (+%.0f%%)\n", "  Service::GetSubject, logged", logged_us,
              100.0 * (logged_us - plain_us) / plain_us);
  std::printf("\n%-40s %12s\n", "an appended line parsed (1 thread)", "us/line");
  std::printf("%-40s %12.1f\n", "  its JSON alone (Cap'n Proto's parser)", json_us);
  std::printf("%-40s %12.1f   (%.1fx)\n", "  Ledger::ParseLines (decoded, checked)", parse_us,
              parse_us / json_us);
  std::printf("\n%-40s %12s\n", "appends", "events/s");
  std::printf("%-40s %12s\n", "  in-process, batches of 1000", Thousands(baseline_rate).c_str());
  std::printf("%-40s %12s   p50 %.0f us, p99 %.0f us\n", "  Service::Append, 64 threads, no network",
              Thousands(service_append.qps).c_str(), service_append.p50, service_append.p99);
  std::printf("%-40s %12s   p50 %.0f us, p99 %.0f us\n", "  RPC append, 64 connections, 1 event a call",
              Thousands(append.qps).c_str(), append.p50, append.p99);
  std::printf("  %.1f events per synced write (group commit, RPC)\n", per_batch);
  std::printf("%-40s %12s   p50 %.0f us, p99 %.0f us (a call)\n",
              "  RPC append, 64 connections, 16 events a call",
              Thousands(append16.qps).c_str(), append16.p50, append16.p99);
  std::printf("  %.1f events per synced write (group commit, RPC)\n", per_batch16);
  std::printf("  goal: RPC >= 50%% of in-process: %.0f%% with 1 event a call %s, "
              "%.0f%% with 16 %s\n\n",
              100 * ratio, ratio >= 0.5 ? "(met)" : "(NOT met)", 100 * ratio16,
              ratio16 >= 0.5 ? "(met)" : "(NOT met)");

  std::string json = "{\"bench\":\"service\",\"customers\":" + std::to_string(a.customers) +
                     ",\"quick\":" + (a.quick ? "true" : "false") + ",\"reads\":[";
  for (size_t i = 0; i < reads.size(); ++i) {
    json += Fmt("%s{\"front\":\"%s\",\"clients\":%d,\"qps\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f}",
                i ? "," : "", reads[i].front, reads[i].clients, reads[i].r.qps, reads[i].r.p50,
                reads[i].r.p99);
  }
  json += Fmt("],\"line_parse\":{\"json_us\":%.2f,\"parse_lines_us\":%.2f}", json_us, parse_us);
  json += Fmt(",\"access_log\":{\"plain_us\":%.1f,\"logged_us\":%.1f},"
              "\"append\":{\"rpc_clients\":64,\"service_64_threads_per_s\":%.0f,\"rpc_events_per_s\":%.0f,\"rpc_p50_us\":%.0f,"
              "\"rpc_p99_us\":%.0f,\"events_per_batch\":%.1f,\"in_process_batch1000_per_s\":%.0f,\"ratio\":%.3f,"
              "\"goal_met\":%s,\"rpc16_events_per_s\":%.0f,\"rpc16_p50_us\":%.0f,"
              "\"rpc16_p99_us\":%.0f,"
              "\"rpc16_events_per_batch\":%.1f,\"rpc16_ratio\":%.3f,\"rpc16_goal_met\":%s}}",
              plain_us, logged_us, service_append.qps, append.qps, append.p50, append.p99, per_batch, baseline_rate, ratio,
              ratio >= 0.5 ? "true" : "false", append16.qps, append16.p50, append16.p99,
              per_batch16, ratio16, ratio16 >= 0.5 ? "true" : "false");
  PrintJsonLine(json);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return RunMain("service_bench", Run, argc, argv); }
