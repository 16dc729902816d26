package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: marshal %T: %v", v, err)) // only our own types are marshalled
	}
	return string(b)
}

func fromJSON(s string, v any) error {
	if s == "" || s == "null" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

// Merchants, shops and tills.

func (t *tx) CreateMerchant(m *kvitt.Merchant) error {
	if m.Created.IsZero() {
		m.Created = t.db.now()
	}
	rates := make([]string, len(m.VATRates))
	for i, r := range m.VATRates {
		rates[i] = strconv.FormatInt(r, 10)
	}
	return t.insert("merchant "+m.ID, `INSERT INTO merchants (id, name, org_nr, country, currency, vat_rates, created) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		m.ID, m.Name, m.OrgNr, m.Country, string(m.Currency), strings.Join(rates, ","), micros(m.Created))
}

func (t *tx) GetMerchant(id string) (*kvitt.Merchant, error) {
	var m kvitt.Merchant
	var cur, rates string
	var created int64
	err := t.row(`SELECT id, name, org_nr, country, currency, vat_rates, created FROM merchants WHERE id = $1`, id).
		Scan(&m.ID, &m.Name, &m.OrgNr, &m.Country, &cur, &rates, &created)
	if err != nil {
		return nil, notFound(err, "merchant %q not found", id)
	}
	m.Currency, m.Created = kvitt.Currency(cur), fromMicros(created)
	for _, r := range strings.Split(rates, ",") {
		if r == "" {
			continue
		}
		v, err := strconv.ParseInt(r, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("merchant %s: bad vat rate %q", id, r)
		}
		m.VATRates = append(m.VATRates, v)
	}
	return &m, nil
}

func (t *tx) CreateShop(s *kvitt.Shop) error {
	if s.Created.IsZero() {
		s.Created = t.db.now()
	}
	return t.insert("store "+s.ID, `INSERT INTO shops (id, merchant_id, name, address, created) VALUES ($1,$2,$3,$4,$5)`,
		s.ID, s.MerchantID, s.Name, s.Address, micros(s.Created))
}

func (t *tx) GetShop(id string) (*kvitt.Shop, error) {
	var s kvitt.Shop
	var created int64
	err := t.row(`SELECT id, merchant_id, name, address, created FROM shops WHERE id = $1`, id).
		Scan(&s.ID, &s.MerchantID, &s.Name, &s.Address, &created)
	if err != nil {
		return nil, notFound(err, "store %q not found", id)
	}
	s.Created = fromMicros(created)
	return &s, nil
}

const tillCols = `id, shop_id, name, register_id, control_unit, terminal, mobilepay_beacon_id, mobilepay_pos_id, created`

func (t *tx) CreateTill(tl *kvitt.Till) error {
	if tl.Created.IsZero() {
		tl.Created = t.db.now()
	}
	return t.insert("till "+tl.ID, `INSERT INTO tills (`+tillCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		tl.ID, tl.StoreID, tl.Name, tl.RegisterID, tl.ControlUnit, toJSON(tl.Terminal), tl.MobilePayBeaconID, tl.MobilePayPosID, micros(tl.Created))
}

func (t *tx) UpdateTill(tl *kvitt.Till) error {
	return t.casUpdate("till "+tl.ID, `UPDATE tills SET name=$2, register_id=$3, control_unit=$4, terminal=$5, mobilepay_beacon_id=$6, mobilepay_pos_id=$7 WHERE id=$1`,
		tl.ID, tl.Name, tl.RegisterID, tl.ControlUnit, toJSON(tl.Terminal), tl.MobilePayBeaconID, tl.MobilePayPosID)
}

func scanTill(sc interface{ Scan(...any) error }) (*kvitt.Till, error) {
	var tl kvitt.Till
	var terminal string
	var created int64
	if err := sc.Scan(&tl.ID, &tl.StoreID, &tl.Name, &tl.RegisterID, &tl.ControlUnit, &terminal, &tl.MobilePayBeaconID, &tl.MobilePayPosID, &created); err != nil {
		return nil, err
	}
	tl.Created = fromMicros(created)
	if err := fromJSON(terminal, &tl.Terminal); err != nil {
		return nil, err
	}
	return &tl, nil
}

func (t *tx) GetTill(id string) (*kvitt.Till, error) {
	tl, err := scanTill(t.row(`SELECT `+tillCols+` FROM tills WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "till %q not found", id)
	}
	return tl, nil
}

func (t *tx) ListTills() ([]*kvitt.Till, error) {
	return scanAll(t, scanTill, `SELECT `+tillCols+` FROM tills ORDER BY id`)
}

// Sales.

const saleCols = `id, merchant_id, till_id, currency, lines, total, vat, state, receipt_id, idempotency_key, created, updated, version, training`

func (t *tx) CreateSale(s *kvitt.Sale) error {
	now := t.db.now()
	if s.Created.IsZero() {
		s.Created = now
	}
	s.Updated, s.Version = s.Created, 1
	return t.insert("sale", `INSERT INTO sales (`+saleCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
		s.ID, s.MerchantID, s.TillID, string(s.Currency), toJSON(s.Lines), s.Total, toJSON(s.VAT), string(s.State), s.ReceiptID,
		nullable(s.IdempotencyKey), micros(s.Created), micros(s.Updated), s.Version, boolInt(s.Training))
}

func scanSale(sc interface{ Scan(...any) error }) (*kvitt.Sale, error) {
	var s kvitt.Sale
	var cur, lines, vat, state string
	var key sql.NullString
	var created, updated int64
	var training int
	if err := sc.Scan(&s.ID, &s.MerchantID, &s.TillID, &cur, &lines, &s.Total, &vat, &state, &s.ReceiptID, &key, &created, &updated, &s.Version, &training); err != nil {
		return nil, err
	}
	s.Training = training != 0
	s.Currency, s.State, s.IdempotencyKey = kvitt.Currency(cur), kvitt.SaleState(state), key.String
	s.Created, s.Updated = fromMicros(created), fromMicros(updated)
	if err := fromJSON(lines, &s.Lines); err != nil {
		return nil, err
	}
	if err := fromJSON(vat, &s.VAT); err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *tx) GetSale(id string) (*kvitt.Sale, error) {
	s, err := scanSale(t.row(`SELECT `+saleCols+` FROM sales WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "sale %q not found", id)
	}
	return s, nil
}

func (t *tx) SaleByIdempotencyKey(key string) (*kvitt.Sale, error) {
	s, err := scanSale(t.row(`SELECT `+saleCols+` FROM sales WHERE idempotency_key = $1`, key))
	if err != nil {
		return nil, notFound(err, "no sale for that idempotency key")
	}
	return s, nil
}

func (t *tx) LatestSale(tillID string) (*kvitt.Sale, error) {
	s, err := scanSale(t.row(`SELECT `+saleCols+` FROM sales WHERE till_id = $1 ORDER BY created DESC, id DESC LIMIT 1`, tillID))
	if err != nil {
		return nil, notFound(err, "till %q has no sale", tillID)
	}
	return s, nil
}

func (t *tx) UpdateSale(s *kvitt.Sale) error {
	now := t.db.now()
	err := t.casUpdate("sale "+s.ID, `UPDATE sales SET lines=$3, total=$4, vat=$5, state=$6, receipt_id=$7, updated=$8, version=version+1 WHERE id=$1 AND version=$2`,
		s.ID, s.Version, toJSON(s.Lines), s.Total, toJSON(s.VAT), string(s.State), s.ReceiptID, micros(now))
	if err == nil {
		s.Version++
		s.Updated = now
	}
	return err
}

// Payments.

const paymentCols = `id, sale_id, till_id, method, amount, currency, state, reference, provider, action, tendered, change_amount, rounding, tip, card, refunded, error_code, message, deadline, idempotency_key, created, updated, version, attention, inflight_until, cancel_requested`

func (t *tx) CreatePayment(p *kvitt.Payment) error {
	now := t.db.now()
	if p.Created.IsZero() {
		p.Created = now
	}
	p.Updated, p.Version = p.Created, 1
	return t.insert("payment", `INSERT INTO payments (`+paymentCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)`,
		p.ID, p.SaleID, p.TillID, p.Method, p.Amount, string(p.Currency), string(p.State), p.Reference, toJSON(p.Provider), toJSON(p.Action),
		p.Tendered, p.Change, p.Rounding, p.Tip, toJSON(p.Card), p.Refunded, p.ErrorCode, p.Message, micros(p.Deadline), nullable(p.IdempotencyKey),
		micros(p.Created), micros(p.Updated), p.Version, p.Attention, micros(p.InFlightUntil), micros(p.CancelRequested))
}

func scanPayment(sc interface{ Scan(...any) error }) (*kvitt.Payment, error) {
	var p kvitt.Payment
	var cur, state, provider, action, card string
	var key sql.NullString
	var created, updated, deadline, inflight, cancelReq int64
	if err := sc.Scan(&p.ID, &p.SaleID, &p.TillID, &p.Method, &p.Amount, &cur, &state, &p.Reference, &provider, &action,
		&p.Tendered, &p.Change, &p.Rounding, &p.Tip, &card, &p.Refunded, &p.ErrorCode, &p.Message, &deadline, &key, &created, &updated, &p.Version,
		&p.Attention, &inflight, &cancelReq); err != nil {
		return nil, err
	}
	p.Deadline, p.InFlightUntil, p.CancelRequested = fromMicros(deadline), fromMicros(inflight), fromMicros(cancelReq)
	p.Currency, p.State, p.IdempotencyKey = kvitt.Currency(cur), kvitt.PaymentState(state), key.String
	p.Created, p.Updated = fromMicros(created), fromMicros(updated)
	if err := fromJSON(provider, &p.Provider); err != nil {
		return nil, err
	}
	if err := fromJSON(action, &p.Action); err != nil {
		return nil, err
	}
	if err := fromJSON(card, &p.Card); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *tx) paymentWhere(where string, args ...any) (*kvitt.Payment, error) {
	return scanPayment(t.row(`SELECT `+paymentCols+` FROM payments WHERE `+where, args...))
}

func (t *tx) GetPayment(id string) (*kvitt.Payment, error) {
	p, err := t.paymentWhere(`id = $1`, id)
	if err != nil {
		return nil, notFound(err, "payment %q not found", id)
	}
	return p, nil
}

func (t *tx) PaymentByReference(method, reference string) (*kvitt.Payment, error) {
	p, err := t.paymentWhere(`method = $1 AND reference = $2`, method, reference)
	if err != nil {
		return nil, notFound(err, "no %s payment with reference %q", method, reference)
	}
	return p, nil
}

func (t *tx) PaymentByIdempotencyKey(key string) (*kvitt.Payment, error) {
	p, err := t.paymentWhere(`idempotency_key = $1`, key)
	if err != nil {
		return nil, notFound(err, "no payment for that idempotency key")
	}
	return p, nil
}

func (t *tx) listPayments(q string, args ...any) ([]*kvitt.Payment, error) {
	return scanAll(t, scanPayment, `SELECT `+paymentCols+` FROM payments WHERE `+q, args...)
}

func (t *tx) ListSalePayments(saleID string) ([]*kvitt.Payment, error) {
	return t.listPayments(`sale_id = $1 ORDER BY created, id`, saleID)
}

func (t *tx) ListPayments(states []kvitt.PaymentState, limit int) ([]*kvitt.Payment, error) {
	if len(states) == 0 {
		return nil, nil
	}
	var ph []string
	var args []any
	for i, s := range states {
		ph = append(ph, "$"+strconv.Itoa(i+1))
		args = append(args, string(s))
	}
	args = append(args, limit)
	return t.listPayments(`state IN (`+strings.Join(ph, ",")+`) ORDER BY created, id LIMIT $`+strconv.Itoa(len(args)), args...)
}

func (t *tx) RecoveryPayments(tillID string) ([]*kvitt.Payment, error) {
	pcols := "p." + strings.ReplaceAll(paymentCols, ", ", ", p.")
	return scanAll(t, scanPayment, `SELECT `+paymentCols+` FROM (
		SELECT `+paymentCols+` FROM payments WHERE till_id = $1 AND state IN ('unknown', 'created', 'pending', 'authorized')
		UNION SELECT `+paymentCols+` FROM payments WHERE till_id = $1 AND attention <> ''
		UNION SELECT `+pcols+` FROM sales s JOIN payments p ON p.sale_id = s.id
			WHERE s.till_id = $1 AND s.state = 'open' AND p.state IN ('paid', 'partially_refunded')
		) u ORDER BY created, id`, tillID)
}

func (t *tx) UpdatePayment(p *kvitt.Payment) error {
	now := t.db.now()
	err := t.casUpdate("payment "+p.ID, `UPDATE payments SET state=$3, provider=$4, action=$5, tendered=$6, change_amount=$7, rounding=$8, tip=$9, card=$10, refunded=$11, error_code=$12, message=$13, deadline=$14, updated=$15, attention=$16, inflight_until=$17, cancel_requested=$18, version=version+1 WHERE id=$1 AND version=$2`,
		p.ID, p.Version, string(p.State), toJSON(p.Provider), toJSON(p.Action), p.Tendered, p.Change, p.Rounding, p.Tip, toJSON(p.Card), p.Refunded, p.ErrorCode, p.Message, micros(p.Deadline), micros(now),
		p.Attention, micros(p.InFlightUntil), micros(p.CancelRequested))
	if err == nil {
		p.Version++
		p.Updated = now
	}
	return err
}

func (t *tx) AppendPaymentEvent(e *kvitt.PaymentEvent) error {
	if e.At.IsZero() {
		e.At = t.db.now()
	}
	if err := t.row(`SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_events WHERE payment_id = $1`, e.PaymentID).Scan(&e.Seq); err != nil {
		return err
	}
	return t.insert("payment event", `INSERT INTO payment_events (payment_id, seq, from_state, to_state, cause, message, at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		e.PaymentID, e.Seq, string(e.From), string(e.To), e.Cause, e.Message, micros(e.At))
}

func (t *tx) ListPaymentEvents(paymentID string, afterSeq int64) ([]*kvitt.PaymentEvent, error) {
	rows, err := t.query(`SELECT payment_id, seq, from_state, to_state, cause, message, at FROM payment_events WHERE payment_id = $1 AND seq > $2 ORDER BY seq`, paymentID, afterSeq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*kvitt.PaymentEvent
	for rows.Next() {
		var e kvitt.PaymentEvent
		var from, to string
		var at int64
		if err := rows.Scan(&e.PaymentID, &e.Seq, &from, &to, &e.Cause, &e.Message, &at); err != nil {
			return nil, err
		}
		e.From, e.To, e.At = kvitt.PaymentState(from), kvitt.PaymentState(to), fromMicros(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// Refunds.

const refundCols = `id, payment_id, amount, currency, state, reference, provider, error_code, message, idempotency_key, created, updated, version, return_lines, receipt_id, attention, inflight_until, tip, rounding`

func (t *tx) CreateRefund(r *kvitt.Refund) error {
	if r.Created.IsZero() {
		r.Created = t.db.now()
	}
	r.Updated, r.Version = r.Created, 1
	return t.insert("refund", `INSERT INTO refunds (`+refundCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
		r.ID, r.PaymentID, r.Amount, string(r.Currency), string(r.State), r.Reference, toJSON(r.Provider), r.ErrorCode, r.Message,
		nullable(r.IdempotencyKey), micros(r.Created), micros(r.Updated), r.Version, toJSON(r.Lines), r.ReceiptID, r.Attention, micros(r.InFlightUntil), r.Tip, r.Rounding)
}

func scanRefund(sc interface{ Scan(...any) error }) (*kvitt.Refund, error) {
	var r kvitt.Refund
	var cur, state, provider, lines string
	var key sql.NullString
	var created, updated, inflight int64
	if err := sc.Scan(&r.ID, &r.PaymentID, &r.Amount, &cur, &state, &r.Reference, &provider, &r.ErrorCode, &r.Message, &key, &created, &updated, &r.Version, &lines, &r.ReceiptID,
		&r.Attention, &inflight, &r.Tip, &r.Rounding); err != nil {
		return nil, err
	}
	r.InFlightUntil = fromMicros(inflight)
	if err := fromJSON(lines, &r.Lines); err != nil {
		return nil, err
	}
	r.Currency, r.State, r.IdempotencyKey = kvitt.Currency(cur), kvitt.RefundState(state), key.String
	r.Created, r.Updated = fromMicros(created), fromMicros(updated)
	return &r, fromJSON(provider, &r.Provider)
}

func (t *tx) GetRefund(id string) (*kvitt.Refund, error) {
	r, err := scanRefund(t.row(`SELECT `+refundCols+` FROM refunds WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "refund %q not found", id)
	}
	return r, nil
}

func (t *tx) RefundByIdempotencyKey(key string) (*kvitt.Refund, error) {
	r, err := scanRefund(t.row(`SELECT `+refundCols+` FROM refunds WHERE idempotency_key = $1`, key))
	if err != nil {
		return nil, notFound(err, "no refund for that idempotency key")
	}
	return r, nil
}

func (t *tx) RefundByReference(method, reference string) (*kvitt.Refund, error) {
	r, err := scanRefund(t.row(`SELECT r.`+strings.ReplaceAll(refundCols, ", ", ", r.")+` FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE p.method = $1 AND r.reference = $2`, method, reference))
	if err != nil {
		return nil, notFound(err, "no %s refund with reference %q", method, reference)
	}
	return r, nil
}

func (t *tx) ListRefunds(paymentID string) ([]*kvitt.Refund, error) {
	return scanAll(t, scanRefund, `SELECT `+refundCols+` FROM refunds WHERE payment_id = $1 ORDER BY created, id`, paymentID)
}

func (t *tx) RecoveryRefunds(tillID string) ([]*kvitt.Refund, error) {
	rcols := "r." + strings.ReplaceAll(refundCols, ", ", ", r.")
	// CROSS JOIN keeps SQLite's loop on the few flagged refunds
	// (refunds_attention_set) instead of every payment of the till; to
	// PostgreSQL it is an ordinary join.
	return scanAll(t, scanRefund, `SELECT `+refundCols+` FROM (
		SELECT `+rcols+` FROM refunds r JOIN payments p ON p.id = r.payment_id
			WHERE r.state IN ('unknown', 'created', 'pending') AND p.till_id = $1
		UNION SELECT `+rcols+` FROM refunds r CROSS JOIN payments p
			WHERE p.id = r.payment_id AND r.attention <> '' AND p.till_id = $1
		) u ORDER BY created, id`, tillID)
}

func (t *tx) UpdateRefund(r *kvitt.Refund) error {
	now := t.db.now()
	err := t.casUpdate("refund "+r.ID, `UPDATE refunds SET state=$3, provider=$4, error_code=$5, message=$6, updated=$7, receipt_id=$8, attention=$9, inflight_until=$10, version=version+1 WHERE id=$1 AND version=$2`,
		r.ID, r.Version, string(r.State), toJSON(r.Provider), r.ErrorCode, r.Message, micros(now), r.ReceiptID, r.Attention, micros(r.InFlightUntil))
	if err == nil {
		r.Version++
		r.Updated = now
	}
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
