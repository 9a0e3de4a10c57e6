// People's requests: request open, list, extend, close.
#pragma once

#include <CLI/CLI.hpp>

#include "cli.h"

namespace kirjuri::cli {

// Registers the subcommands on `app`; each sets `rc` to its exit code when it runs.
void AddRequestCommands(CLI::App& app, const Globals& g, int& rc);

}  // namespace kirjuri::cli
