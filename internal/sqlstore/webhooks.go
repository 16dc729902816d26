package sqlstore

import (
	"fmt"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Outgoing webhooks: subscriptions and their deliveries (014_webhooks.sql).

const webhookCols = `id, merchant_id, url, description, events, secrets, enabled, notice, disabled_at, from_seq, created, updated, version`

func scanWebhook(sc interface{ Scan(...any) error }) (*kvitt.WebhookSubscription, error) {
	var s kvitt.WebhookSubscription
	var events, secrets string
	var enabled, disabledAt, created, updated int64
	if err := sc.Scan(&s.ID, &s.MerchantID, &s.URL, &s.Description, &events, &secrets, &enabled, &s.Notice, &disabledAt, &s.FromSeq,
		&created, &updated, &s.Version); err != nil {
		return nil, err
	}
	s.Enabled = enabled != 0
	s.DisabledAt, s.Created, s.Updated = fromMicros(disabledAt), fromMicros(created), fromMicros(updated)
	if err := fromJSON(events, &s.Events); err != nil {
		return nil, err
	}
	if err := fromJSON(secrets, &s.Secrets); err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *tx) CreateWebhook(s *kvitt.WebhookSubscription) error {
	now := t.db.now()
	if s.Created.IsZero() {
		s.Created = now
	}
	s.Updated, s.Version = s.Created, 1
	return t.insert("webhook "+s.ID, `INSERT INTO webhook_subscriptions (`+webhookCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		s.ID, s.MerchantID, s.URL, s.Description, toJSON(s.Events), toJSON(s.Secrets), b2i(s.Enabled), s.Notice, micros(s.DisabledAt), s.FromSeq,
		micros(s.Created), micros(s.Updated), s.Version)
}

func (t *tx) GetWebhook(id string) (*kvitt.WebhookSubscription, error) {
	s, err := scanWebhook(t.row(`SELECT `+webhookCols+` FROM webhook_subscriptions WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "webhook %s not found", id)
	}
	return s, nil
}

func (t *tx) ListWebhooks() ([]*kvitt.WebhookSubscription, error) {
	return scanAll(t, scanWebhook, `SELECT `+webhookCols+` FROM webhook_subscriptions ORDER BY created, id`)
}

func (t *tx) UpdateWebhook(s *kvitt.WebhookSubscription) error {
	updated := t.db.now()
	if err := t.casUpdate("webhook "+s.ID, `UPDATE webhook_subscriptions SET url=$3, description=$4, events=$5, secrets=$6, enabled=$7, notice=$8,
		disabled_at=$9, updated=$10, version=version+1 WHERE id=$1 AND version=$2`,
		s.ID, s.Version, s.URL, s.Description, toJSON(s.Events), toJSON(s.Secrets), b2i(s.Enabled), s.Notice, micros(s.DisabledAt), micros(updated)); err != nil {
		return err
	}
	s.Version++
	s.Updated = updated
	return nil
}

func (t *tx) DeleteWebhook(id string) error {
	if _, err := t.exec(`DELETE FROM webhook_deliveries WHERE subscription_id = $1`, id); err != nil {
		return fmt.Errorf("delete webhook deliveries: %w", err)
	}
	res, err := t.exec(`DELETE FROM webhook_subscriptions WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return kvitt.Errorf(kvitt.ENOTFOUND, "webhook %s not found", id)
	}
	return nil
}

const deliveryCols = `id, subscription_id, seq, type, ref, payload, state, attempts, last_status, last_error, last_attempt, next_attempt,
	first_failure, delivered, created, version`

func scanDelivery(sc interface{ Scan(...any) error }) (*kvitt.WebhookDelivery, error) {
	var d kvitt.WebhookDelivery
	var lastAttempt, nextAttempt, firstFailure, delivered, created int64
	if err := sc.Scan(&d.ID, &d.SubscriptionID, &d.Seq, &d.Type, &d.Ref, &d.Payload, &d.State, &d.Attempts, &d.LastStatus, &d.LastError,
		&lastAttempt, &nextAttempt, &firstFailure, &delivered, &created, &d.Version); err != nil {
		return nil, err
	}
	d.LastAttempt, d.NextAttempt, d.FirstFailure = fromMicros(lastAttempt), fromMicros(nextAttempt), fromMicros(firstFailure)
	d.Delivered, d.Created = fromMicros(delivered), fromMicros(created)
	return &d, nil
}

func (t *tx) AddWebhookDelivery(d *kvitt.WebhookDelivery) (bool, error) {
	if d.Created.IsZero() {
		d.Created = t.db.now()
	}
	if d.State == "" {
		d.State = kvitt.WebhookPending
	}
	if d.Payload == nil {
		d.Payload = []byte{}
	}
	d.Version = 1
	res, err := t.exec(`INSERT INTO webhook_deliveries (`+deliveryCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
		ON CONFLICT (subscription_id, seq) DO NOTHING`,
		d.ID, d.SubscriptionID, d.Seq, d.Type, d.Ref, d.Payload, d.State, d.Attempts, d.LastStatus, d.LastError, micros(d.LastAttempt),
		micros(d.NextAttempt), micros(d.FirstFailure), micros(d.Delivered), micros(d.Created), d.Version)
	if err != nil {
		return false, fmt.Errorf("insert webhook delivery: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *tx) GetWebhookDelivery(id string) (*kvitt.WebhookDelivery, error) {
	d, err := scanDelivery(t.row(`SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "webhook delivery %s not found", id)
	}
	return d, nil
}

func (t *tx) NextWebhookDelivery(subscriptionID string) (*kvitt.WebhookDelivery, error) {
	d, err := scanDelivery(t.row(`SELECT `+deliveryCols+` FROM webhook_deliveries WHERE state = $1 AND subscription_id = $2 ORDER BY seq LIMIT 1`,
		kvitt.WebhookPending, subscriptionID))
	if err != nil {
		return nil, notFound(err, "webhook %s has no pending delivery", subscriptionID)
	}
	return d, nil
}

func (t *tx) UpdateWebhookDelivery(d *kvitt.WebhookDelivery) error {
	if err := t.casUpdate("webhook delivery "+d.ID, `UPDATE webhook_deliveries SET state=$3, attempts=$4, last_status=$5, last_error=$6,
		last_attempt=$7, next_attempt=$8, first_failure=$9, delivered=$10, version=version+1 WHERE id=$1 AND version=$2`,
		d.ID, d.Version, d.State, d.Attempts, d.LastStatus, d.LastError, micros(d.LastAttempt), micros(d.NextAttempt), micros(d.FirstFailure),
		micros(d.Delivered)); err != nil {
		return err
	}
	d.Version++
	return nil
}

func (t *tx) ListWebhookDeliveries(subscriptionID, afterID string, limit int) ([]*kvitt.WebhookDelivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if afterID == "" {
		return scanAll(t, scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY seq DESC LIMIT $2`,
			subscriptionID, limit)
	}
	var seq int64
	if err := t.row(`SELECT seq FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2`, afterID, subscriptionID).Scan(&seq); err != nil {
		return nil, notFound(err, "webhook %s has no delivery %s", subscriptionID, afterID)
	}
	return scanAll(t, scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE subscription_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
		subscriptionID, seq, limit)
}

func (t *tx) PendingWebhooks() ([]string, error) {
	rows, err := t.query(`SELECT DISTINCT subscription_id FROM webhook_deliveries WHERE state = $1 ORDER BY subscription_id`, kvitt.WebhookPending)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *tx) DeleteWebhookDeliveriesBefore(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM webhook_deliveries WHERE state = $1 AND created < $2`, kvitt.WebhookDelivered, micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) LastJournalSeq() (int64, error) {
	var seq int64
	if err := t.row(`SELECT COALESCE(MAX(seq), 0) FROM journal`).Scan(&seq); err != nil {
		return 0, err
	}
	return seq, nil
}
