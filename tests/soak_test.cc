// A bounded soak of `kirjuri serve` (issue 7, item 6): the real server as a child process on
// loopback, 16 HTTP clients and 2 RPC clients appending and reading at a steady pace, and one
// client following the change feed, for KIRJURI_SOAK_SECONDS (75 s; 30 s under the
// sanitizers). Every second the server's resident memory (/proc/PID/status VmRSS) and open file
// descriptors (/proc/PID/fd) are sampled.
//
// After a warm-up (the first fifth, at least 10 s: caches, thread pools and the allocator's
// arenas grow at first) the rest is cut into thirds, and the test requires:
//   - memory flat: the last third's mean RSS at most max(16 MiB, 2 KiB per request served
//     between the two thirds' middles) above the middle third's. Not zero: RocksDB's memtables
//     fill towards their 64 MiB flush size for the whole of a short soak (the data directory
//     grows ~0.8 KB and the RSS ~1.3 KB per request, measured), so a leak of 1 KiB per request
//     breaks the bound and one of 4 KiB breaks it 2.5 times over. Not asserted under ASan, whose
//     quarantine keeps freed memory resident: LeakSanitizer checks the server's exit instead;
//   - file handles flat: the last third's max fd count at most 16 above the middle third's max;
//   - latency stable: the last third's p50 at most 3x + 2 ms, and p99 at most 4x + 100 ms
//     (+ 300 ms under the sanitizers), the first third's (generous: the CI machine has 2 cores
//     and runs other tests beside this one);
//   - no errors: every request answered 200 with the expected content;
//   - every acknowledged append in the log under its seq and subject, the log gap-free, the
//     change feed every event once in order, a clean exit on SIGTERM and `kirjuri verify` passing.
//
// Each client reconnects every 100 requests, so that a leak per connection shows as well as a
// leak per request. KIRJURI_SOAK_SECONDS=600 for a real soak.
#include <capnp/ez-rpc.h>
#include <dirent.h>
#include <kj/async.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/schemas/service.capnp.h"
#include "service_util.h"

using namespace kirjuri::testing;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kHttpClients = 16;
constexpr int kRpcClients = 2;
// Each client's pace: one request every 40 ms (~450 requests/s in all). A soak is sustained
// load, not a throughput test: at a steady pace a request's latency is its service time, not
// the length of a queue, and the shared machine keeps some headroom.
constexpr auto kInterval = std::chrono::milliseconds(40);
constexpr int kReconnectEvery = 100;

// Thresholds (see the top of the file). One fd leaked per connection would break the fd bound
// within a second or two (the clients reconnect ~4 times a second in all).
constexpr double kRssSlackBytes = 16.0 * 1024 * 1024;
constexpr double kRssBytesPerRequest = 2048;
constexpr int kFdSlack = 16;
constexpr double kP50Factor = 3, kP50SlackMs = 2;
// Under ASan a stall of the server (a memtable flush, say) lasts 200-300 ms, and a third of a
// 30 s soak holds ~2,500 requests: one stall can move its p99 that far whichever third it falls
// in (seen: a first third with p99 20 ms and max 285 ms, a last third with p99 179 ms). The
// sanitized run keeps the check for latency that grows, with room for one such stall.
constexpr double kP99Factor = 4, kP99SlackMs = kSanitized ? 300 : 100;

// KIRJURI_SOAK_SECONDS, else 75 (30 under the sanitizers).
double SoakSeconds() {
  const char* v = std::getenv("KIRJURI_SOAK_SECONDS");
  if (v != nullptr && std::atof(v) >= 5) return std::atof(v);
  return kSanitized ? 30 : 75;
}

// VmRSS of `pid` in bytes; -1 if unreadable.
double RssBytes(pid_t pid) {
  const std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = status.find("VmRSS:");
  if (at == std::string::npos) return -1;
  return std::atof(status.c_str() + at + 6) * 1024;  // "VmRSS:   12345 kB"
}

// Entries of /proc/PID/fd; -1 if unreadable.
int OpenFds(pid_t pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// Bytes of the files under `dir` (the data directory's growth, beside the memory's).
double DirBytes(const std::filesystem::path& dir) {
  double total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += static_cast<double>(it->file_size(size_ec));
  }
  return total;
}

struct ProcSample {
  double t = 0;  // seconds since the load started
  double rss = 0;
  int fds = 0;
  uint64_t requests = 0;  // answered so far, all clients
  double data_bytes = 0;
};

