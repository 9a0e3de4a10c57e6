#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job — the demo
# ledger under ./data, with the shipped Almerin policy and sample data.
set -euo pipefail
KIRJURI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$KIRJURI_ROOT/scripts/deps.sh"

kirjuri_install_deps
kirjuri_build "$KIRJURI_ROOT/build" -DCMAKE_BUILD_TYPE=Release
"$KIRJURI_ROOT/build/cmd/kirjuri" --data "${KIRJURI_DATA:-./data}" demo
