#!/bin/sh
# Build pamkit and run every test: the normal build in build/, then the
# same suite built with ASan+UBSan in build-asan/, then libpamkit's C tests
# under ThreadSanitizer in build-tsan/.  Prints one closing line
# "tests: N passed, N failed" over all three runs.
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

run_suite build -Dwerror=true
# Leak detection stays on for the C tests; Python-driven tests preload
# libasan themselves and disable it where the interpreter would drown it.
# UBSan only prints by default: make undefined behaviour fail the test.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false

# ThreadSanitizer: libpamkit's C tests (the engine's threads) only.
[ -f build-tsan/build.ninja ] || meson setup build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false
ninja -C build-tsan -j2 tests/c/test-pamkit tests/c/test-threads \
	tests/modules/pam_pktest.so
meson test -C build-tsan --no-rebuild --suite libpamkit --num-processes 1 \
	--print-errorlogs || true

/usr/bin/python3 - <<'PY'
import json, sys
passed = failed = skipped = 0
for d in ("build", "build-asan", "build-tsan"):
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
