// The data subject's commands: find, export, erase, retention, report deletion, verify-report,
// and master-key rotation.
#pragma once

#include <CLI/CLI.hpp>

#include "cli.h"

namespace kirjuri::cli {

// Registers the subcommands on `app`; each sets `rc` to its exit code when it runs.
void AddSubjectCommands(CLI::App& app, const Globals& g, int& rc);

}  // namespace kirjuri::cli
