// What the benchmarks share: reading flags, timing, failing loudly, formatting figures, the JSON
// line and main(). Header-only.
#pragma once

#include <rocksdb/status.h>

#include <atomic>
#include <chrono>
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kirjuri/status.h"

namespace kirjuri::bench {

// Set by main: the name failures are reported under.
inline const char* g_program = "bench";
// Set by a SIGINT/SIGTERM handler (OnSignal); long loops poll it with CheckInterrupted.
inline std::atomic<bool> g_interrupted{false};

inline void OnSignal(int) { g_interrupted = true; }

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Seconds of CPU this process has used, all its threads (RocksDB's background ones included).
inline double ProcessCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", g_program, what.c_str());
  throw std::runtime_error(what);
}

inline void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

inline void CheckRocks(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

inline void CheckInterrupted() {
  if (g_interrupted) Die("interrupted");
}

inline std::string Fmt(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// 1234567.8 -> "1,234,568"
inline std::string Thousands(double v) {
  char raw[64];
  std::snprintf(raw, sizeof raw, "%.0f", v);
  std::string s(raw), out;
  size_t digits = s.size() - (s[0] == '-' ? 1 : 0);
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    size_t left = s.size() - i - 1;
    if (s[i] != '-' && left > 0 && left % 3 == 0 && digits > 3) out += ',';
  }
  return out;
}

// Progress on stderr, only when it is a terminal; at most ~10 updates a second.
class Progress {
 public:
  Progress(std::string label, uint64_t total)
      : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) == 1) {
    Update(0, true);
  }
  ~Progress() {
    if (enabled_) std::fprintf(stderr, "\r\033[K");
  }
  void Update(uint64_t done, bool force = false) {
    if (!enabled_) return;
    double t = Now();
    if (!force && t - last_ < 0.1) return;
    last_ = t;
    if (total_) {
      std::fprintf(stderr, "\r\033[K  %s: %s / %s (%.0f%%)", label_.c_str(),
                   Thousands(static_cast<double>(done)).c_str(),
                   Thousands(static_cast<double>(total_)).c_str(),
                   100.0 * static_cast<double>(done) / static_cast<double>(total_));
    } else {
      std::fprintf(stderr, "\r\033[K  %s ...", label_.c_str());
    }
    std::fflush(stderr);
  }

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  double last_ = 0;
};

// `s` as a JSON string. REQUIRES: s needs no escaping (the benches' own ASCII/UTF-8 text).
inline std::string JsonString(const std::string& s) { return "\"" + s + "\""; }

