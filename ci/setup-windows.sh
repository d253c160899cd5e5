#!/usr/bin/env bash
# Prepares this machine to build the crate for x86_64-pc-windows-gnu and run
# its tests under Wine (see ci/test-windows.sh, ci/wine-runner.sh).
#
# Idempotent and quick when everything is already in place:
#   1. rustup target x86_64-pc-windows-gnu
#   2. Debian packages gcc-mingw-w64-x86-64 (linker) and wine64 + wine
#      (installed with apt-get when run as root; otherwise it prints what to
#      install and exits non-zero)
#   3. builds ci/wine/bcryptprimitives.c into <target>/wine-shim/ (only when
#      its source changed)
#   4. creates a 64-bit Wine prefix in <target>/wine-prefix headlessly and
#      installs the shim DLL into it
#   5. checks that Wine really starts and returns exit codes
#
# <target> is $CARGO_TARGET_DIR or ./target; the prefix location can be
# overridden with PIPEWRITER_WINEPREFIX.
#
# Usage: ci/setup-windows.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TRIPLE=x86_64-pc-windows-gnu
MINGW_GCC=x86_64-w64-mingw32-gcc

target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$ROOT/$target_dir ;; esac
SHIM_DIR=$target_dir/wine-shim
PREFIX=${PIPEWRITER_WINEPREFIX:-$target_dir/wine-prefix}
SHIM_SRC=$ROOT/ci/wine/bcryptprimitives.c
SHIM_DEF=$ROOT/ci/wine/bcryptprimitives.def
SHIM_DLL=$SHIM_DIR/bcryptprimitives.dll

