// What the fuzz targets share: a scratch directory and a ledger initialised once in it with the
// shipped policy, opened for the life of the process (libFuzzer calls LLVMFuzzerTestOneInput
// many times in one process). Logging is turned off: nothing an input holds reaches a log.
#pragma once

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "kirjuri/ledger.h"

namespace kirjuri::fuzz {

// A directory under $TMPDIR removed at normal exit (a crash leaves it for the post-mortem).
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kirjuri-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline void Die(const char* what, const Status& s) {
  std::fprintf(stderr, "fuzz setup: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

// A fresh ledger with the shipped (Almerin) policy, made on first use and never closed.
inline Ledger& SharedLedger() {
  static Ledger* ledger = [] {
    spdlog::set_level(spdlog::level::off);
    const std::filesystem::path data = ScratchDir() / "data";
    InitOptions init;
    init.master_key_file = ScratchDir() / "master.key";
    init.origin = "kirjuri.fuzz/ledger";
    Status s = Ledger::Init(data, init);
    if (!s.ok()) Die("init", s);
    OpenOptions open;
    open.master_key_file = init.master_key_file;
    open.threads = 1;
    std::unique_ptr<Ledger> out;
    s = Ledger::Open(data, open, &out);
    if (!s.ok()) Die("open", s);
    return out.release();  // lives as long as the process: libFuzzer may exit from any thread
  }();
  return *ledger;
}

}  // namespace kirjuri::fuzz
