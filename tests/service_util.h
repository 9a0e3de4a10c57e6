// What tests of `kirjuri serve` need: a real server as a child process (ServerProcess), bearer
// tokens from the real CLI, and a small blocking HTTP/1.1 client over POSIX sockets (whole
// answers with Content-Length or chunked bodies, and line-by-line reading of a stream).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "test_util.h"

namespace kirjuri::testing {

// An input line recording a new customer, Aino (aino@example.fi), as `kirjuri append` takes it.
inline std::string NewCustomerLine() {
  return R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
         R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent",)"
         R"("source":"web_form","data":{"name":"Aino","email":"aino@example.fi"}})"
         "\n";
}

// A ledger initialised in a scratch directory, with its master key beside it.
class ServiceLedger {
 public:
  ServiceLedger() : data_((dir_ / "data").string()), key_((dir_ / "master.key").string()) {
    RunResult r = Kirjuri({"init"});
    INFO(Describe(r));
    REQUIRE(r.code == 0);
  }
  // `kirjuri --data D --master-key K ARGS…` (stdin from `stdin_path`).
  RunResult Kirjuri(std::vector<std::string> args, const std::string& stdin_path = "/dev/null") {
    std::vector<std::string> all = {"--data", data_, "--master-key", key_};
    all.insert(all.end(), args.begin(), args.end());
    return RunKirjuri(all, dir_.path(), stdin_path);
  }
  // `kirjuri token issue`; the ledger must not be open in a server (RocksDB's lock).
  std::string Token(const std::string& actor, const std::string& role) {
    RunResult r = Kirjuri({"token", "issue", "--actor", actor, "--role", role});
    INFO(Describe(r));
    REQUIRE(r.code == 0);
    REQUIRE(r.out.size() > 1);
    return r.out.substr(0, r.out.size() - 1);
  }
  // `kirjuri append --json` of `lines` (JSON lines, from a file); REQUIRE it worked; the acks.
  std::string Append(const std::string& lines) {
    const std::filesystem::path input = dir() / "append-input.jsonl";
    {
      std::ofstream out(input, std::ios::trunc);
      out << lines;
    }
    RunResult r = Kirjuri({"append", "--json"}, input.string());
    INFO(Describe(r));
    REQUIRE(r.code == 0);
    return r.out;
  }
  const std::string& data() const { return data_; }
  const std::string& master_key() const { return key_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_{"kirjuri-service"};
  std::string data_, key_;
};

// `kirjuri serve` on 127.0.0.1 with ports chosen by the system (--port-file). Killed with
// SIGKILL at scope exit if still running; Start again after Stop/Kill to restart on the same
// data directory.
class ServerProcess {
 public:
  // `args` follow `serve`; by default HTTP and RPC on port 0.
  explicit ServerProcess(const ServiceLedger& ledger,
                         std::vector<std::string> args = {"--http", "127.0.0.1:0", "--rpc",
                                                          "127.0.0.1:0"})
      : ledger_(ledger), args_(std::move(args)) {}
  ~ServerProcess() {
    if (pid_ > 0) Signal(SIGKILL);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns the server and waits (up to 30 s) until it has written its port file.
  void Start() {
    REQUIRE(pid_ <= 0);
    const std::filesystem::path port_file = ledger_.dir() / "ports.json";
    std::filesystem::remove(port_file);
    std::vector<std::string> storage = {KIRJURI_BIN, "--data", ledger_.data(), "--master-key",
                                        ledger_.master_key(), "serve", "--port-file",
                                        port_file.string()};
    storage.insert(storage.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    log_path_ = (ledger_.dir() / "server.log").string();
    posix_spawn_file_actions_t fa;
    REQUIRE(posix_spawn_file_actions_init(&fa) == 0);
    REQUIRE(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0);
    REQUIRE(posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(),
                                             O_WRONLY | O_CREAT | O_APPEND, 0600) == 0);
    REQUIRE(posix_spawn_file_actions_adddup2(&fa, 1, 2) == 0);
    int rc = posix_spawn(&pid_, storage[0].c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    REQUIRE(rc == 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::filesystem::exists(port_file)) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        FAIL("kirjuri serve exited before listening:\n" << ReadFile(log_path_));
      }
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::string ports = ReadFile(port_file);
    http_port_ = PortOf(ports, "http");
    rpc_port_ = PortOf(ports, "rpc");
  }

  // Sends `sig` and waits for the exit; returns the exit code, or 128 + the signal.
  int Signal(int sig) {
    REQUIRE(pid_ > 0);
    ::kill(pid_, sig);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0) REQUIRE(errno == EINTR);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  int Stop() { return Signal(SIGTERM); }

  int http_port() const { return http_port_; }
  int rpc_port() const { return rpc_port_; }  // 0 when the server does not serve RPC
  pid_t pid() const { return pid_; }          // 0 when not running
  std::string log() const { return ReadFile(log_path_); }

 private:
  static int PortOf(const std::string& json, const std::string& key) {
    const size_t at = json.find("\"" + key + "\":");
    if (at == std::string::npos) return 0;
    return std::atoi(json.c_str() + at + key.size() + 3);
  }

  const ServiceLedger& ledger_;
  std::vector<std::string> args_;
  pid_t pid_ = 0;
  int http_port_ = 0, rpc_port_ = 0;
  std::string log_path_;
};

// A connected TCP socket to 127.0.0.1:port; -1 on failure.
inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct HttpResponse {
  int status = 0;  // 0: no answer (connection failed or closed)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// An HTTP/1.1 connection that reads answers incrementally: headers, then a body by
// Content-Length, chunked, or until the server closes.
class HttpConnection {
 public:
  explicit HttpConnection(int port) : fd_(ConnectLoopback(port)) {}
  ~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Sends a request; `token` as a bearer token if not empty.
  bool Send(const std::string& method, const std::string& target, const std::string& body = "",
            const std::string& token = "") {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty() || method == "POST") {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    return fd_ >= 0 && SendAll(fd_, req);
  }
  bool SendRaw(std::string_view bytes) { return fd_ >= 0 && SendAll(fd_, bytes); }

  // Reads the status line and headers; false if the connection ends first.
  bool ReadHead(HttpResponse* r, int timeout_ms = 30000) {
    size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(timeout_ms)) return false;
    }
    std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    std::istringstream in(head);
    std::string line, version;
    std::getline(in, line);
    std::istringstream status_line(line);
    status_line >> version >> r->status;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon), value = line.substr(colon + 1);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r->headers[name] = value;
    }
    chunked_ = r->headers.count("transfer-encoding") &&
               r->headers["transfer-encoding"].find("chunked") != std::string::npos;
    remaining_.reset();
    if (!chunked_ && r->headers.count("content-length")) {
      remaining_ = std::stoull(r->headers["content-length"]);
    }
    body_done_ = false;
    return true;
  }

