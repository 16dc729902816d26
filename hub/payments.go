package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/internal/crashpoint"
)

// PaymentInput is what a till sends to pay (part of) a sale.
type PaymentInput struct {
	Method string
	// Amount is what this tender pays of the sale, in minor units. For cash,
	// the remaining balance may be given either exactly or rounded to the
	// currency's cash unit; the rounding is recorded.
	Amount int64
	// Tendered is the cash the customer handed over (cash only; default Amount).
	Tendered int64
	// PayerAlias is the customer's phone number for e-commerce Swish.
	PayerAlias string
	// Confirmed is the cashier's confirmation of a payment they checked by
	// hand (manual Swish: seen in the customer's Swish app), and
	// ConfirmedBy who confirmed. Only methods that ask for it take it.
	Confirmed      bool
	ConfirmedBy    string
	IdempotencyKey string
}

// cashierConfirmer is a provider whose payments the cashier confirms by
// hand (manual Swish): only its payments take PaymentInput.Confirmed.
type cashierConfirmer interface{ CashierConfirms() bool }

// Causes of payment transitions, kept on each event.
const (
	CauseAPI      = "api"
	CauseProvider = "provider"
	CauseCallback = "callback"
	CausePoller   = "poller"
	CauseRecovery = "recovery"
	CauseSandbox  = "sandbox"
	CauseOperator = "operator"
	CauseRefund   = "refund"
)

