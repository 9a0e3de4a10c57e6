#include "serve_commands.h"

namespace kirjuri::cli {

void AddServeCommands(CLI::App& app, Globals& g, int& rc) {
  (void)app; (void)g; (void)rc;
}

}  // namespace kirjuri::cli
