package sqlstore

import "github.com/kvitt-hub/kvitt"

const zCols = `till_id, serial, period_start, period_end, first_serial, last_serial, data, created`

func (t *tx) CreateZReport(z *kvitt.ZReport) error {
	if z.Created.IsZero() {
		z.Created = t.db.now()
	}
	return t.insert("Z report", `INSERT INTO z_reports (`+zCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		z.TillID, z.Serial, micros(z.PeriodStart), micros(z.PeriodEnd), z.FirstSerial, z.LastSerial, string(z.Data), micros(z.Created))
}

func scanZ(sc interface{ Scan(...any) error }) (*kvitt.ZReport, error) {
	var z kvitt.ZReport
	var start, end, created int64
	var data string
	if err := sc.Scan(&z.TillID, &z.Serial, &start, &end, &z.FirstSerial, &z.LastSerial, &data, &created); err != nil {
		return nil, err
	}
	z.PeriodStart, z.PeriodEnd, z.Created, z.Data = fromMicros(start), fromMicros(end), fromMicros(created), []byte(data)
	return &z, nil
}

func (t *tx) LastZReport(tillID string) (*kvitt.ZReport, error) {
	z, err := scanZ(t.row(`SELECT `+zCols+` FROM z_reports WHERE till_id = $1 ORDER BY serial DESC LIMIT 1`, tillID))
	if err != nil {
		return nil, notFound(err, "till %q has no Z report yet", tillID)
	}
	return z, nil
}

func (t *tx) GetZReport(tillID string, serial int64) (*kvitt.ZReport, error) {
	z, err := scanZ(t.row(`SELECT `+zCols+` FROM z_reports WHERE till_id = $1 AND serial = $2`, tillID, serial))
	if err != nil {
		return nil, notFound(err, "till %q has no Z report %d", tillID, serial)
	}
	return z, nil
}

// LastReceiptSerial reads the till row as committed: the transaction that
// moved next_serial to n took serial n-1 under the row's lock and committed,
// after every transaction that took a smaller serial had ended. On
// PostgreSQL (READ COMMITTED) the statements after this one see all of
// them; on SQLite the single writer has no one in flight.
func (t *tx) LastReceiptSerial(tillID string) (int64, error) {
	var next int64
	if err := t.row(`SELECT next_serial FROM tills WHERE id = $1`, tillID).Scan(&next); err != nil {
		return 0, notFound(err, "till %q not found", tillID)
	}
	return next - 1, nil
}
