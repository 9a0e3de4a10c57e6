// What many tests need: a scratch directory, reading a file, and running the real `kirjuri`
// binary as a child process.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace kirjuri::testing {

// Built with AddressSanitizer (the CI's sanitizer build): slower, so loops run fewer rounds.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// A fresh directory under `parent` (/tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const char* prefix = "kirjuri-test", const char* parent = "/tmp") {
    std::string tmpl = std::string(parent) + "/" + prefix + "-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const char* name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void WriteText(const std::filesystem::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// `text` with the first `from` replaced by `to` (which the test REQUIREs there is).
inline std::string ReplacedOnce(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunResult {
  int code = -1;  // exit code, or 128 + signal
  std::string out, err;
};

// Runs KIRJURI_BIN with `args` (no shell), standard input from `stdin_path`, and `env` entries
// ("NAME=value") added to this process's environment. Output goes through files in `scratch`.
inline RunResult RunKirjuri(const std::vector<std::string>& args,
                            const std::filesystem::path& scratch,
                            const std::string& stdin_path = "/dev/null",
                            const std::vector<std::string>& env = {}) {
  std::string bin = KIRJURI_BIN;
  std::vector<std::string> storage = {bin};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage(env);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  const std::string out_path = (scratch / "cli.stdout").string();
  const std::string err_path = (scratch / "cli.stderr").string();

  posix_spawn_file_actions_t fa;
  REQUIRE(posix_spawn_file_actions_init(&fa) == 0);
  REQUIRE(posix_spawn_file_actions_addopen(&fa, 0, stdin_path.c_str(), O_RDONLY, 0) == 0);
  REQUIRE(posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                           0600) == 0);
  REQUIRE(posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                           0600) == 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) REQUIRE(errno == EINTR);
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

// "init --data /tmp/x --json" -> {"init", "--data", "/tmp/x", "--json"} (no quoting: test paths
// have no spaces).
inline std::vector<std::string> SplitArgs(const std::string& line) {
  std::vector<std::string> args;
  std::istringstream in(line);
  for (std::string a; in >> a;) args.push_back(a);
  return args;
}

inline std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

// Complete ('\n'-terminated) lines of `text`; a trailing partial line is left out.
inline std::vector<std::string> CompleteLines(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) break;
    out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// Parses one acknowledgement of `kirjuri --json append`: {"seq":N,"subject":"<32 hex digits>"}.
inline bool ParseAck(std::string_view line, uint64_t* seq, std::string* subject) {
  constexpr std::string_view kHead = "{\"seq\":";
  constexpr std::string_view kMid = ",\"subject\":\"";
  constexpr std::string_view kTail = "\"}";
  if (line.substr(0, kHead.size()) != kHead) return false;
  size_t pos = kHead.size();
  const size_t digits = pos;
  uint64_t v = 0;
  while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9' && pos - digits < 19) {
    v = v * 10 + static_cast<uint64_t>(line[pos++] - '0');
  }
  if (pos == digits || line.substr(pos, kMid.size()) != kMid) return false;
  pos += kMid.size();
  std::string_view hex = line.substr(pos, 32);
  if (hex.size() != 32) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  if (line.substr(pos + 32) != kTail) return false;
  *seq = v;
  *subject = std::string(hex);
  return true;
}

// Children of `pid` that are running, from /proc (nullopt if the kernel does not say).
inline std::optional<bool> HasRunningChild(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  if (!in) return std::nullopt;
  std::string s;
  std::getline(in, s);
  return s.find_first_not_of(" \n") != std::string::npos;
}

// Starts `/bin/sh -c script` as the leader of a new process group, with $0 = KIRJURI_BIN and
// $1.. = `args`, standard error to `err_path`; so that KillGroup can SIGKILL the shell and
// whatever kirjuri it is running at once.
inline pid_t SpawnShellGroup(const std::string& script, const std::vector<std::string>& args,
                             const std::string& err_path) {
  std::vector<std::string> storage = {"sh", "-c", script, KIRJURI_BIN};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) dup2(fd, 2);
    execv("/bin/sh", argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so the group exists before the kill whichever runs first
  return pid;
}

// SIGKILLs the group SpawnShellGroup started and reaps its leader; REQUIRE it died of the kill
// (it must not have stopped by itself before).
inline void KillGroup(pid_t pid) {
  REQUIRE(kill(-pid, SIGKILL) == 0);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) REQUIRE(errno == EINTR);
  REQUIRE(WIFSIGNALED(status));
}

// The value of an unlabelled metric `name` in Prometheus text (/metrics, Service::Metrics);
// -1 if it is not there.
inline double MetricValue(const std::string& metrics, std::string_view name) {
  const std::string key = "\n" + std::string(name) + " ";
  const size_t at = metrics.find(key);
  return at == std::string::npos ? -1 : std::strtod(metrics.c_str() + at + key.size(), nullptr);
}

}  // namespace kirjuri::testing
