#!/usr/bin/env bash
# The soak (issue 15): one `kvitt serve` in sandbox mode under the open model
# at a modest rate for an hour, its memory sampled all along, to see that it
# stays flat. A benchmark, not a test: not run by CI (make bench-soak).
#
#   bench/soak.sh                                # RATE=20 METHOD=mix D=60m
#   RATE=5 METHOD=cash D=3m SAMPLE=10 WINDOW=60 bench/soak.sh   # a quick try
#
# What it does:
#  1. builds kvitt (as a release: CGO off, -trimpath) and bench/loadgen;
#  2. starts `kvitt serve` (sandbox: the simulators of every provider run in
#     process; the demo Swedish till 1 and Danish tills dk-1, dk-2) on a
#     fresh data dir in a temp dir, 127.0.0.1 on a free port, with
#     KVITT_ADMIN_KEY set;
#  3. runs bench/loadgen's open model: RATE complete sales per second on a
#     fixed schedule for D, paid with METHOD (cash, swish, card, mobilepay,
#     or mix: the four in turn; provider payments are approved by the
#     sandbox's simulated customer), after WARMUP flows;
#  4. every SAMPLE seconds (and once before the load and once at its end) it
#     appends to soak.csv: seconds since the load started, UTC time, the
#     node's VmRSS and VmHWM (/proc/<pid>/status), heap in use
#     (go_memstats_heap_inuse_bytes) and goroutines (go_goroutines) from its
#     /metrics, the data dir's size (du -sb), and the 1-minute load average;
#  5. prints loadgen's summary (per method), memory every TABLE_EVERY
#     seconds, the first, last and largest of each column, and the verdict.
#
# Verdict: "memory flat" if the mean VmRSS of the samples in the last WINDOW
# seconds of the load (default 600: the last 10 minutes) is within 10 % of
# the mean VmRSS of the samples from WINDOW to 2 × WINDOW seconds into it
# (10–20 minutes: after start-up and warm-up have settled). Otherwise
# "memory NOT flat" with the change; "too short" if the load ran less than
# 3 × WINDOW (the two windows would overlap or touch).
#
# In sandbox mode the simulators run inside kvitt's process and keep every
# payment they saw in memory (as a provider's test system does), so the
# process's memory grows with the payments whatever the hub does.
# SANDBOX=0 METHOD=cash soaks the hub alone: live mode ("sandbox": false),
# a Swedish merchant whose TILLS tills have no control unit, cash only, no
# simulator in the process.
#
# Environment: RATE (20 flows/s), METHOD (mix), D (60m, a Go duration),
# SAMPLE (60, seconds), WINDOW (600, seconds), TABLE_EVERY (600, seconds),
# WARMUP (5 flows per till), TILLS (1: the sandbox's Swedish till; a number
# N > 1 writes a configuration with tills 1..N), SANDBOX (1; 0: live mode,
# see above), MAX_INFLIGHT (200), OUT (the output dir; default a new
# /tmp/kvitt-soak.XXXXXX), KVITT_BENCH_TMP (/tmp: where the data dir goes;
# it is removed at the end, the output dir is kept), KVITT_SRC (the source
# tree kvitt and loadgen are built from; default this repository: point it
# at a `git archive` of a commit to soak that commit while the working tree
# changes). The output dir holds soak.csv, loadgen.txt, kvitt.log and
# summary.txt.
#
# Exit status: 0 when the run completed (whatever the verdict: read it), 1
# when kvitt or loadgen failed (loadgen's "target NOT MET", exit 3, counts
# as completed and is reported).
# The body is one function, read whole before it runs: editing this file
# during an hour-long run does not change the run.
main() {
set -euo pipefail
KVITT_SCRIPT=soak
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

RATE=${RATE:-20}
METHOD=${METHOD:-mix}
D=${D:-60m}
SAMPLE=${SAMPLE:-60}
WINDOW=${WINDOW:-600}
TABLE_EVERY=${TABLE_EVERY:-600}
WARMUP=${WARMUP:-5}
TILLS=${TILLS:-1}
MAX_INFLIGHT=${MAX_INFLIGHT:-200}
SANDBOX=${SANDBOX:-1}
export KVITT_ADMIN_KEY=bench-soak-admin-key-0123456789

command -v curl >/dev/null 2>&1 || die "curl is needed to read /metrics"
[ "$SANDBOX" = 1 ] || [ "$METHOD" = cash ] || die "SANDBOX=0 runs cash only (METHOD=cash): the other methods need the sandbox's simulators"
[ "$SAMPLE" -ge 1 ] 2>/dev/null || die "SAMPLE must be a whole number of seconds ≥ 1"

out=${OUT:-$(mktemp -d /tmp/kvitt-soak.XXXXXX)}
mkdir -p "$out"
dir=$(mktemp -d "${KVITT_BENCH_TMP:-/tmp}/kvitt-soak-run.XXXXXX")
mkdir -p "$dir/bin" "$dir/data"
kvitt_pid= lg_pid=

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	[ -n "$lg_pid" ] && kill -INT "$lg_pid" 2>/dev/null && wait "$lg_pid" 2>/dev/null
	if [ -n "$kvitt_pid" ]; then
		kill -TERM "$kvitt_pid" 2>/dev/null || true
		wait "$kvitt_pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		port_in_use "$p" || { echo "$p"; return; }
	done
}

