#!/usr/bin/env bash
# End-to-end stateless throughput through a real local broker, beside its baseline in one run:
#   baseline: kcat reading the input topic to the end (the rate at which this machine can just consume it);
#   sluice:   the orders-enrichment topology, from start of processing to the last input consumed.
# Usage: bench/kafka-stateless.sh [BUILD_DIR] [RECORDS]   (a Release build is best: make BUILD_TYPE=Release)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=$(cd "${1:-build}" && pwd)
records=${2:-1000000}
port=18181
started_broker=0
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ $started_broker -eq 1 ] && "$repo/scripts/local-kafka" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
if ! scripts/local-kafka status >/dev/null 2>&1; then eval "$(scripts/local-kafka start)"; started_broker=1; else eval "$(scripts/local-kafka status 2>/dev/null)"; fi
bootstrap=$SLUICE_TEST_BOOTSTRAP
suffix=$$-$RANDOM
input=bench-orders-$suffix
"$build/sluice-datagen" --bootstrap "$bootstrap" --topic "$input" --kind orders --count "$records" --partitions 4 2>/dev/null
bytes=$(kcat -b "$bootstrap" -C -t "$input" -o beginning -e -q -f '%S\n' | awk '{s+=$1} END {print s}')

t0=$(date +%s.%N)
kcat -b "$bootstrap" -C -t "$input" -o beginning -e -q -f '.' > /dev/null
t1=$(date +%s.%N)
baseline=$(echo "$t0 $t1" | awk -v n="$records" '{print n / ($2 - $1)}')

topology=$(mktemp --suffix .json)
sed -e "s/\"orders-enrichment\"/\"bench-$suffix\"/" -e "s/\"topic\": \"orders\"/\"topic\": \"$input\"/" \
    -e "s/\"orders-enriched\"/\"bench-out-$suffix\"/" topologies/orders-enrichment.json > "$topology"
"$build/sluice" run "$topology" --bootstrap "$bootstrap" --set http_address=127.0.0.1 --set http_port=$port \
  --set log_level=warn ${SLUICE_BENCH_ARGS:-} > /tmp/bench-sluice-$suffix.log 2>&1 &
pid=$!
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v name="$1" '$1 ~ "^"name"({|$)" {sum += $2} END {print sum+0}'; }
until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/readyz)" = 200 ]; do sleep 0.05; done
s0=$(date +%s.%N)
until [ "$(metric sluice_records_consumed_total)" -ge "$records" ]; do sleep 0.05; done
s1=$(date +%s.%N)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
rate=$(echo "$s0 $s1" | awk -v n="$records" '{print n / ($2 - $1)}')
printf 'stateless end to end through a local broker, %d orders (%.0f bytes each), 4 partitions, 2 cores shared with the broker\n' \
  "$records" "$(echo "$bytes $records" | awk '{print $1/$2}')"
printf '%-40s %12s %8s\n' "" "records/s" "MB/s"
printf '%-40s %12.0f %8.1f\n' "baseline: kcat consume to end" "$baseline" "$(echo "$baseline $bytes $records" | awk '{print $1*$2/$3/1e6}')"
printf '%-40s %12.0f %8.1f\n' "sluice: orders-enrichment (consume+produce)" "$rate" "$(echo "$rate $bytes $records" | awk '{print $1*$2/$3/1e6}')"
printf 'ratio sluice / baseline: %.2f    sluice peak RSS: %.1f MB\n' "$(echo "$rate $baseline" | awk '{print $1/$2}')" "$(echo "$rss_kb" | awk '{print $1/1024}')"
