// SubjectExport: everything held about one person (GDPR Art. 15 access, Art. 20 portability),
// folded from the subject's events: per category the current data, consents per purpose, the
// flags the person's rights set, and the full history with each event's purpose, lawful basis,
// source and actor. Erased data appears as erased, never as an error.
//
// Thread-safety: a value; ExportSubject only reads the ledger.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kirjuri/ledger.h"

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

  // The machine-readable document (one JSON object).
  std::string ToJson() const;
};

// NotFound for an unknown subject. Reads only the subject's events (the subject index).
Status ExportSubject(const Ledger& ledger, const SubjectId& subject, SubjectExport* out);

}  // namespace kirjuri