log "output in $out"
src=${KVITT_SRC:-$root}
log "building kvitt and loadgen from $src"
(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$dir/bin/kvitt" ./cmd/kvitt && go build -o "$dir/bin/loadgen" ./bench/loadgen)

args=()
tills=1
if [ "$SANDBOX" = 0 ] || [ "$TILLS" -gt 1 ]; then
	{
		if [ "$SANDBOX" = 0 ]; then
			printf '{"sandbox": false,\n "merchant": {"id": "soak", "name": "Soak AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": {"id": "soak-store", "name": "Soak"}},\n '
		else
			printf '{'
		fi
		printf '"tills": ['
		for i in $(seq 1 "$TILLS"); do
			[ "$i" -gt 1 ] && printf ','
			printf '\n  {"id": "%d", "name": "Kassa %d", "register_id": "KVITT-SOAK-%04d"}' "$i" "$i" "$i"
		done
		printf ']}\n'
	} >"$dir/tills.json"
	args=(--config "$dir/tills.json")
	tills=$TILLS
fi

for attempt in 1 2 3 4 5; do
	port=$(free_port)
	url=http://127.0.0.1:$port
	(cd "$dir/data" && exec "$dir/bin/kvitt" serve --data "$dir/data" --addr "127.0.0.1:$port" "${args[@]}") >"$out/kvitt.log" 2>&1 &
	kvitt_pid=$!
	ok=
	for _ in $(seq 1 300); do
		if curl -sf -o /dev/null "$url/healthz"; then ok=1; break; fi
		kill -0 "$kvitt_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ok" ] && break
	kill -TERM "$kvitt_pid" 2>/dev/null || true
	wait "$kvitt_pid" 2>/dev/null || true
	kvitt_pid=
	grep -q "address already in use" "$out/kvitt.log" && { log "port $port taken (attempt $attempt)"; continue; }
	cat "$out/kvitt.log" >&2
	die "kvitt did not start"
done
[ -n "$kvitt_pid" ] || die "kvitt did not start: no free port found"
mode=sandbox
[ "$SANDBOX" = 1 ] || mode="live, cash only"
log "kvitt serve ($mode) pid $kvitt_pid on $url, data in $dir/data"

csv=$out/soak.csv
echo "elapsed_s,utc,rss_mb,hwm_mb,heap_inuse_mb,goroutines,data_mb,load1" >"$csv"
t0=
sample() {
	local now rss hwm m heap gor data load1
	now=$(date +%s)
	read -r rss hwm < <(awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "%.1f %.1f\n", r*1024/1e6, h*1024/1e6}' "/proc/$kvitt_pid/status") ||
		die "kvitt (pid $kvitt_pid) is gone"
	m=$(curl -sf --max-time 10 "$url/metrics") || { log "warning: GET /metrics failed"; m=; }
	heap=$(awk '$1=="go_memstats_heap_inuse_bytes"{printf "%.1f", $2/1e6}' <<<"$m")
	gor=$(awk '$1=="go_goroutines"{printf "%d", $2}' <<<"$m")
	data=$(du -sb "$dir/data" 2>/dev/null | awk '{printf "%.1f", $1/1e6}')
	load1=$(cut -d' ' -f1 /proc/loadavg)
	echo "$((now - ${t0:-$now})),$(date -u +%FT%TZ),$rss,$hwm,$heap,$gor,$data,$load1" >>"$csv"
}

