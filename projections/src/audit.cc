#include "kirjuri/audit.h"

#include <capnp/compat/json.h>
#include <capnp/message.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <set>
#include <unordered_map>

#include "files.h"
#include "html.h"
#include "kirjuri/json.h"
#include "kirjuri/note.h"
#include "kirjuri/schemas/policy.capnp.h"
#include "kirjuri/schemas/report.capnp.h"
#include "kirjuri/time.h"

namespace kirjuri {
namespace {

using T = schema::EventType;
constexpr std::string_view kFormat = "kirjuri.audit-report/v1";
// An audit report holds every finding with its proof; the cap only keeps a stray file from being
// read whole into memory.
constexpr size_t kMaxAuditReportBytes = size_t{1} << 30;

// A period that ends before it starts is a mistake (two dates swapped), not an empty period: an
// audit of it would be signed with no finding.
Status CheckPeriod(std::optional<int64_t> from_micros, std::optional<int64_t> to_micros) {
  if (from_micros && to_micros && *from_micros > *to_micros) {
    return Status::InvalidArgument("the period starts (" + FormatRfc3339(*from_micros) +
                                   ") after it ends (" + FormatRfc3339(*to_micros) + ")");
  }
  return Status::Ok();
}

struct CheckInfo {
  const char* name;
  const char* description;
  const char* unchecked_reason = "";  // why an event may escape the rule, if one can
};
constexpr CheckInfo kChecks[] = {
    {"consent", "Processing on the basis of consent had a consent in force for its purpose "
                "(given, and not withdrawn before)."},
    {"objection", "Nothing was processed for a purpose after the person objected to it "
                  "(direct marketing), unless they consented again."},
    {"restriction", "While processing was restricted, only storage, rectification, consent "
                    "changes, objections and legal obligations were recorded."},
    {"retention", "No category kept under a retention duty outlived its duty with its key "
                  "still present."},
    {"deadline", "Every request was answered within its deadline (one month, plus any "
                 "extension), and none is open past it."},
    {"disclosure",
     "Every disclosure went to an allowed country (EU/EEA), on a basis the policy in force "
     "allowed, and on consent only while consent was in force.",
     "disclosures whose country can no longer be read: the person's data was erased since (their "
     "basis and consent were still checked)"},
    {"access_role", "Every read of personal data was of categories the reader's role needs "
                    "(policy roles, readCategories)."},
    {"erasure_keys", "No key an erasure shredded is present in the key store again."},
};

SubjectId SubjectOf(schema::Envelope::Reader env) {
  SubjectId id{};
  auto s = env.getSubject();
  if (s.size() == id.size()) std::memcpy(id.data(), s.begin(), id.size());
  return id;
}

bool AboutRights(T type) {
  return type == T::RECTIFIED || type == T::CONSENT_GIVEN || type == T::CONSENT_WITHDRAWN ||
         type == T::MARKETING_OBJECTED || type == T::RESTRICTED || type == T::RESTRICTION_LIFTED;
}

// Written by the ledger itself (erasure, requests, policy, the access log): not processing
// that a person's rights constrain.
bool Internal(T type) {
  return static_cast<uint16_t>(type) >= static_cast<uint16_t>(T::SUBJECT_ERASED);
}

// The rules of one policy version that the audit applies.
struct Rules {
  std::string label;  // "almerin v2"
  std::set<std::string, std::less<>> countries, disclosure_bases;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> role_reads;

  static Status FromJson(std::string_view json, Rules* out) {
    capnp::MallocMessageBuilder message;
    auto root = message.initRoot<schema::Policy>();
    kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
      capnp::JsonCodec codec;
      codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), root);
    });
    if (error != nullptr) return Status::Corruption("a policy in the log does not parse");
    Rules r;
    auto p = root.asReader();
    r.label = std::string(p.getName().cStr()) + " v" + std::to_string(p.getVersion());
    for (auto c : p.getTransfers().getAllowedCountries()) r.countries.insert(c);
    for (auto b : p.getDisclosures().getAllowedBases()) r.disclosure_bases.insert(b);
    for (auto role : p.getRoles()) {
      auto& reads = r.role_reads[role.getName()];
      for (auto c : role.getReadCategories()) reads.insert(c);
    }
    *out = std::move(r);
    return Status::Ok();
  }
};

struct PersonState {
  std::string register_name;
  std::map<std::string, uint64_t> consents;     // purpose -> consent_given seq (in force)
  std::map<std::string, uint64_t> withdrawn;    // purpose -> consent_withdrawn seq
  std::map<std::string, uint64_t> objected;     // purpose -> marketing_objected seq
  std::optional<uint64_t> restricted;           // restricted seq while in force
  std::optional<uint64_t> erased;               // the latest subject_erased seq
};

std::string Month(int64_t micros) { return FormatRfc3339(micros).substr(0, 7); }

class Auditor {
 public:
  Auditor(const Ledger& ledger, const AuditOptions& o) : ledger_(ledger), o_(o) {}

  Status Run(AuditResult* out);

 private:
  void Find(std::string check, const SubjectId* subject, std::string register_name,
            std::string description, std::vector<uint64_t> seqs) {
    AuditFindingSummary f;
    f.check = std::move(check);
    if (subject) f.subject = SubjectIdHex(*subject);
    f.seqs = std::move(seqs);
    f.description = std::move(description);
    findings_.push_back(std::move(f));
    registers_.push_back(std::move(register_name));
  }

