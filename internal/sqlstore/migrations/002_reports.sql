-- Z reports: each has its own serial number per till and closes the period
-- that began where the previous one ended.
CREATE TABLE z_reports (
	till_id      TEXT NOT NULL REFERENCES tills(id),
	serial       BIGINT NOT NULL,
	period_start BIGINT NOT NULL,
	period_end   BIGINT NOT NULL,
	data         TEXT NOT NULL,
	created      BIGINT NOT NULL,
	PRIMARY KEY (till_id, serial)
);

-- Training sales (övningsläge).
ALTER TABLE sales ADD COLUMN training INTEGER NOT NULL DEFAULT 0;
