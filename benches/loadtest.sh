#!/usr/bin/env bash
# One load-tester run against a release server in its own process (BENCHMARKS.md, "Method"):
# prints frames, forwarding latencies, barge-in, the server's CPU per call-second and RSS, and the
# verdict. Usage: cargo build --release && benches/loadtest.sh   (CALLS=150 SECS=25 BIN=… to vary;
# compare two binaries by alternating runs of each on an otherwise idle machine).
set -euo pipefail
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/voicegate}
DIR=$(mktemp -d); cd "$DIR"
VOICEGATE__SERVER__PORT=18080 VOICEGATE__SERVER__PUBLIC_BASE_URL=http://127.0.0.1:18080 \
VOICEGATE__REALTIME__URL=ws://127.0.0.1:9901/v1/realtime VOICEGATE__SERVER__MAX_CONCURRENT_CALLS=1000 \
VOICEGATE__CALL__IDLE_PROMPT_AFTER_SECS=3600 OPENAI_API_KEY=sk-load RUST_LOG=warn \
  "$BIN" serve > server.log 2>&1 & SPID=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18080/healthz && break; sleep 0.1; done
TOKEN=$(cut -d: -f2- data/keys/twilio-auth-token.key)
"$BIN" loadtest --server http://127.0.0.1:18080 --public-base http://127.0.0.1:18080 \
  --auth-token "$TOKEN" --server-pid $SPID --calls ${CALLS:-150} --duration-secs ${SECS:-25} --ramp-ms 3000 --json lt.json > lt.txt 2>&1 || true
kill $SPID; wait $SPID 2>/dev/null || true
grep -E "frames sent|caller -> upstream|upstream -> caller|barge-in:|CPU|RSS|verdict" lt.txt
