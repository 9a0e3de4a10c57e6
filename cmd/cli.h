// Shared plumbing of the `kirjuri` subcommands: global flags, opening the ledger, printing,
// errors. Every subcommand exits non-zero with a one-line reason on error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kirjuri/ledger.h"
#include "kirjuri/status.h"

namespace kirjuri::cli {

struct Globals {
  std::string data = "./data";
  bool json = false;
  std::string log_level;  // empty: KIRJURI_LOG_LEVEL, else "warn"
  std::string master_key;  // empty: KIRJURI_MASTER_KEY_FILE, else beside the data directory
  std::string program = "kirjuri";  // argv[0], for commands printed to paste
};

// Prints "kirjuri: <reason>" on stderr and returns the exit code for `status`
// (1 for a failed check or refused input, 2 for anything else).
int Fail(const Status& status);

Status OpenLedger(const Globals& g, std::unique_ptr<Ledger>* out, bool check_on_open = true);

// Progress on stderr when it is a terminal: "\r<what> done/total (p%)"; nothing otherwise.
class Progress {
 public:
  explicit Progress(std::string what);
  ~Progress();
  void Update(uint64_t done, uint64_t total);

 private:
  std::string what_;
  bool tty_;
  bool shown_ = false;
};

}  // namespace kirjuri::cli
