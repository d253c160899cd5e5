#!/usr/bin/env bash
# Runs the Linux test suite (library unit tests and integration tests with the async
# adapters' features, and the examples they start as child processes), then the stress
# program for STRESS_SECONDS (default 20), under AddressSanitizer and ThreadSanitizer, with
# nightly Rust. See RELIABILITY.md.
#
# Usage: ci/sanitizers.sh [address|thread]...       (default: both)
#        ci/sanitizers.sh thread -- --test writer_stop     (extra cargo arguments, no second --)
#
# - address: -Zsanitizer=address. The standard library is used as shipped (not
#   instrumented); LeakSanitizer runs with it.
# - thread:  -Zsanitizer=thread with -Zbuild-std, so that the standard library's own
#   synchronisation is instrumented too (without it TSan reports false races in Arc and
#   friends). Needs the rust-src component.
#
# Each sanitizer builds into its own directory under ${CARGO_TARGET_DIR:-target}/sanitizers.
# Exit status: non-zero if a build fails, a test fails, or a sanitizer reports (a report
# makes the test process exit non-zero). A toolchain that cannot sanitize (no nightly, no
# rust-src) is reported LOUDLY and fails the script: nothing is skipped silently.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

TRIPLE=x86_64-unknown-linux-gnu
base_target=${CARGO_TARGET_DIR:-$ROOT/target}
case $base_target in /*) ;; *) base_target=$ROOT/$base_target ;; esac

loud() {
    printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '!!! %s\n' "$@" >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}

sanitizers=()
extra=()
while (($#)); do
    case $1 in
        address|thread) sanitizers+=("$1") ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [address|thread]... [-- cargo test arguments]" >&2; exit 64 ;;
    esac
    shift
done
((${#sanitizers[@]})) || sanitizers=(address thread)

if [[ $(uname -s) != Linux ]]; then
    loud "sanitizers: this script runs on Linux only"
    exit 1
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    loud "sanitizers: NOT RUN: no nightly toolchain (rustup toolchain install nightly)"
    exit 1
fi
if [[ " ${sanitizers[*]} " == *" thread "* ]]; then
    if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then
        echo "sanitizers: installing rust-src for -Zbuild-std"
        if ! rustup +nightly component add rust-src; then
            loud "sanitizers: ThreadSanitizer NOT RUN: the rust-src component could not be installed"
            exit 1
        fi
    fi
fi

status=0
for san in "${sanitizers[@]}"; do
    echo "=== ${san} sanitizer ================================================"
    export CARGO_TARGET_DIR=$base_target/sanitizers/$san
    flags="-Zsanitizer=$san -Cdebuginfo=1 -Cforce-frame-pointers=yes"
    build_std=()
    case $san in
        address)
            export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
            ;;
        thread)
            build_std=(-Zbuild-std)
            # Reports make the process fail; keep going to see them all in one test binary.
            export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1}
            ;;
    esac
    started=$(date +%s)
    # The examples are started by the integration tests as child processes: build them
    # with the same instrumentation first.
    if ! RUSTFLAGS="$flags" cargo +nightly build "${build_std[@]}" \
            --target "$TRIPLE" --examples --features tokio,futures-io; then
        loud "sanitizers: $san: the examples did not build"
        status=1
        continue
    fi
    # Two tests measure what instrumentation changes, not what the code does; they run
    # uninstrumented in CI (ci/reliability-quick.sh, the normal suite):
    # - memory_bound reads the resident set, which the sanitizer's allocator inflates
    #   (quarantined frees, redzones, shadow memory);
    # - the W-4 coalescing test counts OS writes, which depends on the writer outpacing the
    #   I/O thread; instrumented code is several times slower.
    echo "NOTE: not run under the $san sanitizer (they measure memory or speed, see the script):"
    echo "NOTE:   memory_bound::w12_resident_memory..., writer_integrity::w4_small_writes_are_coalesced..."
    if RUSTFLAGS="$flags" cargo +nightly test "${build_std[@]}" --target "$TRIPLE" \
            --lib --tests --no-fail-fast --features tokio,futures-io "${extra[@]}" -- \
            --skip w12_resident_memory_stays_within_the_hard_limit \
            --skip w4_small_writes_are_coalesced_into_few_os_writes; then
        echo "=== ${san} sanitizer: test suite clean ($(($(date +%s) - started)) s)"
    else
        loud "sanitizers: $san: FAILED (a test failed or the sanitizer reported; see above)"
        status=1
    fi
    # The stress program: many writers, readers, stops and drops at once, with faults.
    if [[ ${#extra[@]} -eq 0 ]]; then
        seed=${STRESS_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
        if "$CARGO_TARGET_DIR/$TRIPLE/debug/examples/stress" --seed "$seed" \
                --secs "${STRESS_SECONDS:-20}" --writers 4 --max-bytes 1048576; then
            echo "=== ${san} sanitizer: stress clean"
        else
            loud "sanitizers: $san: the stress program FAILED (seed $seed; see above)"
            status=1
        fi
    fi
done
exit $status
