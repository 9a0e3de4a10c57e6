#include "row_codec.h"

#include <capnp/message.h>

#include <cstring>
#include <string>
#include <vector>

#include "kirjuri/canonical.h"
#include "kirjuri/schemas/view.capnp.h"

namespace kirjuri::views_internal {
namespace {

// Associated data of a sealed category: "kirjuri/view/v1\n" || register || 0x00 || subject ||
// category, so a sealed value opens only in the row and category it was written for.
std::string SealContext(const SubjectView& view, std::string_view category) {
  std::string ad = "kirjuri/view/v1\n" + view.register_name;
  ad.push_back('\0');
  ad.append(reinterpret_cast<const char*>(view.subject.data()), view.subject.size());
  ad.append(category);
  return ad;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void SetCategoryState(const CategoryView& c, schema::CategoryState::Builder out) {
  auto fields = out.initFields(static_cast<unsigned>(c.fields.size()));
  unsigned i = 0;
  for (const auto& [name, f] : c.fields) {
    auto b = fields[i++];
    b.setName(name);
    if (f.json) b.setValue(*f.json);
    b.setErased(!f.json);
    b.setSeq(f.seq);
    b.setAtMicros(f.at_micros);
    b.setSource(f.source);
    b.setPurpose(f.purpose);
  }
  auto usage = out.initUsage(static_cast<unsigned>(c.usage.size()));
  i = 0;
  for (const auto& [kind, n] : c.usage) {
    usage[i].setKind(kind);
    usage[i++].setCount(n);
  }
}

void GetCategoryState(schema::CategoryState::Reader in, CategoryView* out) {
  for (auto f : in.getFields()) {
    FieldState s;
    if (!f.getErased()) s.json = f.getValue();
    s.seq = f.getSeq();
    s.at_micros = f.getAtMicros();
    s.source = f.getSource();
    s.purpose = f.getPurpose();
    out->fields[f.getName()] = std::move(s);
  }
  for (auto u : in.getUsage()) out->usage[u.getKind()] = u.getCount();
}

void SetConsent(const ConsentState& c, schema::Consent::Builder b) {
  b.setPurpose(c.purpose);
  b.setGiven(c.given);
  b.setSeq(c.seq);
  b.setAtMicros(c.at_micros);
  b.setSource(c.source);
  b.setBasis(c.basis);
  b.setActor(c.actor);
}

ConsentState GetConsent(schema::Consent::Reader r) {
  return ConsentState{r.getPurpose(), r.getGiven(),  r.getSeq(),  r.getAtMicros(),
                      r.getSource(),  r.getBasis(), r.getActor()};
}

}  // namespace

Status EncodeRow(Ledger& ledger, const SubjectView& view, std::string* out) {
  capnp::MallocMessageBuilder message;
  auto row = message.initRoot<schema::SubjectRow>();
  row.setSubject(capnp::Data::Reader(view.subject.data(), view.subject.size()));
  row.setRegister(view.register_name);
  row.setFirstSeq(view.first_seq);
  row.setLastSeq(view.last_seq);
  row.setEventCount(view.event_count);
  row.setCreatedAtMicros(view.created_at_micros);
  row.setUpdatedAtMicros(view.updated_at_micros);
  row.setErased(view.erased);
  row.setErasedAtSeq(view.erased_at_seq);
  row.setErasedAtMicros(view.erased_at_micros);
  row.setRestricted(view.restricted);
  row.setRestrictedAtMicros(view.restricted_at_micros);
  row.setMarketingObjected(view.marketing_objected);
  row.setMarketingObjectedAtMicros(view.marketing_objected_at_micros);
  row.setLastActivityMicros(view.last_activity_micros);
  auto consents = row.initConsents(static_cast<unsigned>(view.consents.size()));
  unsigned i = 0;
  for (const auto& [purpose, c] : view.consents) SetConsent(c, consents[i++]);
  auto history = row.initConsentHistory(static_cast<unsigned>(view.consent_history.size()));
  i = 0;
  for (const ConsentState& c : view.consent_history) SetConsent(c, history[i++]);
  auto retained = row.initRetained(static_cast<unsigned>(view.retained.size()));
  i = 0;
  for (const auto& [category, r] : view.retained) {
    retained[i].setCategory(category);
    retained[i].setReason(r.reason);
    retained[i++].setDueAtMicros(r.due_at_micros);
  }
  auto categories = row.initCategories(static_cast<unsigned>(view.categories.size()));
  i = 0;
  for (const auto& [name, c] : view.categories) {
    auto b = categories[i++];
    b.setCategory(name);
    // Erased placeholders hold nothing personal and need no key (theirs is gone).
    CategoryView placeholder;
    const bool all_erased = c.erased() && c.usage.empty();
    if (!all_erased && !c.sealed.empty()) {  // unchanged since read: the same bytes
      b.setSealed(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(c.sealed.data()),
                                      c.sealed.size()));
      continue;
    }
    std::string sealed;
    Status s = Status::Ok();
    if (!all_erased) {
      capnp::MallocMessageBuilder plain;
      auto state = plain.initRoot<schema::CategoryState>();
      SetCategoryState(c, state);
      s = ledger.SealForView(view.subject, name, AsBytes(SealContext(view, name)),
                             AsBytes(CanonicalBytes(state.asReader())), &sealed);
      if (!s.ok() && !s.IsNotFound()) return s;
    }
    if (all_erased || s.IsNotFound()) {
      // The key is gone: only what is not personal stays (names, sequence numbers, dates).
      for (const auto& [field, f] : c.fields) {
        FieldState p = f;
        p.json.reset();
        placeholder.fields[field] = std::move(p);
      }
      SetCategoryState(placeholder, b.initShredded());
    } else {
      b.setSealed(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(sealed.data()),
                                      sealed.size()));
    }
  }
  *out = CanonicalBytes(row.asReader());
  return Status::Ok();
}

