// CSV import: an existing register (a spreadsheet export) turned into `recorded` events of new
// subjects, checked by the ledger's one policy check before anything is appended.
//
// Input: RFC 4180 CSV in UTF-8 (an optional byte order mark; CRLF or LF line ends; quoted
// fields holding commas, doubled quotes and line breaks). The first record is the header; its
// cells name fields of the register's `profile` category, or `ip` (network data). Every other
// record is one person: one event, register `register_name`, subject "new", type `recorded`,
// category `profile`, with the record's non-empty profile cells as its data (JSON strings) and its
// `ip` cell as the event's ip (sealed under the network category). A record with an ip and no
// profile cell becomes a `network` event holding {"ip": …}. One event per record keeps the file
// one atomic Append: the ledger gives each "new" event its own subject, so a second event of the
// same new person could not be part of the same Append. Hence fields of other categories (billing,
// usage, …) are refused in the header.
//
// Checking: each header column and each record is checked through Ledger::ParseLines (the policy
// check `kirjuri append` uses), never by a second hand-written set of rules. Every bad record is
// reported with the line it starts on (the header is line 1), not only the first, and reasons
// never quote a cell's value: they name lines, columns and counts only.
//
// Thread-safety: pure functions apart from the (thread-safe, const) Ledger they read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/status.h"

namespace kirjuri {

// One CSV record: its cells, and the (1-based) line of the file it starts on.
struct CsvRecord {
  uint64_t line = 0;
  std::vector<std::string> cells;
  std::string error;  // non-empty if the record is malformed (e.g. a stray quote); no cell text
};

// Splits RFC 4180 text into records. Blank lines between records are skipped. A record with a
// malformed quote gets CsvRecord::error and parsing goes on with the next record. InvalidArgument
// ("line N: a quoted field is not closed") only when a quote is left open at the end of the text,
// since then the rest of the file cannot be split.
Status ParseCsv(std::string_view text, std::vector<CsvRecord>* out);

struct CsvImportOptions {
  std::string register_name;  // "customer", "partner"
  std::string source;         // a source the register declares, e.g. "web_form"
  std::string actor;          // who imports (an id, as an event's actor)
  // Empty: the register's default, "customer_relationship" for customer, "partnership" for
  // partner (InvalidArgument for another register).
  std::string purpose;
  std::string basis = "legitimate_interest";
  ProgressFn progress;  // (records checked, records) while checking; may be empty
};

struct CsvImportProblem {
  uint64_t line = 0;   // 0: not about one line (e.g. the options)
  std::string reason;  // one line, no personal data
  // "line 7: column 3 ('phone'): ..." or the reason alone when line is 0.
  std::string ToString() const;
};

struct CsvImportPlan {
  std::vector<NewEvent> events;            // one per data record, in file order; line = its line
  std::vector<CsvImportProblem> problems;  // every bad header column and record
};

// Reads `csv` and builds the events to append with Ledger::Append, checking each against
// `ledger`'s policy. OK: plan->events is complete and checked, plan->problems empty.
// InvalidArgument ("N problems in the CSV") with every problem in plan->problems, and
// plan->events to be discarded, if anything is wrong: a file is imported whole or not at all.
// An empty file, or one with only a header, is InvalidArgument too (nothing to import).
Status BuildCsvImport(const Ledger& ledger, std::string_view csv, const CsvImportOptions& options,
                      CsvImportPlan* plan);

}  // namespace kirjuri
