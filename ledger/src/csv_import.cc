// CSV import: RFC 4180 parsing and records -> checked NewEvents. See kirjuri/csv_import.h.
#include "kirjuri/csv_import.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "kirjuri/json.h"
#include "strict_json.h"

namespace kirjuri {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kIpColumn = "ip";

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// "column 3 ('phone')": the header's name is quoted only if it is policy vocabulary, so that a
// file whose first row is data (no header) does not put a person's data into the message.
std::string Column(size_t index, std::string_view name) {
  return "column " + std::to_string(index + 1) + " (" + QuoteName(name) + ")";
}

// A policy reason from ParseLines of a single line, without its "line 1: " prefix.
std::string Reason(const Status& s) {
  constexpr std::string_view kPrefix = "line 1: ";
  std::string_view m = s.message();
  if (m.substr(0, kPrefix.size()) == kPrefix) m.remove_prefix(kPrefix.size());
  return std::string(m);
}

// For a header column the policy refused: if it names a field of another category of the
// register, says so, since the fix is then to import that data some other way. Only a hint for the
// message: whether a column is allowed is decided by the policy check alone.
std::string OtherCategoryHint(const Ledger& ledger, std::string_view register_name,
                              std::string_view column) {
  for (auto r : ledger.policy().getRegisters()) {
    if (std::string_view(r.getName().cStr()) != register_name) continue;
    for (auto c : r.getCategories()) {
      if (std::string_view(c.getName().cStr()) == "profile") continue;
      for (auto f : c.getFields()) {
        if (std::string_view(f.getName().cStr()) == column) {
          return "; it is a field of category " + QuoteName(c.getName().cStr()) +
                 ", and import takes profile fields and ip";
        }
      }
    }
  }
  return "";
}

std::string DefaultPurpose(std::string_view register_name) {
  if (register_name == "customer") return "customer_relationship";
  if (register_name == "partner") return "partnership";
  return "";
}

// The input line of `kirjuri append` for one event of a new subject; `data` values and `ip` are
// JSON strings. The envelope is the import's; the policy check decides whether it is allowed.
std::string InputLine(const CsvImportOptions& o, std::string_view purpose, std::string_view type,
                      std::string_view category,
                      const std::vector<std::pair<std::string, std::string>>& data,
                      const std::string* ip) {
  std::string object = "{";
  for (size_t i = 0; i < data.size(); ++i) {
    if (i) object += ",";
    object += JsonWriter::Quote(data[i].first) + ":" + JsonWriter::Quote(data[i].second);
  }
  object += "}";
  JsonWriter w;
  w.String("register", o.register_name)
      .String("subject", "new")
      .String("type", type)
      .String("category", category)
      .String("actor", o.actor)
      .String("purpose", purpose)
      .String("basis", o.basis)
      .String("source", o.source);
  if (!data.empty()) w.Raw("data", object);
  if (ip) w.String("ip", *ip);
  return w.Finish();
}

// Checks one generated line with the ledger's policy check; *out gets the decoded event.
Status CheckLine(const Ledger& ledger, const std::string& line, NewEvent* out) {
  std::vector<NewEvent> events;
  KIRJURI_RETURN_IF_ERROR(ledger.ParseLines(line, &events));
  if (events.size() != 1) return Status::InvalidArgument("the row did not make one event");
  *out = std::move(events[0]);
  return Status::Ok();
}

}  // namespace

std::string CsvImportProblem::ToString() const {
  return line ? "line " + std::to_string(line) + ": " + reason : reason;
}

Status ParseCsv(std::string_view text, std::vector<CsvRecord>* out) {
  out->clear();
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  const size_t n = text.size();
  size_t i = 0;
  uint64_t line = 1;
  // At the end of a line: consumes "\n" or "\r\n" and counts the line.
  auto at_eol = [&](size_t at) {
    return at < n && (text[at] == '\n' || (text[at] == '\r' && at + 1 < n && text[at + 1] == '\n'));
  };
  auto eat_eol = [&] {
    i += text[i] == '\r' ? 2 : 1;
    ++line;
  };
  while (i < n) {
    if (at_eol(i)) {  // a blank line between records
      eat_eol();
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    while (true) {
      std::string cell;
      if (i < n && text[i] == '"') {
        ++i;
        while (true) {
          if (i >= n) {
            return Status::InvalidArgument("line " + std::to_string(rec.line) +
                                           ": a quoted field is not closed");
          }
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              cell.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          cell.push_back(text[i++]);
        }
        // Anything between the closing quote and the delimiter is malformed; it is kept as
        // text so that the record's cells still line up with the header.
        if (i < n && text[i] != ',' && !at_eol(i) && rec.error.empty()) {
          rec.error = "text after the closing quote of a field";
        }
      }
      while (i < n && text[i] != ',' && !at_eol(i)) {
        if (text[i] == '"' && rec.error.empty()) rec.error = "a quote inside an unquoted field";
        cell.push_back(text[i++]);
      }
      rec.cells.push_back(std::move(cell));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < n) eat_eol();
      break;
    }
    out->push_back(std::move(rec));
  }
  return Status::Ok();
}