// One answered request: when it started (seconds since the load started) and how long it took.
struct Timing {
  float t = 0, ms = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Waits for the next slot of a fixed schedule; a client that fell behind starts afresh rather
// than bursting to catch up.
class Pacer {
 public:
  void Wait() {
    next_ += kInterval;
    const auto now = Clock::now();
    if (next_ > now) {
      std::this_thread::sleep_until(next_);
    } else {
      next_ = now;
    }
  }

 private:
  Clock::time_point next_ = Clock::now();
};

std::string CustomerLine(const std::string& name) {
  return R"({"register":"customer","subject":"new","type":"recorded","category":"profile","actor":"emp-soak","purpose":"service_delivery","basis":"contract","source":"web_form","data":{"name":")" +
         name + R"(","email":"soak@example.fi","city":"Jyväskylä"}})" + "\n";
}

std::string UsageLine(const std::string& subject) {
  return R"({"register":"customer","subject":")" + subject +
         R"(","type":"recorded","category":"usage","actor":"svc-soak","purpose":"service_delivery","basis":"contract","source":"cookies","data":{"kind":"login"}})" +
         "\n";
}

// What all clients share: acknowledged appends, counts, errors, latencies.
struct Shared {
  Clock::time_point start;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::mutex mu;
  std::map<long long, std::string> acked;  // seq -> subject
  std::vector<std::string> first_errors;
  std::vector<Timing> http_timings, rpc_timings;

  float Since(Clock::time_point t) const {
    return std::chrono::duration<float>(t - start).count();
  }
  void Error(const std::string& what) {
    ++errors;
    std::lock_guard<std::mutex> lock(mu);
    if (first_errors.size() < 10) first_errors.push_back(what);
  }
  void Acked(long long seq, const std::string& subject) {
    std::lock_guard<std::mutex> lock(mu);
    acked[seq] = subject;
  }
  void Merge(std::vector<Timing>* into, const std::vector<Timing>& mine) {
    std::lock_guard<std::mutex> lock(mu);
    into->insert(into->end(), mine.begin(), mine.end());
  }
};

// An HTTP client: new customers, usage events for them, reads of them (checking the name),
// and checkpoints, on a keep-alive connection renewed every kReconnectEvery requests.
void HttpClient(int id, int port, const std::string& token, Shared* shared) {
  std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1);
  std::vector<std::pair<std::string, std::string>> mine;  // subject, name
  std::vector<Timing> timings;
  auto conn = std::make_unique<HttpConnection>(port);
  Pacer pacer;
  for (uint64_t i = 0; !shared->stop; ++i) {
    pacer.Wait();
    if (i % kReconnectEvery == kReconnectEvery - 1) conn = std::make_unique<HttpConnection>(port);
    const int kind = mine.empty() ? 0 : static_cast<int>(i % 10);
    const auto& [subject, name] =
        mine.empty() ? std::pair<std::string, std::string>() : mine[rng() % mine.size()];
    std::string method = "GET", target, body, new_name;
    if (kind == 0 || kind == 5) {
      new_name = "Soak Person " + std::to_string(id) + "-" + std::to_string(i);
      method = "POST";
      target = "/v1/events";
      body = CustomerLine(new_name);
    } else if (kind == 3) {
      method = "POST";
      target = "/v1/events";
      body = UsageLine(subject);
    } else if (kind == 9) {
      target = "/v1/checkpoint";
    } else {
      target = "/v1/customers/" + subject + "?purpose=customer_relationship";
    }
    const auto t0 = Clock::now();
    HttpResponse r;
    const bool answered = conn->Send(method, target, body, token) && conn->ReadHead(&r) &&
                          conn->ReadBody(&r);
    const auto t1 = Clock::now();
    ++shared->requests;
    if (!answered || r.status != 200) {
      shared->Error(method + " " + target + ": " + std::to_string(r.status) + " " + r.body);
      conn = std::make_unique<HttpConnection>(port);
      continue;
    }
    timings.push_back({shared->Since(t0), std::chrono::duration<float, std::milli>(t1 - t0).count()});
    if (method == "POST") {
      const std::vector<std::string> lines = Lines(r.body);
      if (lines.size() != 1) {
        shared->Error("append answered " + r.body);
        continue;
      }
      const long long seq = JsonNumber(lines[0], "seq");
      const std::string s = JsonString(lines[0], "subject");
      if (seq < 0 || s.size() != 32 || (kind == 3 && s != subject)) {
        shared->Error("append answered " + r.body);
        continue;
      }
      shared->Acked(seq, s);
      if (!new_name.empty()) mine.emplace_back(s, new_name);
    } else if (kind != 9 && r.body.find(name) == std::string::npos) {
      shared->Error("GET " + target + " without the name " + name);
    }
  }
  shared->Merge(&shared->http_timings, timings);
}