Status OpenCategory(const Ledger& ledger, const SubjectView& view, std::string_view category,
                    CategoryView* c) {
  std::string plain;
  KIRJURI_RETURN_IF_ERROR(ledger.OpenForView(view.subject, category,
                                             AsBytes(SealContext(view, category)), c->sealed,
                                             &plain));
  return ReadCanonical<schema::CategoryState>(plain, "a sealed view category", [&](auto state) {
    GetCategoryState(state, c);
    return Status::Ok();
  });
}

namespace {

// RowData::kOpen, on what DecodeRow read with the categories sealed.
Status OpenCategories(const Ledger& ledger, const CategoryFilter& only, SubjectView* view) {
  for (auto it = view->categories.begin(); it != view->categories.end();) {
    if (only && !only(it->first)) {
      it = view->categories.erase(it);
      continue;
    }
    if (it->second.sealed.empty()) {  // a shredded placeholder
      ++it;
      continue;
    }
    Status s = OpenCategory(ledger, *view, it->first, &it->second);
    if (s.IsNotFound()) {
      it = view->categories.erase(it);
      continue;
    }
    KIRJURI_RETURN_IF_ERROR(s);
    ++it;
  }
  return Status::Ok();
}

}  // namespace

Status DecodeRow(const Ledger& ledger, std::string_view bytes, RowData data, SubjectView* out,
                 const CategoryFilter& only) {
  SubjectView v;
  KIRJURI_RETURN_IF_ERROR(ReadCanonical<schema::SubjectRow>(bytes, "a view row", [&](auto row) {
    auto id = row.getSubject();
    if (id.size() != v.subject.size()) return Status::Corruption("a view row without a subject");
    std::memcpy(v.subject.data(), id.begin(), v.subject.size());
    v.register_name = row.getRegister();
    v.first_seq = row.getFirstSeq();
    v.last_seq = row.getLastSeq();
    v.event_count = row.getEventCount();
    v.created_at_micros = row.getCreatedAtMicros();
    v.updated_at_micros = row.getUpdatedAtMicros();
    v.erased = row.getErased();
    v.erased_at_seq = row.getErasedAtSeq();
    v.erased_at_micros = row.getErasedAtMicros();
    v.restricted = row.getRestricted();
    v.restricted_at_micros = row.getRestrictedAtMicros();
    v.marketing_objected = row.getMarketingObjected();
    v.marketing_objected_at_micros = row.getMarketingObjectedAtMicros();
    v.last_activity_micros = row.getLastActivityMicros();
    for (auto c : row.getConsents()) v.consents[c.getPurpose()] = GetConsent(c);
    for (auto c : row.getConsentHistory()) v.consent_history.push_back(GetConsent(c));
    for (auto r : row.getRetained()) {
      v.retained[r.getCategory()] = RetainedView{r.getReason(), r.getDueAtMicros()};
    }
    for (auto c : row.getCategories()) {
      CategoryView& category = v.categories[c.getCategory()];
      if (c.isShredded()) {
        GetCategoryState(c.getShredded(), &category);
      } else {
        auto d = c.getSealed();
        if (d.size() == 0) return Status::Corruption("a view row with an empty sealed category");
        category.sealed.assign(reinterpret_cast<const char*>(d.begin()), d.size());
      }
    }
    return Status::Ok();
  }));
  if (data == RowData::kOpen) KIRJURI_RETURN_IF_ERROR(OpenCategories(ledger, only, &v));
  *out = std::move(v);
  return Status::Ok();
}

Status StripRow(std::string_view bytes, std::string* out, uint64_t* categories) {
  return ReadCanonical<schema::SubjectRow>(bytes, "a view row", [&](auto row) {
    *categories = row.getCategories().size();
    capnp::MallocMessageBuilder message;
    message.setRoot(row);
    message.getRoot<schema::SubjectRow>().initCategories(0);
    *out = CanonicalBytes(message.getRoot<schema::SubjectRow>().asReader());
    return Status::Ok();
  });
}

}  // namespace kirjuri::views_internal
