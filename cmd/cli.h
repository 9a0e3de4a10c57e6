// Shared plumbing of the `kirjuri` subcommands: global flags, opening the ledger, printing,
// errors. Every subcommand exits non-zero with a one-line reason on error.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/status.h"
#include "kirjuri/views.h"

namespace kirjuri::cli {

struct Globals {
  std::string data = "./data";
  bool json = false;
  std::string log_level;  // empty: KIRJURI_LOG_LEVEL, else "warn"
  std::string master_key;  // empty: KIRJURI_MASTER_KEY_FILE, else beside the data directory
  std::string program = "kirjuri";  // argv[0], for commands printed to paste
  // Run against a `kirjuri serve` over Cap'n Proto RPC instead of the local --data (remote.h).
  std::string server;  // HOST:PORT; empty: local
  std::string token;   // bearer token (or KIRJURI_TOKEN)
  // Who runs a local command that reads personal data, for the access log (or KIRJURI_ACTOR;
  // default "cli:" and the login name).
  std::string actor;
};

// Prints "kirjuri: <reason>" on stderr and returns the exit code for `status`
// (1 for a failed check or refused input, 2 for anything else).
int Fail(const Status& status);
// Fail for what the command was asked to do once the ledger is open: there, NotFound (a subject,
// a request) and FailedPrecondition (a person already erased, a request already closed, a purpose
// the policy does not declare) are refusals (1), like a malformed id, not failures to run (a
// missing ledger or master key is 2).
int FailAsked(const Status& status);

// A time option's value (RFC 3339), named in the error by `flag`. Empty: *micros keeps the
// caller's default.
Status ParseTimeOption(const std::string& text, const char* flag, int64_t* micros);

// What `checkpoint` prints: the signed note's text, or with --json one object
// {"origin","size","root" (lowercase hex),"note"}. 0, or Fail's code for a note that does not
// parse (it comes from the ledger or the server).
int PrintCheckpoint(const Globals& g, std::string_view note);

// For options that take a count or a sequence number: decimal digits only, passed on without
// leading zeros (`->transform(Decimal())`). CLI11 reads unsigned options with strtoull in base
// 0: "-1" would wrap to 2^64 - 1, "010" would be 8, "0x10" 16.
const CLI::Validator& Decimal();

Status OpenLedger(const Globals& g, std::unique_ptr<Ledger>* out, bool check_on_open = true);
// For commands that only read the log (verify, audit, log, history, checkpoint, prove,
// pubkey): opens it read-only (OpenOptions::read_only), so that they also run on a read-only
// copy. A ledger that cannot be opened read-only (in use, or with one-time work to do) is
// opened writable.
Status OpenLedgerToRead(const Globals& g, std::unique_ptr<Ledger>* out, bool check_on_open = true);

// Opens the views of `ledger` and catches them up, with progress on a terminal.
Status OpenViews(const Globals& g, Ledger* ledger, std::unique_ptr<Views>* out);

// Brings the views up to date after a command wrote to the log. The log is what counts: views
// that cannot catch up now do so on the next open, so this warns instead of failing.
void CatchUpViews(Views& views);

// Who runs a local command, for the access log: --actor (or KIRJURI_ACTOR), else "cli:" and
// the login name (getlogin, else $USER) if that is an id ([A-Za-z0-9-_.:/#], at most 64
// characters, "cli:" included), else "cli:local".
std::string LocalActor(const Globals& g);

// Records local reads of personal data in the access log, as the service does for its clients
// (one synced write for all of `records`): each record's actor, role ("local") and via ("cli")
// are filled in here; the caller gives subject, purpose, operation and categories. No trace, no
// read: call it before showing the data, and show nothing unless it returns OK (the error says
// so: "nothing is shown: …").
Status LogLocalAccess(const Globals& g, Ledger& ledger, std::vector<AccessRecord> records);

// An event's envelope as one table row (no newline): seq, recordedAt, register, subject, type,
// category, purpose, basis, source, actor. No personal data. `log` and `history` print it.
std::string EnvelopeRow(const EventView& e);

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