// An RPC client: a new customer, then a read of it, one call per slot; a new connection (and
// login) every kReconnectEvery calls.
void RpcClient(int id, int port, const std::string& token, Shared* shared) {
  using kirjuri::schema::Gateway;
  using kirjuri::schema::Session;
  std::vector<Timing> timings;
  Pacer pacer;
  uint64_t i = 0;
  while (!shared->stop) {
    try {
      capnp::EzRpcClient rpc("127.0.0.1", static_cast<unsigned>(port));
      auto login = rpc.getMain<Gateway>().loginRequest();
      login.setToken(token);
      Session::Client session = login.send().getSession();
      std::string subject, name;
      for (int n = 0; n < kReconnectEvery && !shared->stop; ++n, ++i) {
        pacer.Wait();
        const auto t0 = Clock::now();
        ++shared->requests;
        if (subject.empty() || i % 2 == 0) {
          name = "Soak Rpc " + std::to_string(id) + "-" + std::to_string(i);
          auto request = session.appendRequest();
          request.setLines(CustomerLine(name));
          auto response = request.send().wait(rpc.getWaitScope());
          if (response.getAppended().size() != 1) {
            shared->Error("RPC append answered " + std::to_string(response.getAppended().size()));
            continue;
          }
          auto a = response.getAppended()[0];
          kirjuri::SubjectId sid{};
          if (a.getSubject().size() != sid.size()) {
            shared->Error("RPC append: a subject of the wrong size");
            continue;
          }
          std::copy(a.getSubject().begin(), a.getSubject().end(), sid.begin());
          subject = kirjuri::SubjectIdHex(sid);
          shared->Acked(static_cast<long long>(a.getSeq()), subject);
        } else {
          auto request = session.getSubjectRequest();
          request.setRegister("customer");
          request.setSubject(subject);
          request.setPurpose("customer_relationship");
          std::string json = request.send().wait(rpc.getWaitScope()).getJson();
          if (json.find(name) == std::string::npos) {
            shared->Error("RPC getSubject without the name " + name);
            continue;
          }
        }
        timings.push_back({shared->Since(t0),
                           std::chrono::duration<float, std::milli>(Clock::now() - t0).count()});
      }
    } catch (const kj::Exception& e) {
      shared->Error(std::string("RPC: ") + e.getDescription().cStr());
      std::this_thread::sleep_for(kInterval);
    }
  }
  shared->Merge(&shared->rpc_timings, timings);
}

// Latency figures of the requests that started within [from, to).
struct Window {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;
};
Window WindowOf(const std::vector<Timing>& timings, double from, double to) {
  std::vector<double> ms;
  for (const Timing& t : timings) {
    if (t.t >= from && t.t < to) ms.push_back(t.ms);
  }
  Window w;
  w.n = ms.size();
  w.p50 = Percentile(ms, 0.50);
  w.p99 = Percentile(ms, 0.99);
  w.max = Percentile(ms, 1.0);
  return w;
}

struct ProcWindow {
  double mean_rss = 0, max_rss = 0;
  int max_fds = 0;
  double mid_requests = 0;  // requests answered by the window's middle
};
ProcWindow ProcWindowOf(const std::vector<ProcSample>& samples, double from, double to) {
  ProcWindow w;
  std::vector<const ProcSample*> in;
  for (const ProcSample& s : samples) {
    if (s.t >= from && s.t < to) in.push_back(&s);
  }
  if (in.empty()) return w;
  for (const ProcSample* s : in) {
    w.mean_rss += s->rss / static_cast<double>(in.size());
    w.max_rss = std::max(w.max_rss, s->rss);
    w.max_fds = std::max(w.max_fds, s->fds);
  }
  w.mid_requests = static_cast<double>(in[in.size() / 2]->requests);
  return w;
}

std::string Mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

