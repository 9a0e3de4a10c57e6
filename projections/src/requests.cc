#include "kirjuri/requests.h"

#include "files.h"
#include "kirjuri/deletion_report.h"
#include "kirjuri/json.h"
#include "kirjuri/subject_export.h"

namespace kirjuri {
namespace {

// A purpose of the register for recording what a right does to processing: its first purpose
// other than marketing (for Almerin, service_delivery).
std::string ServicePurpose(const Ledger& ledger, const std::string& register_name) {
  for (auto r : ledger.policy().getRegisters()) {
    if (r.getName() != register_name.c_str()) continue;
    for (auto p : r.getPurposes()) {
      if (p.getName() != "marketing") return p.getName();
    }
  }
  return "service_delivery";
}

// Appends the one event a right asks for, as an input line through the policy's checks.
Status AppendForRequest(Ledger& ledger, const RequestRecord& r, const std::string& register_name,
                        const std::string& actor, const std::string& type,
                        const std::string& category, const std::string& purpose,
                        const std::string& data_json, uint64_t* seq) {
  JsonWriter line;
  line.String("register", register_name)
      .String("subject", SubjectIdHex(r.subject))
      .String("type", type)
      .String("category", category)
      .String("actor", actor)
      .String("purpose", purpose)
      .String("basis", "legal_obligation")
      .String("source", "contact")
      .String("request", r.ref);
  if (!data_json.empty()) line.Raw("data", data_json);
  std::vector<NewEvent> events;
  KIRJURI_RETURN_IF_ERROR(ledger.ParseLines(line.Finish(), &events));
  std::vector<Appended> appended;
  KIRJURI_RETURN_IF_ERROR(ledger.Append(events, &appended));
  *seq = appended.at(0).seq;
  return Status::Ok();
}

}  // namespace

Status FulfilRequest(Ledger& ledger, Views* views, const FulfilOptions& options,
                     FulfilResult* out) {
  *out = FulfilResult{};
  RequestRecord r;
  KIRJURI_RETURN_IF_ERROR(ledger.GetRequest(options.ref, &r));
  if (r.state != "open") {
    return Status::FailedPrecondition("request '" + options.ref + "' is already " + r.state);
  }
  SubjectSummary summary;
  KIRJURI_RETURN_IF_ERROR(ledger.GetSubject(r.subject, &summary));
  const bool needs_out = r.kind == "access" || r.kind == "erasure";
  if (needs_out && options.out.empty()) {
    return Status::InvalidArgument("an " + r.kind + " request writes documents: give --out DIR");
  }
  uint64_t seq = 0;
  if (r.kind == "access") {
    SubjectExport doc;
    KIRJURI_RETURN_IF_ERROR(ExportSubject(ledger, r.subject, &doc));
    std::error_code ec;
    std::filesystem::create_directories(options.out, ec);
    if (ec) return Status::IOError("cannot create " + options.out.string());
    for (const auto& [name, bytes] :
         {std::pair{"export.json", doc.ToJson() + "\n"},
          std::pair{"export.html", doc.ToHtml(ledger.policy(), options.lang)}}) {
      KIRJURI_RETURN_IF_ERROR(WriteFileAtomically(options.out / name, bytes));
      out->files.push_back(options.out / name);
    }
    AccessRecord read;
    read.subject = r.subject;
    read.actor = options.actor;
    read.role = options.role;
    read.via = options.via;
    read.purpose = ServicePurpose(ledger, summary.register_name);
    read.operation = "export";
    read.categories = doc.CategoryNames();
    read.request = r.ref;
    KIRJURI_RETURN_IF_ERROR(ledger.RecordAccesses({&read, 1}, &out->outcome_seqs));
  } else if (r.kind == "erasure") {
    if (summary.erased_at_seq) {
      // Erased before (an earlier request, a repeated one): that erasure answers this request,
      // and its report is the proof; nothing is left to erase.
      seq = *summary.erased_at_seq;
    } else {
      EraseRequest erase{r.subject, r.ref, options.actor, r.received_at_micros};
      KIRJURI_RETURN_IF_ERROR(ledger.Erase(erase, &seq));
    }
    out->outcome_seqs.push_back(seq);
    DeletionReportFiles report;
    KIRJURI_RETURN_IF_ERROR(BuildDeletionReport(ledger, r.subject, seq, &report));
    KIRJURI_RETURN_IF_ERROR(WriteDeletionReport(report, options.out));
    for (const char* name : {"report.json", "report.json.sig", "report.html", "ledger.pub.pem"}) {
      out->files.push_back(options.out / name);
    }
  } else if (r.kind == "objection") {
    KIRJURI_RETURN_IF_ERROR(AppendForRequest(ledger, r, summary.register_name, options.actor,
                                             "marketing_objected", "consents", "marketing", "",
                                             &seq));
    out->outcome_seqs.push_back(seq);
  } else if (r.kind == "restriction") {
    KIRJURI_RETURN_IF_ERROR(AppendForRequest(ledger, r, summary.register_name, options.actor,
                                             "restricted", "profile",
                                             ServicePurpose(ledger, summary.register_name), "",
                                             &seq));
    out->outcome_seqs.push_back(seq);
  } else if (r.kind == "rectification") {
    if (options.data_json.empty()) {
      return Status::InvalidArgument("a rectification records the corrected values: give --data");
    }
    KIRJURI_RETURN_IF_ERROR(AppendForRequest(ledger, r, summary.register_name, options.actor,
                                             "rectified", options.category,
                                             ServicePurpose(ledger, summary.register_name),
                                             options.data_json, &seq));
    out->outcome_seqs.push_back(seq);
  } else {
    return Status::Corruption("request '" + r.ref + "' has an unknown kind");
  }
  KIRJURI_RETURN_IF_ERROR(ledger.CloseRequest(r.ref, /*fulfilled=*/true, "", out->outcome_seqs,
                                             options.actor, &out->closing_seq));
  if (!views) return Status::Ok();
  return views->CatchUp().Prefixed(
      "the request is fulfilled, but the views could not catch up (they will when next opened)");
}

}  // namespace kirjuri
