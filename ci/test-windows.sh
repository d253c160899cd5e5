#!/usr/bin/env bash
# Runs the crate's test suite for x86_64-pc-windows-gnu under Wine.
#
# Usage: ci/test-windows.sh [extra cargo test arguments] [-- test-binary arguments]
#   e.g. ci/test-windows.sh
#        ci/test-windows.sh --test pipes -- --nocapture
#
# What runs: `cargo test --target x86_64-pc-windows-gnu --workspace
# --no-fail-fast`, i.e. unit tests, bin tests, integration tests and
# doctests of every workspace member, and examples are built. Each test
# executable (doctests included: cargo >= 1.89 runs cross-compiled doctests
# through the runner) is run by ci/wine-runner.sh. Older cargo versions skip
# doctests for a cross target; this script says so.
#
# Environment (all optional):
#   PIPEWRITER_WINEPREFIX  Wine prefix (default: <target dir>/wine-prefix)
#   WINE_RUNNER_TIMEOUT    per-executable time limit in seconds (default 600;
#                          0 disables it), so a hung test cannot hang CI
#   WINEDEBUG              Wine debug channels (default: -all,err+module, which
#                          still reports DLLs that fail to load)
#
# Exit status: cargo's (non-zero on any failure), and non-zero as well if Wine
# does not work or no test executable ran at all.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TRIPLE=x86_64-pc-windows-gnu
TITLE="Windows ($TRIPLE under Wine)"

echo "==================================================================="
echo "  $TITLE"
echo "==================================================================="

# Installs what is missing, builds the bcryptprimitives shim, prepares the
# prefix and checks that Wine runs; fails loudly otherwise.
if ! bash "$ROOT/ci/setup-windows.sh"; then
    echo "$TITLE: FAILED: ci/setup-windows.sh could not prepare Wine" >&2
    exit 1
fi

target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$ROOT/$target_dir ;; esac
PREFIX=${PIPEWRITER_WINEPREFIX:-$target_dir/wine-prefix}

export PIPEWRITER_WINEPREFIX=$PREFIX
export WINEPREFIX=$PREFIX WINEARCH=win64
export WINEDEBUG=${WINEDEBUG:--all,err+module}
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY
# Cargo splits the runner value on whitespace: keep the checkout path free of
# spaces.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$ROOT/ci/wine-runner.sh
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=${CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER:-x86_64-w64-mingw32-gcc}
WINE_RUNNER_TIMEOUT=${WINE_RUNNER_TIMEOUT:-600}
if [[ $WINE_RUNNER_TIMEOUT == 0 ]]; then unset WINE_RUNNER_TIMEOUT; else export WINE_RUNNER_TIMEOUT; fi

wineserver=
for c in "${WINESERVER:-}" "$(command -v wineserver || true)" /usr/lib/wine/wineserver \
         /usr/lib64/wine/wineserver /opt/wine-stable/bin/wineserver; do
    if [[ -n $c && -x $c ]]; then wineserver=$c; break; fi
done

# One persistent wineserver for the whole run: otherwise each test
# executable starts its own server plus Wine's service processes
# (services.exe, winedevice.exe, plugplay.exe, svchost.exe): about 0.6 s per
# executable instead of about 0.1 s.
#
# Wine keeps copies of the stdout/stderr of the process that started those
# services for as long as they live, so a pipe reader (tee, a CI log, rustdoc
# collecting a doctest's output) would wait forever. Hence: the server and
# the services are started here with /dev/null as stdio, and after cargo has
# finished the server is killed (`wineserver -k`, which also ends any process
# a test left behind in the prefix) before waiting for tee.
stop_wine() { "$wineserver" -k >/dev/null 2>&1 || true; }
trap stop_wine EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$wineserver" -p </dev/null >/dev/null 2>&1 || true   # fails harmlessly if one already runs
"$ROOT/ci/wine-runner.sh" cmd /c exit 0 </dev/null >/dev/null 2>&1 \
    || { echo "$TITLE: FAILED: Wine does not start in $PREFIX" >&2; exit 1; }

# Default selection: the whole workspace, all failures reported.
args=("$@")
has() { local a; for a in "${args[@]}"; do [[ $a == -- ]] && return 1; [[ $a == "$1" || $a == "$1="* ]] && return 0; done; return 1; }
extra=()
if ! has -p && ! has --package && ! has --workspace && ! has --manifest-path; then extra+=(--workspace); fi
has --no-fail-fast || extra+=(--no-fail-fast)

cargo_minor=$(cargo -V | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
if [[ -n $cargo_minor && $cargo_minor -lt 89 ]]; then
    echo "NOTE: doctests are NOT run for $TRIPLE: cargo $(cargo -V | cut -d' ' -f2) skips doctests of a cross target (cargo >= 1.89 runs them under Wine)."
else
    echo "NOTE: doctests are cross-compiled and run under Wine like the other tests."
fi

log=$target_dir/test-windows.log
mkdir -p "$target_dir"
echo "+ cargo test --target $TRIPLE ${extra[*]} ${args[*]}"
exec {out_fd}> >(tee "$log")
tee_pid=$!
set +e
cargo test --target "$TRIPLE" "${extra[@]}" "${args[@]}" >&"$out_fd" 2>&1
rc=$?
set -e
stop_wine
exec {out_fd}>&-
wait "$tee_pid" 2>/dev/null || true

# Totals over all test executables ("test result: ok. 3 passed; 0 failed;
# 1 ignored; ..."). A test executable that died without a result line (crash,
# timeout, DLL not found) counts as one failure.
read -r passed failed ignored results failed_results < <(
    sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        /^test result: / {
            n++
            for (i = 1; i <= NF; i++) {
                v = $(i - 1) + 0
                if ($i ~ /^passed/) p += v
                if ($i ~ /^failed/) { f += v; if (v > 0) fr++ }
                if ($i ~ /^ignored/) g += v
            }
        }
        END { print p + 0, f + 0, g + 0, n + 0, fr + 0 }')
failed_targets=$(grep -cE '^error: (test|doctest) failed, to rerun pass' "$log" || true)
crashed=$((failed_targets > failed_results ? failed_targets - failed_results : 0))
failed=$((failed + crashed))

echo "==================================================================="
if ((rc == 0 && results == 0)); then
    echo "$TITLE: FAILED: no test executable ran (see $log)"
    rc=1
elif ((rc != 0)); then
    if ((results == 0 && crashed == 0)); then
        echo "$TITLE: FAILED: cargo exited with $rc before any test ran (build error? see $log)"
    else
        echo "$TITLE: FAILED (cargo exit code $rc; $crashed test executable(s) died without a result; log: $log)"
    fi
else
    echo "$TITLE: OK ($results test executables)"
fi
echo "Totals: $passed passed, $failed failed, $ignored skipped"
exit "$rc"
