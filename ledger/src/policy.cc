#include "policy.h"

#include <capnp/schema.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <optional>

#include "kirjuri/schemas/event.capnp.h"
#include "kirjuri/time.h"
#include "strict_json.h"

namespace kirjuri {
namespace {

// Data fields of the event types whose data is not the category's own fields.
const std::map<schema::EventType, std::set<std::string, std::less<>>>& TypeFields() {
  using T = schema::EventType;
  static const auto* fields = new std::map<schema::EventType, std::set<std::string, std::less<>>>{
      {T::CONSENT_GIVEN, {"notice", "method", "text"}},
      {T::CONSENT_WITHDRAWN, {"notice", "method", "text", "reason"}},
      {T::MARKETING_OBJECTED, {"reason"}},
      {T::RESTRICTED, {"reason"}},
      {T::RESTRICTION_LIFTED, {"reason"}},
      {T::DISCLOSED, {"recipient", "country", "basis", "reference"}},
  };
  return *fields;
}

std::string SnakeToCamel(std::string_view s) {
  std::string out;
  bool upper = false;
  for (char c : s) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
      upper = false;
    }
  }
  return out;
}

// Identifiers of people's roles and requests go into the plaintext envelope, so they are held to
// a vocabulary that cannot carry a name or an email address.
bool IsToken(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == ':' || c == '/' || c == '#')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Status CheckActor(std::string_view actor) {
  if (IsToken(actor, 64)) return Status::Ok();
  return Status::InvalidArgument(
      "'actor' must be an id of 1-64 letters, digits or -_.:/# (never a name or email)");
}

Status CheckRequestRef(std::string_view request) {
  if (IsToken(request, 128)) return Status::Ok();
  return Status::InvalidArgument(
      "a request reference is 1-128 letters, digits or -_.:/# (never a name or email)");
}

bool Policy::HasPurpose(std::string_view register_name, std::string_view purpose) const {
  auto reg = registers_.find(register_name);
  return reg != registers_.end() && reg->second.purposes.count(purpose) > 0;
}

bool Policy::HasRole(std::string_view role) const {
  for (auto r : root().getRoles()) {
    if (std::string_view(r.getName().cStr()) == role) return true;
  }
  return false;
}

