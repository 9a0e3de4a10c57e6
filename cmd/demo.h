// `kirjuri demo`: the README's main job. Creates a ledger in --data if there is none, appends a
// realistic sample of Almerin's customer and partner registers (fictional people), verifies the
// ledger and shows a checkpoint and a proof; then erases one person and writes the
// proof-of-deletion report.
#pragma once

#include "cli.h"

namespace kirjuri::cli {

struct DemoOptions {
  unsigned customers = 40;
  unsigned partners = 8;
  std::string reports = "./reports";  // where the demo's proof-of-deletion report goes
};

int RunDemo(const Globals& g, const DemoOptions& options);

}  // namespace kirjuri::cli