  // The integrity part of the report: the full `verify` (from ext.old_size on for signatures).
  struct Integrity {
    Status status;
    VerifyResult result;
  };

  Status Replay(uint64_t begin, uint64_t end, const ProgressFn& progress);
  Status CheckEvent(const EventView& e, PersonState& person, const Rules& rules);
  Status CheckStores(uint64_t begin, uint64_t end);
  Status Build(uint64_t begin, uint64_t end, const ExtendsResult& ext,
               const Integrity* integrity, AuditResult* out);

  const Ledger& ledger_;
  const AuditOptions& o_;
  int64_t now_ = 0;
  std::vector<AuditFindingSummary> findings_;
  std::vector<std::string> registers_;  // per finding
  std::map<std::string, uint32_t> unchecked_;  // per check: events it could not judge
  std::vector<std::string> policies_;   // in force during the period
  struct AccessChange {
    uint64_t seq = 0;
    int64_t at_micros = 0;
    bool issued = false;
    std::string token_id, holder, role, by;
  };
  std::vector<AccessChange> access_;    // the period's token changes
  std::unordered_map<std::string, PersonState> people_;  // by subject bytes
  // Counts over the period.
  uint64_t events_ = 0;
  std::map<std::string, uint32_t> by_register_, by_purpose_, by_basis_, by_source_, by_type_;
  struct MonthCount {
    uint32_t events = 0, requests = 0, erasures = 0;
  };
  std::map<std::string, MonthCount> by_month_;
  std::vector<std::pair<SubjectId, uint64_t>> erasures_;  // (subject, erasure seq) in period
};

Status Auditor::Run(AuditResult* out) {
  KIRJURI_RETURN_IF_ERROR(CheckPeriod(o_.from_micros, o_.to_micros));
  now_ = o_.now_micros ? o_.now_micros : NowMicros();
  // Nor is a period still to come: its report would be signed with no finding.
  if (o_.from_micros && *o_.from_micros > now_) {
    return Status::InvalidArgument("the period starts (" + FormatRfc3339(*o_.from_micros) +
                                   ") after now (" + FormatRfc3339(now_) +
                                   "): an audit covers what has happened");
  }
  const uint64_t size = ledger_.size();
  uint64_t begin = 0, end = size;
  if (o_.from_micros) KIRJURI_RETURN_IF_ERROR(ledger_.SizeAtTime(*o_.from_micros - 1, &begin));
  if (o_.to_micros) KIRJURI_RETURN_IF_ERROR(ledger_.SizeAtTime(*o_.to_micros, &end));
  end = std::min(end, size);
  begin = std::min(begin, end);
  // Continuity first: with the previous audit's checkpoint proven to be a prefix of today's log,
  // the signatures it covered need not be checked again.
  ExtendsResult ext;
  if (!o_.since_checkpoint.empty()) {
    KIRJURI_RETURN_IF_ERROR(ledger_.CheckExtends(o_.since_checkpoint, &ext));
  }
  if (!o_.verify) {
    KIRJURI_RETURN_IF_ERROR(Replay(begin, end, o_.progress));
    KIRJURI_RETURN_IF_ERROR(CheckStores(begin, end));
    return Build(begin, end, ext, nullptr, out);
  }
  // The verify and the replay both read the whole log and share nothing but the (thread-safe)
  // Ledger, so they run side by side: the replay is one thread's work, the verify's signature
  // checks fill the other cores. The verify, the longer of the two, reports the progress.
  Integrity integrity;
  auto verified = std::async(std::launch::async, [&] {
    VerifyOptions vo;
    vo.progress = o_.progress;
    vo.signatures_from = ext.old_size;
    integrity.status = ledger_.Verify(vo, &integrity.result);
  });
  Status replayed = Replay(begin, end, nullptr);
  if (replayed.ok()) replayed = CheckStores(begin, end);
  verified.get();  // before returning, whichever way: the verify writes into `integrity`
  KIRJURI_RETURN_IF_ERROR(replayed);
  return Build(begin, end, ext, &integrity, out);
}

