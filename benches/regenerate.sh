#!/usr/bin/env bash
# Regenerates BENCHMARKS.md from fresh runs on this machine (takes ~15 minutes, needs an otherwise
# idle machine; every figure in the file comes from this run):
#   1. the criterion benchmarks (frame_path, resample, session_path, machine_floor, audit_chain, red_flag);
#   2. the load tester against a release server in its own process: 100, 200 and 500 calls
#      × 60 s (benches/loadtest.sh);
#   3. the memory test over a 60-minute call in accelerated media time;
#   4. when `perf` works here, a third, shorter run (150 calls × 30 s) under `perf stat` (system
#      calls and context switches) and `perf record` (where the server's CPU goes), kept apart so
#      the profiler's own cost is not in the headline figures.
# Then benches/render_benchmarks.py writes BENCHMARKS.md from target/benchmarks/.
# Usage: benches/regenerate.sh        (SKIP_PERF=1 to leave the profile out)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/target/benchmarks"
rm -rf "$OUT"; mkdir -p "$OUT"
cd "$ROOT"

cargo build --release --features testkit
cargo bench --features testkit --bench frame_path --bench resample --bench session_path --bench machine_floor --bench audit_chain --bench red_flag \
  -- --warm-up-time 1 --measurement-time 3 2>&1 | tee "$OUT/criterion.txt"

BIN="$ROOT/target/release/voicegate"
CALLS=100 SECS=60 RAMP_MS=3000 JSON="$OUT/lt100.json" BIN="$BIN" benches/loadtest.sh | tee "$OUT/lt100.txt"
CALLS=200 SECS=60 RAMP_MS=5000 JSON="$OUT/lt200.json" BIN="$BIN" benches/loadtest.sh | tee "$OUT/lt200.txt"
CALLS=500 SECS=60 RAMP_MS=10000 JSON="$OUT/lt500.json" BIN="$BIN" benches/loadtest.sh | tee "$OUT/lt500.txt"

if [ -z "${SKIP_PERF:-}" ] && perf stat -e task-clock -- true >/dev/null 2>&1; then
  # Tracepoints need tracefs; mount it if it is not (needs root; otherwise only counters).
  [ -e /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  CALLS=150 SECS=30 RAMP_MS=3000 JSON="$OUT/lt-profile.json" BIN="$BIN" PROFILE_DIR="$OUT" \
    benches/loadtest.sh | tee "$OUT/lt-profile.txt"
fi

# Memory over a 60-minute call in accelerated media time (the test's own assertion bounds growth).
VOICEGATE_LONG_CALL_MINUTES=60 cargo test --all-features --test memory -- --nocapture 2>&1 | tee "$OUT/memory.txt"

{
  echo "date=$(date -u +%Y-%m-%d)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores=$(nproc)"
  echo "memory_gib=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "rustc=$(rustc -V)"
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
} > "$OUT/machine.txt"

python3 benches/render_benchmarks.py "$OUT" > BENCHMARKS.md
echo "BENCHMARKS.md regenerated from $OUT"
