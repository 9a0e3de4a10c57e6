// Fuzz target: a policy document (schemas/policy.capnp as JSON), as `kirjuri init --policy` and
// `kirjuri policy apply` read it, through Policy::Parse. A policy that parses is then used as
// the ledger uses one: its registers, roles, retention rules, and a fixed event line checked
// against it. Any input: OK or a Status, no crash.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "policy.h"

namespace {

constexpr std::string_view kLine =
    R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
    R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent","source":"web_form",)"
    R"("data":{"name":"Aino","email":"aino@example.fi","city":"Jyväskylä"}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256u << 10)) return -1;
  std::shared_ptr<const kirjuri::Policy> policy;
  kirjuri::Status s = kirjuri::Policy::Parse(
      std::string_view(reinterpret_cast<const char*>(data), size), &policy);
  if (!s.ok()) return 0;
  for (const std::string& name : policy->RegisterNames()) {
    (void)policy->HasPurpose(name, "service_delivery");
    (void)policy->RetentionFor(name, "billing");
  }
  (void)policy->HasRole("dpo");
  kirjuri::NewEvent event;
  (void)policy->ParseLine(kLine, &event);
  return 0;
}