load_start=$(cat /proc/loadavg)
log "load average at the start: $load_start"
sample
t0=$(date +%s)
log "loadgen: -method $METHOD -rate $RATE -d $D (warm-up $WARMUP flows per till), a sample every ${SAMPLE}s into $csv"
"$dir/bin/loadgen" -url "$url" -tills "$tills" -method "$METHOD" -rate "$RATE" -d "$D" -warmup "$WARMUP" \
	-max-inflight "$MAX_INFLIGHT" -windows "${TABLE_EVERY}s" -pid "$kvitt_pid" >"$out/loadgen.txt" 2>&1 &
lg_pid=$!
next=$SAMPLE
while kill -0 "$lg_pid" 2>/dev/null; do
	sleep 1
	kill -0 "$kvitt_pid" 2>/dev/null || die "kvitt (pid $kvitt_pid) died during the load; see $out/kvitt.log"
	if [ $(($(date +%s) - t0)) -ge "$next" ]; then
		sample
		next=$((next + SAMPLE))
	fi
done
lg_status=0
wait "$lg_pid" || lg_status=$?
lg_pid=
sample
load_end=$(cat /proc/loadavg)
log "load average at the end: $load_end"

{
	echo "soak: kvitt serve ($mode), loadgen -method $METHOD -rate $RATE -d $D -warmup $WARMUP -tills $tills -max-inflight $MAX_INFLIGHT"
	echo "machine: nproc $(nproc), $(go version | cut -d' ' -f3-), load average at the start: $load_start; at the end: $load_end"
	echo "loadgen exit status $lg_status"
	echo
	cat "$out/loadgen.txt"
	echo
	echo "Memory every ${TABLE_EVERY}s (from $csv, samples every ${SAMPLE}s):"
	echo
	echo "| minute | VmRSS MB | VmHWM MB | heap in use MB | goroutines | data dir MB | load 1 min |"
	echo "|---|---|---|---|---|---|---|"
	awk -F, -v every="$TABLE_EVERY" 'NR > 1 {
		# the first sample at or after each multiple of every, and the last
		if ($1 >= want) { printf "| %.1f | %s | %s | %s | %s | %s | %s |\n", $1/60, $3, $4, $5, $6, $7, $8; want = (int($1/every) + 1) * every; shown = $1 }
		last = $0; lastT = $1
	} END { if (lastT > shown) { split(last, f, ","); printf "| %.1f (end) | %s | %s | %s | %s | %s | %s |\n", f[1]/60, f[3], f[4], f[5], f[6], f[7], f[8] } }' "$csv"
	echo
	awk -F, 'NR == 2 { for (i = 3; i <= 7; i++) { first[i] = $i; mx[i] = $i } }
		NR > 1 { for (i = 3; i <= 7; i++) { last[i] = $i; if ($i + 0 > mx[i] + 0) mx[i] = $i } }
		END {
			split("- - VmRSS_MB VmHWM_MB heap_inuse_MB goroutines data_MB", name, " ")
			for (i = 3; i <= 7; i++) printf "%s: first %s, last %s, max %s\n", name[i], first[i], last[i], mx[i]
		}' "$csv"
	echo
	awk -F, -v w="$WINDOW" 'NR > 1 && $1 > 0 { t[++n] = $1; r[n] = $3 }
		END {
			end = t[n]
			if (end < 3 * w) { printf "verdict: too short to judge: the load ran %d s, the rule needs ≥ %d s (3 × WINDOW)\n", end, 3 * w; exit }
			for (i = 1; i <= n; i++) {
				if (t[i] >= w && t[i] < 2 * w) { a += r[i]; na++ }
				if (t[i] > end - w) { b += r[i]; nb++ }
			}
			a /= na; b /= nb
			ch = (b - a) / a * 100
			v = (ch <= 10 && ch >= -10) ? "memory flat" : "memory NOT flat"
			printf "verdict: %s: mean VmRSS %.1f MB over the last %d s (%d samples) against %.1f MB from %d to %d s (%d samples): %+.1f %% (rule: within ±10 %%)\n", v, b, w, nb, a, w, 2 * w, na, ch
		}' "$csv"
} | tee "$out/summary.txt"

case $lg_status in
0 | 3) ;;
*) die "loadgen failed (exit $lg_status); see $out/loadgen.txt" ;;
esac
log "output in $out"
}
main "$@"
exit
