package hub

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/kvitt-hub/kvitt"
)

// Outgoing webhooks (issue 14, docs/webhooks.md), as Standard Webhooks
// sends them: a POST of {"type","timestamp","data"} with the headers
// webhook-id, webhook-timestamp and webhook-signature ("v1,<base64
// HMAC-SHA256 of id.timestamp.body>", one per secret still signing).
//
// Every change of money is written to the journal in the transaction that
// makes it. A dispatcher job reads the journal after a durable cursor and,
// for each subscription that wants an entry, stores a delivery (one per
// subscription and entry) and moves the cursor, in one transaction. One
// delivery job per subscription sends its deliveries one at a time in
// journal order: a delivery that fails holds back the later ones of that
// subscription, so a receiver sees a payment's events, and its receipt's,
// in the order they happened. Failed attempts are retried with back-off
// for more than 24 hours; then the subscription is disabled with a notice.
// Nothing here touches a payment: the webhooks follow the journal.

// Job kinds.
const (
	jobWebhookDispatch = "webhook.dispatch"
	jobWebhookDeliver  = "webhook.deliver"
)

const (
	// webhookCursorKey is the setting that holds the last journal entry
	// the dispatcher has read.
	webhookCursorKey = "webhooks.cursor"
	// webhookDispatchLock serializes dispatchers (two nodes whose leases
	// overlapped).
	webhookDispatchLock = "webhooks:dispatch"
	// WebhookRotationGrace is how long a replaced secret keeps signing.
	WebhookRotationGrace = 24 * time.Hour
	// WebhookRetention is how long delivered deliveries stay in the log.
	WebhookRetention = 30 * 24 * time.Hour
	// webhookSecretBytes is the size of a secret (the spec: 24 to 64).
	webhookSecretBytes  = 32
	webhookSecretPrefix = "whsec_"
)

// DefaultWebhookSchedule is the wait before each retry of a failed
// delivery: with the first attempt, 8 attempts over 27 h 35 min (jittered
// by ±10 %: at least 24 h 49 min), the schedule Standard Webhooks suggests
// up to 10 hours. A delivery that fails all of them disables its subscription.
var DefaultWebhookSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 10 * time.Hour}

// WebhookOptions tune the delivery of webhooks; zero values take the defaults.
type WebhookOptions struct {
	// Client sends the webhooks (default: one that follows no redirect: a
	// 3xx is a failure, as the spec says).
	Client *http.Client
	// Timeout bounds one attempt (default 15 s).
	Timeout time.Duration
	// Schedule is the wait before each retry (DefaultWebhookSchedule).
	Schedule []time.Duration
	// Jitter is the random part of each wait, as a fraction (default 0.1;
	// negative: none).
	Jitter float64
	// Poll is how often the dispatcher reads the journal (default 1 s).
	Poll time.Duration
	// Batch is how many journal entries one dispatcher run reads (default 200).
	Batch int
	// afterSend, in tests, runs after a message was sent and before the
	// outcome is stored; true makes the job end there, as if the process
	// died.
	afterSend func(d *kvitt.WebhookDelivery) bool
}

type webhooks struct {
	h *Hub
	o WebhookOptions

	mu     sync.Mutex
	lastGC time.Time
}