TEST_CASE("a soak of kirjuri serve: memory and file handles stay flat, latency stable, nothing "
          "lost",
          "[service][soak]") {
  const double seconds = SoakSeconds();
  const double warmup = std::max(10.0, seconds / 5);
  const double third = (seconds - warmup) / 3;
  ServiceLedger ledger;
  const std::string staff = ledger.Token("emp-soak", "staff");
  const std::string auditor = ledger.Token("aud-soak", "auditor");
  ServerProcess server(ledger);
  server.Start();
  const int http_port = server.http_port(), rpc_port = server.rpc_port();
  const pid_t pid = server.pid();
  REQUIRE(rpc_port > 0);

  Shared shared;
  shared.start = Clock::now();

  // The change feed, from the start: every envelope once, in order.
  std::atomic<long long> feed_next{0};
  std::atomic<bool> feed_stop{false}, feed_failed{false};
  std::string feed_error;  // written by the feed's thread before feed_failed, read after join
  std::thread feed([&] {
    HttpConnection c(http_port);
    HttpResponse head;
    if (!c.Send("GET", "/v1/changes?from=0", "", auditor) || !c.ReadHead(&head) ||
        head.status != 200) {
      feed_error = "the feed did not open: " + std::to_string(head.status);
      feed_failed = true;
      return;
    }
    while (!feed_stop) {
      const auto asked = Clock::now();
      auto line = c.ReadLine(500);
      if (!line && Clock::now() - asked < std::chrono::milliseconds(400)) {
        feed_error = "the feed ended at seq " + std::to_string(feed_next.load());
        feed_failed = true;
        return;
      }
      if (!line || line->empty()) continue;  // (an empty line is a keep-alive)
      const long long seq = JsonNumber(*line, "seq");
      if (seq != feed_next) {
        feed_error = "feed gave seq " + std::to_string(seq) + " for " +
                     std::to_string(feed_next.load());
        feed_failed = true;
        return;
      }
      ++feed_next;
    }
  });

  std::vector<std::thread> clients;
  for (int c = 0; c < kHttpClients; ++c) {
    clients.emplace_back(HttpClient, c, http_port, staff, &shared);
  }
  for (int c = 0; c < kRpcClients; ++c) {
    clients.emplace_back(RpcClient, c, rpc_port, staff, &shared);
  }

  // Samples, once a second, until the time is up.
  std::vector<ProcSample> samples;
  for (int s = 1; s <= static_cast<int>(seconds); ++s) {
    std::this_thread::sleep_until(shared.start + std::chrono::seconds(s));
    ProcSample p;
    p.t = shared.Since(Clock::now());
    p.rss = RssBytes(pid);
    p.fds = OpenFds(pid);
    p.requests = shared.requests;
    p.data_bytes = DirBytes(ledger.data());
    samples.push_back(p);
    if (p.rss < 0 || p.fds < 0) break;  // the server is gone: the checks below say so
  }
  shared.stop = true;
  for (auto& t : clients) t.join();

  // Once the access log's last batch is written (within 20 ms of the read; the size then stays
  // put), the feed must reach the end of the log.
  long long size = -1;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResponse health = Http(http_port, "GET", "/healthz");
    REQUIRE(health.status == 200);
    const long long now = JsonNumber(health.body, "events");
    if (now == size) break;
    size = now;
  }
  for (int i = 0; i < 300 && feed_next < size && !feed_failed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  feed_stop = true;
  feed.join();

  // The whole log, page by page: gap-free, every acknowledged append under its subject.
  std::map<long long, std::string> logged;
  for (long long from = 0; from < size;) {
    HttpResponse page = Http(http_port, "GET",
                             "/v1/events?from=" + std::to_string(from) + "&limit=10000", "",
                             auditor);
    REQUIRE(page.status == 200);
    const std::vector<std::string> lines = Lines(page.body);
    REQUIRE(!lines.empty());
    for (const std::string& line : lines) {
      logged[JsonNumber(line, "seq")] = JsonString(line, "subject");
    }
    from += static_cast<long long>(lines.size());
  }

  // The table: one row every 5 s, and the last.
  std::ostringstream table;
  table << "soak: " << seconds << " s, " << kHttpClients << " HTTP + " << kRpcClients
        << " RPC clients (+1 change feed), warm-up " << warmup << " s, thirds of " << third
        << " s\n";
  table << "   t(s)   requests    RSS (MiB)   fds   data dir (MiB)\n";
  for (size_t i = 0; i < samples.size(); ++i) {
    if ((i + 1) % 5 != 0 && i + 1 != samples.size()) continue;
    char row[128];
    std::snprintf(row, sizeof row, "  %5.0f  %9llu  %11.1f  %4d  %15.1f\n", samples[i].t,
                  static_cast<unsigned long long>(samples[i].requests),
                  samples[i].rss / 1048576.0, samples[i].fds, samples[i].data_bytes / 1048576.0);
    table << row;
  }
  const double t1 = warmup, t2 = warmup + third, t3 = warmup + 2 * third, t4 = seconds + 1;
  const ProcWindow mid = ProcWindowOf(samples, t2, t3), last = ProcWindowOf(samples, t3, t4);
  const Window http_first = WindowOf(shared.http_timings, t1, t2);
  const Window http_last = WindowOf(shared.http_timings, t3, t4);
  const Window rpc_first = WindowOf(shared.rpc_timings, t1, t2);
  const Window rpc_last = WindowOf(shared.rpc_timings, t3, t4);
  const double served = last.mid_requests - mid.mid_requests;
  const double rss_allowed = std::max(kRssSlackBytes, kRssBytesPerRequest * served);
  const double rss_growth = last.mean_rss - mid.mean_rss;
  char lines[2048];
  std::snprintf(lines, sizeof lines,
                "RSS mean, middle third %s, last third %s: +%s for %.0f requests (%.0f B each; "
                "allowed %s)\n"
                "fds max, middle third %d, last third %d\n"
                "HTTP latency, first third p50 %.2f p99 %.2f max %.1f ms (%zu), last third p50 "
                "%.2f p99 %.2f max %.1f ms (%zu)\n"
                "RPC latency, first third p50 %.2f p99 %.2f ms (%zu), last third p50 %.2f p99 "
                "%.2f ms (%zu)\n"
                "log %lld events, %zu acknowledged appends, feed %lld, errors %llu\n",
                Mib(mid.mean_rss).c_str(), Mib(last.mean_rss).c_str(), Mib(rss_growth).c_str(),
                served, served > 0 ? rss_growth / served : 0.0, Mib(rss_allowed).c_str(),
                mid.max_fds, last.max_fds, http_first.p50, http_first.p99, http_first.max,
                http_first.n, http_last.p50, http_last.p99, http_last.max, http_last.n,
                rpc_first.p50, rpc_first.p99, rpc_first.n, rpc_last.p50, rpc_last.p99,
                rpc_last.n, size, shared.acked.size(), feed_next.load(),
                static_cast<unsigned long long>(shared.errors.load()));
  table << lines;
  WARN(table.str());
  std::string errors;
  for (const std::string& e : shared.first_errors) errors += e + "\n";
  INFO(table.str() << errors);

  REQUIRE(samples.size() >= static_cast<size_t>(seconds) - 1);
  CHECK(shared.errors == 0);
  CHECK(feed_error.empty());
  CHECK(feed_next == size);
  // Nothing lost: the log is gap-free and holds every acknowledged append.
  REQUIRE(static_cast<long long>(logged.size()) == size);
  CHECK(logged.begin()->first == 0);
  CHECK(logged.rbegin()->first == size - 1);
  size_t missing = 0;
  for (const auto& [seq, subject] : shared.acked) missing += logged[seq] != subject;
  CHECK(missing == 0);
  CHECK(shared.acked.size() > static_cast<size_t>(seconds) * 10);  // the load ran

  // Flat and stable.
  CHECK(last.max_fds <= mid.max_fds + kFdSlack);
  if (!kSanitized) CHECK(rss_growth <= rss_allowed);
  CHECK(http_last.n > 0);
  CHECK(http_last.p50 <= kP50Factor * http_first.p50 + kP50SlackMs);
  CHECK(http_last.p99 <= kP99Factor * http_first.p99 + kP99SlackMs);
  CHECK(rpc_last.p50 <= kP50Factor * rpc_first.p50 + kP50SlackMs);
  CHECK(rpc_last.p99 <= kP99Factor * rpc_first.p99 + kP99SlackMs);

  // A clean exit (under the sanitizers: LeakSanitizer found nothing), and the log verifies.
  const int code = server.Stop();
  INFO(server.log());
  CHECK(code == 0);
  RunResult verify = ledger.Kirjuri({"verify"});
  INFO(Describe(verify));
  CHECK(verify.code == 0);
}
