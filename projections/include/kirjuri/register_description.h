// The register description as code: documents generated from the register policy in force
// (schemas/policy.capnp), so that what the company publishes and what the ledger enforces can
// never disagree.
//
//   DescribeRegisters  the register description (Finnish: rekisteriseloste), with the sections
//                      of the company's original document, one block per register.
//   ProcessingRecord   the record of processing activities of GDPR Art. 30(1): controller and
//                      contact, then per register the purposes, categories of data subjects and
//                      of personal data, recipients, transfers to third countries, time limits
//                      for erasure and security measures.
//
// Every text is taken from the policy's LocalText in the chosen language (falling back to the
// other language where a translation is missing); only the section headings are fixed here.
// Machine names (purpose, category and field names) appear only in the JSON form. The documents
// hold no personal data other than the published contact person of the controller.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>
#include <string_view>

#include "kirjuri/schemas/policy.capnp.h"
#include "kirjuri/status.h"

namespace kirjuri {

enum class Lang { kFi, kEn };

enum class DocFormat {
  kText,  // plain UTF-8 text, like the original .txt, ending in "\n"
  kHtml,  // one self-contained, printable HTML page (inline CSS, no external resources)
  kJson,  // one JSON object and "\n" (see ProcessingRecord for the fields)
};

// "fi" or "en" -> *out; InvalidArgument otherwise.
Status ParseLang(std::string_view name, Lang* out);

// The register description of every register the policy declares, in the policy's order:
// introduction; then per register its name, controller (name, business id, address), contact
// person, whom it covers, purposes, data content (each category with its fields' titles),
// retention per category (with the legal reason where a retention duty exists), sources,
// transfers outside the EU/EEA, disclosures and recipients, security principles, the people's
// rights and where to complain. kJson gives {"lang":…,"document":<the text form>}.
std::string DescribeRegisters(schema::Policy::Reader policy, Lang lang, DocFormat format);

// The record of processing activities (GDPR Art. 30(1)). Transfers to third countries are
// derived from the enforced transfer rule (policy.transfers.allowedCountries): any allowed
// country outside the EU/EEA is named as a third country; none means none.
// kJson fields: format ("kirjuri.processing-record/v1"), lang, policy {name, version},
// controller {name, business_id, address, contact_role, contact {name, email, phone}},
// registers [{name, title, purposes [{name, title}], data_subjects, categories [{name, title,
// fields [{name, title}], retention, retention_duty? {reason, years, from_end_of_year}}],
// recipients [{name, title}], disclosure_bases [..], disclosures, transfers {text,
// allowed_countries [..], third_countries [..]}, security}].
std::string ProcessingRecord(schema::Policy::Reader policy, Lang lang, DocFormat format);

}  // namespace kirjuri