Status BuildCsvImport(const Ledger& ledger, std::string_view csv, const CsvImportOptions& options,
                      CsvImportPlan* plan) {
  plan->events.clear();
  plan->problems.clear();
  auto refuse = [&] {
    return Status::InvalidArgument(std::to_string(plan->problems.size()) +
                                   (plan->problems.size() == 1 ? " problem" : " problems") +
                                   " in the CSV");
  };
  const std::string purpose =
      options.purpose.empty() ? DefaultPurpose(options.register_name) : options.purpose;
  if (purpose.empty()) {
    plan->problems.push_back({0, "no default purpose for the " + QuoteName(options.register_name) +
                                     " register: give one"});
    return refuse();
  }

  // The envelope alone: a `restricted` event carries no required data, so it passes the policy
  // check exactly when the register, category, purpose, basis, source and actor do.
  NewEvent probe;
  if (Status s = CheckLine(
          ledger, InputLine(options, purpose, "restricted", "profile", {}, nullptr), &probe);
      !s.ok()) {
    plan->problems.push_back({0, Reason(s)});
    return refuse();
  }

  std::vector<CsvRecord> records;
  if (Status s = ParseCsv(csv, &records); !s.ok()) {
    plan->problems.push_back({0, s.message()});
    return refuse();
  }
  if (records.size() < 2) {
    plan->problems.push_back(
        {0, records.empty() ? "the file is empty" : "the file has no data rows"});
    return refuse();
  }

  // The header: each column is checked on its own, as a one-field event, so that every bad
  // column is named. Columns that fail are left out of the rows (they are already reported).
  const CsvRecord& header = records[0];
  std::vector<std::string> names;
  std::vector<bool> usable(header.cells.size(), false);
  if (!header.error.empty()) plan->problems.push_back({header.line, header.error});
  for (size_t c = 0; c < header.cells.size(); ++c) {
    std::string name(Trim(header.cells[c]));
    names.push_back(name);
    if (name.empty()) {
      plan->problems.push_back({header.line, "column " + std::to_string(c + 1) + " has no name"});
      continue;
    }
    if (auto first = std::find(names.begin(), names.end() - 1, name); first != names.end() - 1) {
      plan->problems.push_back({header.line, Column(c, name) + " repeats column " +
                                                 std::to_string(first - names.begin() + 1)});
      continue;
    }
    const bool ip = name == kIpColumn;
    std::vector<std::pair<std::string, std::string>> data = {{name, "x"}};
    NewEvent checked;
    Status s = CheckLine(
        ledger, InputLine(options, purpose, "recorded", ip ? "network" : "profile", data, nullptr),
        &checked);
    if (!s.ok()) {
      plan->problems.push_back(
          {header.line, Column(c, name) + ": " + Reason(s) +
                            OtherCategoryHint(ledger, options.register_name, name)});
      continue;
    }
    usable[c] = true;
  }

  // With no usable column every row would fail alike (e.g. a file without a header): the header's
  // problems say it all.
  if (std::find(usable.begin(), usable.end(), true) == usable.end()) return refuse();

  // The rows: one event each, checked by the policy.
  const uint64_t rows = records.size() - 1;
  for (size_t r = 1; r < records.size(); ++r) {
    if (options.progress && (r % 256 == 0 || r == records.size() - 1)) options.progress(r, rows);
    const CsvRecord& rec = records[r];
    if (!rec.error.empty()) {
      plan->problems.push_back({rec.line, rec.error});
      continue;
    }
    if (rec.cells.size() != header.cells.size()) {
      plan->problems.push_back({rec.line, std::to_string(rec.cells.size()) +
                                              (rec.cells.size() == 1 ? " cell" : " cells") +
                                              ", the header has " +
                                              std::to_string(header.cells.size())});
      continue;
    }
    std::vector<std::pair<std::string, std::string>> data;
    std::optional<std::string> ip;
    std::string bad;
    for (size_t c = 0; c < rec.cells.size(); ++c) {
      const std::string& value = rec.cells[c];
      if (IsBlank(value)) continue;
      if (!IsUtf8(value)) {
        bad = Column(c, names[c]) + ": not valid UTF-8";
        break;
      }
      if (!usable[c]) continue;
      if (names[c] == kIpColumn) {
        ip = value;
      } else {
        data.emplace_back(names[c], value);
      }
    }
    if (!bad.empty()) {
      plan->problems.push_back({rec.line, bad});
      continue;
    }
    if (data.empty() && !ip) {
      plan->problems.push_back({rec.line, "no value in any usable column"});
      continue;
    }
    // Profile cells with the ip beside them; an ip alone is the network category's own data.
    std::string line = data.empty() ? InputLine(options, purpose, "recorded", "network",
                                                {{std::string(kIpColumn), *ip}}, nullptr)
                                    : InputLine(options, purpose, "recorded", "profile", data,
                                                ip ? &*ip : nullptr);
    NewEvent event;
    if (Status s = CheckLine(ledger, line, &event); !s.ok()) {
      plan->problems.push_back({rec.line, Reason(s)});
      continue;
    }
    event.line = rec.line;
    plan->events.push_back(std::move(event));
  }
  if (!plan->problems.empty()) return refuse();
  return Status::Ok();
}

}  // namespace kirjuri