int64_t RetentionRule::DueAfter(int64_t last_micros) const {
  constexpr int64_t kMicrosPerDay = 86400LL * 1000000;
  if (!from_end_of_year) return last_micros + static_cast<int64_t>(years) * 36525 * kMicrosPerDay / 100;
  // Counted from the end of the year of the last event: due at the start of year + years + 1.
  std::time_t t = static_cast<std::time_t>(last_micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int64_t due = 0;
  std::string text = std::to_string(tm.tm_year + 1900 + years + 1) + "-01-01T00:00:00Z";
  (void)ParseRfc3339(text, &due);
  return due;
}

std::vector<std::string> Policy::RegisterNames() const {
  std::vector<std::string> names;
  for (const auto& [name, rules] : registers_) names.push_back(name);
  return names;
}

const RetentionRule* Policy::RetentionFor(std::string_view register_name,
                                          std::string_view category) const {
  auto reg = registers_.find(register_name);
  if (reg == registers_.end()) return nullptr;
  auto it = reg->second.retention.find(category);
  return it == reg->second.retention.end() ? nullptr : &it->second;
}

Status ParseInputType(std::string_view name, schema::EventType* out) {
  bool snake = !name.empty();
  for (char c : name) snake = snake && (std::islower(static_cast<unsigned char>(c)) || c == '_');
  if (snake) {
    KJ_IF_MAYBE(e, capnp::Schema::from<schema::EventType>().findEnumerantByName(
                       SnakeToCamel(name))) {
      auto type = static_cast<schema::EventType>(e->getOrdinal());
      // subjectErased and every type after it are written by Kirjuri itself, never input.
      if (static_cast<uint16_t>(type) < static_cast<uint16_t>(schema::EventType::SUBJECT_ERASED)) {
        *out = type;
        return Status::Ok();
      }
    }
  }
  return Status::InvalidArgument("unknown event type " + QuoteName(name));
}

std::string EventTypeName(schema::EventType type) {
  auto enumerants = capnp::Schema::from<schema::EventType>().getEnumerants();
  auto ordinal = static_cast<uint16_t>(type);
  if (ordinal >= enumerants.size()) return "unknown_" + std::to_string(ordinal);
  std::string out;
  for (char c : std::string(enumerants[ordinal].getProto().getName().cStr())) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      out.push_back('_');
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Status Policy::Parse(std::string_view json, std::shared_ptr<const Policy>* out) {
  auto policy = std::shared_ptr<Policy>(new Policy());
  policy->message_ = std::make_unique<capnp::MallocMessageBuilder>();
  auto builder = policy->message_->initRoot<schema::Policy>();
  KIRJURI_RETURN_IF_ERROR(DecodeStrict(json, builder).Prefixed("policy"));
  auto root = builder.asReader();
  if (!root.hasName() || root.getName().size() == 0) {
    return Status::InvalidArgument("policy: 'name' is missing");
  }
  for (auto b : root.getLawfulBases()) policy->bases_.insert(b);
  if (policy->bases_.empty()) return Status::InvalidArgument("policy: no lawful bases declared");
  for (auto r : root.getRegisters()) {
    std::string name = r.getName();
    if (name.empty()) return Status::InvalidArgument("policy: a register has no name");
    if (policy->registers_.count(name)) {
      return Status::InvalidArgument("policy: register '" + name + "' declared twice");
    }
    RegisterRules& rules = policy->registers_[name];
    for (auto p : r.getPurposes()) rules.purposes.insert(p.getName());
    for (auto s : r.getSources()) rules.sources.insert(s.getName());
    for (auto c : r.getCategories()) {
      auto& fields = rules.category_fields[c.getName()];
      for (auto f : c.getFields()) fields.insert(f.getName());
      if (c.hasRetentionDuty()) {
        auto duty = c.getRetentionDuty();
        if (duty.getYears() == 0 || !duty.hasReason()) {
          return Status::InvalidArgument("policy: the retention duty of '" +
                                         std::string(c.getName().cStr()) +
                                         "' needs a reason and a number of years");
        }
        rules.retention[c.getName()] =
            RetentionRule{duty.getReason().getEn(), duty.getYears(), duty.getFromEndOfYear()};
      }
    }
    if (rules.purposes.empty() || rules.sources.empty() || rules.category_fields.empty()) {
      return Status::InvalidArgument("policy: register '" + name +
                                     "' needs purposes, sources and categories");
    }
  }
  if (policy->registers_.empty()) return Status::InvalidArgument("policy: no registers declared");
  for (auto c : root.getTransfers().getAllowedCountries()) policy->allowed_countries_.insert(c);
  for (auto b : root.getDisclosures().getAllowedBases()) {
    if (!policy->bases_.count(b.cStr())) {
      return Status::InvalidArgument("policy: disclosures allow the undeclared basis '" +
                                     std::string(b.cStr()) + "'");
    }
    policy->disclosure_bases_.insert(b);
  }
  *out = std::move(policy);
  return Status::Ok();
}

Status Policy::Check(const NewEvent& e, schema::EventType* parsed_type, bool enforce_rules) const {
  schema::EventType type;
  KIRJURI_RETURN_IF_ERROR(ParseInputType(e.type, &type));
  if (parsed_type) *parsed_type = type;
  auto reg = registers_.find(e.register_name);
  if (reg == registers_.end()) {
    return Status::InvalidArgument("unknown register " + QuoteName(e.register_name));
  }
  const RegisterRules& rules = reg->second;
  auto cat = rules.category_fields.find(e.category);
  if (cat == rules.category_fields.end()) {
    return Status::InvalidArgument("category " + QuoteName(e.category) + " is not declared in the " +
                                   e.register_name + " register");
  }
  if (!rules.purposes.count(e.purpose)) {
    return Status::InvalidArgument("purpose " + QuoteName(e.purpose) + " is not declared in the " +
                                   e.register_name + " register");
  }
  if (!rules.sources.count(e.source)) {
    return Status::InvalidArgument("source " + QuoteName(e.source) + " is not declared in the " +
                                   e.register_name + " register");
  }
  if (!bases_.count(e.basis)) {
    return Status::InvalidArgument("lawful basis " + QuoteName(e.basis) + " is not declared in the policy");
  }
  KIRJURI_RETURN_IF_ERROR(CheckActor(e.actor));
  if (!e.request.empty()) KIRJURI_RETURN_IF_ERROR(CheckRequestRef(e.request));
  const std::set<std::string, std::less<>>* allowed = &cat->second;
  const char* allowed_for = "category";
  if (auto t = TypeFields().find(type); t != TypeFields().end()) {
    allowed = &t->second;
    allowed_for = "event type";
  }
  for (const auto& [name, value] : e.data) {
    if (name == "password") {
      return Status::InvalidArgument(
          "a cleartext 'password' is never accepted: send 'password_hash' (a PHC string)");
    }
    if (!allowed->count(name)) {
      return Status::InvalidArgument("field " + QuoteName(name) + " is not declared for " +
                                     allowed_for + " '" +
                                     (allowed == &cat->second ? e.category : e.type) + "' in the " +
                                     e.register_name + " register");
    }
  }
  if ((type == schema::EventType::RECORDED || type == schema::EventType::RECTIFIED) &&
      e.data.empty()) {
    return Status::InvalidArgument("'" + e.type + "' needs a non-empty 'data' object");
  }
  if (type == schema::EventType::DISCLOSED) {
    bool recipient = false, country = false;
    for (const auto& [name, value] : e.data) {
      recipient |= name == "recipient";
      country |= name == "country";
    }
    if (!recipient || !country) {
      return Status::InvalidArgument("'disclosed' needs 'recipient' and 'country' in 'data'");
    }
    if (!enforce_rules) return Status::Ok();
    if (!disclosure_bases_.empty() && !disclosure_bases_.count(e.basis)) {
      std::string allowed;
      for (const auto& b : disclosure_bases_) allowed += (allowed.empty() ? "'" : " or '") + b + "'";
      return Status::InvalidArgument("rule disclosures: a disclosure to a third party needs the basis " +
                                     allowed + ", not '" + e.basis + "'");
    }
    if (!allowed_countries_.empty()) {
      std::string code;
      for (const auto& [name, value] : e.data) {
        if (name == "country" && !DecodeJsonString(value, &code)) code.clear();
      }
      // A country code is no personal data; anything longer is not quoted.
      if (!allowed_countries_.count(code)) {
        return Status::InvalidArgument(
            "rule transfers: " +
            (code.size() == 2 ? "country '" + code + "' is" : std::string("the country is not an ISO code, or")) +
            " outside the EU/EEA; no data is disclosed or transferred there");
      }
    }
  }
  if (e.ip && !rules.category_fields.count("network")) {
    return Status::InvalidArgument("the " + e.register_name +
                                   " register declares no 'network' category for 'ip'");
  }
  return Status::Ok();
}

Status Policy::CheckRights(const NewEvent& e, schema::EventType type,
                           const SubjectState& state) const {
  using T = schema::EventType;
  const bool about_rights = type == T::RECTIFIED || type == T::CONSENT_GIVEN ||
                            type == T::CONSENT_WITHDRAWN || type == T::MARKETING_OBJECTED ||
                            type == T::RESTRICTED || type == T::RESTRICTION_LIFTED;
  if (state.restricted && !about_rights && e.basis != "legal_obligation") {
    return Status::InvalidArgument(
        "rule restriction: the person's processing is restricted (GDPR Art. 18): until "
        "'restriction_lifted', only rectification, consent changes, objections and processing "
        "under a legal obligation are recorded");
  }
  if (state.objected.count(e.purpose) && !about_rights) {
    return Status::InvalidArgument("rule objection: the person objected to processing for '" +
                                   e.purpose + "'");
  }
  if (type == T::DISCLOSED && e.basis == "consent" && !state.consents.count(e.purpose)) {
    return Status::InvalidArgument("rule disclosures: the person has no consent in force for '" +
                                   e.purpose + "' (never given, or withdrawn)");
  }
  return Status::Ok();
}

Status Policy::ParseLine(std::string_view line, NewEvent* out, bool enforce_rules) const {
  // The line's keys are schema::InputLine's fields (the documented contract, every one Text but
  // `data`), matched here straight from the parsed object: going through the codec's reflection
  // (DecodeStrict) looked every key up in the schema twice, three quarters of a line's parse.
  // A test holds this list to the schema's.
  enum Key { kRegister, kSubject, kType, kCategory, kActor, kPurpose, kBasis, kSource, kAt,
             kRequest, kIp, kData, kKeys };
  static constexpr std::string_view kNames[kKeys] = {
      "register", "subject", "type", "category", "actor", "purpose",
      "basis",    "source",  "at",   "request",  "ip",    "data"};
  capnp::MallocMessageBuilder message;
  auto raw = message.initRoot<capnp::JsonValue>();
  KIRJURI_RETURN_IF_ERROR(ParseJsonValue(line, raw));
  if (!raw.isObject()) return Status::InvalidArgument("expected a JSON object");
  std::array<std::optional<capnp::JsonValue::Reader>, kKeys> given;  // null: as if absent
  std::array<bool, kKeys> seen{};
  for (auto field : raw.asReader().getObject()) {
    const std::string_view name(field.getName().begin(), field.getName().size());
    const size_t k = std::find(std::begin(kNames), std::end(kNames), name) - std::begin(kNames);
    if (k == kKeys) return Status::InvalidArgument("unknown field " + QuoteName(name));
    if (seen[k]) return Status::InvalidArgument("field " + QuoteName(name) + " given twice");
    seen[k] = true;
    auto value = field.getValue();
    if (k != kData && value.isNull()) continue;
    if (k != kData && !value.isString()) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be a string");
    }
    given[k] = value;
  }
  auto text = [&](Key k) -> std::string {
    if (!given[k]) return {};
    auto t = given[k]->getString();
    return std::string(t.begin(), t.size());
  };
  for (Key k : {kRegister, kSubject, kType, kCategory, kActor, kPurpose, kBasis, kSource}) {
    if (!given[k]) {
      return Status::InvalidArgument("missing field '" + std::string(kNames[k]) + "'");
    }
  }
  NewEvent e;
  e.register_name = text(kRegister);
  std::string subject = text(kSubject);
  if (subject != "new") {
    SubjectId id;
    if (!ParseSubjectId(subject, &id).ok()) {
      return Status::InvalidArgument("'subject' must be \"new\" or a subject id of 32 hex digits");
    }
    e.subject = id;
  }
  e.type = text(kType);
  e.category = text(kCategory);
  e.actor = text(kActor);
  e.purpose = text(kPurpose);
  e.basis = text(kBasis);
  e.source = text(kSource);
  if (given[kRequest]) e.request = text(kRequest);
  if (given[kAt]) {
    int64_t at;
    KIRJURI_RETURN_IF_ERROR(ParseRfc3339(text(kAt).c_str(), &at).Prefixed("field 'at'"));
    e.occurred_at_micros = at;
  }
  capnp::JsonCodec codec;
  if (given[kData]) {
    auto data = *given[kData];
    if (!data.isObject()) return Status::InvalidArgument("'data' must be a JSON object");
    for (auto field : data.getObject()) {
      auto value = field.getValue();
      if (value.isObject() || value.isNull()) {
        return Status::InvalidArgument("field " + QuoteName(field.getName().cStr()) +
                                       " must be a string, number, boolean or array");
      }
      std::string name = field.getName();
      for (const auto& [seen, unused] : e.data) {
        if (seen == name) return Status::InvalidArgument("field " + QuoteName(name) + " given twice");
      }
      e.data.emplace_back(std::move(name), std::string(codec.encodeRaw(value).cStr()));
    }
  }
  if (given[kIp]) {
    capnp::MallocMessageBuilder scratch;
    auto v = scratch.initRoot<capnp::JsonValue>();
    v.setString(given[kIp]->getString());
    e.ip = std::string(codec.encodeRaw(v).cStr());
  }
  KIRJURI_RETURN_IF_ERROR(Check(e, nullptr, enforce_rules));
  *out = std::move(e);
  return Status::Ok();
}

}  // namespace kirjuri