// Prints a bench's JSON line as a line of stdout, flushed. bench_report reads it as the last
// line of the bench's stdout, so nothing may be printed after it.
inline void PrintJsonLine(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// How the entries of a bench's "goals" object print the measured figure: its key, and printf
// formats (one double each) for the figure and the target.
struct GoalJsonFormat {
  const char* figure_key;
  const char* figure;
  const char* target;
};
// A ratio to a baseline (ledger_bench, erasure_bench).
inline constexpr GoalJsonFormat kRatioGoalJson = {"ratio", "%.4f", "%.2f"};
// A value that may be a latency in seconds (projections_bench).
inline constexpr GoalJsonFormat kValueGoalJson = {"value", "%.6f", "%.4f"};

// Appends ,"goals":{"<key>":{"<figure_key>":F,"target":T,"pass":true|false},...} to `json`,
// one entry per goal in order, F being goal.*figure. Goal has `key`, `target` and `pass()`.
// bench_report reads these as goals.<key>.<figure_key>, .target and .pass.
template <typename Goal>
void AppendGoalsJson(std::string* json, const std::vector<Goal>& goals, double Goal::*figure,
                     const GoalJsonFormat& format) {
  *json += ",\"goals\":{";
  for (size_t i = 0; i < goals.size(); ++i) {
    const Goal& g = goals[i];
    *json += Fmt("%s\"%s\":{\"%s\":", i ? "," : "", g.key.c_str(), format.figure_key);
    *json += Fmt(format.figure, g.*figure) + ",\"target\":" + Fmt(format.target, g.target);
    *json += std::string(",\"pass\":") + (g.pass() ? "true" : "false") + "}";
  }
  *json += "}";
}

// Reads a command line one flag at a time:
//
//   ArgReader args(argc, argv, Usage);
//   while (args.Next()) {
//     if (args.flag() == "--events") events = args.PositiveNumber();
//     else if (args.flag() == "--dir") dir = args.Value();
//     else args.UnknownFlag();
//   }
//
// A complaint (Fail) is the line "<g_program>: <what>" on stderr, then usage(2), which must
// not return; with a null usage it is Die(what) instead, which throws (RunMain: exit 1).
class ArgReader {
 public:
  ArgReader(int argc, char** argv, void (*usage)(int))
      : argc_(argc), argv_(argv), usage_(usage) {}

  // Moves to the next argument, the new flag(); false when none is left.
  bool Next() {
    if (i_ + 1 >= argc_) return false;
    flag_ = argv_[++i_];
    return true;
  }
  const std::string& flag() const { return flag_; }

  // Takes the argument after flag() as its value; "<flag> needs a value" if there is none.
  std::string Value() {
    if (i_ + 1 >= argc_) Fail(flag_ + " needs a value");
    return argv_[++i_];
  }
  // Value() as a decimal number > 0, nothing after it; "<flag> wants a positive integer" if not.
  uint64_t PositiveNumber() { return Number(Value(), false); }
  // Likewise for `text`, a part of flag()'s value (an item of a list).
  uint64_t PositiveNumber(const std::string& text) { return Number(text, false); }
  // Value() as a decimal number, 0 allowed; "<flag> wants a whole number (0 or more)" if not.
  uint64_t NumberOrZero() { return Number(Value(), true); }
  // Value() as a number of seconds > 0 (a fraction allowed); "<flag> wants seconds > 0" if not.
  double PositiveSeconds() {
    const std::string text = Value();
    char* end = nullptr;
    const double x = std::strtod(text.c_str(), &end);
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || *end || !(x > 0) ||
        x > 1e6) {
      Fail(flag_ + " wants seconds > 0");
    }
    return x;
  }

  [[noreturn]] void UnknownFlag() { Fail("unknown flag " + flag_); }
  [[noreturn]] void Fail(const std::string& what) {
    if (!usage_) Die(what);
    std::fprintf(stderr, "%s: %s\n", g_program, what.c_str());
    usage_(2);
    std::abort();  // usage returned: its contract is broken
  }

 private:
  // Digits only: strtoull alone would take "-3" as 2^64 - 3 and " 7" as 7.
  uint64_t Number(const std::string& text, bool zero_ok) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || *end ||
        errno == ERANGE || (x == 0 && !zero_ok)) {
      Fail(flag_ + (zero_ok ? " wants a whole number (0 or more)" : " wants a positive integer"));
    }
    return x;
  }

  int argc_;
  char** argv_;
  void (*usage_)(int);
  int i_ = 0;  // argv_[i_] is the argument read last
  std::string flag_;
};

// A bench's main: names the program for messages (g_program), returns run(argc, argv), or 1
// when it throws (Die has said why; destructors, Scratch's among them, have cleaned up).
inline int RunMain(const char* program, int (*run)(int, char**), int argc, char** argv) {
  g_program = program;
  try {
    return run(argc, argv);
  } catch (const std::exception&) {
    return 1;
  }
}

// The directory a benchmark works in, and the removal of what it made there at scope exit
// (errors and Ctrl-C included): a fresh temporary directory is removed whole; a directory the
// user named keeps everything but the paths made with Sub or Track; with `keep`, nothing goes.
class Scratch {
 public:
  Scratch(const std::string& dir, const char* temp_prefix, bool keep) : keep_(keep) {
    if (dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() /
                          (std::string(temp_prefix) + "-XXXXXX"))
                             .string();
      if (!mkdtemp(tmpl.data())) Die("mkdtemp failed");
      root_ = tmpl;
      remove_root_ = true;
    } else {
      root_ = dir;
      std::error_code ec;
      std::filesystem::create_directories(root_, ec);
      if (ec) Die("cannot create " + dir + ": " + ec.message());
    }
  }
  ~Scratch() {
    if (keep_) return;
    std::error_code ec;
    if (remove_root_) {
      std::filesystem::remove_all(root_, ec);
    } else {
      for (const auto& p : made_) std::filesystem::remove_all(p, ec);
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // A new path under the root, removed at exit. Dies if it exists already.
  std::filesystem::path Sub(const std::string& name) {
    std::filesystem::path p = root_ / name;
    if (std::filesystem::exists(p)) Die(p.string() + " already exists; pick an empty --dir");
    made_.push_back(p);
    return p;
  }
  // Removes `p` at exit too.
  void Track(const std::filesystem::path& p) { made_.push_back(p); }
  // Removes `p` now, unless everything is kept.
  void Drop(const std::filesystem::path& p) const {
    std::error_code ec;
    if (!keep_) std::filesystem::remove_all(p, ec);
  }

 private:
  std::filesystem::path root_;
  bool remove_root_ = false;
  bool keep_ = false;
  std::vector<std::filesystem::path> made_;
};

}  // namespace kirjuri::bench
