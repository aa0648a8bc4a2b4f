#!/usr/bin/env bash
# Replays the hand-planted engine bugs (tests/mutants/planted/M*.patch) against the oracle
# `make mutants` uses: the engine's unit tests, the regression seeds and SIM_SEEDS random
# seeds. Each must be caught; a missed one fails the run. The tree replayed is the working
# tree as it is (committed or not), copied aside, so the checkout is never touched.
# Usage: tests/mutants/replay.sh [M1 M3 ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
seeds=${SIM_SEEDS:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/tree"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$work/tree" -xf -
export CARGO_TARGET_DIR=$root/target/planted SIM_SEEDS=$seeds

oracle() {
    (cd "$work/tree" && cargo test -q --profile mutants --lib engine:: -- --test-threads=2) \
        > "$work/out" 2>&1
}

if [ $# -eq 0 ]; then
    set -- $(cd tests/mutants/planted && ls M*.patch | sed 's/\.patch$//')
fi
echo "baseline (no mutant): the oracle must pass"
oracle || { tail -30 "$work/out"; echo "replay: the unmutated tree fails its own oracle"; exit 1; }

missed=0
printf '%-4s %-7s %s\n' id result "what (first failing test)"
for m in "$@"; do
    patch=$root/tests/mutants/planted/$m.patch
    (cd "$work/tree" && git apply "$patch") || { echo "$m: does not apply to this tree (regenerate it)"; exit 1; }
    if oracle; then
        result=MISSED
        why=$(head -1 "$patch")
        missed=$((missed + 1))
    else
        result=caught
        why=$(grep -a -m1 -oE '^test [^ ]+ \.\.\. FAILED|invariant [0-9]+:[^,]*' "$work/out" || true)
        [ -n "$why" ] || why=$(grep -a -m1 -E 'panicked|FAILED' "$work/out" || echo "build failed")
    fi
    printf '%-4s %-7s %s\n' "$m" "$result" "$why"
    (cd "$work/tree" && git apply -R "$patch")
done
[ "$missed" -eq 0 ] || { echo "replay: $missed planted bug(s) went unnoticed"; exit 1; }
echo "replay: all $# planted bugs caught"
