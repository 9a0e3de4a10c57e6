// The auditor's commands: `history` (envelopes with filters) and `audit` (the replay against
// the policy, with a signed report). `verify --since` and `verify-report` live with their
// namesakes.
#pragma once

#include <CLI/CLI.hpp>

#include "cli.h"

namespace kirjuri::cli {

void AddAuditCommands(CLI::App& app, const Globals& g, int& rc);

}  // namespace kirjuri::cli
