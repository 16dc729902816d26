package sqlstore

import (
	"database/sql"
	"errors"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Webhook state every node shares (MobilePay check-ins and the replay
// guard; see kvitt.Tx). Migration 008_webhook_state.sql.

func (t *tx) PutCheckin(c *kvitt.Checkin) (bool, error) {
	// A repeated delivery of one scan hits the primary key and adds nothing.
	res, err := t.exec(`INSERT INTO checkins (method, beacon_id, customer_token, at, reference) VALUES ($1,$2,$3,$4,'')
		ON CONFLICT DO NOTHING`, c.Method, c.BeaconID, c.CustomerToken, micros(c.At))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const checkinCols = `method, beacon_id, customer_token, at, reference`

func scanCheckin(sc interface{ Scan(...any) error }) (*kvitt.Checkin, error) {
	var c kvitt.Checkin
	var at int64
	if err := sc.Scan(&c.Method, &c.BeaconID, &c.CustomerToken, &at, &c.Reference); err != nil {
		return nil, err
	}
	c.At = fromMicros(at)
	return &c, nil
}

func (t *tx) ClaimCheckin(method, beaconID, reference string, since time.Time) (*kvitt.Checkin, error) {
	if reference == "" {
		return nil, kvitt.Errorf(kvitt.EINVALID, "claim check-in: no reference")
	}
	// One claim of a beacon at a time, on every node: the read below and
	// the claim after it cannot interleave with another claim's.
	if err := t.Lock("checkin:" + method + ":" + beaconID); err != nil {
		return nil, err
	}
	c, err := scanCheckin(t.row(`SELECT `+checkinCols+` FROM checkins WHERE method = $1 AND beacon_id = $2 AND reference = $3
		ORDER BY at DESC LIMIT 1`, method, beaconID, reference))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	c, err = scanCheckin(t.row(`SELECT `+checkinCols+` FROM checkins WHERE method = $1 AND beacon_id = $2 AND reference = '' AND at >= $3
		ORDER BY at DESC, customer_token LIMIT 1`, method, beaconID, micros(since)))
	if err != nil {
		return nil, notFound(err, "no check-in at %s to claim", beaconID)
	}
	if err := t.casUpdate("check-in", `UPDATE checkins SET reference = $5
		WHERE method = $1 AND beacon_id = $2 AND customer_token = $3 AND at = $4 AND reference = ''`,
		c.Method, c.BeaconID, c.CustomerToken, micros(c.At), reference); err != nil {
		return nil, err
	}
	c.Reference = reference
	return c, nil
}

func (t *tx) DeleteCheckinsBefore(before time.Time) (int, error) {
	return t.deleteCount(`DELETE FROM checkins WHERE at < $1`, micros(before))
}

func (t *tx) SeeOnce(key string, now, expires time.Time) (bool, error) {
	// Inserted, or an expired record renewed: one row changed. A live
	// record stays as it is: no row changed, a replay. Racing inserts of
	// one key meet at the primary key; the second finds the first's record.
	res, err := t.exec(`INSERT INTO webhook_seen (key, expires) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE webhook_seen.expires < $3`,
		key, micros(expires), micros(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *tx) DeleteSeenBefore(before time.Time) (int, error) {
	return t.deleteCount(`DELETE FROM webhook_seen WHERE expires < $1`, micros(before))
}

func (t *tx) deleteCount(q string, args ...any) (int, error) {
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