// RegisterWebhooks makes the hub send outgoing webhooks: it registers the
// dispatcher and delivery jobs and queues the dispatcher. Call it before
// RunWorker, on every node.
func (h *Hub) RegisterWebhooks(ctx context.Context, o WebhookOptions) error {
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if len(o.Schedule) == 0 {
		o.Schedule = DefaultWebhookSchedule
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	w := &webhooks{h: h, o: o}
	h.HandleJob(jobWebhookDispatch, w.dispatch)
	h.HandleJob(jobWebhookDeliver, w.deliver)
	return h.update(ctx, func(tx kvitt.Tx) error {
		return tx.EnqueueJob(&kvitt.Job{Kind: jobWebhookDispatch, Ref: "journal", RunAt: h.now()})
	})
}

// Events.

// webhookFamilies maps each event family to its event types.
var webhookFamilies = map[string][]string{
	"payment": {"payment.updated"},
	"refund":  {"refund.updated"},
	"receipt": {"receipt.issued", "receipt.registered"},
	"report":  {"report.z"},
	"order":   {"order.updated"},
}

// WebhookEventTypes lists every event type kvitt sends.
func WebhookEventTypes() []string {
	var out []string
	for _, ts := range webhookFamilies {
		out = append(out, ts...)
	}
	slices.Sort(out)
	return out
}

func validEventFilter(f string) bool {
	if f == "*" {
		return true
	}
	if _, ok := webhookFamilies[f]; ok {
		return true
	}
	return slices.Contains(WebhookEventTypes(), f)
}

// wants reports whether a subscription's filters select the event type.
func wants(filters []string, typ string) bool {
	family, _, _ := strings.Cut(typ, ".")
	for _, f := range filters {
		if f == "*" || f == typ || f == family {
			return true
		}
	}
	return false
}

// webhookMessage is the body of a webhook, as Standard Webhooks shapes it.
type webhookMessage struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// The events' data: ids, states and amounts; never card data, never a
// personal number, a customer's mobile number only masked.

type paymentEventData struct {
	ID            string `json:"id"`
	SaleID        string `json:"sale_id"`
	TillID        string `json:"till_id"`
	StoreID       string `json:"store_id"`
	MerchantID    string `json:"merchant_id"`
	Method        string `json:"method"`
	State         string `json:"state"`
	PreviousState string `json:"previous_state"`
	Cause         string `json:"cause,omitempty"`
	Amount        int64  `json:"amount"`
	Tip           int64  `json:"tip,omitempty"`
	Refunded      int64  `json:"refunded,omitempty"`
	Currency      string `json:"currency"`
}

type refundEventData struct {
	ID            string `json:"id"`
	PaymentID     string `json:"payment_id"`
	SaleID        string `json:"sale_id"`
	TillID        string `json:"till_id"`
	StoreID       string `json:"store_id"`
	MerchantID    string `json:"merchant_id"`
	Method        string `json:"method"`
	State         string `json:"state"`
	PreviousState string `json:"previous_state"`
	Amount        int64  `json:"amount"`
	Tip           int64  `json:"tip,omitempty"`
	Currency      string `json:"currency"`
	ReceiptID     string `json:"receipt_id,omitempty"`
}

type receiptEventData struct {
	ID          string       `json:"id"`
	SaleID      string       `json:"sale_id,omitempty"`
	TillID      string       `json:"till_id"`
	StoreID     string       `json:"store_id"`
	MerchantID  string       `json:"merchant_id"`
	Serial      int64        `json:"serial"`
	Type        string       `json:"type"`
	Kind        string       `json:"kind"`
	Total       int64        `json:"total"`
	Currency    string       `json:"currency"`
	VAT         []vatJournal `json:"vat"`
	ControlUnit string       `json:"control_unit,omitempty"`
	ControlCode string       `json:"control_code,omitempty"`
}

type zReportEventData struct {
	TillID      string          `json:"till_id"`
	StoreID     string          `json:"store_id"`
	MerchantID  string          `json:"merchant_id"`
	Serial      int64           `json:"serial"`
	FirstSerial int64           `json:"first_serial"`
	LastSerial  int64           `json:"last_serial"`
	Sales       int64           `json:"sales"`
	Returns     int64           `json:"returns"`
	GrandTotals json.RawMessage `json:"grand_totals,omitempty"`
}

// orderJournal is the journal entry of an order's change of state (kind
// "order.state") and the data of its order.updated event.
type orderJournal struct {
	ID            string `json:"id"`
	Number        string `json:"number"`
	MerchantID    string `json:"merchant_id"`
	Method        string `json:"method"`
	State         string `json:"state"`
	PreviousState string `json:"previous_state"`
	Total         int64  `json:"total"`
	Credited      int64  `json:"credited,omitempty"`
	Currency      string `json:"currency"`
	Reference     string `json:"reference,omitempty"`
	// CustomerMobile is masked: its last two digits only.
	CustomerMobile string `json:"customer_mobile,omitempty"`
}

// refundJournal is the journal entry of a refund's change of state (kind
// "refund.state"; From is "" for a new refund).
type refundJournal struct {
	Refund   string `json:"refund"`
	Payment  string `json:"payment"`
	Amount   int64  `json:"amount"`
	Tip      int64  `json:"tip,omitempty"`
	Currency string `json:"currency"`
	From     string `json:"from"`
	To       string `json:"to"`
	Receipt  string `json:"receipt,omitempty"`
}

// journalRefund journals a refund's new state (from "" for a new refund),
// in the transaction that stores it. An unchanged state writes nothing.
func journalRefund(tx kvitt.Tx, at time.Time, r *kvitt.Refund, from kvitt.RefundState) error {
	if from == r.State {
		return nil
	}
	data, _ := json.Marshal(refundJournal{r.ID, r.PaymentID, r.Amount, r.Tip, string(r.Currency), string(from), string(r.State), r.ReceiptID})
	return tx.AppendJournal(&kvitt.JournalEntry{At: at, Kind: "refund.state", Ref: r.ID, Data: string(data)})
}

// journalOrder journals an order's change of state, in the transaction
// that stores it: call it just before tx.CreateOrder or tx.UpdateOrder.
// It compares o with the stored order and writes nothing when the state
// is unchanged. The customer's mobile number is kept masked, the national
// id not at all.
func journalOrder(tx kvitt.Tx, at time.Time, o *kvitt.Order) error {
	var from kvitt.OrderState
	if prev, err := tx.GetOrder(o.ID); err == nil {
		from = prev.State
	} else if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		return err
	}
	if from == o.State {
		return nil
	}
	data, _ := json.Marshal(orderJournal{ID: o.ID, Number: o.Number, MerchantID: o.MerchantID, Method: o.Method, State: string(o.State),
		PreviousState: string(from), Total: o.Total, Credited: o.Credited, Currency: string(o.Currency), Reference: o.Reference,
		CustomerMobile: maskMobile(o.Customer.MobileNumber)})
	return tx.AppendJournal(&kvitt.JournalEntry{At: at, Kind: "order.state", Ref: o.ID, Data: string(data)})
}

