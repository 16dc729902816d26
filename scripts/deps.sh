#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, when missing:
#   scripts/deps.sh postgres chromium
# Each argument names one dependency: postgres (the PostgreSQL server, for
# postgres/ tests) or chromium (headless browser tests).
set -euo pipefail
KVITT_SCRIPT=deps
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -gt 0 ] || die "usage: $0 postgres|chromium..."
for dep in "$@"; do
	case $dep in
	postgres) ensure_postgres ;;
	chromium) ensure_chromium ;;
	*) die "unknown dependency $dep (want postgres or chromium)" ;;
	esac
done