Status Auditor::Replay(uint64_t begin, uint64_t end, const ProgressFn& progress) {
  std::string initial;
  KIRJURI_RETURN_IF_ERROR(ledger_.PolicyJson(/*initial=*/true, &initial));
  Rules rules;
  KIRJURI_RETURN_IF_ERROR(Rules::FromJson(initial, &rules));
  if (begin == 0) policies_.push_back(rules.label + " (initial)");
  // The state the period starts from needs the events before it too: the whole prefix is
  // replayed, and only the period's events are judged and counted.
  return ledger_.ReadEvents(0, end, [&](const EventView& e) -> Status {
    if (progress && (e.seq & 4095) == 0) progress(e.seq, end);
    auto env = e.signed_event.getEvent().getEnvelope();
    const T type = env.getType();
    if (type == T::POLICY_CHANGED) {
      KIRJURI_RETURN_IF_ERROR(
          Rules::FromJson(e.signed_event.getEvent().getPolicyChange().getJson().cStr(), &rules));
      if (e.seq >= begin) {
        policies_.push_back(rules.label + " from seq " + std::to_string(e.seq));
      } else {
        policies_.assign(1, rules.label + " (in force at the period's start)");
      }
      return Status::Ok();
    }
    // Tokens concern the ledger, not a person (the all-zero subject): nothing to judge, but the
    // report lists who was given or lost access in the period.
    if (type == T::TOKEN_ISSUED || type == T::TOKEN_REVOKED) {
      if (e.seq >= begin) {
        auto token = e.signed_event.getEvent().getToken();
        access_.push_back({e.seq, env.getRecordedAtMicros(), type == T::TOKEN_ISSUED,
                           token.getId(), token.getActor(), token.getRole(), env.getActor()});
      }
      return Status::Ok();
    }
    auto subject_bytes = env.getSubject();
    PersonState& person =
        people_[std::string(reinterpret_cast<const char*>(subject_bytes.begin()),
                            subject_bytes.size())];
    if (person.register_name.empty()) person.register_name = env.getRegister();
    if (e.seq >= begin) {
      ++events_;
      ++by_register_[env.getRegister()];
      if (!Internal(type)) {
        ++by_purpose_[env.getPurpose()];
        ++by_basis_[env.getBasis()];
        ++by_source_[env.getSource()];
      }
      ++by_type_[EventTypeName(type)];
      MonthCount& m = by_month_[Month(env.getRecordedAtMicros())];
      ++m.events;
      if (type == T::REQUEST_RECEIVED) ++m.requests;
      if (type == T::SUBJECT_ERASED) {
        ++m.erasures;
        erasures_.emplace_back(SubjectOf(env), e.seq);
      }
      KIRJURI_RETURN_IF_ERROR(CheckEvent(e, person, rules));
    }
    // Then the event's effect on the person's rights.
    const std::string purpose = env.getPurpose();
    switch (type) {
      case T::CONSENT_GIVEN:
        person.consents[purpose] = e.seq;
        person.withdrawn.erase(purpose);
        person.objected.erase(purpose);
        break;
      case T::CONSENT_WITHDRAWN:
        person.consents.erase(purpose);
        person.withdrawn[purpose] = e.seq;
        break;
      case T::MARKETING_OBJECTED: person.objected["marketing"] = e.seq; break;
      case T::RESTRICTED: person.restricted = e.seq; break;
      case T::RESTRICTION_LIFTED: person.restricted.reset(); break;
      case T::SUBJECT_ERASED: person.erased = e.seq; break;
      default: break;
    }
    return Status::Ok();
  });
}

Status Auditor::CheckEvent(const EventView& e, PersonState& person, const Rules& rules) {
  auto event = e.signed_event.getEvent();
  auto env = event.getEnvelope();
  const T type = env.getType();
  const SubjectId subject = SubjectOf(env);
  const std::string reg = env.getRegister();
  const std::string purpose = env.getPurpose();
  const std::string basis = env.getBasis();
  const std::string what = EventTypeName(type) + " (" + std::string(env.getCategory().cStr()) +
                           ", purpose " + purpose + ")";

  if (type == T::DATA_ACCESSED) {
    auto access = event.getAccess();
    const std::string role = access.getRole();
    if (role == "local") return Status::Ok();  // the CLI's operator holds the master key
    auto it = rules.role_reads.find(role);
    std::vector<std::string> beyond;
    for (auto c : access.getCategories()) {
      std::string_view category(c.cStr());
      if (it == rules.role_reads.end() ||
          (!it->second.count("*") && !it->second.count(category))) {
        beyond.emplace_back(category);
      }
    }
    if (!beyond.empty()) {
      std::string list;
      for (const auto& b : beyond) list += (list.empty() ? "" : ", ") + b;
      Find("access_role", &subject, reg,
           "actor " + std::string(env.getActor().cStr()) + " (role " + role + ") read " + list +
               ", which the role does not need",
           {e.seq});
    }
    return Status::Ok();
  }
  if (Internal(type)) return Status::Ok();

  if (!AboutRights(type)) {
    if (auto o = person.objected.find(purpose); o != person.objected.end()) {
      Find("objection", &subject, reg, what + " after the person objected to " + purpose,
           {e.seq, o->second});
    }
    if (person.restricted && basis != "legal_obligation") {
      Find("restriction", &subject, reg, what + " while processing was restricted",
           {e.seq, *person.restricted});
    }
    if (basis == "consent" && !person.consents.count(purpose)) {
      std::vector<uint64_t> seqs{e.seq};
      std::string why = "no consent for " + purpose + " was ever given";
      if (auto w = person.withdrawn.find(purpose); w != person.withdrawn.end()) {
        seqs.push_back(w->second);
        why = "the consent for " + purpose + " was withdrawn at seq " + std::to_string(w->second);
      }
      Find("consent", &subject, reg, what + " on the basis of consent, but " + why,
           std::move(seqs));
    }
  }

  if (type == T::DISCLOSED) {
    if (!rules.disclosure_bases.empty() && !rules.disclosure_bases.count(basis)) {
      Find("disclosure", &subject, reg,
           "disclosure on the basis '" + basis + "', which the policy (" + rules.label +
               ") does not allow for disclosures",
           {e.seq});
    }
    if (!rules.countries.empty()) {
      std::vector<FieldValue> fields;
      KIRJURI_RETURN_IF_ERROR(ledger_.ReadFields(e, &fields));
      for (const FieldValue& f : fields) {
        if (f.name != "country") continue;
        std::string code;
        if (!f.json) {  // erased since: the country can no longer be read
          ++unchecked_["disclosure"];
          break;
        }
        if (!DecodeJsonString(*f.json, &code)) code.clear();
        if (!rules.countries.count(code)) {
          Find("disclosure", &subject, reg,
               "disclosure to " +
                   (code.size() == 2 ? "country " + code : std::string("a country that is not an ISO code")) +
                   ", outside the countries the policy (" + rules.label + ") allows",
               {e.seq});
        }
      }
    }
  }
  return Status::Ok();
}

