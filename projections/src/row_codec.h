// The stored form of a SubjectView (schemas/view.capnp SubjectRow): canonical Cap'n Proto, with
// each category's values sealed under the subject's data key for that category. Private to
// projections/.
#pragma once

#include <string>
#include <string_view>

#include "kirjuri/ledger.h"
#include "kirjuri/subject_view.h"

namespace kirjuri::views_internal {

// Encodes `view` as its row. Deterministic: equal views give equal bytes. A category whose key
// is gone (the subject is erased) is stored as erased placeholders, never in plaintext.
Status EncodeRow(Ledger& ledger, const SubjectView& view, std::string* out);

// Decodes a row; opens sealed categories only if `open_data` (otherwise `categories` stays
// empty: enough for flags, consents and dates). Corruption if the bytes are not a row or a
// sealed category does not open.
Status DecodeRow(const Ledger& ledger, std::string_view bytes, bool open_data, SubjectView* out);

// `bytes` with every data category dropped (the plaintext facts kept), for erasure: needs no key.
// *categories gets how many were dropped. Corruption if the bytes are not a row.
Status StripRow(std::string_view bytes, std::string* out, uint64_t* categories);

}  // namespace kirjuri::views_internal
