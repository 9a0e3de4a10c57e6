// Views: the projections other tools query, folded from the log and kept in DATA/views/ (a
// RocksDB of their own: disposable, rebuilt from the log whenever in doubt).
//
//   one view per register    ("customer", "partner"): a SubjectView row per subject
//   "marketing-audience"     the subjects who may receive direct marketing now
//
// Invariants:
//   - each view records the log size it has applied ("applied"); rows and that size are
//     written in one batch, so a view is always the fold of a prefix of the log;
//   - a row holds plaintext only what the events' envelopes hold in plaintext; field values are
//     sealed per category under the subject's data keys (Ledger::SealForView), so shredding a
//     key makes the view's copy unreadable too, and an erased subject's row keeps ids and dates
//     only;
//   - folding is deterministic and sealing is too, so Rebuild gives byte-identical rows to the
//     ones kept incrementally by CatchUp (tests hold that).
// Views are derived, so their writes skip RocksDB's write-ahead log; the database flushes its
// column families atomically, so a crash leaves the state after some complete batch, and
// CatchUp replays the rest from the log on the next open.
//
// Thread-safety: queries may run concurrently with each other and with one CatchUp; Rebuild
// must run alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/subject_view.h"

namespace kirjuri {

inline constexpr std::string_view kMarketingAudienceView = "marketing-audience";

// What a list query keeps. Empty strings match everything; matching is exact (case-sensitive)
// on the profile field's current value. A list comes in subject id order: `after` and `limit`
// page through it (the next page starts after the last subject of this one).
struct ViewFilter {
  std::string city;
  std::string organisation;
  bool include_erased = true;
  std::optional<SubjectId> after;  // only subjects whose id is greater
  size_t limit = 0;                // at most this many; 0: all
};

// The log size a query should see: an "as of" as users write it (the CLI's --as-of, the HTTP
// API's as_of), a sequence number ("41": the view as it stood after event 41) or an RFC 3339
// time ("2026-03-03T12:00:00Z": after every event the ledger had recorded by then).
// InvalidArgument for anything else, or a sequence number past the end of the log; NotFound for
// a time before the first event. Messages say "as of X", in neither front's own spelling.
Status ResolveAsOf(const Ledger& ledger, std::string_view text, uint64_t* size);

// Which data categories a query opens: the others are left out of its answer, and a query of
// the view as it is now never decrypts them (one as of an earlier point replays the person's
// events and drops them). Null: every category. For a caller that may read only some.
using CategoryFilter = std::function<bool(std::string_view category)>;

struct ViewsOptions {
  // Events per pass of a long fold: a fold of more events runs in passes, each over the whole
  // range for one share of the people, so that memory stays bounded and every row is written
  // once. (Tests make it small to exercise that path.)
  uint64_t events_per_pass = 250000;
};

class Views {
 public:
  // Opens (creating if missing) the views of the ledger in `data_dir` and catches them up with
  // the log: views written by another version, or left half-rebuilt, are rebuilt. `ledger`
  // must outlive the Views; erasures through it reach the views (Ledger::AttachDerivedStore)
  // while they are open.
  static Status Open(Ledger* ledger, const std::filesystem::path& data_dir, ProgressFn progress,
                     std::unique_ptr<Views>* out, const ViewsOptions& options = {});
  ~Views();
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;

  // The view names: the policy's registers, then "marketing-audience".
  std::vector<std::string> Names() const;
  // The log size `view` has applied. NotFound for an unknown view.
  Status Applied(std::string_view view, uint64_t* size) const;

  // Applies the events appended since the views last applied one.
  Status CatchUp(ProgressFn progress = nullptr);

  // Drops `view` (empty: every view) and folds it again from the whole log.
  // InvalidArgument for an unknown view name.
  Status Rebuild(std::string_view view, ProgressFn progress = nullptr);

  // The subject as the view holds it now (as_of_size 0), or as it stood after the first
  // as_of_size events (replayed from the subject's events alone). NotFound if unknown then.
  Status Get(const SubjectId& subject, uint64_t as_of_size, SubjectView* out,
             const CategoryFilter& only = nullptr) const;

  // The subjects of `register_name` (in subject id order) that pass `filter`, now or as of a
  // log size (which replays the log up to there: O(that prefix)).
  // (The filter reads the profile, which is opened for it whatever `only` says.)
  Status List(std::string_view register_name, const ViewFilter& filter, uint64_t as_of_size,
              std::vector<SubjectView>* out, const CategoryFilter& only = nullptr) const;

  // The marketing audience, now (from its own view) or as of a log size.
  Status MarketingAudience(uint64_t as_of_size, std::vector<SubjectView>* out,
                           const CategoryFilter& only = nullptr) const;

  // Every stored byte of `view` (keys and values, in key order, length-prefixed), with the size
  // it applied: what "byte-identical" compares.
  Status Dump(std::string_view view, std::string* out) const;

 private:
  struct Impl;
  explicit Views(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kirjuri