// CreatePayment stores a payment for a sale and sends it to the provider.
// The payment, with its provider reference, is committed before the first
// request leaves; if the answer is lost, the sync job asks for its status by
// that reference. Errors: EUNPROCESSABLE (field), ECONFLICT (sale completed,
// fully paid, or a payment still in progress), ENOTFOUND.
func (h *Hub) CreatePayment(ctx context.Context, saleID string, in PaymentInput) (*kvitt.Payment, error) {
	prov, ok := h.providers[in.Method]
	if !ok {
		ms := h.Methods()
		sort.Strings(ms)
		if in.Method == "" {
			return nil, kvitt.FieldError("method", "is required (one of: %s)", strings.Join(ms, ", "))
		}
		return nil, kvitt.FieldError("method", "%q is not enabled here (enabled: %s)", in.Method, strings.Join(ms, ", "))
	}
	instant, isInstant := prov.(kvitt.Instant)
	var p *kvitt.Payment
	var till *kvitt.Till
	var replay bool
	now := h.now()
	err := h.update(ctx, func(tx kvitt.Tx) error {
		// Everything below checks what the sale still owes: racing requests,
		// on this node or another, check one after the other.
		if err := tx.Lock(saleLock(saleID)); err != nil {
			return err
		}
		if in.IdempotencyKey != "" {
			if existing, err := tx.PaymentByIdempotencyKey(in.IdempotencyKey); err == nil {
				if existing.SaleID != saleID || existing.Method != in.Method || (in.Amount != existing.Amount && in.Amount != existing.Applied()) {
					return idempotencyMismatch("payment", existing.ID)
				}
				p, replay = existing, true
				return nil
			}
		}
		sale, err := tx.GetSale(saleID)
		if err != nil {
			return err
		}
		switch sale.State {
		case kvitt.SaleCompleted:
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is completed; it takes no more payments", saleID)
		case kvitt.SaleCancelled:
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is cancelled", saleID)
		}
		if sale.Training && in.Method != "cash" {
			return kvitt.FieldError("method", "a training sale takes cash only: no real money may move in training mode")
		}
		if till, err = tx.GetTill(sale.TillID); err != nil {
			return err
		}
		if err := checkMethodEnabled(tx, till.ID, in.Method); err != nil {
			return err
		}
		ps, err := tx.ListSalePayments(saleID)
		if err != nil {
			return err
		}
		paid, _, openP := balance(sale, ps)
		if openP != nil {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s (%s) is still in progress; wait for it or cancel it first", openP.ID, openP.Method)
		}
		due := sale.Total - paid
		if due <= 0 {
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is fully paid; complete it", saleID)
		}
		if w, ok := prov.(kvitt.WholeAmountOnly); ok && w.WholeAmountOnly() {
			if paid != 0 || in.Amount != sale.Total {
				return kvitt.FieldError("amount", "%s takes the whole sale alone (%s), not a part: no split with other means of payment",
					in.Method, kvitt.FormatAmount(sale.Total, sale.Currency))
			}
		}
		if err := h.noSplitWith(ps, in.Method); err != nil {
			return err
		}
		p = &kvitt.Payment{ID: kvitt.NewID("pay"), SaleID: saleID, TillID: sale.TillID, Method: in.Method, Currency: sale.Currency,
			State: kvitt.PaymentCreated, Reference: prov.NewReference(), Provider: map[string]string{}, IdempotencyKey: in.IdempotencyKey}
		if err := setAmount(p, in, due); err != nil {
			return err
		}
		if in.PayerAlias != "" {
			p.Provider["payer_alias"] = in.PayerAlias
		}
		if in.Confirmed {
			if c, ok := prov.(cashierConfirmer); !ok || !c.CashierConfirms() {
				return kvitt.FieldError("confirmed", "is for methods the cashier confirms by hand (swish_manual), not %s", in.Method)
			}
			p.Provider["confirmed"] = "true"
			if in.ConfirmedBy != "" {
				p.Provider["confirmed_by"] = in.ConfirmedBy
			}
		}
		if v, ok := prov.(kvitt.PaymentValidator); ok {
			if err := v.ValidatePayment(p); err != nil {
				return err
			}
		}
		if isInstant {
			u := instant.Settle(p)
			if u.State != kvitt.PaymentCreated {
				p.State = u.State
				p.Message = u.Message
			}
		} else {
			p.Deadline = now.Add(h.ProviderTimeout)
			// The Start leaves right after this commit: until it can no
			// longer be on its way or being served, "nothing found" at the
			// provider proves nothing, on this node or any other.
			flight := h.ProviderTimeout
			if _, ok := prov.(kvitt.LongRunning); ok {
				flight = h.LongRunningTimeout
			}
			p.InFlightUntil = now.Add(flight + h.InFlightGrace)
			// The safety net: whatever happens to this process, the job asks
			// the provider about the payment.
			first := 10 * time.Second
			if err := tx.EnqueueJob(&kvitt.Job{Kind: jobPaymentSync, Ref: p.ID, RunAt: now.Add(first)}); err != nil {
				return err
			}
		}
		if err := tx.CreatePayment(p); err != nil {
			return err
		}
		if err := h.recordTransition(tx, p, "", kvitt.PaymentCreated, CauseAPI, ""); err != nil {
			return err
		}
		if p.State != kvitt.PaymentCreated {
			return h.recordTransition(tx, p, kvitt.PaymentCreated, p.State, CauseProvider, p.Message)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if replay || isInstant {
		if !replay {
			h.notify(p)
		}
		return p, nil
	}
	crashpoint.Hit("payment.before-start") // the payment is committed; nothing has been sent to the provider
	h.wakeWorker()
	if lr, ok := prov.(kvitt.LongRunning); ok {
		if p2, err := h.apply(ctx, p.ID, lr.Pending(till, p), CauseAPI); err == nil {
			p = p2
		}
		h.startInBackground(prov, till, p)
		return p, nil
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	start := time.Now()
	u, err := prov.Start(cctx, till, p)
	h.providerCalled(cctx, p.Method, "start", start, err, u.ErrorCode)
	if err != nil {
		// The outcome is unknown: the payment stays as stored, and the sync
		// job asks the provider by the same reference. Never a second charge.
		h.Logger.Warn("payment start: no answer", "payment", p.ID, "method", p.Method, "err", err)
		// The till may have gone (its request cancelled): the bookkeeping
		// of the lost answer is done all the same.
		bg := context.WithoutCancel(ctx)
		h.scheduleSync(bg, p.ID, time.Second)
		return h.applyWith(bg, p.ID, kvitt.Update{}, CauseProvider, applyEndFlight)
	}
	return h.applyWith(context.WithoutCancel(ctx), p.ID, u, CauseProvider, applyEndFlight)
}

// noSplitWith refuses another tender on a sale that a whole-amount-only
// method has a captured or open payment on (paid back in full, it no longer
// counts).
func (h *Hub) noSplitWith(ps []*kvitt.Payment, method string) error {
	for _, p := range ps {
		if p.Attention != "" || !(p.State.Captured() || p.State.Open()) || p.State == kvitt.PaymentRefunded {
			continue
		}
		if w, ok := h.providers[p.Method].(kvitt.WholeAmountOnly); ok && w.WholeAmountOnly() && p.Method != method {
			return kvitt.FieldError("method", "this sale is paid with %s, which takes the whole sale alone: no split with %s", p.Method, method)
		}
	}
	return nil
}

// saleLock names the lock that serializes every check of what a sale owes
// and of what its payments have left to refund (kvitt.Tx.Lock).
func saleLock(saleID string) string { return "sale:" + saleID }

// idempotencyMismatch is the answer to an Idempotency-Key reused for another request.
func idempotencyMismatch(what, id string) error {
	return &kvitt.Error{Code: kvitt.ECONFLICT, Field: "Idempotency-Key",
		Message: fmt.Sprintf("this key already created %s %s for another request; use a new key for a new request", what, id)}
}

// setAmount validates the amount against what is due and fills cash fields.
func setAmount(p *kvitt.Payment, in PaymentInput, due int64) error {
	if in.Amount <= 0 {
		return kvitt.FieldError("amount", "must be above zero (minor units, e.g. 12550 for 125.50 %s)", p.Currency)
	}
	if in.Amount > kvitt.MaxAmount {
		return kvitt.FieldError("amount", "is above the maximum %s", kvitt.FormatAmount(kvitt.MaxAmount, p.Currency))
	}
	if p.Method != "cash" {
		if in.Tendered != 0 {
			return kvitt.FieldError("tendered", "is for cash payments only")
		}
		if in.Amount > due {
			return kvitt.FieldError("amount", "%s is more than the %s left to pay", kvitt.FormatAmount(in.Amount, p.Currency), kvitt.FormatAmount(due, p.Currency))
		}
		p.Amount = in.Amount
		return nil
	}
	rounded := p.Currency.RoundCash(due)
	unit := p.Currency.CashUnit()
	switch {
	case in.Amount == due || (in.Amount == rounded && rounded > 0):
		// Paying the rest in cash: round it to what coins can pay. A rest
		// below half the smallest coin rounds to nothing: the payment of
		// 0.00 records the rounding, and the sale is paid.
		p.Amount, p.Rounding = rounded, rounded-due
	case in.Amount < due:
		if in.Amount%unit != 0 {
			return kvitt.FieldError("amount", "cash pays multiples of %s %s; pay the rest (%s) to have it rounded",
				kvitt.FormatAmount(unit, p.Currency), p.Currency, kvitt.FormatAmount(due, p.Currency))
		}
		p.Amount = in.Amount
	default:
		return kvitt.FieldError("amount", "%s is more than the %s left to pay; put what the customer handed over in tendered",
			kvitt.FormatAmount(in.Amount, p.Currency), kvitt.FormatAmount(due, p.Currency))
	}
	p.Tendered = in.Tendered
	if p.Tendered == 0 {
		p.Tendered = p.Amount
	}
	if p.Tendered%unit != 0 && p.Tendered != p.Amount {
		return kvitt.FieldError("tendered", "cash comes in multiples of %s %s", kvitt.FormatAmount(unit, p.Currency), p.Currency)
	}
	if p.Tendered < p.Amount {
		return kvitt.FieldError("tendered", "%s is less than the amount %s", kvitt.FormatAmount(p.Tendered, p.Currency), kvitt.FormatAmount(p.Amount, p.Currency))
	}
	if p.Tendered > kvitt.MaxAmount {
		return kvitt.FieldError("tendered", "is above the maximum")
	}
	p.Change = p.Tendered - p.Amount
	return nil
}

// waiting holds the ids of payments and refunds whose long-running call this
// process is waiting on. Asking the provider about them meanwhile would only
// disturb it (a terminal serves one request at a time), so this node's sync
// job leaves them alone. It decides nothing about money: InFlightUntil,
// stored, does that for every node.
var waiting sync.Map

// startInBackground sends a long-running Start (a card terminal holds it
// until the customer is done). Before it sends, it re-reads the stored
// payment: a cancel that came first wins, and nothing leaves.
func (h *Hub) startInBackground(prov kvitt.Provider, till *kvitt.Till, p *kvitt.Payment) {
	waiting.Store(p.ID, struct{}{})
	h.goBackground(func(ctx context.Context) {
		defer waiting.Delete(p.ID)
		bg := context.WithoutCancel(ctx)
		cur, err := h.GetPayment(bg, p.ID)
		if err != nil {
			h.Logger.Error("payment start: re-read", "payment", p.ID, "err", err)
			return
		}
		if !cur.CancelRequested.IsZero() || !cur.State.Open() {
			// Nothing was sent, and only this call sends the Start: the
			// payment is certainly not at the provider.
			if _, err := h.applyWith(bg, p.ID, kvitt.Update{State: kvitt.PaymentCancelled, Message: "Cancelled before it reached the " + p.Method + " provider."},
				CauseAPI, applyEndFlight); err != nil {
				h.Logger.Error("payment start: cancel before sending", "payment", p.ID, "err", err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(ctx, h.LongRunningTimeout)
		defer cancel()
		start := time.Now()
		u, err := prov.Start(ctx, till, cur)
		h.providerCalled(ctx, p.Method, "start", start, err, u.ErrorCode)
		if err != nil {
			// The terminal may still be serving the request: the payment
			// stays in flight until InFlightUntil, then the sync job asks.
			h.Logger.Warn("payment start: no answer", "payment", p.ID, "method", p.Method, "err", err)
			h.scheduleSync(bg, p.ID, time.Second)
			return
		}
		if _, err := h.applyWith(bg, p.ID, u, CauseProvider, applyEndFlight); err != nil {
			h.Logger.Error("apply provider answer", "payment", p.ID, "err", err)
		}
	})
}

func (h *Hub) scheduleSync(ctx context.Context, paymentID string, after time.Duration) {
	err := h.update(ctx, func(tx kvitt.Tx) error {
		return tx.EnqueueJob(&kvitt.Job{Kind: jobPaymentSync, Ref: paymentID, RunAt: h.now().Add(after)})
	})
	if err != nil {
		h.Logger.Error("schedule sync", "payment", paymentID, "err", err)
	}
	h.wakeWorker()
}

// GetPayment returns a payment.
func (h *Hub) GetPayment(ctx context.Context, id string) (*kvitt.Payment, error) {
	var p *kvitt.Payment
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { p, err = tx.GetPayment(id); return err })
	return p, err
}

// PaymentEvents returns a payment's events after seq.
func (h *Hub) PaymentEvents(ctx context.Context, id string, afterSeq int64) ([]*kvitt.PaymentEvent, error) {
	var es []*kvitt.PaymentEvent
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) {
		if _, err := tx.GetPayment(id); err != nil {
			return err
		}
		es, err = tx.ListPaymentEvents(id, afterSeq)
		return err
	})
	return es, err
}

// apply applies a provider's update to the stored payment as a
// compare-and-set, retrying on a concurrent change, and returns the payment
// as stored afterwards. An illegal transition (a late "cancelled" after
// "paid") is ignored and logged: the first definite outcome wins.
func (h *Hub) apply(ctx context.Context, id string, u kvitt.Update, cause string) (*kvitt.Payment, error) {
	return h.applyWith(ctx, id, u, cause, 0)
}

// applyFlags modify apply.
type applyFlags int

const (
	// applyEndFlight: u is the answer to kvitt's own Start (or its loss):
	// no request of kvitt's is in flight any more.
	applyEndFlight applyFlags = 1 << iota
)

func (h *Hub) applyWith(ctx context.Context, id string, u kvitt.Update, cause string, flags applyFlags) (*kvitt.Payment, error) {
	for attempt := 0; ; attempt++ {
		var p *kvitt.Payment
		var changed bool
		err := h.update(ctx, func(tx kvitt.Tx) (err error) {
			p, err = tx.GetPayment(id)
			if err != nil {
				return err
			}
			changed, err = h.applyTo(tx, p, u, cause, flags)
			return err
		})
		if isCode(err, kvitt.ECONFLICT) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if changed {
			h.notify(p)
		}
		return p, nil
	}
}

// applyTo merges u into p inside tx and stores it. It reports whether anything changed.
//
// Two rules keep a late truth from being lost (DESIGN.md principle 8):
//   - While a Start of kvitt's may still be in flight, an answer that nothing
//     was taken (declined, cancelled, expired, failed) from anyone but that
//     Start itself decides nothing: the request may still arrive and be paid.
//     The sync job asks again once the flight is over.
//   - Money reported taken for a payment kvitt had ended without it is never
//     dropped: the payment moves to paid (or authorized) and needs a person.
func (h *Hub) applyTo(tx kvitt.Tx, p *kvitt.Payment, u kvitt.Update, cause string, flags applyFlags) (bool, error) {
	now := h.now()
	before := *p
	beforeProvider := maps.Clone(p.Provider)
	endFlight := flags&applyEndFlight != 0
	if endFlight {
		p.InFlightUntil = time.Time{}
	}
	late := u.State != "" && kvitt.LateCapture(p.State, u.State)
	if u.State != "" && u.State != p.State && !late && !kvitt.CanTransition(p.State, u.State) {
		h.Logger.Info("ignored transition", "payment", p.ID, "from", p.State, "to", u.State, "cause", cause)
		if !before.InFlightUntil.Equal(p.InFlightUntil) {
			return true, tx.UpdatePayment(p)
		}
		return false, nil
	}
	if u.State != "" && !u.State.Open() && !u.State.Captured() && p.InFlightUntil.After(now) {
		h.Logger.Info("in flight: not concluding", "payment", p.ID, "to", u.State, "cause", cause, "until", p.InFlightUntil)
		return false, tx.EnqueueJob(&kvitt.Job{Kind: jobPaymentSync, Ref: p.ID, RunAt: p.InFlightUntil})
	}
	if len(u.Provider) > 0 {
		if p.Provider == nil {
			p.Provider = map[string]string{}
		}
		maps.Copy(p.Provider, u.Provider)
	}
	if u.Action != nil {
		p.Action = u.Action
	}
	if u.Card != nil {
		p.Card = u.Card
	}
	if u.Tip != 0 {
		p.Tip = u.Tip
	}
	if u.ErrorCode != "" {
		p.ErrorCode = u.ErrorCode
	}
	if u.Message != "" {
		p.Message = u.Message
	}
	if !u.Deadline.IsZero() {
		p.Deadline = u.Deadline
	}
	from := p.State
	if u.State != "" {
		p.State = u.State
	}
	if late {
		p.Attention = lateAttention(from)
		p.Message = fmt.Sprintf("The %s provider reports this payment %s after kvitt had booked it %s: the customer's money was taken. "+
			"Refund it, or complete the sale with it.", p.Method, p.State, from)
		h.Logger.Warn("money taken after the payment had ended", "payment", p.ID, "sale", p.SaleID, "from", from, "to", p.State, "cause", cause)
	}
	if !p.State.Open() {
		p.Action = nil // nothing left for the till to show
	}
	stateChanged := p.State != from
	if !stateChanged && !paymentDataChanged(&before, p, beforeProvider) {
		return false, nil
	}
	if endFlight && !p.CancelRequested.IsZero() && p.State.Open() && p.State != kvitt.PaymentUnknown {
		// The cashier cancelled while the Start was on its way: now the
		// provider knows the payment, the sync job sends the cancel.
		if err := tx.EnqueueJob(&kvitt.Job{Kind: jobPaymentSync, Ref: p.ID, RunAt: now}); err != nil {
			return false, err
		}
	}
	if err := tx.UpdatePayment(p); err != nil {
		return false, err
	}
	if stateChanged {
		if err := h.recordTransition(tx, p, from, p.State, cause, p.Message); err != nil {
			return false, err
		}
	}
	switch {
	case p.State.Open() && p.State != kvitt.PaymentUnknown && u.Retry > 0:
		if err := tx.EnqueueJob(&kvitt.Job{Kind: jobPaymentSync, Ref: p.ID, RunAt: h.now().Add(u.Retry)}); err != nil {
			return false, err
		}
	case stateChanged && (!p.State.Open() || p.State == kvitt.PaymentUnknown):
		// Decided (or left to a person): nothing more to ask the provider.
		if err := tx.CancelJob(jobPaymentSync, p.ID); err != nil {
			return false, err
		}
	}
	return true, nil
}

func paymentDataChanged(a, b *kvitt.Payment, aProvider map[string]string) bool {
	return !maps.Equal(aProvider, b.Provider) || a.Tip != b.Tip || a.ErrorCode != b.ErrorCode || a.Message != b.Message ||
		!a.Deadline.Equal(b.Deadline) || fmt.Sprint(a.Action) != fmt.Sprint(b.Action) || fmt.Sprint(a.Card) != fmt.Sprint(b.Card) ||
		a.Refunded != b.Refunded || a.Attention != b.Attention || !a.InFlightUntil.Equal(b.InFlightUntil)
}

func lateAttention(from kvitt.PaymentState) string {
	switch from {
	case kvitt.PaymentCancelled:
		return kvitt.AttentionPaidAfterCancelled
	case kvitt.PaymentExpired:
		return kvitt.AttentionPaidAfterExpired
	case kvitt.PaymentDeclined:
		return kvitt.AttentionPaidAfterDeclined
	}
	return kvitt.AttentionPaidAfterFailed
}

// recordTransition appends the payment event and the journal entry.
func (h *Hub) recordTransition(tx kvitt.Tx, p *kvitt.Payment, from, to kvitt.PaymentState, cause, msg string) error {
	now := h.now()
	if err := tx.AppendPaymentEvent(&kvitt.PaymentEvent{PaymentID: p.ID, From: from, To: to, Cause: cause, Message: msg, At: now}); err != nil {
		return err
	}
	data, _ := json.Marshal(struct {
		Payment  string `json:"payment"`
		Sale     string `json:"sale"`
		Method   string `json:"method"`
		Amount   int64  `json:"amount"`
		Tip      int64  `json:"tip,omitempty"`
		Refunded int64  `json:"refunded,omitempty"`
		Currency string `json:"currency"`
		From     string `json:"from"`
		To       string `json:"to"`
		Cause    string `json:"cause"`
	}{p.ID, p.SaleID, p.Method, p.Amount, p.Tip, p.Refunded, string(p.Currency), string(from), string(to), cause})
	method := p.Method
	afterCommit(tx, func() { h.metrics.PaymentTransition(method, to) })
	return tx.AppendJournal(&kvitt.JournalEntry{At: now, Kind: "payment.state", Ref: p.ID, Data: string(data)})
}

func (h *Hub) notify(p *kvitt.Payment) {
	h.events.Publish(p.ID)
	h.events.Publish("sale:" + p.SaleID)
	h.events.Publish(TillKey(p.TillID))
}

// TillKey is the Subscribe key woken by a change of any payment at the till.
func TillKey(tillID string) string { return "till:" + tillID }

// SyncPayment asks the provider for the payment's state now and applies it:
// for an open payment, and for one kvitt ended without money (declined,
// cancelled, expired, failed), whose provider may still report it paid (a
// callback about it is such a hint). A paid or refunded payment has nothing
// left to learn.
func (h *Hub) SyncPayment(ctx context.Context, id, cause string) (*kvitt.Payment, error) {
	p, err := h.GetPayment(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.State.Open() && !kvitt.LateCapture(p.State, kvitt.PaymentPaid) {
		return p, nil
	}
	prov, till, err := h.providerFor(ctx, p)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	start := time.Now()
	u, err := prov.Status(cctx, till, p)
	h.providerCalled(cctx, p.Method, "status", start, err, u.ErrorCode)
	if err != nil {
		return p, providerUnreachable(p.Method, err)
	}
	return h.apply(ctx, id, u, cause)
}

func providerUnreachable(method string, err error) error {
	if c := kvitt.ErrorCode(err); c != kvitt.EINTERNAL {
		return err
	}
	return &kvitt.Error{Code: kvitt.EUNAVAILABLE, Message: fmt.Sprintf("%s did not answer; kvitt keeps asking and will show the outcome", method)}
}

func (h *Hub) providerFor(ctx context.Context, p *kvitt.Payment) (kvitt.Provider, *kvitt.Till, error) {
	prov, ok := h.providers[p.Method]
	if !ok {
		return nil, nil, kvitt.Errorf(kvitt.EUNAVAILABLE, "payment method %q is not configured on this server", p.Method)
	}
	var till *kvitt.Till
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { till, err = tx.GetTill(p.TillID); return err })
	return prov, till, err
}

// CancelPayment asks the provider to stop a payment that is not yet paid (the
// cashier aborts). If the provider reports it paid meanwhile, it stays paid.
func (h *Hub) CancelPayment(ctx context.Context, id string) (*kvitt.Payment, error) {
	p, err := h.GetPayment(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case p.State == kvitt.PaymentCancelled:
		return p, nil
	case p.State.Captured():
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "payment %s is %s; refund it instead", id, p.State)
	case !p.State.Open():
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "payment %s is already %s", id, p.State)
	}
	prov, till, err := h.providerFor(ctx, p)
	if err != nil {
		return nil, err
	}
	// Remember the cashier's wish first: if the Start is still on its way,
	// the provider cannot take the cancel yet, and the sync job (or the
	// background Start, which then sends nothing) carries it out.
	if p, err = h.requestCancel(ctx, id); err != nil {
		return nil, err
	}
	if !p.State.Open() {
		return p, nil
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	start := time.Now()
	u, err := prov.Cancel(cctx, till, p)
	h.providerCalled(cctx, p.Method, "cancel", start, err, u.ErrorCode)
	if err != nil {
		h.scheduleSync(ctx, id, time.Second)
		return nil, providerUnreachable(p.Method, err)
	}
	if u.State == "" {
		// The provider took the cancel; the outcome comes with the payment's own answer.
		return h.GetPayment(ctx, id)
	}
	return h.apply(ctx, id, u, CauseAPI)
}

// requestCancel stores the cashier's cancel on an open payment.
func (h *Hub) requestCancel(ctx context.Context, id string) (*kvitt.Payment, error) {
	var p *kvitt.Payment
	err := h.update(ctx, func(tx kvitt.Tx) (err error) {
		if p, err = tx.GetPayment(id); err != nil || !p.State.Open() || !p.CancelRequested.IsZero() {
			return err
		}
		p.CancelRequested = h.now()
		return tx.UpdatePayment(p)
	})
	return p, err
}

// ResolvePayment lets a person settle a payment whose outcome is unknown,
// after checking with the provider or the customer's bank; or keep a payment
// whose money arrived after kvitt had ended it (Attention), completing the
// sale with it. by names who decided; it goes into the event log with note.
func (h *Hub) ResolvePayment(ctx context.Context, id string, to kvitt.PaymentState, note, by string) (*kvitt.Payment, error) {
	p, err := h.GetPayment(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Attention != "" {
		return h.keepLatePayment(ctx, p, to, note, by)
	}
	if p.State != kvitt.PaymentUnknown {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "payment %s is %s; only an unknown payment is resolved by hand", id, p.State)
	}
	switch to {
	case kvitt.PaymentPaid, kvitt.PaymentFailed, kvitt.PaymentDeclined, kvitt.PaymentCancelled:
	default:
		return nil, kvitt.FieldError("state", "must be paid, failed, declined or cancelled")
	}
	if note == "" {
		return nil, kvitt.FieldError("note", "say how the outcome was established (e.g. \"customer's bank confirmed\")")
	}
	return h.apply(ctx, id, kvitt.Update{State: to, Message: "Resolved by hand by " + by + ": " + note}, CauseOperator)
}

// keepLatePayment lets a person keep money that arrived after kvitt had
// ended the payment: the payment then counts for its sale like any other,
// which must still be open and owe at least that much. The other choice is
// to refund it (POST /v1/payments/{id}/refunds).
func (h *Hub) keepLatePayment(ctx context.Context, p *kvitt.Payment, to kvitt.PaymentState, note, by string) (*kvitt.Payment, error) {
	if to != kvitt.PaymentPaid {
		return nil, kvitt.FieldError("state", "must be paid: the customer's money was taken; keep it (paid), or refund the payment instead")
	}
	if note == "" {
		return nil, kvitt.FieldError("note", "say why the payment is kept (e.g. \"customer chose to pay with it\")")
	}
	var out *kvitt.Payment
	err := h.update(ctx, func(tx kvitt.Tx) error {
		if err := tx.Lock(saleLock(p.SaleID)); err != nil {
			return err
		}
		cur, err := tx.GetPayment(p.ID)
		if err != nil {
			return err
		}
		if cur.Attention == "" {
			out = cur
			return nil
		}
		if !cur.State.Captured() || cur.Refunded > 0 {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s is %s with %s refunded; finish refunding it instead", cur.ID, cur.State,
				kvitt.FormatAmount(cur.Refunded, cur.Currency))
		}
		sale, err := tx.GetSale(cur.SaleID)
		if err != nil {
			return err
		}
		if sale.State != kvitt.SaleOpen {
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is %s; it takes no more money: refund payment %s instead", sale.ID, sale.State, cur.ID)
		}
		ps, err := tx.ListSalePayments(sale.ID)
		if err != nil {
			return err
		}
		paid, _, openP := balance(sale, ps)
		if openP != nil {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s is still in progress on this sale; wait for it or cancel it first", openP.ID)
		}
		if due := sale.Total - paid; cur.Applied() > due {
			return kvitt.Errorf(kvitt.ECONFLICT, "the sale owes %s, less than this payment's %s: refund payment %s instead",
				kvitt.FormatAmount(due, sale.Currency), kvitt.FormatAmount(cur.Applied(), cur.Currency), cur.ID)
		}
		cur.Attention = ""
		cur.Message = "Kept for the sale by " + by + ": " + note
		if err := tx.UpdatePayment(cur); err != nil {
			return err
		}
		out = cur
		return h.recordTransition(tx, cur, cur.State, cur.State, CauseOperator, cur.Message)
	})
	if err == nil {
		h.notify(out)
	}
	return out, err
}

// ActAsCustomer acts as the customer for a payment through the method's simulator.
func (h *Hub) ActAsCustomer(ctx context.Context, id string, action kvitt.CustomerAction, opts kvitt.CustomerOptions) (*kvitt.Payment, error) {
	if !h.Sandbox {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "the sandbox is off on this server")
	}
	switch action {
	case kvitt.CustomerApprove, kvitt.CustomerDecline, kvitt.CustomerCancel, kvitt.CustomerTimeout:
	default:
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "no sandbox action %q (approve, decline, cancel, timeout)", action)
	}
	p, err := h.GetPayment(ctx, id)
	if err != nil {
		return nil, err
	}
	cust, ok := h.customers[p.Method]
	if !ok {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "%s payments have no customer to simulate", p.Method)
	}
	if !p.State.Open() || p.State == kvitt.PaymentUnknown {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "payment %s is %s; it is not waiting for the customer", id, p.State)
	}
	_, till, err := h.providerFor(ctx, p)
	if err != nil {
		return nil, err
	}
	wake, unsub := h.Subscribe(id)
	defer unsub()
	if err := cust.Act(ctx, till, p, action, opts); err != nil {
		return nil, err
	}
	if _, isLong := h.providers[p.Method].(kvitt.LongRunning); !isLong {
		if _, err := h.SyncPayment(ctx, id, CauseSandbox); err != nil {
			return nil, err
		}
	}
	// Give the provider's answer a moment to arrive, so the caller sees the outcome.
	return waitChange(ctx, wake, func() (*kvitt.Payment, bool, error) {
		cur, err := h.GetPayment(ctx, id)
		return cur, err == nil && cur.State != p.State, err
	})
}

