package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Receipts.

func (t *tx) NextReceiptSerial(tillID string) (int64, error) {
	var next int64
	err := t.row(`UPDATE tills SET next_serial = next_serial + 1 WHERE id = $1 RETURNING next_serial`, tillID).Scan(&next)
	if err != nil {
		return 0, notFound(err, "till %q not found", tillID)
	}
	return next - 1, nil
}

const receiptCols = `id, merchant_id, till_id, sale_id, serial, type, kind, copy_of, registration, control_unit_id, control_code, issued, data, created, version`

func (t *tx) CreateReceipt(r *kvitt.Receipt) error {
	if r.Created.IsZero() {
		r.Created = t.db.now()
	}
	r.Version = 1
	return t.insert("receipt", `INSERT INTO receipts (`+receiptCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		r.ID, r.MerchantID, r.TillID, r.SaleID, r.Serial, string(r.Type), string(r.Kind), r.CopyOf, string(r.Registration),
		r.ControlUnitID, r.ControlCode, micros(r.Issued), toJSON(r), micros(r.Created), r.Version)
}

func scanReceipt(sc interface{ Scan(...any) error }) (*kvitt.Receipt, error) {
	var r kvitt.Receipt
	var id, merchant, till, sale, typ, kind, copyOf, reg, cu, code, data string
	var serial, issued, created, version int64
	if err := sc.Scan(&id, &merchant, &till, &sale, &serial, &typ, &kind, &copyOf, &reg, &cu, &code, &issued, &data, &created, &version); err != nil {
		return nil, err
	}
	if err := fromJSON(data, &r); err != nil {
		return nil, err
	}
	// The columns are the truth for what can change after issue.
	r.Registration, r.ControlUnitID, r.ControlCode, r.Version = kvitt.RegistrationState(reg), cu, code, version
	return &r, nil
}

