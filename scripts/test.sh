#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with -Werror and
# ASan/UBSan, and runs every unit and integration test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build=${BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCARDAGENT_WERROR=ON -DCARDAGENT_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j2 "$@"