  // Reads the whole body of the answer whose head was read.
  bool ReadBody(HttpResponse* r, int timeout_ms = 30000) {
    while (!body_done_) {
      if (!Decode(&r->body) && !body_done_ && !Fill(timeout_ms)) {
        if (remaining_ || chunked_) return false;
        body_done_ = true;  // delimited by the end of the connection
      }
    }
    return true;
  }

  // The next '\n'-terminated line of a streamed body (without the '\n'); nullopt on timeout or
  // end of the stream.
  std::optional<std::string> ReadLine(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const size_t nl = decoded_.find('\n');
      if (nl != std::string::npos) {
        std::string line = decoded_.substr(0, nl);
        decoded_.erase(0, nl + 1);
        return line;
      }
      if (Decode(&decoded_)) continue;
      if (body_done_) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !Fill(static_cast<int>(left.count()))) return std::nullopt;
    }
  }

 private:
  // Reads more bytes into raw_; false on timeout, error or end of the connection.
  bool Fill(int timeout_ms) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout_ms);
    if (ready <= 0) return false;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Moves decodable body bytes from raw_ to *out; true if it moved any (or finished).
  bool Decode(std::string* out) {
    if (body_done_) return false;
    if (!chunked_) {
      if (raw_.empty() && !(remaining_ && *remaining_ == 0)) return false;
      size_t n = remaining_ ? std::min<size_t>(*remaining_, raw_.size()) : raw_.size();
      out->append(raw_, 0, n);
      raw_.erase(0, n);
      if (remaining_) {
        *remaining_ -= n;
        if (*remaining_ == 0) body_done_ = true;
      }
      return true;
    }
    bool moved = false;
    for (;;) {
      const size_t eol = raw_.find("\r\n");
      if (eol == std::string::npos) return moved;
      const size_t size = std::stoull(raw_.substr(0, eol), nullptr, 16);
      if (raw_.size() < eol + 2 + size + 2) return moved;
      if (size == 0) {
        raw_.erase(0, eol + 4);
        body_done_ = true;
        return true;
      }
      out->append(raw_, eol + 2, size);
      raw_.erase(0, eol + 2 + size + 2);
      moved = true;
    }
  }

  int fd_;
  std::string raw_, decoded_;
  bool chunked_ = false, body_done_ = false;
  std::optional<uint64_t> remaining_;
};

// One request on a fresh connection; status 0 if there was no answer.
inline HttpResponse Http(int port, const std::string& method, const std::string& target,
                         const std::string& body = "", const std::string& token = "") {
  HttpResponse r;
  HttpConnection c(port);
  if (!c.Send(method, target, body, token)) return r;
  if (!c.ReadHead(&r) || !c.ReadBody(&r)) r.status = 0;
  return r;
}

// The lines of an NDJSON body (without empty lines).
inline std::vector<std::string> Lines(const std::string& body) {
  std::vector<std::string> lines;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The unsigned number after "key": in a JSON line; -1 if absent.
inline long long JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::atoll(json.c_str() + at + key.size() + 3);
}

// The string value of "key" in a JSON line (no escapes expected); empty if absent.
inline std::string JsonString(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":\"";
  const size_t at = json.find(k);
  if (at == std::string::npos) return "";
  const size_t start = at + k.size();
  return json.substr(start, json.find('"', start) - start);
}

}  // namespace kirjuri::testing