Status Auditor::CheckStores(uint64_t begin, uint64_t end) {
  // Erasures of the period whose shredded keys are back in the key store.
  for (const auto& [subject, seq] : erasures_) {
    std::vector<std::pair<std::string, std::string>> keys;
    KIRJURI_RETURN_IF_ERROR(ledger_.DataKeys(subject, &keys));
    std::set<std::string> present;
    for (const auto& k : keys) present.insert(k.second);
    std::string reg;
    std::vector<std::string> back;
    KIRJURI_RETURN_IF_ERROR(ledger_.ReadEvents(seq, seq + 1, [&](const EventView& e) {
      reg = e.signed_event.getEvent().getEnvelope().getRegister();
      for (auto k : e.signed_event.getEvent().getErasure().getShredded()) {
        if (present.count(HexEncode({k.getKeyId().begin(), k.getKeyId().size()}))) {
          back.push_back(k.getCategory());
        }
      }
      return Status::Ok();
    }));
    if (!back.empty()) {
      std::string list;
      for (const auto& b : back) list += (list.empty() ? "" : ", ") + b;
      Find("erasure_keys", &subject, reg,
           "the key store holds keys this erasure shredded (" + list + ")", {seq});
    }
  }
  // Retention duties that have ended with the data still kept.
  std::vector<RetentionItem> due;
  KIRJURI_RETURN_IF_ERROR(ledger_.RetentionDue(now_, &due));
  for (const RetentionItem& item : due) {
    const std::string key(reinterpret_cast<const char*>(item.subject.data()), item.subject.size());
    auto p = people_.find(key);
    std::vector<uint64_t> seqs;
    std::string reg;
    if (p != people_.end()) {
      reg = p->second.register_name;
      if (p->second.erased) seqs.push_back(*p->second.erased);
    }
    Find("retention", &item.subject, reg,
         "category " + item.category + " was due for shredding on " +
             FormatRfc3339(item.due_at_micros) + " and still has its key",
         std::move(seqs));
  }
  // Requests late, or open past their deadline, received in the period.
  std::vector<RequestRecord> requests;
  KIRJURI_RETURN_IF_ERROR(ledger_.ListRequests(&requests));
  for (const RequestRecord& r : requests) {
    if (r.seqs.empty() || r.seqs.front() < begin || r.seqs.front() >= end) continue;
    if (!r.Overdue(now_)) continue;
    SubjectSummary summary;
    std::string reg;
    if (ledger_.GetSubject(r.subject, &summary).ok()) reg = summary.register_name;
    Find("deadline", &r.subject, reg,
         r.state == "open"
             ? r.kind + " request " + r.ref + " is still open past its deadline " +
                   FormatRfc3339(r.due_at_micros)
             : r.kind + " request " + r.ref + " was " + r.state + " on " +
                   FormatRfc3339(r.closed_at_micros) + ", after its deadline " +
                   FormatRfc3339(r.due_at_micros),
         r.seqs);
  }
  return Status::Ok();
}

capnp::List<schema::AuditCount>::Builder FillCounts(
    capnp::List<schema::AuditCount>::Builder list, const std::map<std::string, uint32_t>& m) {
  unsigned i = 0;
  for (const auto& [k, n] : m) {
    list[i].setKey(k);
    list[i].setEvents(n);
    ++i;
  }
  return list;
}

std::string Table(const char* title, const std::map<std::string, uint32_t>& m) {
  std::string h = "<h3>" + html::Esc(title) + "</h3>\n<table><tr><th>" + html::Esc(title) +
                  "</th><th>events</th></tr>\n";
  for (const auto& [k, n] : m) {
    h += "<tr><td><code>" + html::Esc(k) + "</code></td><td>" + std::to_string(n) + "</td></tr>\n";
  }
  return h + "</table>\n";
}

// The timeline: one bar of events per month, with the month's requests and erasures marked.
std::string TimelineSvg(schema::AuditCounts::Reader counts) {
  auto months = counts.getByMonth();
  if (months.size() == 0) return "<p>No events in the period.</p>\n";
  uint32_t max = 1;
  for (auto m : months) max = std::max(max, m.getEvents());
  const unsigned bar = 28, gap = 8, height = 160, top = 44, bottom = 40;
  const unsigned width = 60 + months.size() * (bar + gap);
  std::string svg = "<svg class=\"timeline\" role=\"img\" aria-label=\"events per month\" "
                    "xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
                    "\" height=\"" + std::to_string(top + height + bottom) + "\" viewBox=\"0 0 " +
                    std::to_string(width) + " " + std::to_string(top + height + bottom) + "\">\n";
  svg += "<text x=\"4\" y=\"" + std::to_string(top + 4) + "\" font-size=\"11\">" + std::to_string(max) + "</text>\n";
  svg += "<line x1=\"50\" y1=\"" + std::to_string(top + height) + "\" x2=\"" +
         std::to_string(width) + "\" y2=\"" + std::to_string(top + height) +
         "\" stroke=\"#888\"/>\n";
  unsigned x = 56;
  for (auto m : months) {
    const unsigned h = std::max<unsigned>(1, static_cast<unsigned>(
                                                 static_cast<uint64_t>(m.getEvents()) * height / max));
    svg += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top + height - h) +
           "\" width=\"" + std::to_string(bar) + "\" height=\"" + std::to_string(h) +
           "\" fill=\"#4a78b5\"><title>" + html::Esc(m.getMonth().cStr()) + ": " +
           std::to_string(m.getEvents()) + " events, " + std::to_string(m.getRequests()) +
           " requests, " + std::to_string(m.getErasures()) + " erasures</title></rect>\n";
    if (m.getRequests()) {
      svg += "<circle cx=\"" + std::to_string(x + bar / 2) + "\" cy=\"" +
             std::to_string(top + height - h - 8) + "\" r=\"4\" fill=\"#c58a00\"/>\n";
    }
    if (m.getErasures()) {
      svg += "<rect x=\"" + std::to_string(x + bar / 2 - 4) + "\" y=\"" +
             std::to_string(top + height - h - 22) + "\" width=\"8\" height=\"8\" "
             "fill=\"#b33\"/>\n";
    }
    svg += "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top + height + 14) +
           "\" font-size=\"10\">" + html::Esc(m.getMonth().cStr()) + "</text>\n";
    x += bar + gap;
  }
  svg += "</svg>\n<p class=\"legend\">Bars: events recorded per month. "
         "<span style=\"color:#c58a00\">&#9679;</span> requests received, "
         "<span style=\"color:#b33\">&#9632;</span> people erased.</p>\n";
  return svg;
}

