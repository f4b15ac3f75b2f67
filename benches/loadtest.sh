#!/usr/bin/env bash
# One load-tester run against a release server in its own process (BENCHMARKS.md, "Method"):
# prints frames, forwarding latencies, barge-in, the server's CPU per call-second and RSS, and the
# verdict. Usage: cargo build --release --features testkit && benches/loadtest.sh
#   CALLS=150 SECS=25 RAMP_MS=3000   the run (defaults shown)
#   BIN=…                            another server binary (compare two by alternating runs of each
#                                    on an otherwise idle machine)
#   LOADTEST_BIN=…                   the load tester (default: target/release/voicegate-loadtest)
#   JSON=path                        keep the load tester's JSON report there
#   SERVER_WORKERS=n                 the server's tokio worker threads (default: one per core)
#   PROFILE_DIR=dir                  also count the server's system calls (`perf stat`, 15 s) and
#                                    sample where its CPU goes (`perf record`, 10 s) mid-run
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/voicegate}
LOADTEST_BIN=${LOADTEST_BIN:-$ROOT/target/release/voicegate-loadtest}
CALLS=${CALLS:-150}
SECS=${SECS:-25}
DIR=$(mktemp -d); cd "$DIR"
VOICEGATE__SERVER__PORT=18080 VOICEGATE__SERVER__PUBLIC_BASE_URL=http://127.0.0.1:18080 \
VOICEGATE__REALTIME__URL=ws://127.0.0.1:9901/v1/realtime VOICEGATE__SERVER__MAX_CONCURRENT_CALLS=1000 \
VOICEGATE__CALL__IDLE_PROMPT_AFTER_SECS=3600 OPENAI_API_KEY=sk-load RUST_LOG=warn \
TOKIO_WORKER_THREADS=${SERVER_WORKERS:-$(nproc)} \
  "$BIN" serve > server.log 2>&1 & SPID=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18080/healthz && break; sleep 0.1; done
TOKEN=$(cut -d: -f2- data/keys/twilio-auth-token.key)
"$LOADTEST_BIN" run --server http://127.0.0.1:18080 --public-base http://127.0.0.1:18080 \
  --auth-token "$TOKEN" --server-pid $SPID --calls "$CALLS" --duration-secs "$SECS" \
  --ramp-ms "${RAMP_MS:-3000}" --json lt.json > lt.txt 2>&1 & LPID=$!
if [ -n "${PROFILE_DIR:-}" ]; then
  # Start once every call is up (after the ramp), stop well before the calls end.
  sleep $(( ${RAMP_MS:-3000} / 1000 + 3 ))
  EVENTS=task-clock,context-switches,raw_syscalls:sys_enter
  for s in sendto recvfrom epoll_wait futex write fdatasync; do EVENTS=$EVENTS,syscalls:sys_enter_$s; done
  perf stat -x, -e "$EVENTS" -p $SPID -o "$PROFILE_DIR/perf-stat.csv" -- sleep 10 || \
    perf stat -x, -e task-clock,context-switches -p $SPID -o "$PROFILE_DIR/perf-stat.csv" -- sleep 10 || true
  perf record -q -e cpu-clock -F 999 -p $SPID -o "$DIR/perf.data" -- sleep 10 2>/dev/null || true
  if [ -s "$DIR/perf.data" ]; then
    perf report -i "$DIR/perf.data" --no-children --sort sym --stdio 2>/dev/null > "$PROFILE_DIR/perf-symbols.txt" || true
    perf report -i "$DIR/perf.data" --no-children --sort dso --stdio 2>/dev/null > "$PROFILE_DIR/perf-dso.txt" || true
  fi
fi
wait $LPID || true
kill $SPID; wait $SPID 2>/dev/null || true
[ -n "${JSON:-}" ] && cp lt.json "$JSON"
grep -E "frames sent|caller -> upstream|upstream -> caller|pacing|barge-in:|truncation|CPU|RSS|verdict" lt.txt
