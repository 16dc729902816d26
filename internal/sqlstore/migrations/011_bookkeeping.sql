-- Bookkeeping (docs/bookkeeping.md): each Z report goes into the
-- merchant's books once. An export's file is kept, so a file that never
-- reached its reader can be fetched again instead of being made twice.
CREATE TABLE bookkeeping_exports (
	id      TEXT PRIMARY KEY,
	created BIGINT NOT NULL,
	data    {{BLOB}} NOT NULL
);
-- The Z reports that went out, each in one export only.
CREATE TABLE bookkeeping_exported (
	till_id   TEXT NOT NULL,
	z_serial  BIGINT NOT NULL,
	export_id TEXT NOT NULL,
	exported  BIGINT NOT NULL,
	PRIMARY KEY (till_id, z_serial)
);
-- A store's accounts (the hub's JSON: only what differs from the defaults).
CREATE TABLE bookkeeping_accounts (
	store_id TEXT PRIMARY KEY,
	data     TEXT NOT NULL,
	updated  BIGINT NOT NULL
);
-- An export selects Z reports by the time they were taken.
CREATE INDEX z_reports_period_end ON z_reports (period_end);
