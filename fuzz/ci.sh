#!/usr/bin/env bash
# Time-boxed fuzzing for CI: build every cargo-fuzz target, run each for its share of a fixed
# budget, print per-target executions, and exit non-zero if any target crashed, hung or ran out of
# memory. See README.md for what each target asserts and for long runs.
#
# Budget: FUZZ_BUDGET_SECONDS (default 360) is the whole script, build included. Whatever the build
# leaves is split evenly between the targets, clamped to FUZZ_MIN_SECONDS..FUZZ_MAX_SECONDS (15..60)
# each, so a cold build on a fresh machine still gives every target a real run (the script then
# takes longer than the budget, by the build's excess; it says so).
#
# State: the build and the grown corpora live in FUZZ_STATE_DIR (default /var/tmp/voicegate-fuzz),
# outside the clone, so a rerun on the same machine rebuilds only what changed and starts from the
# corpus the last run reached. The seeds in corpus/<target>/ are only read.
set -euo pipefail
cd "$(dirname "$0")"

budget=${FUZZ_BUDGET_SECONDS:-360}
min_secs=${FUZZ_MIN_SECONDS:-15}
max_secs=${FUZZ_MAX_SECONDS:-60}
state=${FUZZ_STATE_DIR:-/var/tmp/voicegate-fuzz}
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

# --- Tools: a nightly toolchain (cargo-fuzz needs -Z flags) and cargo-fuzz itself -------------------
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
echo "fuzz: $(rustup run nightly rustc --version), $(cargo +nightly fuzz --version)"

# The same flags for build and run, so `cargo fuzz run` finds the build up to date. 16 codegen units
# (cargo-fuzz's default is 1) roughly halve the cold build for a few per cent of fuzzing speed.
build_flags=(--codegen-units 16 --target-dir "$state/target")

build_start=$(date +%s)
cargo +nightly fuzz build "${build_flags[@]}"
build_secs=$(($(date +%s) - build_start))
echo "fuzz: build took ${build_secs} s"

mapfile -t targets < <(cargo +nightly fuzz list)
n=${#targets[@]}
# About 3 s per target go to start-up (loading the corpus) and shutdown.
left=$((budget - $(elapsed) - 3 * n))
per=$((left / n))
((per > max_secs)) && per=$max_secs
((per < min_secs)) && per=$min_secs
echo "fuzz: ${n} targets, ${per} s each"

logs=$(mktemp -d)
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$state/corpus/$t" "$state/artifacts/$t"
  log="$logs/$t.log"
  set +e
  cargo +nightly fuzz run "${build_flags[@]}" "$t" "$state/corpus/$t" "corpus/$t" -- \
    -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$state/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    result=clean
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
    # The panic or sanitizer report, and where the input was written.
    grep -E -A8 "panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY|Test unit written" "$log" | head -60 || tail -40 "$log"
  fi
  line=$(printf '%-16s %10s executions %8s exec/s  %s' "$t" "${execs:-?}" "${rate:-?}" "$result")
  echo "fuzz: $line"
  summary+=("$line")
done

echo "fuzz: ---- summary (${per} s per target, build ${build_secs} s, total $(elapsed) s of a ${budget} s budget) ----"
printf 'fuzz: %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: crashes in: ${failed[*]}; inputs in $state/artifacts/<target>/, logs in $logs"
  echo "fuzz: reproduce with: cd fuzz && cargo +nightly fuzz run <target> <input>"
  exit 1
fi
echo "fuzz: all ${n} targets clean"
