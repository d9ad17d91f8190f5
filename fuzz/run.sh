#!/usr/bin/env bash
# Fuzz each target for SECONDS (default 30): fuzz/run.sh [SECONDS]
#
# Works from any directory, on stable Rust: installs cargo-fuzz if it is missing, lets
# the nightly-only flags cargo-fuzz passes work on stable (RUSTC_BOOTSTRAP=1), and runs
# without a sanitizer (AddressSanitizer needs nightly; Rust code is memory-safe anyway,
# and what is fuzzed here is panics, aborts, overflows and timeouts). Builds go to
# BCGRAPH_FUZZ_TARGET_DIR (default /var/tmp/bcgraph-fuzz-target), never to the main
# build's directory, so that later runs on the machine reuse them; the corpus each run
# grows lives there too, and the checked-in seeds (fuzz/corpus/<target>) are only read.
# A crash is written to fuzz/artifacts/<target>/ and makes the script fail; replay it
# with `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none <target> <file>`.
set -euo pipefail
seconds="${1:-30}"
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${BCGRAPH_FUZZ_TARGET_DIR:-/var/tmp/bcgraph-fuzz-target}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

started=$SECONDS
cargo fuzz build --sanitizer none
echo "== fuzz targets built in $((SECONDS - started)) s"

status=0
for target in document webhook; do
  corpus="$CARGO_TARGET_DIR/fuzz-corpus/$target"
  log="$CARGO_TARGET_DIR/fuzz-$target.log"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  echo "== fuzzing $target for $seconds s"
  if cargo fuzz run --sanitizer none "$target" "$corpus" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -max_len=16384 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    added=$(sed -n 's/^stat::new_units_added: *//p' "$log")
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "   $runs runs, $rate exec/s, $coverage, $added new inputs (corpus: $(ls "$corpus" | wc -l) files)"
    # Runs on one machine keep growing the corpus; past 10,000 inputs it is minimised
    # (the inputs that keep its coverage), which takes a few seconds.
    if [ "$(ls "$corpus" | wc -l)" -gt 10000 ]; then
      cargo fuzz cmin --sanitizer none "$target" "$corpus" >"$log.cmin" 2>&1 || true
      echo "   corpus minimised to $(ls "$corpus" | wc -l) files"
    fi
  else
    status=1
    echo "   FAILED: the last lines of $log"
    tail -n 60 "$log"
  fi
done
exit $status
