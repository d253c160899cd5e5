#!/usr/bin/env bash
# Cargo target runner for x86_64-pc-windows-gnu: runs a Windows executable
# under 64-bit Wine in the prefix prepared by ci/setup-windows.sh.
#
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/abs/path/ci/wine-runner.sh
#
# Usage: ci/wine-runner.sh program.exe [args...]
#
# Arguments are passed through unchanged, stdout/stderr go straight to the
# caller, and the exit status is Wine's, i.e. the Windows exit code modulo
# 256 (a panicking test binary exits 101; a crash such as 0xC0000005 exits
# with its low byte, 5; a DLL that cannot be loaded, 0xC0000135, gives 53).
#
# Environment:
#   PIPEWRITER_WINEPREFIX  prefix to use (default: ${CARGO_TARGET_DIR:-<repo>/target}/wine-prefix)
#   WINE64, WINESERVER     Wine binaries, when not at a standard place
#   WINEDEBUG              Wine debug channels (default: -all,err+module:
#                          quiet, but DLLs that fail to load are reported)
#   WINE_RUNNER_TIMEOUT    if set, kill the program after that many seconds
#                          (exit status 124)
#
# Wine runs headless (DISPLAY is unset). Each call starts a Wine process;
# when no wineserver is running for the prefix one is started and, with
# Debian's default settings, exits as soon as the program does. For speed,
# ci/test-windows.sh keeps one persistent wineserver (`wineserver -p`) for the
# whole run and stops it (`wineserver -k`) at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { printf '[wine-runner] ERROR: %s\n' "$*" >&2; exit 127; }

(($# >= 1)) || die "usage: $0 program.exe [args...]"

target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$ROOT/$target_dir ;; esac
PREFIX=${PIPEWRITER_WINEPREFIX:-$target_dir/wine-prefix}

wine64=
for c in "${WINE64:-}" "$(command -v wine64 || true)" /usr/lib/wine/wine64 \
         /usr/lib64/wine/wine64 /opt/wine-stable/bin/wine64; do
    if [[ -n $c && -x $c ]]; then wine64=$c; break; fi
done
[[ -n $wine64 ]] || die "wine64 not found; run ci/setup-windows.sh"
[[ -f $PREFIX/.setup-windows-ok ]] \
    || die "Wine prefix $PREFIX is not prepared; run ci/setup-windows.sh"

export WINEPREFIX=$PREFIX WINEARCH=win64 WINEDEBUG=${WINEDEBUG:--all,err+module}
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY

if [[ -n ${WINE_RUNNER_TIMEOUT:-} && ${WINE_RUNNER_TIMEOUT} != 0 ]]; then
    # --foreground keeps Ctrl-C working; -k escalates to SIGKILL.
    rc=0
    timeout --foreground -k 10 "$WINE_RUNNER_TIMEOUT" "$wine64" "$@" || rc=$?
    if ((rc == 124 || rc == 137)); then
        printf '[wine-runner] ERROR: %s killed after WINE_RUNNER_TIMEOUT=%ss\n' "$1" "$WINE_RUNNER_TIMEOUT" >&2
    fi
    exit "$rc"
fi
exec "$wine64" "$@"
