-- A Z report closes receipts by serial: every receipt of the till with a
-- serial in [first_serial, last_serial], each in exactly one Z report.
ALTER TABLE z_reports ADD COLUMN first_serial BIGINT NOT NULL DEFAULT 0;
ALTER TABLE z_reports ADD COLUMN last_serial BIGINT NOT NULL DEFAULT 0;
-- Z reports made before this migration chose receipts by time (issued in
-- [period_start, period_end)); their bounds are derived once from that: a
-- Z's last serial is the highest serial issued before its end, or before
-- the latest end of it and the till's earlier Z reports, so that the bounds
-- never go backwards even where racing Z reports stored a period that did.
UPDATE z_reports SET last_serial = COALESCE((SELECT MAX(r.serial) FROM receipts r
	WHERE r.till_id = z_reports.till_id AND r.issued < (SELECT MAX(z2.period_end) FROM z_reports z2
		WHERE z2.till_id = z_reports.till_id AND z2.serial <= z_reports.serial)), 0);
-- A Z's first serial follows the previous Z's last; a Z that closed no
-- receipt has last_serial = first_serial - 1.
UPDATE z_reports SET first_serial = 1 + COALESCE((SELECT z2.last_serial FROM z_reports z2
	WHERE z2.till_id = z_reports.till_id AND z2.serial < z_reports.serial ORDER BY z2.serial DESC LIMIT 1), 0);
