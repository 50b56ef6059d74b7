#!/usr/bin/env bash
# tls_scale.sh: server memory per idle TLS connection (issue 18, item 5).
#
#   perf/scale/tls_scale.sh                    # CONNS=10000 REPS=3
#
# Each repetition: make a test CA and P-256 certificate (openssl CLI),
# start examples/echo on tls://127.0.0.1:<free port> (--loops=1, CPU 0),
# run perf/scale/tls_idle.py (CPU 1): CONNS verified TLS connections, one
# echoed message each, all kept idle, the server's VmRSS/RssAnon read
# before, idle and after close. Then stop the server by PID. Results:
# $OUT/results.jsonl (one line per repetition), $OUT/summary.md.
# Knobs: CONNS, REPS, BACKEND (epoll | io_uring), OUT. Loopback only; every
# step bounded by `timeout`.
set -euo pipefail

CONNS=${CONNS:-10000}
REPS=${REPS:-3}
BACKEND=${BACKEND:-epoll}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-perf/out/tls-scale-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/certs"
ulimit -n "$(ulimit -Hn)"

bazel build -c opt //examples/echo >/dev/null 2>&1
cp -f bazel-bin/examples/echo/echo "$OUT/echo"

(
  cd "$OUT/certs"
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  openssl req -x509 -new -key ca.key -days 2 -subj /CN=scale-ca -out ca.pem
  openssl ecparam -name prime256v1 -genkey -noout -out server.key
  openssl req -new -key server.key -subj /CN=localhost -out server.csr
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 2 -extfile san.ext -out server.pem
) >"$OUT/certs/make.log" 2>&1

for rep in $(seq "$REPS"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  taskset -c 0 "$OUT/echo" --addr="tls://127.0.0.1:$port" --loops=1 \
    --backend="$BACKEND" --tls_cert="$OUT/certs/server.pem" \
    --tls_key="$OUT/certs/server.key" >"$OUT/echo.$rep.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$OUT/echo.$rep.log" && break; sleep 0.1; done
  timeout 600 taskset -c 1 python3 "$HERE/tls_idle.py" --pid "$pid" --port "$port" \
    --ca "$OUT/certs/ca.pem" --conns "$CONNS" | tee -a "$OUT/results.jsonl"
  kill -TERM "$pid"
  wait "$pid" || true
done

python3 - "$OUT/results.jsonl" >"$OUT/summary.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda k: statistics.median(r[k] for r in rows)
print(f"{len(rows)} repetitions, {rows[0]['conns']} idle TLS connections each\n")
print("| per idle connection | median | min - max |\n|---|---|---|")
for k in ("anon_per_conn_bytes", "rss_per_conn_bytes"):
    vals = [r[k] for r in rows]
    print(f"| {k} | {med(k):,.0f} | {min(vals):,} - {max(vals):,} |")
print(f"| connect time (s) | {med('connect_s')} | |")
PY
cat "$OUT/summary.md"
