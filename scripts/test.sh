#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with -Werror and
# ASan/UBSan, runs short libFuzzer runs (clang), then every unit,
# integration and corpus test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build=${BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCARDAGENT_WERROR=ON -DCARDAGENT_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

# libFuzzer needs clang: a second tree, with only the fuzzers, gets the
# short fuzzing runs (the gcc tree above replays their corpora).
CC=clang cmake -S . -B "$build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCARDAGENT_WERROR=ON -DCARDAGENT_SANITIZE=ON -DCARDAGENT_FUZZ=ON >/dev/null
cmake --build "$build-fuzz" -j"$(nproc)" --target cardagent-fuzz-msg \
    cardagent-fuzz-hostchan cardagent-fuzz-config cardagent-fuzz-smime
(cd "$build-fuzz" && ctest --output-on-failure -R '^fuzz\.')

cd "$build"
ctest --output-on-failure -j2 "$@"

# CI also runs the integration tests with the agent under valgrind
# memcheck, in a tree of their own (about 5 minutes on 2 cores).
if [ "${CI:-}" = true ]; then
	cd - >/dev/null
	bash scripts/memcheck.sh
fi
