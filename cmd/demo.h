// `kirjuri demo`: the README's main job. Creates a ledger in --data if there is none, appends a
// realistic sample of Almerin's customer and partner registers (fictional teachers, pupils and
// partner contacts, with learning analytics, orders, consents given and withdrawn, objections,
// a restriction and a rectification), fulfils one person's erasure request (billing retained,
// the proof-of-deletion report written); then walks through it: verify, a customer now and as of before the
// rectification, the marketing audience, the report.
#pragma once

#include "cli.h"

namespace kirjuri::cli {

struct DemoOptions {
  unsigned customers = 2000;
  unsigned partners = 200;
  std::string reports = "./reports";  // where the demo's proof-of-deletion report goes
};

int RunDemo(const Globals& g, const DemoOptions& options);

}  // namespace kirjuri::cli