std::string Html(schema::AuditReport::Reader r) {
  using html::Esc;
  std::string h = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<title>Audit report</title><style>" + std::string(html::kCss) +
                  "</style></head><body><main>\n";
  h += "<h1>Audit report</h1>\n<p class=\"lead\">The replay of the ledger <code>" +
       Esc(r.getLedger().getOrigin().cStr()) + "</code> against its register policy, by " +
       Esc(r.getAuditor().cStr()) + ", generated " + Esc(r.getGeneratedAt().cStr()) + ".</p>\n";
  h += "<dl>\n<dt>Period</dt><dd>" +
       Esc(r.getFromTime().size() ? r.getFromTime().cStr() : "the log's start") + " – " +
       Esc(r.getToTime().size() ? r.getToTime().cStr() : "the audit") + " (events " +
       Esc(r.getFirstSeq().cStr()) + " to " + Esc(r.getEndSeq().cStr()) + ", end exclusive)</dd>\n";
  auto integ = r.getIntegrity();
  h += "<dt>Integrity</dt><dd>" +
       std::string(integ.getVerified()
                       ? "<span class=\"status ok\">verified</span> the Merkle tree, every "
                         "checkpoint and the signature of every event" +
                             std::string(integ.getSignaturesFrom() == "0"
                                             ? ""
                                             : " from seq " +
                                                   Esc(integ.getSignaturesFrom().cStr()) +
                                                   " (the earlier ones: the previous audit, "
                                                   "proven a prefix)") +
                             " (" + Esc(integ.getEvents().cStr()) + " events)"
                       : "<span class=\"status bad\">FAILED</span> " +
                             Esc(integ.getError().size() ? integ.getError().cStr()
                                                         : "not checked")) +
       "</dd>\n";
  auto since = r.getSince();
  h += "<dt>Continuity</dt><dd>" +
       std::string(since.getCheckpoint().size()
                       ? "<span class=\"status ok\">extends</span> the previous audit's "
                         "checkpoint of " + Esc(since.getOldSize().cStr()) + " events (" +
                             std::to_string(since.getConsistencyProof().size()) +
                             "-hash consistency proof)"
                       : "no previous checkpoint given") +
       "</dd>\n";
  std::string policies;
  for (auto p : r.getPolicies()) policies += (policies.empty() ? "" : "; ") + std::string(p.cStr());
  h += "<dt>Policy</dt><dd>" + Esc(policies) + "</dd>\n";
  const unsigned n = r.getFindings().size();
  h += "<dt>Findings</dt><dd><span class=\"status " + std::string(n ? "bad" : "ok") + "\">" +
       std::to_string(n) + "</span></dd>\n</dl>\n";

  h += "<h2>What was checked</h2>\n<table><tr><th>Check</th><th>Rule</th><th>Findings</th>"
       "<th>Could not be checked</th></tr>\n";
  for (auto c : r.getChecks()) {
    h += "<tr><td><code>" + Esc(c.getName().cStr()) + "</code></td><td>" +
         Esc(c.getDescription().cStr()) + "</td><td>" + std::to_string(c.getFindings()) +
         "</td><td>" +
         (c.getUnchecked() ? std::to_string(c.getUnchecked()) + " " +
                                 Esc(c.getUncheckedReason().cStr())
                           : std::string("0")) +
         "</td></tr>\n";
  }
  h += "</table>\n";

  h += "<h2>Findings</h2>\n";
  if (n == 0) h += "<p>None: the period's history keeps every rule above.</p>\n";
  for (auto f : r.getFindings()) {
    h += "<section class=\"finding\"><h3><code>" + Esc(f.getCheck().cStr()) + "</code> " +
         Esc(f.getRegister().cStr()) + " subject <code>" + Esc(f.getSubject().cStr()) +
         "</code></h3>\n<p>" + Esc(f.getDescription().cStr()) + "</p>\n<p>Evidence: ";
    bool first = true;
    for (auto ev : f.getEvidence()) {
      h += std::string(first ? "" : ", ") + "seq " + Esc(ev.getSeq().cStr()) + " (" +
           Esc(ev.getType().cStr()) + ", inclusion proof of " +
           std::to_string(ev.getInclusionProof().size()) + " hashes)";
      first = false;
    }
    h += "</p></section>\n";
  }

  auto counts = r.getCounts();
  h += "<h2>Access to the ledger</h2>\n";
  if (r.getAccess().size() == 0) {
    h += "<p>No token for <code>kirjuri serve</code> was issued or revoked in the period.</p>\n";
  } else {
    h += "<table><tr><th>When</th><th>Token</th><th>For</th><th>Role</th><th>By</th>"
         "<th>Event</th></tr>\n";
    for (auto a : r.getAccess()) {
      h += "<tr><td>" + Esc(a.getAt().cStr()) + "</td><td>" + Esc(a.getChange().cStr()) +
           " <code>" + Esc(a.getTokenId().cStr()) + "</code></td><td>" +
           Esc(a.getHolder().cStr()) + "</td><td>" + Esc(a.getRole().cStr()) + "</td><td>" +
           Esc(a.getBy().cStr()) + "</td><td>" + Esc(a.getSeq().cStr()) + "</td></tr>\n";
    }
    h += "</table>\n";
  }

  h += "<h2>Activity</h2>\n<p>" + Esc(counts.getEvents().cStr()) +
       " events in the period.</p>\n" + TimelineSvg(counts);
  auto table = [&](const char* title, capnp::List<schema::AuditCount>::Reader list) {
    std::map<std::string, uint32_t> m;
    for (auto c : list) m[c.getKey()] = c.getEvents();
    h += Table(title, m);
  };
  table("register", counts.getByRegister());
  table("purpose", counts.getByPurpose());
  table("lawful basis", counts.getByBasis());
  table("source", counts.getBySource());
  table("event type", counts.getByType());
  h += "<h3>per month</h3>\n<table><tr><th>month</th><th>events</th><th>requests</th>"
       "<th>erasures</th></tr>\n";
  for (auto m : counts.getByMonth()) {
    h += "<tr><td>" + Esc(m.getMonth().cStr()) + "</td><td>" + std::to_string(m.getEvents()) +
         "</td><td>" + std::to_string(m.getRequests()) + "</td><td>" +
         std::to_string(m.getErasures()) + "</td></tr>\n";
  }
  h += "</table>\n";

  h += "<h2>Checking this report</h2>\n<pre>kirjuri verify-report audit.json --pubkey ledger.pub.pem\n"
       "openssl pkeyutl -verify -pubin -inkey ledger.pub.pem -rawin -in audit.json "
       "-sigfile audit.json.sig</pre>\n<p>The checkpoint below is signed by the ledger; every "
       "piece of evidence carries its inclusion proof in that checkpoint's tree.</p>\n<pre>" +
       Esc(r.getCheckpoint().cStr()) + "</pre>\n";
  h += "<footer>Kirjuri audit report, format " + Esc(r.getFormat().cStr()) +
       ". It holds no personal data: subjects are random ids.</footer>\n</main></body></html>\n";
  return h;
}

