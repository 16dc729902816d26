#!/usr/bin/env bash
# Sale flows per second with one, two and three kvitt nodes sharing one
# PostgreSQL 15 database, beside one node on SQLite, on this machine in one
# run (issue 14). A benchmark, not a test: it prints figures and asserts
# nothing about time.
#
#   bench/nodes.sh                    # about 5 minutes
#   TILLS=8 D=15s bench/nodes.sh      # the defaults
#
# What it does:
#  1. builds kvitt (as a release: CGO off, -trimpath) and bench/loadgen;
#  2. starts a throw-away PostgreSQL 15 (initdb in a temp dir, 127.0.0.1 on
#     a free port) with durable commits: fsync, synchronous_commit and
#     full_page_writes on (unlike scripts/pg-test-server.sh, which turns
#     them off for speed);
#  3. measures PostgreSQL's own durable commit rate with pgbench: a custom
#     script of one INSERT per transaction, TILLS clients (as many as the
#     load has tills), PGBENCH_T seconds. It measures it again after each
#     setup, so every setup has one measurement before and one after it;
#  4. for n in 1 2 3: a fresh database, n `kvitt serve --database …` nodes
#     (sandbox mode, one data dir and port each, one configuration with
#     TILLS tills), then bench/loadgen closed-loop over all nodes for D (till
#     i on node i mod n) after a warm-up, then the open model at OPEN_RATES
#     × the closed-loop flows/s for OPEN_D each;
#  5. the same with one node on SQLite (--data only), with loadgen measuring
#     SQLite's raw commit rate in alternating rounds (-rawdir);
#  6. prints the tables.
#
# Commits per flow on PostgreSQL are counted, not assumed: the transaction
# ids a setup consumed (txid_current() before and after; only a transaction
# that writes takes one) over the sales it completed. WAL fsyncs come from
# pg_stat_wal (several commits share one fsync when they arrive together:
# group commit). On SQLite every commit is one fsync; a flow is 3 commits
# (counted by BenchmarkCashSaleFlow, cu=none).
#
# The nodes run in live mode ("sandbox": false) with a Swedish merchant and
# tills without a control unit: cash needs no provider, so a flow is the hub,
# the API and the database alone, and no simulator runs beside the nodes.
# (The sandbox gives every Swedish till a simulated control unit, one per
# node, which adds a commit per flow, the receipt jobs and the simulator's own
# fsync; CU=1 runs the sandbox so.)
#
# Environment: TILLS (8), D (15s), WARMUP (50 flows per till), PGBENCH_T
# (10, seconds), OPEN_RATES ("0.5 0.9"; empty: no open-model runs), OPEN_D
# (10s), NODES ("1 2 3"), CU (0), KVITT_BENCH_TMP (/tmp: PostgreSQL's data
# and the nodes' data dirs go there, on one file system). As root,
# PostgreSQL runs as the user postgres (made if missing), as in
# scripts/pg-test-server.sh.
set -euo pipefail
KVITT_SCRIPT=nodes
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

TILLS=${TILLS:-8}
D=${D:-15s}
WARMUP=${WARMUP:-50}
PGBENCH_T=${PGBENCH_T:-10}
OPEN_RATES=${OPEN_RATES-0.5 0.9}
OPEN_D=${OPEN_D:-10s}
NODES=${NODES:-1 2 3}
CU=${CU:-0}
export KVITT_ADMIN_KEY=bench-nodes-admin-key-0123456789

ensure_postgres
bindir=$(pg_bindir)
[ -x "$bindir/pgbench" ] || die "no pgbench in $bindir"
psql=$bindir/psql
[ -x "$psql" ] || psql=$(command -v psql) || die "no psql"
command -v curl >/dev/null 2>&1 || die "curl is needed to wait for the nodes"

pguser=$(id -un)
as_pg() { "$@"; }
if is_root; then
	pguser=${KVITT_PG_OS_USER:-postgres}
	if ! id -u "$pguser" >/dev/null 2>&1; then
		log "creating system user $pguser to run PostgreSQL (it refuses to run as root)"
		useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pguser" ||
			die "could not create user $pguser"
	fi
	if command -v runuser >/dev/null 2>&1; then
		as_pg() { runuser -u "$pguser" -- "$@"; }
	else
		as_pg() { su -s /bin/sh "$pguser" -c "$(printf '%q ' "$@")"; }
	fi
fi

dir=$(mktemp -d "${KVITT_BENCH_TMP:-/tmp}/kvitt-nodes.XXXXXX")
chmod 711 "$dir"
mkdir -p "$dir/pg" "$dir/bin" "$dir/out"
chmod 700 "$dir/pg"
if is_root; then chown "$pguser:" "$dir/pg"; fi
pg_started=
node_pids=()

