#!/usr/bin/env bash
# Windowed aggregation through a real local broker, and restore speed, for DISTINCT keys (default 1,000,000):
#   1. RECORDS keyed records (every key once, then repeats) -> tumbling 1h count+sum per key (emit final):
#      records/s from ready to the last input consumed, peak RSS;
#   2. stop, delete the local state, restart: changelog records replayed per second (the instance's own log line);
#   3. stop, restart with the state intact: records replayed (expected 0: only the tail is read).
# Baseline beside them: kcat reading the same input topic to its end.
# Usage: bench/kafka-stateful.sh [BUILD_DIR] [RECORDS] [DISTINCT]   (a Release build: make BUILD_TYPE=Release)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=$(cd "${1:-build}" && pwd)
records=${2:-2000000}
keys=${3:-1000000}
port=18182
started_broker=0
pid=""
state=$(mktemp -d)
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$state"
  [ $started_broker -eq 1 ] && "$repo/scripts/local-kafka" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
if ! scripts/local-kafka status >/dev/null 2>&1; then eval "$(scripts/local-kafka start)"; started_broker=1; else eval "$(scripts/local-kafka status 2>/dev/null)"; fi
bootstrap=$SLUICE_TEST_BOOTSTRAP
suffix=$$-$RANDOM
input=bench-keyed-$suffix
"$build/sluice-datagen" --bootstrap "$bootstrap" --topic "$input" --kind keyed --keys "$keys" --count "$records" --partitions 4 2>/dev/null

t0=$(date +%s.%N); kcat -b "$bootstrap" -C -t "$input" -o beginning -e -q -f '.' > /dev/null; t1=$(date +%s.%N)
baseline=$(echo "$t0 $t1" | awk -v n="$records" '{print n / ($2 - $1)}')

topology=$(mktemp --suffix .json)
cat > "$topology" <<JSON
{"application_id": "bench-window-$suffix",
 "sources": [{"name": "in", "topic": "$input", "timestamp": {"field": "ts"}}],
 "operators": [{"name": "per_key", "from": "in", "window": {"type": "tumbling", "size": "1h"},
                "aggregate": {"n": "count()", "total": "sum(v)"}, "emit": "final"}],
 "sinks": [{"from": "per_key", "topic": "bench-window-out-$suffix"}]}
JSON
run() {
  "$build/sluice" run "$topology" --bootstrap "$bootstrap" --set http_address=127.0.0.1 --set http_port=$port \
    --set state_dir="$state" --set window_idle_timeout=0 --set log_level=info > "$1" 2>&1 &
  pid=$!
}
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v name="$1" '$1 ~ "^"name"({|$)" {sum += $2} END {print sum+0}'; }
ready() { until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/readyz)" = 200 ]; do sleep 0.05; done; }
stop() { kill -TERM "$pid"; wait "$pid"; pid=""; }

run /tmp/bench-stateful-1-$suffix.log; ready
s0=$(date +%s.%N)
until [ "$(metric sluice_records_consumed_total)" -ge "$records" ]; do sleep 0.1; done
s1=$(date +%s.%N)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
changelog=$(metric sluice_changelog_records_total)
stop
rate=$(echo "$s0 $s1" | awk -v n="$records" '{print n / ($2 - $1)}')

rm -rf "$state"/*
r0=$(date +%s.%N); run /tmp/bench-stateful-2-$suffix.log; ready; r1=$(date +%s.%N)
restored=$(metric sluice_restored_records_total)
restore_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
stop
restore_line=$(grep -o 'restored [0-9]* records in [0-9]* ms ([0-9]* records/s)' /tmp/bench-stateful-2-$suffix.log | head -4 | tr '\n' ';')

run /tmp/bench-stateful-3-$suffix.log; ready
tail_restored=$(metric sluice_restored_records_total)
stop

printf 'windowed aggregation through a local broker: %d records, %d distinct keys, 4 partitions, tumbling 1h count+sum, 2 cores shared with the broker\n' "$records" "$keys"
printf '%-52s %12s\n' "" "records/s"
printf '%-52s %12.0f\n' "baseline: kcat consume to end" "$baseline"
printf '%-52s %12.0f   peak RSS %.0f MB, changelog records %s\n' "sluice: consume + aggregate + changelog + commit" "$rate" "$(echo "$rss_kb" | awk '{print $1/1024}')" "$changelog"
printf '%-52s %12.0f   (%s records in %.1f s to ready, peak RSS %.0f MB)\n' "sluice: restore after losing the state directory" \
  "$(echo "$r0 $r1 $restored" | awk '{print $3 / ($2 - $1)}')" "$restored" "$(echo "$r0 $r1" | awk '{print $2-$1}')" "$(echo "$restore_rss_kb" | awk '{print $1/1024}')"
printf 'per-task restore log lines: %s\n' "$restore_line"
printf 'restart with the state intact: %s records replayed\n' "$tail_restored"