Status Auditor::Build(uint64_t begin, uint64_t end, const ExtendsResult& ext,
                      const Integrity* integrity, AuditResult* out) {
  capnp::MallocMessageBuilder message;
  auto r = message.initRoot<schema::AuditReport>();
  r.setFormat(std::string(kFormat));
  if (o_.from_micros) r.setFromTime(FormatRfc3339(*o_.from_micros));
  if (o_.to_micros) r.setToTime(FormatRfc3339(*o_.to_micros));
  r.setFirstSeq(std::to_string(begin));
  r.setEndSeq(std::to_string(end));
  r.setGeneratedAt(FormatRfc3339(NowMicros()));
  r.setAuditor(o_.auditor);

  auto integ = r.initIntegrity();
  out->integrity_ok = false;
  if (integrity) {
    integ.setSignaturesFrom(std::to_string(ext.old_size));
    const Status& s = integrity->status;
    const VerifyResult& vr = integrity->result;
    integ.setVerified(s.ok());
    integ.setError(s.ok() ? "" : s.message());
    integ.setEvents(std::to_string(vr.events));
    integ.setCheckpoints(std::to_string(vr.checkpoints));
    if (s.ok()) integ.setRoot(HexEncode(vr.root));
    out->integrity_ok = s.ok();
  } else {
    integ.setError("not checked (--no-verify)");
  }

  auto led = r.initLedger();
  led.setOrigin(ledger_.origin());
  led.setPublicKeyPem(PublicKeyPem(ledger_.public_key()));
  led.setVerifierKey(NoteVerifierKey(ledger_.origin(), ledger_.public_key()));

  // One checkpoint for all proofs: the log's size now (the audit may be run while appending).
  const uint64_t tree_size = ledger_.size();
  std::string checkpoint;
  if (tree_size > 0) KIRJURI_RETURN_IF_ERROR(ledger_.CheckpointAt(tree_size, &checkpoint));
  r.setCheckpoint(checkpoint);

  if (!o_.since_checkpoint.empty()) {
    auto since = r.initSince();
    since.setCheckpoint(o_.since_checkpoint);
    since.setOldSize(std::to_string(ext.old_size));
    since.setNewSize(std::to_string(tree_size));
    std::vector<merkle::Hash> proof;
    if (ext.old_size > 0 && ext.old_size < tree_size) {
      ConsistencyProofResult p;
      KIRJURI_RETURN_IF_ERROR(ledger_.ProveConsistency(ext.old_size, tree_size, &p));
      proof = p.hashes;
    }
    auto list = since.initConsistencyProof(static_cast<unsigned>(proof.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, HexEncode(proof[i]));
  }

  auto checks = r.initChecks(static_cast<unsigned>(std::size(kChecks)));
  for (unsigned i = 0; i < checks.size(); ++i) {
    checks[i].setName(kChecks[i].name);
    checks[i].setDescription(kChecks[i].description);
    uint32_t n = 0;
    for (const auto& f : findings_) n += f.check == kChecks[i].name;
    checks[i].setFindings(n);
    if (auto u = unchecked_.find(kChecks[i].name); u != unchecked_.end()) {
      checks[i].setUnchecked(u->second);
      checks[i].setUncheckedReason(kChecks[i].unchecked_reason);
      out->unchecked.push_back({u->first, u->second, kChecks[i].unchecked_reason});
    }
  }

  auto counts = r.initCounts();
  counts.setEvents(std::to_string(events_));
  FillCounts(counts.initByRegister(static_cast<unsigned>(by_register_.size())), by_register_);
  FillCounts(counts.initByPurpose(static_cast<unsigned>(by_purpose_.size())), by_purpose_);
  FillCounts(counts.initByBasis(static_cast<unsigned>(by_basis_.size())), by_basis_);
  FillCounts(counts.initBySource(static_cast<unsigned>(by_source_.size())), by_source_);
  FillCounts(counts.initByType(static_cast<unsigned>(by_type_.size())), by_type_);
  auto months = counts.initByMonth(static_cast<unsigned>(by_month_.size()));
  unsigned mi = 0;
  for (const auto& [month, c] : by_month_) {
    months[mi].setMonth(month);
    months[mi].setEvents(c.events);
    months[mi].setRequests(c.requests);
    months[mi].setErasures(c.erasures);
    ++mi;
  }

  auto policies = r.initPolicies(static_cast<unsigned>(policies_.size()));
  for (unsigned i = 0; i < policies.size(); ++i) policies.set(i, policies_[i]);

  auto access = r.initAccess(static_cast<unsigned>(access_.size()));
  for (unsigned i = 0; i < access.size(); ++i) {
    const AccessChange& a = access_[i];
    access[i].setSeq(std::to_string(a.seq));
    access[i].setAt(FormatRfc3339(a.at_micros));
    access[i].setChange(a.issued ? "issued" : "revoked");
    access[i].setTokenId(a.token_id);
    access[i].setHolder(a.holder);
    access[i].setRole(a.role);
    access[i].setBy(a.by);
  }

  auto findings = r.initFindings(static_cast<unsigned>(findings_.size()));
  for (unsigned i = 0; i < findings.size(); ++i) {
    const AuditFindingSummary& f = findings_[i];
    findings[i].setCheck(f.check);
    findings[i].setSubject(f.subject);
    findings[i].setRegister(registers_[i]);
    findings[i].setDescription(f.description);
    auto evidence = findings[i].initEvidence(static_cast<unsigned>(f.seqs.size()));
    for (unsigned k = 0; k < evidence.size(); ++k) {
      const uint64_t seq = f.seqs[k];
      evidence[k].setSeq(std::to_string(seq));
      KIRJURI_RETURN_IF_ERROR(ledger_.ReadEvents(seq, seq + 1, [&](const EventView& e) {
        evidence[k].setType(EventTypeName(e.signed_event.getEvent().getEnvelope().getType()));
        return Status::Ok();
      }));
      InclusionProofResult p;
      KIRJURI_RETURN_IF_ERROR(ledger_.ProveInclusion(seq, tree_size, &p));
      evidence[k].setLeafHash(HexEncode(p.leaf_hash));
      auto hashes = evidence[k].initInclusionProof(static_cast<unsigned>(p.hashes.size()));
      for (unsigned j = 0; j < hashes.size(); ++j) hashes.set(j, HexEncode(p.hashes[j]));
    }
  }

  capnp::JsonCodec codec;
  codec.setPrettyPrint(true);
  kj::String text = codec.encode(r.asReader());
  out->json.assign(text.cStr(), text.size());
  out->json += "\n";
  out->signature = ledger_.SignDocument(
      {reinterpret_cast<const uint8_t*>(out->json.data()), out->json.size()});
  out->html = Html(r.asReader());
  out->findings = findings_;
  return Status::Ok();
}

Status DecodeAudit(std::string_view json, schema::AuditReport::Builder root) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::JsonCodec codec;
    codec.setMaxNestingDepth(16);
    codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), root);
  });
  if (error != nullptr) return Status::InvalidArgument("not an audit report (malformed JSON)");
  if (std::string_view(root.asReader().getFormat().cStr()) != kFormat) {
    return Status::InvalidArgument("not an audit report (format is not " + std::string(kFormat) +
                                   ")");
  }
  return Status::Ok();
}

