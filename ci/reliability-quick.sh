#!/usr/bin/env bash
# The quick variants of the reliability checks (RELIABILITY.md), for CI:
#
#   1. loom      the concurrency models of tests/loom.rs, every interleaving within
#                LOOM_MAX_PREEMPTIONS (default 3) preemptions
#   2. miri      the core's unit tests, the error table and the same models on plain
#                threads, over the fake backend, under Miri (nightly)
#   3. stress    examples/stress.rs --quick (30 s; STRESS_SEED picks the seed)
#   4. fuzz      cargo fuzz run core_model for FUZZ_SECONDS (default 30; nightly; installs
#                cargo-fuzz from crates.io when it is missing, about a minute)
#   5. memory    tests/memory_bound.rs (resident memory within the hard limit)
#
# Usage: ci/reliability-quick.sh [check...]     e.g. ci/reliability-quick.sh loom miri
#
# Every check runs even when an earlier one fails; the exit status is non-zero if any
# failed. A tool that cannot be installed (nightly, Miri, cargo-fuzz) is reported LOUDLY
# and counts as a failure: nothing is skipped silently. The last line reads
# "reliability: N passed, N failed".
#
# Build directories: ${CARGO_TARGET_DIR:-target} for the stress and memory checks (shared
# with the normal test build), and its subdirectories loom/, miri/ and fuzz/ for the others,
# which build with other flags.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

base_target=${CARGO_TARGET_DIR:-$ROOT/target}
case $base_target in /*) ;; *) base_target=$ROOT/$base_target ;; esac
export CARGO_TARGET_DIR=$base_target

loud() {
    printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '!!! %s\n' "$@" >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}

have_nightly() {
    if cargo +nightly --version >/dev/null 2>&1; then
        return 0
    fi
    loud "$1: NOT RUN: no nightly toolchain (rustup toolchain install nightly)"
    return 1
}

# Installs nightly components when missing; loud failure otherwise.
nightly_components() {
    local check=$1 c
    shift
    for c in "$@"; do
        if ! rustup +nightly component list --installed 2>/dev/null | grep -q "^$c"; then
            echo "[$check] installing the nightly component $c"
            if ! rustup +nightly component add "$c"; then
                loud "$check: NOT RUN: the nightly component '$c' could not be installed"
                return 1
            fi
        fi
    done
}

check_loom() {
    local preemptions=${LOOM_MAX_PREEMPTIONS:-3}
    echo "[loom] tests/loom.rs, preemption bound $preemptions"
    CARGO_TARGET_DIR=$base_target/loom RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=$preemptions \
        cargo test --test loom -- --test-threads=1 --nocapture 2>&1 \
        | grep -v '^\s*$'
    return "${PIPESTATUS[0]}"
}

check_miri() {
    have_nightly miri || return 1
    nightly_components miri miri rust-src || return 1
    export CARGO_TARGET_DIR=$base_target/miri
    export RUSTFLAGS="--cfg pipewriter_fake_backend"
    echo "[miri] the core's unit tests and the error table (the proptest reference model is"
    echo "[miri] in the full run: it takes about ten minutes under Miri)"
    MIRIFLAGS=${MIRIFLAGS:--Zmiri-disable-isolation} cargo +nightly miri test --lib -- \
        core:: sys:: pool:: --skip core_matches_reference_model || return 1
    echo "[miri] the concurrency models over the fake backend, on plain threads"
    cargo +nightly miri test --test loom -- --nocapture || return 1
}

check_stress() {
    local seed=${STRESS_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
    cargo build --example stress || return 1
    "$CARGO_TARGET_DIR/debug/examples/stress" --quick --seed "$seed"
}

check_fuzz() {
    have_nightly fuzz || return 1
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "[fuzz] installing cargo-fuzz from crates.io"
        if ! cargo install cargo-fuzz --locked; then
            loud "fuzz: NOT RUN: cargo-fuzz could not be installed"
            return 1
        fi
    fi
    local secs=${FUZZ_SECONDS:-30}
    echo "[fuzz] core_model for $secs s"
    (cd fuzz && CARGO_TARGET_DIR=$base_target/fuzz \
        cargo +nightly fuzz run core_model -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
        | grep -E '^(Done|stat::|#[0-9]+ +DONE)|panicked|ERROR|SUMMARY|left|right|Error'
        exit "${PIPESTATUS[0]}")
}

check_memory() {
    cargo test --test memory_bound -- --nocapture
}

checks=("$@")
((${#checks[@]})) || checks=(loom miri stress fuzz memory)

passed=0
failed=0
summary=()
for check in "${checks[@]}"; do
    case $check in
        loom|miri|stress|fuzz|memory) ;;
        *) echo "unknown check '$check' (loom miri stress fuzz memory)" >&2; exit 64 ;;
    esac
    echo
    echo "=== reliability: $check ==================================================="
    started=$(date +%s)
    (set -o pipefail; "check_$check")
    rc=$?
    took=$(($(date +%s) - started))
    if ((rc == 0)); then
        passed=$((passed + 1))
        summary+=("  $check: ok (${took} s)")
    else
        failed=$((failed + 1))
        summary+=("  $check: FAILED (exit $rc, ${took} s)")
        loud "reliability: $check FAILED"
    fi
done

echo
echo "=== reliability summary ==="
printf '%s\n' "${summary[@]}"
echo "reliability: $passed passed, $failed failed"
((failed == 0))
