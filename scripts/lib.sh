# shellcheck shell=bash
# Helpers shared by kvitt's scripts. Source it; it sets no shell options.

log() { printf '%s: %s\n' "${KVITT_SCRIPT:-kvitt}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# can_install reports whether apt_install can run here.
can_install() {
	command -v apt-get >/dev/null 2>&1 || return 1
	is_root || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# apt_install PKG... installs Debian packages non-interactively. It needs
# root (or password-less sudo); `apt-get update` runs once per process, first.
apt_install() {
	local sudo=()
	if ! is_root; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			die "need to install $* but I am not root and have no password-less sudo; run: sudo apt-get install -y $*"
		fi
	fi
	command -v apt-get >/dev/null 2>&1 || die "need to install $* but apt-get is missing (not Debian/Ubuntu?)"
	if [ -z "${_KVITT_APT_UPDATED:-}" ]; then
		log "apt-get update"
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
		_KVITT_APT_UPDATED=1
	fi
	log "apt-get install -y $*"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}

# The PostgreSQL major version the tests run against.
KVITT_PG_VERSION=${KVITT_PG_VERSION:-15}

# pg_bindir prints the directory holding initdb, pg_ctl and postgres, or
# nothing. PG_BINDIR overrides.
pg_bindir() {
	local d
	for d in ${PG_BINDIR:+"$PG_BINDIR"} "/usr/lib/postgresql/$KVITT_PG_VERSION/bin"; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			echo "$d"
			return
		fi
	done
}

# ensure_postgres makes sure the PostgreSQL server binaries exist, installing
# postgresql-$KVITT_PG_VERSION with apt-get if they do not.
ensure_postgres() {
	[ -n "$(pg_bindir)" ] && return
	log "PostgreSQL $KVITT_PG_VERSION server binaries not found; installing postgresql-$KVITT_PG_VERSION"
	# Don't let the package create and start a cluster on port 5432: the tests
	# start their own server.
	if is_root && [ ! -e /etc/postgresql-common/createcluster.d/kvitt.conf ]; then
		mkdir -p /etc/postgresql-common/createcluster.d
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/kvitt.conf
	fi
	apt_install "postgresql-$KVITT_PG_VERSION"
	[ -n "$(pg_bindir)" ] || die "postgresql-$KVITT_PG_VERSION installed, but no initdb/pg_ctl/postgres in /usr/lib/postgresql/$KVITT_PG_VERSION/bin"
}

# ensure_chromium makes sure a chromium for browser tests is on PATH,
# installing Debian's chromium and chromium-driver if it is not.
ensure_chromium() {
	command -v chromium >/dev/null 2>&1 && return
	if [ -z "${CI:-}" ] && ! can_install; then
		log "warning: chromium is not installed and I cannot install it (not root); browser tests will not run."
		log "warning: install it with: sudo apt-get install -y chromium chromium-driver"
		return
	fi
	log "chromium not found; installing chromium and chromium-driver for browser tests"
	apt_install chromium chromium-driver
	command -v chromium >/dev/null 2>&1 || die "chromium installed, but not on PATH"
}