Status HashFromHex(std::string_view hex, merkle::Hash* out) {
  std::vector<uint8_t> bytes;
  if (!HexDecode(hex, &bytes).ok() || bytes.size() != out->size()) {
    return Status::Corruption("a hash is not 64 hex digits");
  }
  std::memcpy(out->data(), bytes.data(), out->size());
  return Status::Ok();
}

}  // namespace

Status ReadHistory(const Ledger& ledger, const HistoryFilter& filter,
                   const std::function<Status(const EventView&)>& fn) {
  std::optional<T> type;
  if (!filter.type.empty()) {
    auto enumerants = capnp::Schema::from<T>().getEnumerants();
    for (unsigned i = 0; i < enumerants.size(); ++i) {
      if (EventTypeName(static_cast<T>(i)) == filter.type) type = static_cast<T>(i);
    }
    if (!type) return Status::InvalidArgument("unknown event type '" + filter.type + "'");
  }
  KIRJURI_RETURN_IF_ERROR(CheckPeriod(filter.from_micros, filter.to_micros));
  uint64_t begin = 0, end = ledger.size();
  if (filter.from_micros) KIRJURI_RETURN_IF_ERROR(ledger.SizeAtTime(*filter.from_micros - 1, &begin));
  if (filter.to_micros) KIRJURI_RETURN_IF_ERROR(ledger.SizeAtTime(*filter.to_micros, &end));
  auto keep = [&](const EventView& e) -> Status {
    if (e.seq < begin || e.seq >= end) return Status::Ok();
    auto env = e.signed_event.getEvent().getEnvelope();
    auto match = [](const std::string& want, capnp::Text::Reader have) {
      return want.empty() || want == std::string_view(have.cStr());
    };
    if (!match(filter.register_name, env.getRegister()) || !match(filter.purpose, env.getPurpose()) ||
        !match(filter.basis, env.getBasis()) || !match(filter.source, env.getSource()) ||
        !match(filter.actor, env.getActor()) || (type && env.getType() != *type)) {
      return Status::Ok();
    }
    return fn(e);
  };
  if (filter.subject) return ledger.ReadSubjectEvents(*filter.subject, keep);
  return ledger.ReadEvents(begin, end, keep);
}