// maskMobile keeps a mobile number's last two digits: "+46701234567" →
// "**********67".
func maskMobile(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	for i := range len(r) - min(2, len(r)) {
		r[i] = '*'
	}
	return string(r)
}

// webhookEvent is a journal entry as an event.
type webhookEvent struct {
	typ, ref, merchant string
	data               any
}

// eventMapper turns journal entries into events, looking up what the
// entry does not say (a payment's till, a till's store and merchant).
type eventMapper struct {
	tx    kvitt.Tx
	tills map[string][2]string // till → store, merchant
	pays  map[string]*kvitt.Payment
	sales map[string]string // sale → merchant
}

func (m *eventMapper) till(id string) (store, merchant string, err error) {
	if v, ok := m.tills[id]; ok {
		return v[0], v[1], nil
	}
	t, err := m.tx.GetTill(id)
	if err != nil {
		return "", "", err
	}
	s, err := m.tx.GetShop(t.StoreID)
	if err != nil {
		return "", "", err
	}
	m.tills[id] = [2]string{s.ID, s.MerchantID}
	return s.ID, s.MerchantID, nil
}

func (m *eventMapper) payment(id string) (*kvitt.Payment, string, string, error) {
	p, ok := m.pays[id]
	if !ok {
		var err error
		if p, err = m.tx.GetPayment(id); err != nil {
			return nil, "", "", err
		}
		m.pays[id] = p
	}
	store, merchant, err := m.till(p.TillID)
	if err != nil {
		return nil, "", "", err
	}
	if sm, ok := m.sales[p.SaleID]; ok {
		merchant = sm
	} else if s, err := m.tx.GetSale(p.SaleID); err == nil {
		m.sales[p.SaleID], merchant = s.MerchantID, s.MerchantID
	}
	return p, store, merchant, nil
}

// event maps a journal entry; ok is false for entries that are no event.
func (m *eventMapper) event(e *kvitt.JournalEntry) (ev webhookEvent, ok bool, err error) {
	switch e.Kind {
	case "payment.state":
		var j struct {
			Payment, Sale, Method, Currency, From, To, Cause string
			Amount, Tip, Refunded                            int64
		}
		if err := json.Unmarshal([]byte(e.Data), &j); err != nil {
			return ev, false, err
		}
		p, store, merchant, err := m.payment(j.Payment)
		if err != nil {
			return ev, false, err
		}
		return webhookEvent{"payment.updated", j.Payment, merchant, paymentEventData{ID: j.Payment, SaleID: j.Sale, TillID: p.TillID,
			StoreID: store, MerchantID: merchant, Method: j.Method, State: j.To, PreviousState: j.From, Cause: j.Cause, Amount: j.Amount,
			Tip: j.Tip, Refunded: j.Refunded, Currency: j.Currency}}, true, nil
	case "refund.state":
		var j refundJournal
		if err := json.Unmarshal([]byte(e.Data), &j); err != nil {
			return ev, false, err
		}
		p, store, merchant, err := m.payment(j.Payment)
		if err != nil {
			return ev, false, err
		}
		return webhookEvent{"refund.updated", j.Refund, merchant, refundEventData{ID: j.Refund, PaymentID: j.Payment, SaleID: p.SaleID,
			TillID: p.TillID, StoreID: store, MerchantID: merchant, Method: p.Method, State: j.To, PreviousState: j.From, Amount: j.Amount,
			Tip: j.Tip, Currency: j.Currency, ReceiptID: j.Receipt}}, true, nil
	case "receipt.issued", "receipt.registered":
		var j struct {
			Receipt, Till, Type, Kind, Currency string
			Serial, Total                       int64
			VAT                                 []vatJournal
			ControlUnit                         string `json:"control_unit"`
			ControlCode                         string `json:"control_code"`
		}
		if err := json.Unmarshal([]byte(e.Data), &j); err != nil {
			return ev, false, err
		}
		store, merchant, err := m.till(j.Till)
		if err != nil {
			return ev, false, err
		}
		var saleID string
		if rc, err := m.tx.GetReceipt(j.Receipt); err == nil {
			saleID = rc.SaleID
		}
		return webhookEvent{e.Kind, j.Receipt, merchant, receiptEventData{ID: j.Receipt, SaleID: saleID, TillID: j.Till, StoreID: store,
			MerchantID: merchant, Serial: j.Serial, Type: j.Type, Kind: j.Kind, Total: j.Total, Currency: j.Currency, VAT: j.VAT,
			ControlUnit: j.ControlUnit, ControlCode: j.ControlCode}}, true, nil
	case "z_report":
		var j struct {
			Till        string          `json:"till"`
			Serial      int64           `json:"serial"`
			FirstSerial int64           `json:"first_serial"`
			LastSerial  int64           `json:"last_serial"`
			Sales       int64           `json:"sales"`
			Returns     int64           `json:"returns"`
			GrandTotals json.RawMessage `json:"grand_totals"`
		}
		if err := json.Unmarshal([]byte(e.Data), &j); err != nil {
			return ev, false, err
		}
		store, merchant, err := m.till(j.Till)
		if err != nil {
			return ev, false, err
		}
		return webhookEvent{"report.z", j.Till, merchant, zReportEventData{TillID: j.Till, StoreID: store, MerchantID: merchant,
			Serial: j.Serial, FirstSerial: j.FirstSerial, LastSerial: j.LastSerial, Sales: j.Sales, Returns: j.Returns,
			GrandTotals: j.GrandTotals}}, true, nil
	case "order.state":
		var j orderJournal
		if err := json.Unmarshal([]byte(e.Data), &j); err != nil {
			return ev, false, err
		}
		return webhookEvent{"order.updated", j.ID, j.MerchantID, j}, true, nil
	}
	return ev, false, nil
}

