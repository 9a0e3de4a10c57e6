// What the benchmarks share: timing, failing loudly, formatting figures. Header-only.
#pragma once

#include <rocksdb/status.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
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
