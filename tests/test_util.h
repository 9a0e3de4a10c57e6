// What many tests need: a scratch directory, reading a file, and running the real `kirjuri`
// binary as a child process.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace kirjuri::testing {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const char* prefix = "kirjuri-test") {
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
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

}  // namespace kirjuri::testing
