// People's requests folded from the log, for verify: the record of each request
// (schema::RequestState under "request/" || ref in the default column family) is written in the
// same batch as each of its events, so the request* events, taken in log order, must give back
// every stored record exactly.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <map>
#include <string>

#include "kirjuri/ledger.h"
#include "kirjuri/schemas/event.capnp.h"
#include "kirjuri/status.h"

namespace kirjuri {

// What of one request* event its record is folded from.
struct RequestFacts {
  schema::EventType type = schema::EventType::REQUEST_RECEIVED;
  uint64_t seq = 0;
  int64_t recorded_at_micros = 0;
  std::string ref, kind;
  SubjectId subject{};
  int64_t received_at_micros = 0, due_at_micros = 0;
  unsigned extended_months = 0;

  static bool IsRequestEvent(schema::EventType type);
  // Throws kj::Exception if the event is malformed: read it only from a decoded event, or
  // guarded (DecodedLeaf::ReadRequestFacts).
  static RequestFacts From(schema::Event::Reader event);
};

// Folds one request* event, taken in log order, into the records by reference.
void FoldRequest(const RequestFacts& facts, std::map<std::string, RequestRecord>* records);

// The stored records, read with `ro`, against `folded`: Corruption naming the first request
// added, removed or altered.
Status CheckRequestRecords(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                           const rocksdb::ReadOptions& ro,
                           const std::map<std::string, RequestRecord>& folded);

}  // namespace kirjuri
