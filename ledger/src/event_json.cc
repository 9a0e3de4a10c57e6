#include "kirjuri/event_json.h"

#include <vector>

#include "kirjuri/json.h"
#include "kirjuri/time.h"

namespace kirjuri {

namespace {

std::string HashesJson(const std::vector<merkle::Hash>& hashes) {
  std::string out = "[";
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i) out += ",";
    out += JsonWriter::Quote(HexEncode(hashes[i]));
  }
  return out + "]";
}

}  // namespace

std::string EnvelopeJson(const EventView& e, bool with_leaf) {
  auto env = e.signed_event.getEvent().getEnvelope();
  auto subject = env.getSubject();
  JsonWriter w;
  w.Number("seq", e.seq)
      .String("recorded_at", FormatRfc3339(env.getRecordedAtMicros()))
      .String("occurred_at", FormatRfc3339(env.getOccurredAtMicros()))
      .String("register", env.getRegister().cStr())
      .String("subject", HexEncode({subject.begin(), subject.size()}))
      .String("type", EventTypeName(env.getType()))
      .String("category", env.getCategory().cStr())
      .String("actor", env.getActor().cStr())
      .String("purpose", env.getPurpose().cStr())
      .String("basis", env.getBasis().cStr())
      .String("source", env.getSource().cStr());
  auto key_id = env.getKeyId();
  w.String("key_id", HexEncode({key_id.begin(), key_id.size()}));
  if (env.getRequest().size() > 0) w.String("request", env.getRequest().cStr());
  std::vector<std::string> fields;
  for (auto f : e.signed_event.getEvent().getFields()) fields.push_back(f.getName());
  for (auto g : e.signed_event.getEvent().getSealed()) {
    for (auto name : g.getNames()) fields.push_back(name);
  }
  w.StringArray("fields", fields);
  if (env.getType() == schema::EventType::DATA_ACCESSED) {
    auto access = e.signed_event.getEvent().getAccess();
    std::vector<std::string> categories;
    for (auto c : access.getCategories()) categories.push_back(c);
    w.Raw("access", JsonWriter()
                        .String("role", access.getRole().cStr())
                        .String("via", access.getVia().cStr())
                        .String("operation", access.getOperation().cStr())
                        .StringArray("categories", categories)
                        .Finish());
  }
  const auto type = env.getType();
  if (type == schema::EventType::TOKEN_ISSUED || type == schema::EventType::TOKEN_REVOKED) {
    auto token = e.signed_event.getEvent().getToken();
    w.Raw("token", JsonWriter()
                       .String("id", token.getId().cStr())
                       .String("actor", token.getActor().cStr())
                       .String("role", token.getRole().cStr())
                       .Finish());
  }
  if (with_leaf) w.String("leaf", Base64Encode(e.leaf));
  return w.Finish();
}

std::string InclusionProofJson(const InclusionProofResult& p) {
  return JsonWriter()
      .Number("index", p.index)
      .Number("tree_size", p.tree_size)
      .String("leaf_hash", HexEncode(p.leaf_hash))
      .Raw("hashes", HashesJson(p.hashes))
      .String("root", HexEncode(p.root))
      .Finish();
}

std::string ConsistencyProofJson(const ConsistencyProofResult& p) {
  return JsonWriter()
      .Number("first", p.first)
      .Number("second", p.second)
      .String("first_root", HexEncode(p.first_root))
      .String("second_root", HexEncode(p.second_root))
      .Raw("hashes", HashesJson(p.hashes))
      .Finish();
}

std::string SeqsJson(const std::vector<uint64_t>& seqs) {
  std::string list = "[";
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (i) list += ',';
    list += std::to_string(seqs[i]);
  }
  list += ']';
  return list;
}

std::string RequestJson(const RequestRecord& r, int64_t now_micros) {
  JsonWriter w;
  w.String("ref", r.ref)
      .String("subject", SubjectIdHex(r.subject))
      .String("kind", r.kind)
      .String("received_at", FormatRfc3339(r.received_at_micros))
      .String("due_at", FormatRfc3339(r.due_at_micros))
      .Number("extended_months", r.extended_months)
      .String("state", r.state);
  if (r.closed_at_micros) w.String("closed_at", FormatRfc3339(r.closed_at_micros));
  w.Bool("overdue", r.Overdue(now_micros));
  w.Raw("seqs", SeqsJson(r.seqs));
  return w.Finish();
}

}  // namespace kirjuri
