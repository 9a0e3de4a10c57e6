// The stored form of a SubjectView (schemas/view.capnp SubjectRow): canonical Cap'n Proto, with
// each category's values sealed under the subject's data key for that category. Private to
// projections/.
#pragma once

#include <string>
#include <string_view>

#include "kirjuri/ledger.h"
#include "kirjuri/subject_view.h"
#include "kirjuri/views.h"

namespace kirjuri::views_internal {

// Encodes `view` as its row. Deterministic: equal views give equal bytes. A category whose key
// is gone (the subject is erased) is stored as erased placeholders, never in plaintext.
Status EncodeRow(Ledger& ledger, const SubjectView& view, std::string* out);

// What DecodeRow does with a row's sealed categories.
enum class RowData {
  kOpen,    // opens those the filter accepts (all without one) and leaves out the others,
            // shredded placeholders included; a category whose key is gone is left out too:
            // the erasure that shredded it is about to be applied (erased subjects take no
            // other event)
  kSealed,  // keeps each sealed: its CategoryView holds the bytes in `sealed` and nothing else
            // until OpenCategory. For a fold that changes a few categories of a row and writes
            // the others back as they were.
};

// Decodes a row. Corruption if the bytes are not a row or a sealed category does not open.
Status DecodeRow(const Ledger& ledger, std::string_view bytes, RowData data, SubjectView* out,
                 const CategoryFilter& only = nullptr);

// Opens `category` of `view`, which DecodeRow kept sealed: fills its fields and usage, keeping
// its sealed bytes (still those of its contents). NotFound if its key is gone (shredded since the
// row was written); Corruption if the bytes do not open.
Status OpenCategory(const Ledger& ledger, const SubjectView& view, std::string_view category,
                    CategoryView* c);

// `bytes` with every data category dropped (the plaintext facts kept), for erasure: needs no key.
// *categories gets how many were dropped. Corruption if the bytes are not a row.
Status StripRow(std::string_view bytes, std::string* out, uint64_t* categories);

}  // namespace kirjuri::views_internal