log() { printf '[setup-windows] %s\n' "$*" >&2; }
die() { printf '[setup-windows] ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the path of the 64-bit Wine loader, or nothing.
# Debian 12 installs it as /usr/lib/wine/wine64 (not on PATH; /usr/bin/wine
# is a wrapper that needs wine32 or complains), other distributions and
# WineHQ builds put wine64 on PATH; WoW64-style builds only have `wine`.
find_wine64() {
    local c
    for c in "${WINE64:-}" "$(command -v wine64 || true)" /usr/lib/wine/wine64 \
             /usr/lib64/wine/wine64 /opt/wine-stable/bin/wine64; do
        if [[ -n $c && -x $c ]]; then printf '%s\n' "$c"; return; fi
    done
}

find_wineserver() {
    local c
    for c in "${WINESERVER:-}" "$(command -v wineserver || true)" /usr/lib/wine/wineserver \
             /usr/lib64/wine/wineserver /opt/wine-stable/bin/wineserver; do
        if [[ -n $c && -x $c ]]; then printf '%s\n' "$c"; return; fi
    done
}

# --- 1. Rust target ----------------------------------------------------------
if command -v rustup >/dev/null 2>&1; then
    # Run from $ROOT so a rust-toolchain file, if any, picks the toolchain.
    if ! rustup target list --installed | grep -qx "$TRIPLE"; then
        log "adding Rust target $TRIPLE"
        rustup target add "$TRIPLE"
    fi
else
    sysroot=$(rustc --print sysroot 2>/dev/null) || die "neither rustup nor rustc found; install Rust (https://rustup.rs)"
    [[ -d $sysroot/lib/rustlib/$TRIPLE ]] \
        || die "rustc has no standard library for $TRIPLE and rustup is not available to add it"
fi

# --- 2. Debian packages --------------------------------------------------------
missing=()
command -v "$MINGW_GCC" >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
if [[ -z $(find_wine64) || -z $(find_wineserver) ]]; then
    missing+=(wine64 wine)
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        die "missing packages: ${missing[*]}
    install them as root, e.g.:
        sudo apt-get update && sudo apt-get install --no-install-recommends ${missing[*]}
    then run $0 again."
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    command -v "$MINGW_GCC" >/dev/null 2>&1 || die "$MINGW_GCC still not found after installing packages"
fi
WINE64_BIN=$(find_wine64)
WINESERVER_BIN=$(find_wineserver)
[[ -n $WINE64_BIN ]] || die "the 64-bit Wine loader (wine64) was not found after installing packages"
[[ -n $WINESERVER_BIN ]] || die "wineserver was not found after installing packages"

# --- 3. bcryptprimitives.dll shim ---------------------------------------------
# Rebuilt only when the source, the .def file or the build command change.
shim_cmd=("$MINGW_GCC" -O2 -Wall -Wextra -shared -s -nostdlib "-Wl,--entry,DllMain"
          -o "$SHIM_DLL.tmp" "$SHIM_SRC" "$SHIM_DEF" -lkernel32 -ladvapi32)
shim_hash=$( { cat "$SHIM_SRC" "$SHIM_DEF"; printf '%s\n' "${shim_cmd[*]}"; } | sha256sum | cut -d' ' -f1)
if [[ ! -f $SHIM_DLL || $(cat "$SHIM_DLL.sha256" 2>/dev/null) != "$shim_hash" ]]; then
    log "building $SHIM_DLL"
    mkdir -p "$SHIM_DIR"
    "${shim_cmd[@]}"
    mv -f "$SHIM_DLL.tmp" "$SHIM_DLL"
    printf '%s\n' "$shim_hash" >"$SHIM_DLL.sha256"
fi

# --- 4. Wine prefix -------------------------------------------------------------
# Same environment as ci/wine-runner.sh: no X display (everything stays
# headless, no dialogs), no Mono/Gecko install prompts, no desktop menu
# entries, no debug chatter.
export WINEPREFIX=$PREFIX WINEARCH=win64 WINEDEBUG=${WINEDEBUG:--all,err+module}
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY

wine_version=$("$WINE64_BIN" --version 2>/dev/null || true)
stamp=$PREFIX/.setup-windows-ok
if [[ ! -f $stamp || $(cat "$stamp") != "$wine_version" ]]; then
    if [[ -f $PREFIX/system.reg ]]; then
        log "updating Wine prefix $PREFIX for $wine_version"
        mode=-u
    else
        log "creating Wine prefix $PREFIX ($wine_version)"
        mkdir -p "$PREFIX"
        mode=-i
    fi
    # wineboot prints a harmless "failed to open ...syswow64\rundll32.exe"
    # on 64-bit-only Wine installs; keep its output out of the way.
    if ! "$WINE64_BIN" wineboot "$mode" >"$SHIM_DIR/wineboot.log" 2>&1; then
        cat "$SHIM_DIR/wineboot.log" >&2
        die "wineboot $mode failed for $PREFIX"
    fi
    # Wait until the prefix is fully written before using it.
    "$WINESERVER_BIN" -w
    [[ -f $PREFIX/system.reg ]] || die "wineboot did not create $PREFIX"
    printf '%s\n' "$wine_version" >"$stamp"
fi

# Install the shim as a system DLL of the prefix. drive_c/windows/system32 is
# the 64-bit system directory of a win64 prefix and is on the DLL search path
# of every process, so every test, example or helper executable finds it,
# wherever it lives (deps/, examples/, or the temporary directory rustdoc
# builds each doctest in) and however it is started (directly, or as a child
# process of another test). Copying it next to each executable would miss
# doctests and any executable created or moved later.
# If the installed Wine has its own bcryptprimitives.dll (Wine >= 9), the
# prefix already holds a "Wine builtin DLL" placeholder for it: keep that.
sys32=$PREFIX/drive_c/windows/system32
[[ -d $sys32 ]] || die "$sys32 is missing; remove $PREFIX and run $0 again"
dest=$sys32/bcryptprimitives.dll
if [[ -f $dest ]] && grep -q 'Wine builtin DLL' "$dest"; then
    :
elif ! cmp -s "$SHIM_DLL" "$dest"; then
    log "installing bcryptprimitives.dll shim into the prefix"
    cp -f "$SHIM_DLL" "$dest"
fi

# --- 5. Smoke test ----------------------------------------------------------------
# Wine must start and pass exit codes through, or every later test result
# would be meaningless.
# Output goes to a file, not a pipe: Wine's service processes can keep a
# pipe open after the command has finished.
smoke_log=$SHIM_DIR/smoke.log
set +e
"$WINE64_BIN" cmd /c "echo wine-ok & exit 7" </dev/null >"$smoke_log" 2>&1
rc=$?
set -e
if [[ $rc -ne 7 ]] || ! grep -q wine-ok "$smoke_log"; then
    cat "$smoke_log" >&2
    die "Wine does not work: '$WINE64_BIN cmd /c ...' gave exit code $rc (expected 7) in prefix $PREFIX"
fi

log "ready: $wine_version ($WINE64_BIN), prefix $PREFIX"
