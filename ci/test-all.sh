#!/usr/bin/env bash
# The whole test suite, as the README states it: lints (Rust, and shellcheck over the CI
# scripts), compile checks for the other Unixes (ci/check-targets.sh), the Linux suite, the Linux suite again through the blocking fallback, the Windows
# suite under Wine, and the quick reliability checks.
# Installs what it needs (rustup components and targets; Debian packages when run as root).
#
# Usage: ci/test-all.sh            # everything
#        SKIP_WINDOWS=1 ci/test-all.sh   # everything but Wine (says so loudly)
#
# Ends with one line "Totals: N passed, N failed" over every test executable that ran, and
# exits non-zero if any step failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
LOGS=$ROOT/target/test-all
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log

status=0
results=()

# step NAME COMMAND...: runs a step, logs it, records PASS/FAIL.
step() {
    local name=$1
    shift
    local log
    log="$LOGS/$(echo "$name" | tr ' /' '__').log"
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

# The functions below run through `step`, which shellcheck cannot follow (SC2317).

# shellcheck disable=SC2317
ensure_components() {
    local missing=()
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || missing+=(rustfmt)
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || missing+=(clippy)
    if ((${#missing[@]})); then
        rustup component add "${missing[@]}"
    fi
}

# shellcheck disable=SC2317
ensure_shellcheck() {
    command -v shellcheck >/dev/null 2>&1 && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing the Debian package shellcheck"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                shellcheck >/dev/null
    fi
    if ! command -v shellcheck >/dev/null 2>&1; then
        echo
        echo "!!! FAILED: shellcheck is missing and could not be installed (it needs root and apt-get);"
        echo "!!! install it, e.g. sudo apt-get install -y shellcheck, and run $0 again"
        return 1
    fi
}

# The CI scripts, with every check shellcheck has.
# shellcheck disable=SC2317
lint_shell() {
    ensure_shellcheck && shellcheck ci/*.sh .ci/run
}

# Every lint runs, whichever failed: the Rust ones in order (each after the previous
# passed), the shell scripts on their own.
# shellcheck disable=SC2317
lint_linux() {
    local rc=0
    {
        cargo fmt --all --check &&
            cargo clippy --workspace --all-targets --all-features -- -D warnings &&
            RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features -p pipewriter
    } || rc=1
    lint_shell || rc=1
    return "$rc"
}

# shellcheck disable=SC2317
lint_windows() {
    cargo clippy --target x86_64-pc-windows-gnu --workspace --all-targets --all-features -- -D warnings
}

# The docs as docs.rs builds them: nightly, `--cfg docsrs`, the features docs.rs is told to
# enable (Cargo.toml), for Linux and for the Windows target, warnings denied.
# shellcheck disable=SC2317
docs_rs() {
    if ! cargo +nightly --version >/dev/null 2>&1; then
        echo "!!! FAILED: docs.rs-style docs need a nightly toolchain (rustup toolchain install nightly) !!!"
        return 1
    fi
    if ! rustup +nightly target list --installed | grep -qx x86_64-pc-windows-gnu; then
        rustup +nightly target add x86_64-pc-windows-gnu || return 1
    fi
    local target
    for target in x86_64-unknown-linux-gnu x86_64-pc-windows-gnu; do
        echo "[docs.rs] $target"
        RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_TARGET_DIR="$ROOT/target/docsrs" \
            cargo +nightly doc --no-deps -p pipewriter --features tokio,futures-io \
            --target "$target" || return 1
    done
}

# shellcheck disable=SC2317
linux_tests() {
    cargo test --workspace --all-features --no-fail-fast
}

# The shared behaviour tests again, with every descriptor served by the blocking fallback.
# shellcheck disable=SC2317
fallback_tests() {
    export RUSTFLAGS="--cfg pipewriter_force_fallback" CARGO_TARGET_DIR="$ROOT/target/fallback"
    cargo build -p pipewriter --all-features --examples &&
        cargo test -p pipewriter --all-features --no-fail-fast --tests
}

step "Tools (rustfmt, clippy)" ensure_components
step "Lints and docs (Linux, shell scripts)" lint_linux
step "Docs as docs.rs builds them (nightly, Linux and Windows)" docs_rs
step "Manifest: MSRV, feature powerset, minimal versions" bash ci/check-manifest.sh
step "Compile checks, not run (macOS, FreeBSD, OpenBSD, NetBSD: P-6)" bash ci/check-targets.sh
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
