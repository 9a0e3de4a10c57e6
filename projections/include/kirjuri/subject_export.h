// SubjectExport: everything held about one person (GDPR Art. 15 access, Art. 20 portability),
// folded from the subject's events: per category the current data, consents per purpose, the
// flags the person's rights set, and the full history with each event's purpose, lawful basis,
// source and actor. Erased data appears as erased, never as an error. Two forms: ToJson for
// machines (Art. 20), ToHtml for the person to read (Art. 15).
//
// Thread-safety: a value; ExportSubject only reads the ledger.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/schemas/policy.capnp.h"

namespace kirjuri {

struct SubjectExport {
  SubjectId subject{};
  SubjectSummary summary;

  struct CategoryData {
    std::map<std::string, std::string> current;  // field -> JSON value, latest first recorded
    bool erased = false;                          // its key was shredded
  };
  std::map<std::string, CategoryData> categories;

  struct Consent {
    bool given = false;
    int64_t at_micros = 0;
    uint64_t seq = 0;
  };
  std::map<std::string, Consent> consents;  // purpose -> latest state

  bool marketing_objected = false;
  bool restricted = false;

  struct HistoryItem {
    uint64_t seq = 0;
    int64_t recorded_at_micros = 0;
    int64_t occurred_at_micros = 0;
    std::string type, category, purpose, basis, source, actor, request;
    std::vector<FieldValue> fields;
  };
  std::vector<HistoryItem> history;

  // The categories whose data the export holds, by name: what reading it reads (its access
  // record). An erased category is left out: its key is gone, nothing of it was read.
  std::vector<std::string> CategoryNames() const;

  // The machine-readable document (one JSON object).
  std::string ToJson() const;

  // The person's own readable copy: one self-contained, printable HTML page (inline CSS, no
  // external resources) in plain language, in `lang` ("fi" or "en"; anything else gives "en").
  // In order: the controller and how to reach them; the subject id, register, first and last
  // record and whether erased; per category held its current values (erased data shown as
  // erased) and how long it is kept, with the legal reason of a retention duty; consents per
  // purpose; the restriction and objection flags; the register's purposes, sources, recipients,
  // disclosures and transfers; the history; the person's rights and where to complain.
  // Titles and texts come from `policy` (a machine name stands in where the policy has no
  // entry); every value is HTML-escaped. Only the section headings are fixed here.
  // REQUIRES: `policy` is the policy the events were recorded under (Ledger::policy()); the
  // page reads it only while rendering.
  std::string ToHtml(schema::Policy::Reader policy, std::string_view lang = "en") const;
};

// NotFound for an unknown subject. Reads only the subject's events (the subject index).
Status ExportSubject(const Ledger& ledger, const SubjectId& subject, SubjectExport* out);

}  // namespace kirjuri
