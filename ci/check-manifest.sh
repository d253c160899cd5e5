#!/usr/bin/env bash
# Checks what Cargo.toml promises about building the library:
#   1. MSRV: the library builds with the toolchain named by `rust-version`, for Linux and
#      for x86_64-pc-windows-gnu, all features (cargo hack --rust-version);
#   2. feature powerset: every combination of the library's features builds, Linux and
#      Windows (cargo hack --feature-powerset --no-dev-deps: the self dev-dependency with
#      `fault-injection` means a test build never builds the library without it);
#   3. minimal versions: with every direct dependency at the lowest version Cargo.toml
#      allows (cargo +nightly update -Z direct-minimal-versions), the library builds, Linux
#      and Windows.
# Everything runs in a throwaway copy of the tracked files under target/check-manifest/, so
# the committed Cargo.toml and Cargo.lock are never changed; each check has its own
# CARGO_TARGET_DIR there. Installs what it needs (cargo-hack from crates.io, the MSRV and
# nightly toolchains, the Windows target); fails loudly when it cannot.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WORK=$ROOT/target/check-manifest
WINDOWS=x86_64-pc-windows-gnu

say() {
    echo
    echo "=== check-manifest: $*"
}

fail() {
    echo
    echo "!!! FAILED: $*" >&2
    exit 1
}

MSRV=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ -n $MSRV ]] || fail "no rust-version in Cargo.toml"

say "tools: cargo-hack, Rust $MSRV and nightly, target $WINDOWS"
if ! cargo hack --version >/dev/null 2>&1; then
    cargo install cargo-hack --locked || fail "cannot install cargo-hack"
fi
for toolchain in "$MSRV" nightly; do
    if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
        rustup toolchain install "$toolchain" --profile minimal ||
            fail "cannot install the $toolchain toolchain"
    fi
    if ! rustup +"$toolchain" target list --installed | grep -qx "$WINDOWS"; then
        rustup +"$toolchain" target add "$WINDOWS" || fail "cannot add $WINDOWS to $toolchain"
    fi
done
# The stable toolchain drives cargo-hack's powerset for Windows too.
if ! rustup target list --installed | grep -qx "$WINDOWS"; then
    rustup target add "$WINDOWS" || fail "cannot add $WINDOWS to the default toolchain"
fi

# A fresh copy of the tracked files (the working tree's versions), without dev-dependencies:
# only the library is checked, and dev-dependencies would take part in version resolution.
copy_tree() {
    local dest=$1
    rm -rf "$dest"
    mkdir -p "$dest"
    (cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$dest")
    (cd "$dest" && cargo hack --remove-dev-deps --workspace >/dev/null)
}

COPY=$WORK/tree
copy_tree "$COPY"
cd "$COPY"

for target in x86_64-unknown-linux-gnu "$WINDOWS"; do
    say "MSRV: the library with Rust $MSRV (rust-version), all features, $target"
    CARGO_TARGET_DIR=$WORK/msrv cargo hack check -p pipewriter --rust-version \
        --all-features --lib --target "$target" ||
        fail "the library does not build with Rust $MSRV for $target: fix it or raise rust-version"
done

for target in x86_64-unknown-linux-gnu "$WINDOWS"; do
    say "feature powerset of the library, $target"
    CARGO_TARGET_DIR=$WORK/powerset cargo hack check -p pipewriter --feature-powerset \
        --exclude-features default --no-dev-deps --lib --target "$target" ||
        fail "a combination of the library's features does not build for $target"
done

# Minimal versions: the library alone (the CLI's own bounds are not the library's promise).
MINIMAL=$WORK/minimal-tree
copy_tree "$MINIMAL"
cd "$MINIMAL"
sed -i 's/^members = \[".", "cli"\]$/members = ["."]/' Cargo.toml
say "minimal versions: resolving every direct dependency at its lower bound"
cargo +nightly update -Z direct-minimal-versions ||
    fail "the lower bounds of Cargo.toml cannot be resolved together"
grep -A1 -E '^name = "(bytes|log|tokio|futures-io|polling|rustix|libc|windows-sys)"$' Cargo.lock |
    paste - - - | sed 's/^/    /'
for target in x86_64-unknown-linux-gnu "$WINDOWS"; do
    say "minimal versions: the library, all features, $target"
    CARGO_TARGET_DIR=$WORK/minimal cargo check -p pipewriter --all-features --lib \
        --target "$target" ||
        fail "the library does not build with its minimal versions for $target: raise the lower bound in Cargo.toml"
done

say "all passed: MSRV $MSRV, feature powerset, minimal versions (Linux and $WINDOWS)"