func (t *tx) GetReceipt(id string) (*kvitt.Receipt, error) {
	r, err := scanReceipt(t.row(`SELECT `+receiptCols+` FROM receipts WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "receipt %q not found", id)
	}
	return r, nil
}

// UpdateReceipt records the control unit's answer. Everything else on a
// receipt is frozen at issue: only registration, unit id and code change.
func (t *tx) UpdateReceipt(r *kvitt.Receipt) error {
	err := t.casUpdate("receipt "+r.ID, `UPDATE receipts SET registration=$3, control_unit_id=$4, control_code=$5, data=$6, version=version+1 WHERE id=$1 AND version=$2`,
		r.ID, r.Version, string(r.Registration), r.ControlUnitID, r.ControlCode, toJSON(r))
	if err == nil {
		r.Version++
	}
	return err
}

func (t *tx) ListReceipts(f kvitt.ReceiptFilter) ([]*kvitt.Receipt, error) {
	q := `SELECT ` + receiptCols + ` FROM receipts WHERE 1=1`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		q += " AND " + cond + "$" + itoa(len(args))
	}
	if f.TillID != "" {
		add("till_id = ", f.TillID)
	}
	if f.SaleID != "" {
		add("sale_id = ", f.SaleID)
	}
	if f.Registration != "" {
		add("registration = ", string(f.Registration))
	}
	if !f.From.IsZero() {
		add("issued >= ", micros(f.From))
	}
	if !f.To.IsZero() {
		add("issued < ", micros(f.To))
	}
	if f.FromSerial != 0 {
		add("serial >= ", f.FromSerial)
	}
	if f.ToSerial != 0 {
		add("serial <= ", f.ToSerial)
	}
	q += " ORDER BY till_id, serial"
	return scanAll(t, scanReceipt, q, args...)
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

// API keys.

func (t *tx) CreateAPIKey(k *kvitt.APIKey) error {
	if k.Created.IsZero() {
		k.Created = t.db.now()
	}
	var revoked int64
	if k.Revoked != nil {
		revoked = micros(*k.Revoked)
	}
	return t.insert("api key", `INSERT INTO api_keys (id, hash, scope, till_id, name, created, revoked) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		k.ID, k.Hash, string(k.Scope), k.TillID, k.Name, micros(k.Created), revoked)
}

func scanAPIKey(sc interface{ Scan(...any) error }) (*kvitt.APIKey, error) {
	var k kvitt.APIKey
	var scope string
	var created, revoked int64
	if err := sc.Scan(&k.ID, &k.Hash, &scope, &k.TillID, &k.Name, &created, &revoked); err != nil {
		return nil, err
	}
	k.Scope, k.Created = kvitt.Scope(scope), fromMicros(created)
	if revoked != 0 {
		r := fromMicros(revoked)
		k.Revoked = &r
	}
	return &k, nil
}

func (t *tx) GetAPIKey(id string) (*kvitt.APIKey, error) {
	k, err := scanAPIKey(t.row(`SELECT id, hash, scope, till_id, name, created, revoked FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "api key not found")
	}
	return k, nil
}

func (t *tx) ListAPIKeys() ([]*kvitt.APIKey, error) {
	return scanAll(t, scanAPIKey, `SELECT id, hash, scope, till_id, name, created, revoked FROM api_keys ORDER BY created, id`)
}

func (t *tx) UpdateAPIKey(k *kvitt.APIKey) error {
	var revoked int64
	if k.Revoked != nil {
		revoked = micros(*k.Revoked)
	}
	return t.casUpdate("api key", `UPDATE api_keys SET name=$2, revoked=$3 WHERE id=$1`, k.ID, k.Name, revoked)
}

// Idempotency records.

func (t *tx) GetIdempotency(key string) (*kvitt.IdempotencyRecord, error) {
	var r kvitt.IdempotencyRecord
	var created int64
	err := t.row(`SELECT key, request_hash, status, body, created FROM idempotency WHERE key = $1`, key).
		Scan(&r.Key, &r.RequestHash, &r.Status, &r.Body, &created)
	if err != nil {
		return nil, notFound(err, "idempotency key not found")
	}
	r.Created = fromMicros(created)
	return &r, nil
}

func (t *tx) PutIdempotency(r *kvitt.IdempotencyRecord) error {
	if r.Created.IsZero() {
		r.Created = t.db.now()
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	return t.insert("idempotency key", `INSERT INTO idempotency (key, request_hash, status, body, created) VALUES ($1,$2,$3,$4,$5)`,
		r.Key, r.RequestHash, r.Status, r.Body, micros(r.Created))
}

// A reservation is a record with status 0; it is matched by key, request
// hash and created time, so a process whose reservation was taken over
// changes nothing.

func (t *tx) CompleteIdempotency(r *kvitt.IdempotencyRecord) error {
	if r.Status == 0 {
		return kvitt.Errorf(kvitt.EINTERNAL, "complete idempotency key %q: status 0 is a reservation, not an answer", r.Key)
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	return t.casUpdate("idempotency key", `UPDATE idempotency SET status = $4, body = $5 WHERE key = $1 AND request_hash = $2 AND created = $3 AND status = 0`,
		r.Key, r.RequestHash, micros(r.Created), r.Status, r.Body)
}

func (t *tx) ReleaseIdempotency(r *kvitt.IdempotencyRecord) error {
	return t.casUpdate("idempotency key", `DELETE FROM idempotency WHERE key = $1 AND request_hash = $2 AND created = $3 AND status = 0`,
		r.Key, r.RequestHash, micros(r.Created))
}

func (t *tx) TakeOverIdempotency(r *kvitt.IdempotencyRecord) error {
	now := t.db.now()
	if err := t.casUpdate("idempotency key", `UPDATE idempotency SET created = $4 WHERE key = $1 AND request_hash = $2 AND created = $3 AND status = 0`,
		r.Key, r.RequestHash, micros(r.Created), micros(now)); err != nil {
		return err
	}
	r.Created = now
	return nil
}

func (t *tx) DeleteIdempotencyBefore(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM idempotency WHERE created < $1`, micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Jobs.

const jobCols = `id, kind, ref, payload, run_at, attempts, lease_owner, lease_until, last_error, dead, created`

func (t *tx) EnqueueJob(j *kvitt.Job) error {
	if j.Created.IsZero() {
		j.Created = t.db.now()
	}
	if j.Payload == nil {
		j.Payload = []byte{}
	}
	// A queued job of the same kind and ref absorbs the new one: it runs at
	// the earlier of the two times. A dead one comes back to life.
	_, err := t.exec(`INSERT INTO jobs (kind, ref, payload, run_at, attempts, lease_owner, lease_until, last_error, dead, created)
		VALUES ($1,$2,$3,$4,0,'',0,'',0,$5)
		ON CONFLICT (kind, ref) DO UPDATE SET
			run_at = CASE WHEN jobs.dead = 1 OR excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END,
			payload = excluded.payload,
			attempts = CASE WHEN jobs.dead = 1 THEN 0 ELSE jobs.attempts END,
			dead = 0`,
		j.Kind, j.Ref, j.Payload, micros(j.RunAt), micros(j.Created))
	return err
}

func scanJob(sc interface{ Scan(...any) error }) (*kvitt.Job, error) {
	var j kvitt.Job
	var runAt, leaseUntil, created int64
	var dead int
	if err := sc.Scan(&j.ID, &j.Kind, &j.Ref, &j.Payload, &runAt, &j.Attempts, &j.LeaseOwner, &leaseUntil, &j.LastError, &dead, &created); err != nil {
		return nil, err
	}
	j.RunAt, j.LeaseUntil, j.Created, j.Dead = fromMicros(runAt), fromMicros(leaseUntil), fromMicros(created), dead != 0
	return &j, nil
}

func (t *tx) ClaimJobs(owner string, now, leaseUntil time.Time, limit int) ([]*kvitt.Job, error) {
	// The due jobs are picked once (MATERIALIZED: PostgreSQL would otherwise
	// plan the IN as a nested loop that re-runs the pick for every row). The
	// lease condition is repeated in the UPDATE so that PostgreSQL re-checks
	// it on the newest row version after waiting for a row lock: two nodes
	// never hold one job. With the dialect's ClaimLock (FOR UPDATE SKIP
	// LOCKED) concurrent claimers pass over each other's rows instead of
	// waiting for them and coming back empty-handed.
	rows, err := t.query(`WITH due AS MATERIALIZED (
			SELECT id FROM jobs WHERE dead = 0 AND run_at <= $3 AND lease_until < $3 ORDER BY run_at, id LIMIT $4 `+t.db.Dialect.ClaimLock+`)
		UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
		WHERE lease_until < $3 AND dead = 0 AND id IN (SELECT id FROM due)
		RETURNING `+jobCols, owner, micros(leaseUntil), micros(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*kvitt.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

func (t *tx) FinishJob(id int64, owner string) error {
	return t.casUpdate("job", `DELETE FROM jobs WHERE id = $1 AND lease_owner = $2`, id, owner)
}

func (t *tx) RetryJob(id int64, owner string, runAt time.Time, lastErr string, dead bool) error {
	d := 0
	if dead {
		d = 1
	}
	// Attempts count failures in a row: a run that succeeded (no error)
	// starts the count again, so a long poll is not parked by one hiccup.
	return t.casUpdate("job", `UPDATE jobs SET run_at = $3, lease_owner = '', lease_until = 0, last_error = $4, dead = $5,
		attempts = CASE WHEN $4 = '' THEN 0 ELSE attempts END WHERE id = $1 AND lease_owner = $2`,
		id, owner, micros(runAt), lastErr, d)
}

func (t *tx) CancelJob(kind, ref string) error {
	_, err := t.exec(`DELETE FROM jobs WHERE kind = $1 AND ref = $2`, kind, ref)
	return err
}

func (t *tx) Setting(key, init string) (string, error) {
	if _, err := t.exec(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, init); err != nil {
		return "", fmt.Errorf("setting %s: %w", key, err)
	}
	var v string
	if err := t.row(`SELECT value FROM settings WHERE key = $1`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("setting %s: %w", key, err)
	}
	return v, nil
}

func (t *tx) GetSetting(key string) (string, error) {
	var v string
	if err := t.row(`SELECT value FROM settings WHERE key = $1`, key).Scan(&v); err != nil {
		return "", notFound(err, "no setting %s", key)
	}
	return v, nil
}

func (t *tx) PutSetting(key, value string) error {
	if _, err := t.exec(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	return nil
}

func (t *tx) JobFor(kind, ref string) (*kvitt.Job, error) {
	j, err := scanJob(t.row(`SELECT `+jobCols+` FROM jobs WHERE kind = $1 AND ref = $2 ORDER BY id DESC LIMIT 1`, kind, ref))
	if err != nil {
		return nil, notFound(err, "no %s job for %s", kind, ref)
	}
	return j, nil
}

func (t *tx) ListJobs() ([]*kvitt.Job, error) {
	return scanAll(t, scanJob, `SELECT `+jobCols+` FROM jobs ORDER BY run_at, id`)
}

// Journal.

func (t *tx) AppendJournal(e *kvitt.JournalEntry) error {
	if t.db.Dialect.LockJournal != "" {
		if _, err := t.exec(t.db.Dialect.LockJournal); err != nil {
			return err
		}
	}
	if e.At.IsZero() {
		e.At = t.db.now()
	}
	e.At = e.At.Truncate(time.Microsecond)
	e.Seq, e.PrevHash = 1, kvitt.JournalGenesis
	var seq int64
	var hash string
	err := t.row(`SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	switch {
	case err == nil:
		e.Seq, e.PrevHash = seq+1, hash
	case errors.Is(err, sql.ErrNoRows): // the first entry
	default:
		return err
	}
	e.Hash = kvitt.JournalHash(e)
	return t.insert("journal entry", `INSERT INTO journal (seq, at, kind, ref, data, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		e.Seq, micros(e.At), e.Kind, e.Ref, e.Data, e.PrevHash, e.Hash)
}

func (t *tx) ListJournal(afterSeq int64, limit int) ([]*kvitt.JournalEntry, error) {
	rows, err := t.query(`SELECT seq, at, kind, ref, data, prev_hash, hash FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*kvitt.JournalEntry
	for rows.Next() {
		var e kvitt.JournalEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Kind, &e.Ref, &e.Data, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}
