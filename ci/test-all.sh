#!/usr/bin/env bash
# The whole test suite, as the README states it: lints, the Linux suite, the Linux suite again
# through the blocking fallback, the Windows suite under Wine, and the quick reliability checks.
# Installs what it needs (rustup components and targets; Debian packages when run as root).
#
# Usage: ci/test-all.sh            # everything
#        SKIP_WINDOWS=1 ci/test-all.sh   # everything but Wine (says so loudly)
#
# Ends with one line "Totals: N passed, N failed" over every test executable that ran, and
# exits non-zero if any step failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOGS=$ROOT/target/test-all
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log

status=0
results=()

# step NAME COMMAND...: runs a step, logs it, records PASS/FAIL.
step() {
    local name=$1
    shift
    local log="$LOGS/$(echo "$name" | tr ' /' '__').log"
    echo
    echo "==================================================================="
    echo "  $name"
    echo "==================================================================="
    local start=$SECONDS
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local took=$((SECONDS - start))
    if ((rc == 0)); then
        results+=("PASS  $name (${took}s)")
    else
        results+=("FAIL  $name (${took}s, exit $rc, log: $log)")
        status=1
    fi
}

ensure_components() {
    local missing=()
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || missing+=(rustfmt)
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || missing+=(clippy)
    if ((${#missing[@]})); then
        rustup component add "${missing[@]}"
    fi
}

lint_linux() {
    cargo fmt --all --check &&
        cargo clippy --workspace --all-targets --all-features -- -D warnings &&
        RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features -p pipewriter
}

lint_windows() {
    cargo clippy --target x86_64-pc-windows-gnu --workspace --all-targets --all-features -- -D warnings
}

linux_tests() {
    cargo test --workspace --all-features --no-fail-fast
}

# The shared behaviour tests again, with every descriptor served by the blocking fallback.
fallback_tests() {
    export RUSTFLAGS="--cfg pipewriter_force_fallback" CARGO_TARGET_DIR="$ROOT/target/fallback"
    cargo build -p pipewriter --all-features --examples &&
        cargo test -p pipewriter --all-features --no-fail-fast --tests
}

step "Tools (rustfmt, clippy)" ensure_components
step "Lints and docs (Linux)" lint_linux
step "Tests (Linux)" linux_tests
step "Tests (Linux, blocking fallback forced)" fallback_tests
if [[ -n ${SKIP_WINDOWS:-} ]]; then
    echo
    echo "!!! SKIPPED: the Windows suite under Wine (SKIP_WINDOWS is set) !!!"
    results+=("SKIP  Windows under Wine (SKIP_WINDOWS set)")
else
    step "Tests (Windows under Wine)" bash ci/test-windows.sh --all-features
    step "Lints (Windows)" lint_windows
fi
if [[ -x ci/reliability-quick.sh || -f ci/reliability-quick.sh ]]; then
    step "Reliability checks (quick)" bash ci/reliability-quick.sh
fi

# Totals over every "test result:" line of every step.
read -r passed failed ignored < <(
    cat "$LOGS"/*.log | sed 's/\x1b\[[0-9;]*m//g' | awk '
        /^test result: / {
            for (i = 2; i <= NF; i++) {
                v = $(i - 1) + 0
                if ($i ~ /^passed/) p += v
                if ($i ~ /^failed/) f += v
                if ($i ~ /^ignored/) g += v
            }
        }
        END { print p + 0, f + 0, g + 0 }')

echo
echo "==================================================================="
echo "  Summary"
echo "==================================================================="
printf '%s\n' "${results[@]}"
if ((status == 0 && passed == 0)); then
    echo "FAIL: no test ran"
    status=1
fi
echo "Totals: $passed passed, $failed failed, $ignored skipped"
exit "$status"
