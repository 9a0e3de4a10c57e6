// `kirjuri serve` (the service: RPC and HTTP on one event loop) and `kirjuri token issue|revoke`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli.h"

namespace kirjuri::cli {

void AddServeCommands(CLI::App& app, Globals& g, int& rc);

}  // namespace kirjuri::cli