// Dispatcher.

// dispatch reads the journal after the cursor and stores a delivery for
// each subscription that wants an entry, moving the cursor in the same
// transaction; then it wakes the subscriptions' delivery jobs.
func (w *webhooks) dispatch(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	h := w.h
	more, idle := false, false
	err := h.update(ctx, func(tx kvitt.Tx) error {
		more, idle = false, false
		if err := tx.Lock(webhookDispatchLock); err != nil {
			return err
		}
		v, err := tx.Setting(webhookCursorKey, "0")
		if err != nil {
			return err
		}
		cursor, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("webhooks: cursor %q: %w", v, err)
		}
		subs, err := tx.ListWebhooks()
		if err != nil {
			return err
		}
		now := h.now()
		if len(subs) == 0 {
			// No one listens: a new subscription starts at the journal's
			// end anyway, and making one queues this job at once.
			idle = true
			head, err := tx.LastJournalSeq()
			if err != nil || head <= cursor {
				return err
			}
			return tx.PutSetting(webhookCursorKey, strconv.FormatInt(head, 10))
		}
		entries, err := tx.ListJournal(cursor, w.o.Batch)
		if err != nil {
			return err
		}
		more = len(entries) == w.o.Batch
		m := &eventMapper{tx: tx, tills: map[string][2]string{}, pays: map[string]*kvitt.Payment{}, sales: map[string]string{}}
		woken := map[string]bool{}
		for _, e := range entries {
			ev, ok, err := m.event(e)
			if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
				// What the entry names is gone (a till removed from the
				// configuration): no merchant to send it to.
				h.Logger.Warn("webhooks: journal entry skipped", "seq", e.Seq, "kind", e.Kind, "err", err)
				ok, err = false, nil
			}
			if err != nil {
				return fmt.Errorf("webhooks: journal entry %d: %w", e.Seq, err)
			}
			cursor = e.Seq
			if !ok {
				continue
			}
			var body []byte
			for _, s := range subs {
				if s.MerchantID != ev.merchant || e.Seq <= s.FromSeq || !wants(s.Events, ev.typ) {
					continue
				}
				if body == nil {
					if body, err = json.Marshal(webhookMessage{Type: ev.typ, Timestamp: e.At.UTC(), Data: ev.data}); err != nil {
						return err
					}
				}
				added, err := tx.AddWebhookDelivery(&kvitt.WebhookDelivery{ID: kvitt.NewID("msg"), SubscriptionID: s.ID, Seq: e.Seq,
					Type: ev.typ, Ref: ev.ref, Payload: body, NextAttempt: now})
				if err != nil {
					return err
				}
				if added && s.Enabled {
					woken[s.ID] = true
				}
			}
		}
		if err := tx.PutSetting(webhookCursorKey, strconv.FormatInt(cursor, 10)); err != nil {
			return err
		}
		// A delivery job that ended as a delivery was being added is
		// started again here: every enabled subscription with pending
		// deliveries has its job.
		pending, err := tx.PendingWebhooks()
		if err != nil {
			return err
		}
		for _, s := range subs {
			if !s.Enabled || !slices.Contains(pending, s.ID) {
				continue
			}
			if !woken[s.ID] {
				if _, err := tx.JobFor(jobWebhookDeliver, s.ID); err == nil {
					continue
				} else if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
					return err
				}
			}
			if err := tx.EnqueueJob(&kvitt.Job{Kind: jobWebhookDeliver, Ref: s.ID, RunAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	h.wakeWorker()
	w.gc(ctx)
	switch {
	case more:
		return time.Millisecond, nil
	case idle:
		return 10 * w.o.Poll, nil
	}
	return w.o.Poll, nil
}

// gc deletes delivered deliveries past the retention, hourly.
func (w *webhooks) gc(ctx context.Context) {
	now := w.h.now()
	w.mu.Lock()
	due := now.Sub(w.lastGC) >= time.Hour
	if due {
		w.lastGC = now
	}
	w.mu.Unlock()
	if !due {
		return
	}
	if err := w.h.update(ctx, func(tx kvitt.Tx) error {
		_, err := tx.DeleteWebhookDeliveriesBefore(now.Add(-WebhookRetention))
		return err
	}); err != nil {
		w.h.Logger.Warn("webhooks: delivery log retention", "err", err)
	}
}

// Delivery.

// webhookSendBudget bounds how long one run of a delivery job sends
// before it hands the job back (a job's lease is a minute).
const webhookSendBudget = 30 * time.Second

var errSimulatedCrash = errors.New("webhooks: the process died (test)")

// deliver sends the subscription's pending deliveries in journal order,
// until one fails (it is retried after its back-off) or none is left.
func (w *webhooks) deliver(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	h := w.h
	start := time.Now()
	for {
		var s *kvitt.WebhookSubscription
		var d *kvitt.WebhookDelivery
		err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) {
			if s, err = tx.GetWebhook(j.Ref); err != nil {
				return err
			}
			d, err = tx.NextWebhookDelivery(s.ID)
			return err
		})
		if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
			return 0, nil // deleted, or nothing left to send
		}
		if err != nil {
			return 0, err
		}
		if !s.Enabled {
			return 0, nil // enabling it starts the job again
		}
		now := h.now()
		if d.NextAttempt.After(now) {
			return d.NextAttempt.Sub(now), nil
		}
		if time.Since(start) > webhookSendBudget {
			return time.Millisecond, nil
		}
		res := w.send(ctx, s, d, now)
		if w.o.afterSend != nil && w.o.afterSend(d) {
			return 0, errSimulatedCrash
		}
		if ctx.Err() != nil {
			// Shutting down: the attempt's outcome is unknown; the next
			// run sends it again, with the same webhook-id.
			return 0, ctx.Err()
		}
		if !res.ok() {
			h.metrics.WebhookDeliveryFailed(res.status)
		}
		next, err := w.record(ctx, s.ID, d, res, now)
		if isCode(err, kvitt.ECONFLICT) || isCode(err, kvitt.ENOTFOUND) {
			continue // redelivered, disabled or deleted meanwhile: look again
		}
		if err != nil {
			return 0, err
		}
		if next != 0 {
			return next, nil
		}
	}
}

