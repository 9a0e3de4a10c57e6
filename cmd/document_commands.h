// The register description as code: `describe`, `report processing` (GDPR Art. 30) and `import`
// (an existing register from CSV).
#pragma once

#include <CLI/CLI.hpp>

#include "cli.h"

namespace kirjuri::cli {

// Registers the subcommands on `app`; each sets `rc` to its exit code when it runs.
// REQUIRES: the `report` subcommand is already registered (AddSubjectCommands).
void AddDocumentCommands(CLI::App& app, const Globals& g, int& rc);

}  // namespace kirjuri::cli
