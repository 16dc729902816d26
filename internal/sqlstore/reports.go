package sqlstore

import "github.com/kvitt-hub/kvitt"

func (t *tx) CreateZReport(z *kvitt.ZReport) error {
	if z.Created.IsZero() {
		z.Created = t.db.now()
	}
	return t.insert("Z report", `INSERT INTO z_reports (till_id, serial, period_start, period_end, data, created) VALUES ($1,$2,$3,$4,$5,$6)`,
		z.TillID, z.Serial, micros(z.PeriodStart), micros(z.PeriodEnd), string(z.Data), micros(z.Created))
}

func scanZ(sc interface{ Scan(...any) error }) (*kvitt.ZReport, error) {
	var z kvitt.ZReport
	var start, end, created int64
	var data string
	if err := sc.Scan(&z.TillID, &z.Serial, &start, &end, &data, &created); err != nil {
		return nil, err
	}
	z.PeriodStart, z.PeriodEnd, z.Created, z.Data = fromMicros(start), fromMicros(end), fromMicros(created), []byte(data)
	return &z, nil
}

func (t *tx) LastZReport(tillID string) (*kvitt.ZReport, error) {
	z, err := scanZ(t.row(`SELECT till_id, serial, period_start, period_end, data, created FROM z_reports WHERE till_id = $1 ORDER BY serial DESC LIMIT 1`, tillID))
	if err != nil {
		return nil, notFound(err, "till %q has no Z report yet", tillID)
	}
	return z, nil
}

func (t *tx) GetZReport(tillID string, serial int64) (*kvitt.ZReport, error) {
	z, err := scanZ(t.row(`SELECT till_id, serial, period_start, period_end, data, created FROM z_reports WHERE till_id = $1 AND serial = $2`, tillID, serial))
	if err != nil {
		return nil, notFound(err, "till %q has no Z report %d", tillID, serial)
	}
	return z, nil
}
