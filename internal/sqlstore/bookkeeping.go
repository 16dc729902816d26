package sqlstore

import (
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Bookkeeping (migration 011): which Z reports went into the books, the
// exports' files, and each store's accounts.

func (t *tx) ListZReportsEnded(from, to time.Time) ([]*kvitt.ZReport, error) {
	return scanAll(t, scanZ, `SELECT `+zCols+` FROM z_reports WHERE period_end >= $1 AND period_end < $2 ORDER BY till_id, serial`,
		micros(from), micros(to))
}

// MarkZReportExported inserts the mark; the primary key (till, serial)
// makes the second of two racing marks a unique violation: ECONFLICT.
func (t *tx) MarkZReportExported(tillID string, serial int64, exportID string, at time.Time) error {
	err := t.insert("bookkeeping mark", `INSERT INTO bookkeeping_exported (till_id, z_serial, export_id, exported) VALUES ($1,$2,$3,$4)`,
		tillID, serial, exportID, micros(at))
	if kvitt.ErrorCode(err) == kvitt.ECONFLICT {
		return kvitt.Errorf(kvitt.ECONFLICT, "Z report %d of till %s is exported already", serial, tillID)
	}
	return err
}

func (t *tx) ZReportExport(tillID string, serial int64) (string, time.Time, error) {
	var id string
	var at int64
	err := t.row(`SELECT export_id, exported FROM bookkeeping_exported WHERE till_id = $1 AND z_serial = $2`, tillID, serial).Scan(&id, &at)
	if err != nil {
		return "", time.Time{}, notFound(err, "Z report %d of till %s was never exported", serial, tillID)
	}
	return id, fromMicros(at), nil
}

func (t *tx) PutBookkeepingExport(id string, created time.Time, data []byte) error {
	return t.insert("bookkeeping export "+id, `INSERT INTO bookkeeping_exports (id, created, data) VALUES ($1,$2,$3)`, id, micros(created), data)
}

func (t *tx) GetBookkeepingExport(id string) ([]byte, error) {
	var data []byte
	if err := t.row(`SELECT data FROM bookkeeping_exports WHERE id = $1`, id).Scan(&data); err != nil {
		return nil, notFound(err, "no bookkeeping export %q", id)
	}
	return data, nil
}

func (t *tx) BookkeepingAccounts(storeID string) ([]byte, error) {
	var data string
	if err := t.row(`SELECT data FROM bookkeeping_accounts WHERE store_id = $1`, storeID).Scan(&data); err != nil {
		return nil, notFound(err, "store %q has no bookkeeping accounts set", storeID)
	}
	return []byte(data), nil
}

func (t *tx) PutBookkeepingAccounts(storeID string, data []byte) error {
	_, err := t.exec(`INSERT INTO bookkeeping_accounts (store_id, data, updated) VALUES ($1,$2,$3)
		ON CONFLICT (store_id) DO UPDATE SET data = excluded.data, updated = excluded.updated`, storeID, string(data), micros(t.db.now()))
	return err
}