// waitChange re-reads with get at every wake-up until it reports a change,
// an error, or three seconds pass, and returns the last value read.
func waitChange[T any](ctx context.Context, wake <-chan struct{}, get func() (T, bool, error)) (T, error) {
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	for {
		v, changed, err := get()
		if err != nil || changed {
			return v, err
		}
		select {
		case <-wake:
		case <-deadline.C:
			return v, nil
		case <-ctx.Done():
			return v, ctx.Err()
		}
	}
}

// Callback takes a provider's callback: the adapter authenticates it and
// names the reference; the hub re-reads the state from the provider.
func (h *Hub) Callback(ctx context.Context, method string, r *http.Request) error {
	prov, ok := h.providers[method]
	if !ok {
		return kvitt.Errorf(kvitt.ENOTFOUND, "no method %q", method)
	}
	rcv, ok := prov.(kvitt.CallbackReceiver)
	if !ok {
		return kvitt.Errorf(kvitt.ENOTFOUND, "%s takes no callbacks", method)
	}
	ref, err := rcv.ParseCallback(r)
	if err != nil {
		return err
	}
	if ref == "" {
		// Authentic, and taken by the adapter, but about no payment (a
		// customer who scanned a till's QR before the payment exists).
		return nil
	}
	var p *kvitt.Payment
	var refund *kvitt.Refund
	err = h.Store.View(ctx, func(tx kvitt.Tx) error {
		var err error
		if p, err = tx.PaymentByReference(method, ref); err == nil {
			return nil
		}
		refund, err = tx.RefundByReference(method, ref)
		return err
	})
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		// Authentic, but about nothing kvitt holds (a payment another
		// system made with the same merchant account): taken, so the
		// provider does not retry it for days.
		h.Logger.Warn("callback for an unknown reference", "method", method, "reference", ref)
		return nil
	}
	if err != nil {
		return err
	}
	if refund != nil {
		_, err = h.SyncRefund(ctx, refund.ID, CauseCallback)
		return err
	}
	_, err = h.SyncPayment(ctx, p.ID, CauseCallback)
	if err != nil {
		// The callback arrived; the re-read failed. The poller will try again.
		h.scheduleSync(ctx, p.ID, time.Second)
	}
	return nil
}

// DisabledMethodsKey is the setting holding the payment methods disabled
// at a till (a JSON array of method names), set by the back office with
// PUT /v1/tills/{id}/disabled-methods.
func DisabledMethodsKey(tillID string) string { return "disabled_methods:till:" + tillID }

// DisabledMethods returns the methods disabled at a till (none when never set).
func DisabledMethods(tx kvitt.Tx, tillID string) ([]string, error) {
	v, err := tx.GetSetting(DisabledMethodsKey(tillID))
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, kvitt.Errorf(kvitt.EINTERNAL, "the disabled methods of till %s are not readable: %v", tillID, err)
	}
	return out, nil
}

// checkMethodEnabled refuses a payment by a method disabled at the till.
func checkMethodEnabled(tx kvitt.Tx, tillID, method string) error {
	off, err := DisabledMethods(tx, tillID)
	if err != nil {
		return err
	}
	for _, m := range off {
		if m == method {
			return kvitt.FieldError("method", "%q is disabled at till %s (enable it in the back office's settings)", method, tillID)
		}
	}
	return nil
}