stop_nodes() {
	local p
	for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	node_pids=()
}
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	stop_nodes
	if [ -n "$pg_started" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/pg/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
			as_pg "$bindir/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 ||
			log "warning: could not stop the server in $dir/pg"
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

log "building kvitt and loadgen"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$dir/bin/kvitt" ./cmd/kvitt && go build -o "$dir/bin/loadgen" ./bench/loadgen)

# PostgreSQL with durable commits.
as_pg "$bindir/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-instructions >"$dir/pg/initdb.log" 2>&1 ||
	{ cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
mkdir "$dir/pg/sock"
if is_root; then chown "$pguser:" "$dir/pg/sock"; fi
for attempt in 1 2 3 4 5 6 7 8; do
	pgport=$(free_port)
	opts="-h 127.0.0.1 -p $pgport -k $dir/pg/sock -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200"
	: >"$dir/pg/server.log"
	if is_root; then chown "$pguser:" "$dir/pg/server.log"; fi
	if as_pg "$bindir/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -o "$opts" -w -t 60 start >/dev/null 2>&1; then
		pg_started=1
		break
	fi
	as_pg "$bindir/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	grep -q "could not bind\|Address already in use" "$dir/pg/server.log" && { log "port $pgport taken (attempt $attempt)"; continue; }
	cat "$dir/pg/server.log" >&2
	die "postgres did not start"
done
[ -n "$pg_started" ] || die "postgres did not start: no free port found"
"$bindir/pg_isready" -q -h 127.0.0.1 -p "$pgport" -t 30 || die "postgres does not answer on 127.0.0.1:$pgport"
pgurl() { echo "postgres://postgres@127.0.0.1:$pgport/$1?sslmode=disable"; }
q() { "$psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U postgres -d "$1" -c "$2"; }
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$pgport: fsync=$(q postgres 'SHOW fsync') synchronous_commit=$(q postgres 'SHOW synchronous_commit') full_page_writes=$(q postgres 'SHOW full_page_writes') wal_sync_method=$(q postgres 'SHOW wal_sync_method')"

# pgbench: one INSERT per transaction, as bench/raw.go does on SQLite.
q postgres 'CREATE DATABASE rawcommits' >/dev/null
q rawcommits 'CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, ref TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)' >/dev/null
cat >"$dir/insert.sql" <<'EOF'
\set id random(1, 1000000000)
INSERT INTO bench_raw (ref, at) VALUES ('pay_' || :id, now());
EOF
walsync() { q postgres 'SELECT wal_sync FROM pg_stat_wal'; }
pgbench_runs=()     # tps of every measurement, in order
pgbench_fsyncs=()   # WAL fsyncs per commit of each
pgbench_once() { # seconds → prints tps
	local s0 s1 out tps n
	s0=$(walsync)
	out=$("$bindir/pgbench" -n -h 127.0.0.1 -p "$pgport" -U postgres -c "$TILLS" -j 2 -T "$1" -M prepared -f "$dir/insert.sql" rawcommits 2>&1) ||
		{ echo "$out" >&2; die "pgbench failed"; }
	s1=$(walsync)
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -1)
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	echo "$tps $(awk -v a="$s0" -v b="$s1" -v n="$n" 'BEGIN{printf "%.3f", (b-a)/n}') $(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")"
}
pgbench_measure() {
	local r
	r=$(pgbench_once "$PGBENCH_T")
	set -- $r
	pgbench_runs+=("$1")
	pgbench_fsyncs+=("$2")
	log "pgbench ($TILLS clients, ${PGBENCH_T}s): $1 commits/s, $2 WAL fsyncs per commit, latency average $3 ms"
}
log "pgbench warm-up (3 s)"
pgbench_once 3 >/dev/null
pgbench_measure

# The configuration of every node.
sandbox=false
[ "$CU" = 1 ] && sandbox=true
{
	printf '{"sandbox": %s,\n "merchant": {"id": "bench", "name": "Bench AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": {"id": "bench-store", "name": "Bench"}},\n "tills": [' "$sandbox"
	for i in $(seq 1 "$TILLS"); do
		[ "$i" -gt 1 ] && printf ','
		printf '\n  {"id": "%d", "name": "Kassa %d", "register_id": "KVITT-BENCH-%04d"}' "$i" "$i" "$i"
	done
	printf ']}\n'
} >"$dir/tills.json"

# start_nodes NAME N [--database URL]: starts N nodes, one after the other
# (the first migrates and bootstraps), and sets urls and pids.
urls= pids=
start_nodes() {
	local name=$1 n=$2 i port data
	shift 2
	urls= pids=
	for i in $(seq 1 "$n"); do
		port=$(free_port)
		data="$dir/$name-node$i"
		mkdir -p "$data"
		"$dir/bin/kvitt" serve --config "$dir/tills.json" --data "$data" --addr "127.0.0.1:$port" "$@" >"$data/log" 2>&1 &
		node_pids+=($!)
		local ok= t
		for t in $(seq 1 300); do
			if curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; then ok=1; break; fi
			kill -0 "${node_pids[-1]}" 2>/dev/null || break
			sleep 0.1
		done
		[ -n "$ok" ] || { cat "$data/log" >&2; die "$name node $i did not start"; }
		urls+=${urls:+,}http://127.0.0.1:$port
		pids+=${pids:+,}${node_pids[-1]}
	done
}

field() { grep -o "$1=[0-9.]*" | head -1 | cut -d= -f2; } # field NAME <line

rows=()      # setup|flows/s|p50|p99|errors|commits/flow|fsyncs/flow|pg before|pg after|sqlite raw|rss
open_rows=() # setup|target|achieved|dropped|errors|p50|p99|p99.9|send p99|rss after

# open_runs SETUP FLOWS/S: the open model at OPEN_RATES × the closed-loop rate.
open_runs() {
	local setup=$1 closed=$2 f rate out line rss st
	for f in $OPEN_RATES; do
		rate=$(awk -v c="$closed" -v f="$f" 'BEGIN{printf "%.0f", c*f}')
		[ "$rate" -gt 0 ] || continue
		log "$setup: open model at $rate flows/s ($f × closed) for $OPEN_D"
		st=0
		out=$("$dir/bin/loadgen" -url "$urls" -tills "$TILLS" -rate "$rate" -d "$OPEN_D" -warmup 0 -max-inflight 200 -pid "$pids" 2>&1) || st=$?
		echo "$out" >"$dir/out/$setup-open-$f.txt"
		echo "$out" | sed "s/^/  $setup open: /" >&2
		[ "$st" = 0 ] || [ "$st" = 3 ] || die "$setup: loadgen -rate failed (exit $st)"
		line=$(grep '^nodes=' <<<"$out")
		rss=$(grep '^memory after' <<<"$out" | sed -n 's/.*VmRSS \([0-9.]*\) MB.*/\1/p' | paste -sd+ -)
		open_rows+=("$setup|$rate ($f×)|$(field 'flows/s' <<<"$line")|$(field dropped <<<"$line")|$(field errors <<<"$line")|$(sed -n 's/.*from schedule p50=\([0-9.]*\)ms.*/\1/p' <<<"$line")|$(sed -n 's/.*from schedule p50=[0-9.]*ms p99=\([0-9.]*\)ms.*/\1/p' <<<"$line")|$(sed -n 's/.*p99.9=\([0-9.]*\)ms.*/\1/p' <<<"$line")|$(sed -n 's/.*from send p50=[0-9.]*ms p99=\([0-9.]*\)ms.*/\1/p' <<<"$line")|$rss")
	done
}

for n in $NODES; do
	setup="pg-$n"
	db="kvitt$n"
	q postgres "CREATE DATABASE $db" >/dev/null
	log "$setup: $n node(s) on database $db"
	start_nodes "$setup" "$n" --database "$(pgurl "$db")"
	x0=$(q "$db" 'SELECT txid_current()')
	s0=$(walsync)
	out=$("$dir/bin/loadgen" -url "$urls" -tills "$TILLS" -d "$D" -warmup "$WARMUP" -pid "$pids" 2>&1) ||
		{ echo "$out" >&2; die "$setup: loadgen failed"; }
	s1=$(walsync)
	x1=$(q "$db" 'SELECT txid_current()')
	sales=$(q "$db" "SELECT count(*) FROM sales WHERE state = 'completed'")
	echo "$out" >"$dir/out/$setup.txt"
	echo "$out" | sed "s/^/  $setup: /" >&2
	line=$(grep '^nodes=' <<<"$out")
	cpf=$(awk -v a="$x0" -v b="$x1" -v s="$sales" 'BEGIN{printf "%.3f", (b-a-1)/s}')
	fpf=$(awk -v a="$s0" -v b="$s1" -v s="$sales" 'BEGIN{printf "%.3f", (b-a)/s}')
	rss=$(grep '^memory after' <<<"$out" | sed -n 's/.*VmRSS \([0-9.]*\) MB.*/\1/p' | paste -sd+ -)
	closed=$(field 'flows/s' <<<"$line")
	open_runs "$setup" "$closed"
	stop_nodes
	before=${pgbench_runs[-1]}
	pgbench_measure
	rows+=("$setup|$closed|$(field 'flow p50' <<<"$line")|$(sed -n 's/.*flow p50=[0-9.]*ms p99=\([0-9.]*\)ms.*/\1/p' <<<"$line")|$(field errors <<<"$line")|$cpf|$fpf|$before|${pgbench_runs[-1]}||$rss")
done

# SQLite, one node, with raw SQLite commits in alternating rounds. Commits
# per flow: BenchmarkCashSaleFlow counts them in process (cu=none 3, cu=sim
# about 4.03 in its short windows).
sqlite_cpf=3
[ "$CU" = 1 ] && sqlite_cpf=4.03
setup=sqlite-1
log "$setup: one node on SQLite"
start_nodes "$setup" 1
out=$("$dir/bin/loadgen" -url "$urls" -tills "$TILLS" -d "$D" -warmup "$WARMUP" -pid "$pids" -rawdir "$dir" -commits-per-flow "$sqlite_cpf" 2>&1) ||
	{ echo "$out" >&2; die "$setup: loadgen failed"; }
echo "$out" >"$dir/out/$setup.txt"
echo "$out" | sed "s/^/  $setup: /" >&2
line=$(grep '^nodes=' <<<"$out")
rawps=$(grep '^raw commits=' <<<"$out" | field 'commits/s')
rss=$(grep '^memory after' <<<"$out" | sed -n 's/.*VmRSS \([0-9.]*\) MB.*/\1/p')
closed=$(field 'flows/s' <<<"$line")
open_runs "$setup" "$closed"
stop_nodes
before=${pgbench_runs[-1]}
pgbench_measure
rows+=("$setup|$closed|$(field 'flow p50' <<<"$line")|$(sed -n 's/.*flow p50=[0-9.]*ms p99=\([0-9.]*\)ms.*/\1/p' <<<"$line")|$(field errors <<<"$line")|$sqlite_cpf (in-process count)|= commits|$before|${pgbench_runs[-1]}|$rawps|$rss")

echo
echo "Closed loop: $TILLS tills, $D after $WARMUP warm-up flows per till; pgbench $TILLS clients, ${PGBENCH_T}s, before and after each setup."
echo "ratio = flows/s ÷ (PG commits/s ÷ commits per flow), PG commits/s = mean of the pgbench runs before and after the setup."
echo
echo "| setup | flows/s | p50 ms | p99 ms | errors | commits/flow | WAL fsyncs/flow | PG commits/s (before, after) | **ratio to PG** | SQLite raw commits/s | ratio to SQLite raw | nodes' VmRSS after, MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
	IFS='|' read -r s fps p50 p99 errs cpf fpf b a raw rss <<<"$r"
	awk -v s="$s" -v fps="$fps" -v p50="$p50" -v p99="$p99" -v errs="$errs" -v cpf="$cpf" -v fpf="$fpf" -v b="$b" -v a="$a" -v raw="$raw" -v rss="$rss" 'BEGIN{
		c = cpf + 0; if (c <= 0) c = 3
		pg = (b + a) / 2
		ratio = fps / (pg / c)
		rr = "—"; if (raw != "") rr = sprintf("%.3f", fps / (raw / c))
		if (raw == "") raw = "—"
		printf "| %s | %.1f | %s | %s | %s | %s | %s | %.0f (%.0f, %.0f) | **%.3f** | %s | %s | %s |\n", s, fps, p50, p99, errs, cpf, fpf, pg, b, a, ratio, raw, rr, rss
	}'
done
echo
echo "pgbench WAL fsyncs per commit (group commit), in order: ${pgbench_fsyncs[*]}"
if [ ${#open_rows[@]} -gt 0 ]; then
	echo
	echo "Open model: arrivals on a fixed schedule at a fraction of the setup's closed-loop flows/s, $OPEN_D each, round-robin over the $TILLS tills, at most 200 in flight; latency from each flow's scheduled start."
	echo
	echo "| setup | target flows/s | achieved flows/s | dropped | errors | p50 ms | p99 ms | p99.9 ms | p99 from send ms | nodes' VmRSS after, MB |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for r in "${open_rows[@]}"; do
		IFS='|' read -r s t a dr e p50 p99 p999 sp99 rss <<<"$r"
		echo "| $s | $t | $a | $dr | $e | $p50 | $p99 | $p999 | $sp99 | $rss |"
	done
fi
