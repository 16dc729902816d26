#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for tests and stops it afterwards.
#
#   scripts/pg-test-server.sh go test -race ./...   # run a command against it
#   scripts/pg-test-server.sh                       # print the DSN, serve until Ctrl-C
#
# The server is PostgreSQL $KVITT_PG_VERSION (15) from /usr/lib/postgresql/15/bin
# (PG_BINDIR overrides); if it is missing, postgresql-15 is installed with
# apt-get (as root). A new cluster is made with initdb in a temporary
# directory and started on 127.0.0.1 on a free port, with its unix socket in
# that directory. It has fsync off: it is for tests, not for data. The
# command runs with KVITT_TEST_POSTGRES set to the DSN of the server's
# superuser; the server and its directory are removed when the command ends
# (or the script is interrupted), and the command's exit status is returned.
# initdb and postgres refuse to run as root: as root they run as the user
# "postgres" (made if missing).
set -euo pipefail
KVITT_SCRIPT=pg-test-server
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

ensure_postgres
bindir=$(pg_bindir)

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

dir=$(mktemp -d "${KVITT_PG_TMP:-/tmp}/kvitt-pg.XXXXXX")
started=
waiter=
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if [ -n "$waiter" ]; then kill "$waiter" 2>/dev/null || true; fi
	if [ -n "$started" ]; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
			as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
			log "warning: could not stop the server in $dir"
	fi
	rm -rf "$dir"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 700 "$dir"
mkdir "$dir/sock"
if is_root; then chown -R "$pguser:" "$dir"; fi
as_pg test -w "$dir" || die "user $pguser cannot write to $dir (set KVITT_PG_TMP to a directory it can reach)"

if ! as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
	cat "$dir/initdb.log" >&2
	die "initdb failed"
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for attempt in 1 2 3 4 5 6 7 8; do
	port=$((20000 + RANDOM % 40000))
	port_in_use "$port" && continue
	opts="-h 127.0.0.1 -p $port -k $dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB"
	: >"$dir/server.log"
	if is_root; then chown "$pguser:" "$dir/server.log"; fi
	if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null 2>&1; then
		started=1
		break
	fi
	# pg_ctl gave up; make sure nothing half-started stays behind.
	as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	if grep -q "could not bind\|Address already in use" "$dir/server.log"; then
		log "port $port taken, trying another (attempt $attempt)"
		continue
	fi
	cat "$dir/server.log" >&2
	die "postgres did not start"
done
[ -n "$started" ] || { cat "$dir/server.log" >&2; die "postgres did not start: no free port found"; }
"$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || { cat "$dir/server.log" >&2; die "postgres started but does not answer on 127.0.0.1:$port"; }

export KVITT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') ready: KVITT_TEST_POSTGRES=$KVITT_TEST_POSTGRES (data in $dir)"

if [ $# -eq 0 ]; then
	echo "export KVITT_TEST_POSTGRES='$KVITT_TEST_POSTGRES'"
	log "serving until interrupted (Ctrl-C)"
	sleep infinity &
	waiter=$!
	wait "$waiter" || true
	exit 0
fi

set +e
"$@"
status=$?
set -e
exit "$status"