// sendResult is one attempt's outcome.
type sendResult struct {
	status     int
	err        string
	retryAfter time.Duration
}

func (r sendResult) ok() bool { return r.status >= 200 && r.status < 300 }

// send makes one attempt, signed now.
func (w *webhooks) send(ctx context.Context, s *kvitt.WebhookSubscription, d *kvitt.WebhookDelivery, now time.Time) sendResult {
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return sendResult{err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kvitt-webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", SignWebhook(s.Secrets, d.ID, now, d.Payload))
	resp, err := w.o.Client.Do(req)
	if err != nil {
		// Without the URL (the subscription's, whose query may hold a
		// token): the error goes to the delivery log, the notice and the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return sendResult{err: "no answer: " + err.Error()}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	res := sendResult{status: resp.StatusCode}
	if !res.ok() {
		res.err = "HTTP " + strconv.Itoa(resp.StatusCode)
		if t := printable(string(snippet)); t != "" {
			res.err += ": " + t
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			res.retryAfter = min(time.Duration(secs)*time.Second, 24*time.Hour)
		}
	}
	return res
}

func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// record stores an attempt's outcome. It returns how long to wait before
// the next attempt (0: go on with the next delivery, or stop: the
// subscription is disabled). ECONFLICT: the delivery or subscription
// changed meanwhile.
func (w *webhooks) record(ctx context.Context, subID string, sent *kvitt.WebhookDelivery, res sendResult, at time.Time) (time.Duration, error) {
	h := w.h
	var next time.Duration
	var disabled *kvitt.WebhookSubscription
	err := h.update(ctx, func(tx kvitt.Tx) error {
		next, disabled = 0, nil
		d, err := tx.GetWebhookDelivery(sent.ID)
		if err != nil {
			return err
		}
		if d.Version != sent.Version {
			return kvitt.Errorf(kvitt.ECONFLICT, "webhook delivery %s changed", d.ID)
		}
		s, err := tx.GetWebhook(subID)
		if err != nil {
			return err
		}
		d.Attempts++
		d.LastAttempt, d.LastStatus, d.LastError = at, res.status, res.err
		if res.ok() {
			d.State, d.Delivered, d.NextAttempt, d.FirstFailure = kvitt.WebhookDelivered, at, time.Time{}, time.Time{}
			return tx.UpdateWebhookDelivery(d)
		}
		if d.FirstFailure.IsZero() {
			d.FirstFailure = at
		}
		var notice string
		switch {
		case res.status == http.StatusGone:
			notice = fmt.Sprintf("Disabled at %s: the endpoint answered 410 Gone (it wants no more webhooks).", at.Format(time.RFC3339))
		case d.Attempts > len(w.o.Schedule):
			notice = fmt.Sprintf("Disabled at %s: delivery %s (%s) failed %d times since %s; last: %s.", at.Format(time.RFC3339), d.ID, d.Type,
				d.Attempts, d.FirstFailure.Format(time.RFC3339), d.LastError)
		default:
			wait := w.jitter(w.o.Schedule[d.Attempts-1])
			wait = max(wait, res.retryAfter)
			d.NextAttempt = at.Add(wait)
			next = wait
		}
		if err := tx.UpdateWebhookDelivery(d); err != nil {
			return err
		}
		if notice == "" || !s.Enabled {
			return nil
		}
		s.Enabled, s.Notice, s.DisabledAt = false, notice+" Later events are queued; fix the endpoint and enable the webhook to send them in order.", at
		disabled = s
		return tx.UpdateWebhook(s)
	})
	if err == nil && disabled != nil {
		logURL := disabled.URL
		if u, err := url.Parse(logURL); err == nil && u.RawQuery != "" {
			u.RawQuery = "REDACTED" // a token in the query is a secret
			logURL = u.String()
		}
		h.Logger.Warn("webhook disabled", "webhook", disabled.ID, "url", logURL, "notice", disabled.Notice)
	}
	return next, err
}

func (w *webhooks) jitter(d time.Duration) time.Duration {
	if w.o.Jitter <= 0 {
		return d
	}
	f := 1 + w.o.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// SignWebhook returns the webhook-signature header of a message: for each
// secret still signing at at, "v1," and the base64 HMAC-SHA256 of
// "id.unix-seconds.body" under the secret's key, space-separated.
func SignWebhook(secrets []kvitt.WebhookSecret, id string, at time.Time, body []byte) string {
	var sigs []string
	for _, s := range secrets {
		if !s.Expires.IsZero() && !at.Before(s.Expires) {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.Secret, webhookSecretPrefix))
		if err != nil {
			continue
		}
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%d.", id, at.Unix())
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

func newWebhookSecret(now time.Time) kvitt.WebhookSecret {
	b := make([]byte, webhookSecretBytes)
	if _, err := crand.Read(b); err != nil {
		panic(err)
	}
	return kvitt.WebhookSecret{Secret: webhookSecretPrefix + base64.StdEncoding.EncodeToString(b), Created: now}
}

// The API (http/webhooks.go).

// WebhookInput makes or changes a subscription; nil fields are left as they are.
type WebhookInput struct {
	MerchantID  string
	URL         *string
	Description *string
	Events      *[]string
	Enabled     *bool
}

// CreateWebhook makes a subscription, enabled, with a new secret (in
// Secrets[0], shown to the caller once). It gets the events of the journal
// entries made after it. URL: https (in the sandbox also http to a
// loopback address). Events: defaults to every event.
func (h *Hub) CreateWebhook(ctx context.Context, in WebhookInput) (*kvitt.WebhookSubscription, error) {
	now := h.now()
	s := &kvitt.WebhookSubscription{ID: kvitt.NewID("wh"), MerchantID: in.MerchantID, Events: []string{"*"}, Enabled: true,
		Secrets: []kvitt.WebhookSecret{newWebhookSecret(now)}, Created: now}
	if in.URL == nil {
		return nil, kvitt.FieldError("url", "is required")
	}
	if err := h.applyWebhookInput(s, in); err != nil {
		return nil, err
	}
	err := h.update(ctx, func(tx kvitt.Tx) error {
		if s.MerchantID == "" {
			id, err := onlyMerchant(tx)
			if err != nil {
				return err
			}
			s.MerchantID = id
		} else if _, err := tx.GetMerchant(s.MerchantID); err != nil {
			if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
				return kvitt.FieldError("merchant_id", "no merchant %q", s.MerchantID)
			}
			return err
		}
		head, err := tx.LastJournalSeq()
		if err != nil {
			return err
		}
		s.FromSeq = head
		if err := tx.CreateWebhook(s); err != nil {
			return err
		}
		return h.queueWebhookDispatch(tx)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// queueWebhookDispatch makes sure the dispatcher runs (where webhooks are
// registered: a node that could not run the job would mark it dead).
func (h *Hub) queueWebhookDispatch(tx kvitt.Tx) error {
	if _, ok := h.jobs[jobWebhookDispatch]; !ok {
		return nil
	}
	return tx.EnqueueJob(&kvitt.Job{Kind: jobWebhookDispatch, Ref: "journal", RunAt: h.now()})
}

// onlyMerchant is the merchant of every till, when there is one.
func onlyMerchant(tx kvitt.Tx) (string, error) {
	tills, err := tx.ListTills()
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	var id string
	for _, t := range tills {
		s, err := tx.GetShop(t.StoreID)
		if err != nil {
			return "", err
		}
		if !seen[s.MerchantID] {
			seen[s.MerchantID], id = true, s.MerchantID
		}
	}
	if len(seen) != 1 {
		return "", kvitt.FieldError("merchant_id", "is required: this server has %d merchants", len(seen))
	}
	return id, nil
}

func (h *Hub) applyWebhookInput(s *kvitt.WebhookSubscription, in WebhookInput) error {
	if in.URL != nil {
		if err := h.checkWebhookURL(*in.URL); err != nil {
			return err
		}
		s.URL = *in.URL
	}
	if in.Description != nil {
		d := *in.Description
		if len([]rune(d)) > 200 || strings.IndexFunc(d, unicode.IsControl) >= 0 {
			return kvitt.FieldError("description", "must be at most 200 characters, without control characters")
		}
		s.Description = d
	}
	if in.Events != nil {
		if len(*in.Events) == 0 {
			return kvitt.FieldError("events", "list at least one: \"*\", a family (payment, refund, receipt, report, order) or an event type")
		}
		var evs []string
		for i, e := range *in.Events {
			if !validEventFilter(e) {
				return kvitt.FieldError(fmt.Sprintf("events[%d]", i), "%q is no event: use \"*\", payment, refund, receipt, report, order or one of %s",
					e, strings.Join(WebhookEventTypes(), ", "))
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		s.Events = evs
	}
	return nil
}

// checkWebhookURL allows https, and in the sandbox http to a loopback address.
func (h *Hub) checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || len(raw) > 2000 {
		return kvitt.FieldError("url", "must be an absolute URL, https://…")
	}
	if u.User != nil {
		return kvitt.FieldError("url", "must not hold a user name or password: the signature authenticates kvitt")
	}
	if u.Fragment != "" {
		return kvitt.FieldError("url", "must not have a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h.Sandbox && isLoopback(u.Hostname()) {
			return nil
		}
		if h.Sandbox {
			return kvitt.FieldError("url", "must be https (http only to 127.0.0.1, ::1 or localhost, in the sandbox)")
		}
	}
	return kvitt.FieldError("url", "must be https")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// GetWebhook returns a subscription.
func (h *Hub) GetWebhook(ctx context.Context, id string) (*kvitt.WebhookSubscription, error) {
	var s *kvitt.WebhookSubscription
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { s, err = tx.GetWebhook(id); return err })
	return s, err
}

// ListWebhooks returns every subscription, oldest first.
func (h *Hub) ListWebhooks(ctx context.Context) ([]*kvitt.WebhookSubscription, error) {
	var out []*kvitt.WebhookSubscription
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { out, err = tx.ListWebhooks(); return err })
	return out, err
}

// UpdateWebhook changes a subscription's URL, description, events or
// enabled. Enabling a disabled one clears its notice and sends what was
// queued meanwhile, in order, starting a new retry window.
func (h *Hub) UpdateWebhook(ctx context.Context, id string, in WebhookInput) (*kvitt.WebhookSubscription, error) {
	if in.MerchantID != "" {
		return nil, kvitt.FieldError("merchant_id", "cannot be changed; make a new webhook")
	}
	var s *kvitt.WebhookSubscription
	err := h.update(ctx, func(tx kvitt.Tx) (err error) {
		if s, err = tx.GetWebhook(id); err != nil {
			return err
		}
		was := s.Enabled
		if err := h.applyWebhookInput(s, in); err != nil {
			return err
		}
		if in.Enabled != nil {
			s.Enabled = *in.Enabled
			if s.Enabled != was {
				s.Notice, s.DisabledAt = "", time.Time{}
				if !s.Enabled {
					s.DisabledAt = h.now()
				}
			}
		}
		if err := tx.UpdateWebhook(s); err != nil {
			return err
		}
		if !s.Enabled || was {
			return nil
		}
		// Enabled again: a new retry window for the first delivery held back.
		if d, err := tx.NextWebhookDelivery(s.ID); err == nil {
			d.Attempts, d.FirstFailure, d.NextAttempt = 0, time.Time{}, h.now()
			if err := tx.UpdateWebhookDelivery(d); err != nil {
				return err
			}
		} else if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
			return err
		}
		return tx.EnqueueJob(&kvitt.Job{Kind: jobWebhookDeliver, Ref: s.ID, RunAt: h.now()})
	})
	if err != nil {
		return nil, err
	}
	h.wakeWorker()
	return s, nil
}

// RotateWebhookSecret gives a subscription a new secret (returned in
// Secrets[0], once). The one it replaces keeps signing every message for
// WebhookRotationGrace beside the new one, so the receiver can switch
// without missing a message.
func (h *Hub) RotateWebhookSecret(ctx context.Context, id string) (*kvitt.WebhookSubscription, error) {
	var s *kvitt.WebhookSubscription
	err := h.update(ctx, func(tx kvitt.Tx) (err error) {
		if s, err = tx.GetWebhook(id); err != nil {
			return err
		}
		now := h.now()
		secrets := []kvitt.WebhookSecret{newWebhookSecret(now)}
		for _, old := range s.Secrets {
			if old.Expires.IsZero() {
				old.Expires = now.Add(WebhookRotationGrace)
			}
			if old.Expires.After(now) {
				secrets = append(secrets, old)
			}
		}
		s.Secrets = secrets
		return tx.UpdateWebhook(s)
	})
	return s, err
}

// DeleteWebhook deletes a subscription with its delivery log; what was
// queued is not sent.
func (h *Hub) DeleteWebhook(ctx context.Context, id string) error {
	return h.update(ctx, func(tx kvitt.Tx) error {
		if err := tx.DeleteWebhook(id); err != nil {
			return err
		}
		return tx.CancelJob(jobWebhookDeliver, id)
	})
}

// WebhookDeliveries returns a page of a subscription's delivery log, the
// newest event first, after the delivery afterID ("" = from the newest).
func (h *Hub) WebhookDeliveries(ctx context.Context, id, afterID string, limit int) ([]*kvitt.WebhookDelivery, error) {
	var out []*kvitt.WebhookDelivery
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) {
		if _, err := tx.GetWebhook(id); err != nil {
			return err
		}
		out, err = tx.ListWebhookDeliveries(id, afterID, limit)
		return err
	})
	return out, err
}

// RedeliverWebhook queues a delivery again, to be sent now with the same
// webhook-id (a receiver that has it already ignores it). It goes before
// the subscription's later pending deliveries (journal order). The
// subscription must be enabled.
func (h *Hub) RedeliverWebhook(ctx context.Context, id, deliveryID string) (*kvitt.WebhookDelivery, error) {
	var d *kvitt.WebhookDelivery
	err := h.update(ctx, func(tx kvitt.Tx) (err error) {
		s, err := tx.GetWebhook(id)
		if err != nil {
			return err
		}
		if d, err = tx.GetWebhookDelivery(deliveryID); err != nil || d.SubscriptionID != id {
			return kvitt.Errorf(kvitt.ENOTFOUND, "webhook %s has no delivery %s", id, deliveryID)
		}
		if !s.Enabled {
			return kvitt.Errorf(kvitt.ECONFLICT, "webhook %s is disabled; enable it (PATCH {\"enabled\": true}) to send its deliveries", id)
		}
		now := h.now()
		d.State, d.Attempts, d.FirstFailure, d.NextAttempt, d.Delivered = kvitt.WebhookPending, 0, time.Time{}, now, time.Time{}
		if err := tx.UpdateWebhookDelivery(d); err != nil {
			return err
		}
		return tx.EnqueueJob(&kvitt.Job{Kind: jobWebhookDeliver, Ref: id, RunAt: now})
	})
	if err != nil {
		return nil, err
	}
	h.wakeWorker()
	return d, nil
}

// WebhookWarnings lists the subscriptions kvitt disabled, with why, for
// /readyz: a person must fix the endpoint and enable them again.
func (h *Hub) WebhookWarnings(ctx context.Context) []string {
	subs, err := h.ListWebhooks(ctx)
	if err != nil {
		return []string{"webhooks: cannot read the subscriptions: " + err.Error()}
	}
	var out []string
	for _, s := range subs {
		if !s.Enabled && s.Notice != "" {
			out = append(out, fmt.Sprintf("webhook %s (%s): %s", s.ID, s.URL, s.Notice))
		}
	}
	return out
}
