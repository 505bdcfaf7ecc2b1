#!/bin/sh
# Build pamkit and run every test: the normal build in build/, then the
# same suite built with ASan+UBSan in build-asan/.  Prints one closing line
# "tests: N passed, N failed" over both runs.
set -eu
cd "$(dirname "$0")/.."
export PAMKIT_PYTHON=/usr/bin/python3

run_suite() {
	dir=$1; shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
	ninja -C "$dir" -j2
	PAMKIT_BUILD_DIR="$PWD/$dir" meson test -C "$dir" --num-processes 2 \
		--print-errorlogs || true
}

run_suite build
# Leak detection stays on for the C tests; Python-driven tests preload
# libasan themselves and disable it where the interpreter would drown it.
# UBSan only prints by default: make undefined behaviour fail the test.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false

/usr/bin/python3 - <<'PY'
import json, sys
passed = failed = skipped = 0
for d in ("build", "build-asan"):
    with open(f"{d}/meson-logs/testlog.json") as f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