Status RunAudit(const Ledger& ledger, const AuditOptions& options, AuditResult* out) {
  Auditor auditor(ledger, options);
  return auditor.Run(out);
}

Status WriteAuditReport(const AuditResult& result, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::AuditReport>();
  KIRJURI_RETURN_IF_ERROR(DecodeAudit(result.json, root));
  KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(dir / "audit.json", result.json));
  KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(
      dir / "audit.json.sig",
      {reinterpret_cast<const char*>(result.signature.data()), result.signature.size()}));
  KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(dir / "audit.html", result.html));
  return WriteFileAtomically(dir / "ledger.pub.pem",
                             root.asReader().getLedger().getPublicKeyPem().cStr());
}

bool IsAuditReport(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return head.find(kFormat) != std::string::npos;
}

Status VerifyAuditReport(const std::filesystem::path& report_json, const PublicKey* pinned,
                         AuditReportCheck* out) {
  *out = {};
  std::string json, sig;
  KIRJURI_RETURN_IF_ERROR(ReadReportFile(report_json, kMaxAuditReportBytes, &json));
  std::filesystem::path sig_path = report_json;
  sig_path += ".sig";
  KIRJURI_RETURN_IF_ERROR(ReadReportFile(sig_path, 1024, &sig));
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::AuditReport>();
  KIRJURI_RETURN_IF_ERROR(DecodeAudit(json, root));
  auto r = root.asReader();

  PublicKey key;
  if (!ParsePublicKeyPem(r.getLedger().getPublicKeyPem().cStr(), &key).ok()) {
    return Status::Corruption("ledger.publicKeyPem: not an Ed25519 public key");
  }
  if (pinned && !(*pinned == key)) {
    return Status::Corruption("the report's key is not the pinned key");
  }
  if (sig.size() != 64 ||
      !VerifySignature(key, {reinterpret_cast<const uint8_t*>(json.data()), json.size()},
                       {reinterpret_cast<const uint8_t*>(sig.data()), sig.size()})) {
    return Status::Corruption("audit.json.sig: signature does not verify");
  }
  Checkpoint cp;
  if (Status s = OpenCheckpoint(r.getCheckpoint().cStr(), key, &cp); !s.ok()) {
    return Status::Corruption("checkpoint: " + s.message());
  }
  if (cp.origin != r.getLedger().getOrigin().cStr()) {
    return Status::Corruption("checkpoint: its origin is not the report's ledger");
  }
  for (auto f : r.getFindings()) {
    ++out->findings;
    for (auto ev : f.getEvidence()) {
      merkle::Hash leaf;
      KIRJURI_RETURN_IF_ERROR(HashFromHex(ev.getLeafHash().cStr(), &leaf));
      std::vector<merkle::Hash> proof;
      for (auto h : ev.getInclusionProof()) {
        merkle::Hash x;
        KIRJURI_RETURN_IF_ERROR(HashFromHex(h.cStr(), &x));
        proof.push_back(x);
      }
      const uint64_t seq = std::strtoull(ev.getSeq().cStr(), nullptr, 10);
      if (!merkle::VerifyInclusion(seq, cp.size, leaf, proof, cp.root)) {
        return Status::Corruption("inclusion proof of seq " + std::to_string(seq) +
                                  " does not verify against the checkpoint");
      }
      ++out->proofs;
    }
  }
  auto since = r.getSince();
  if (since.getCheckpoint().size()) {
    Checkpoint old;
    if (Status s = OpenCheckpoint(since.getCheckpoint().cStr(), key, &old); !s.ok()) {
      return Status::Corruption("since: the previous checkpoint: " + s.message());
    }
    std::vector<merkle::Hash> proof;
    for (auto h : since.getConsistencyProof()) {
      merkle::Hash x;
      KIRJURI_RETURN_IF_ERROR(HashFromHex(h.cStr(), &x));
      proof.push_back(x);
    }
    const bool same = old.size == cp.size && old.root == cp.root;
    if (old.size > cp.size ||
        (!same && old.size > 0 &&
         !merkle::VerifyConsistency(old.size, cp.size, old.root, cp.root, proof))) {
      return Status::Corruption("since: the consistency proof does not verify");
    }
    out->since = true;
  }
  return Status::Ok();
}

}  // namespace kirjuri
