package hub

import (
	"context"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// RefundInput asks to give back part or all of a payment.
type RefundInput struct {
	// Amount to give back: goods first, then the tip (hub/returns.go). In
	// cash it is the goods' value (the drawer pays it rounded), or what the
	// drawer pays for all the goods left. With Lines it may be left 0.
	Amount int64
	// Lines, for a completed sale, name the goods taken back.
	Lines          []kvitt.ReturnLine
	IdempotencyKey string
}

// CreateRefund refunds a captured payment by the same method, never above
// what is left (refunds in progress count as taken). The refund is stored
// with its provider reference before the provider is called. Errors:
// EUNPROCESSABLE (amount), ECONFLICT (payment not paid), ENOTFOUND.
func (h *Hub) CreateRefund(ctx context.Context, paymentID string, in RefundInput) (*kvitt.Refund, error) {
	var r *kvitt.Refund
	var p *kvitt.Payment
	var prov kvitt.Provider
	var instant kvitt.Instant
	var replay bool
	now := h.now()
	err := h.update(ctx, func(tx kvitt.Tx) error {
		// A payment's sale never changes: find it, lock it, then read
		// everything the checks below depend on.
		var err error
		if p, err = tx.GetPayment(paymentID); err != nil {
			return err
		}
		if err := tx.Lock(saleLock(p.SaleID)); err != nil {
			return err
		}
		if p, err = tx.GetPayment(paymentID); err != nil {
			return err
		}
		if in.IdempotencyKey != "" {
			if existing, err := tx.RefundByIdempotencyKey(in.IdempotencyKey); err == nil {
				if existing.PaymentID != paymentID || (in.Amount != 0 && in.Amount != existing.Amount && in.Amount != existing.Goods()) {
					return idempotencyMismatch("refund", existing.ID)
				}
				r, replay = existing, true
				return nil
			}
		}
		var ok bool
		if prov, ok = h.providers[p.Method]; !ok {
			return kvitt.Errorf(kvitt.EUNAVAILABLE, "payment method %q is not configured on this server", p.Method)
		}
		if !p.State.Captured() {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s is %s; only a paid payment can be refunded", paymentID, p.State)
		}
		sale, err := tx.GetSale(p.SaleID)
		if err != nil {
			return err
		}
		// What is left, in goods, tip and cash rounding: see hub/returns.go.
		plan, err := planRefund(tx, p, sale, in.Amount, in.Lines)
		if err != nil {
			return err
		}
		r = &kvitt.Refund{ID: kvitt.NewID("ref"), PaymentID: p.ID, Amount: plan.Amount, Tip: plan.Tip, Rounding: plan.Rounding, Currency: p.Currency,
			State: kvitt.RefundCreated, Reference: prov.NewReference(), IdempotencyKey: in.IdempotencyKey, Lines: plan.Lines}
		if _, isInstant := prov.(kvitt.Instant); !isInstant {
			// As for payments: until kvitt's own request can no longer be on
			// its way, "nothing found" at the provider proves nothing.
			r.InFlightUntil = now.Add(h.flightOf(prov) + h.InFlightGrace)
		}
		if err := tx.CreateRefund(r); err != nil {
			return err
		}
		if err := journalRefund(tx, now, r, ""); err != nil {
			return err
		}
		if instant, ok = prov.(kvitt.Instant); ok {
			return h.applyRefundTo(tx, p, r, instant.SettleRefund(p, r))
		}
		return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: now.Add(30 * time.Second)})
	})
	if err != nil || replay {
		return r, err
	}
	if instant != nil {
		h.registerReturn(ctx, r)
		h.notify(p)
		return h.GetRefund(ctx, r.ID)
	}
	till, err := h.tillOf(ctx, p)
	if err != nil {
		return nil, err
	}
	if _, ok := prov.(kvitt.LongRunning); ok {
		if pr, err := h.applyRefund(ctx, r.ID, kvitt.RefundUpdate{State: kvitt.RefundPending, Message: "Ask the customer to present the card on the terminal."}); err == nil {
			r = pr
		}
		rr := *r
		waiting.Store(rr.ID, struct{}{})
		h.goBackground(func(ctx context.Context) {
			defer waiting.Delete(rr.ID)
			ctx, cancel := context.WithTimeout(ctx, h.LongRunningTimeout)
			defer cancel()
			h.callRefund(ctx, prov, till, p, &rr, true)
		})
		return r, nil
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	return h.callRefund(cctx, prov, till, p, r, false)
}

// flightOf is how long a provider call may take: a long-running one (a card
// terminal) holds the request until the customer is done.
func (h *Hub) flightOf(prov kvitt.Provider) time.Duration {
	if _, ok := prov.(kvitt.LongRunning); ok {
		return h.LongRunningTimeout
	}
	return h.ProviderTimeout
}

// callRefund sends the refund. Its answer ends kvitt's flight; so does a
// lost answer of a short call (the request is over), while a terminal may
// still be serving a long one until the refund's InFlightUntil.
func (h *Hub) callRefund(ctx context.Context, prov kvitt.Provider, till *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund, long bool) (*kvitt.Refund, error) {
	start := time.Now()
	ru, err := prov.Refund(ctx, till, p, r)
	h.providerCalled(ctx, p.Method, "refund", start, err, ru.ErrorCode)
	bg := context.WithoutCancel(ctx)
	if err != nil {
		h.Logger.Warn("refund: no answer", "refund", r.ID, "err", err)
		if !long {
			h.applyRefundWith(bg, r.ID, kvitt.RefundUpdate{}, true)
		}
		h.update(bg, func(tx kvitt.Tx) error {
			return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: h.now().Add(2 * time.Second)})
		})
		h.wakeWorker()
		return h.GetRefund(bg, r.ID)
	}
	return h.applyRefundWith(bg, r.ID, ru, true)
}

func (h *Hub) tillOf(ctx context.Context, p *kvitt.Payment) (*kvitt.Till, error) {
	var t *kvitt.Till
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { t, err = tx.GetTill(p.TillID); return err })
	return t, err
}

// GetRefund returns a refund.
func (h *Hub) GetRefund(ctx context.Context, id string) (*kvitt.Refund, error) {
	var r *kvitt.Refund
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { r, err = tx.GetRefund(id); return err })
	return r, err
}

// ListRefunds returns a payment's refunds.
func (h *Hub) ListRefunds(ctx context.Context, paymentID string) ([]*kvitt.Refund, error) {
	var rs []*kvitt.Refund
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) {
		if _, err := tx.GetPayment(paymentID); err != nil {
			return err
		}
		rs, err = tx.ListRefunds(paymentID)
		return err
	})
	return rs, err
}

func (h *Hub) applyRefund(ctx context.Context, id string, ru kvitt.RefundUpdate) (*kvitt.Refund, error) {
	return h.applyRefundWith(ctx, id, ru, false)
}

// applyRefundWith applies ru; endFlight says it is the answer to kvitt's own
// Refund call (or its loss), after which no request of kvitt's is in flight.
func (h *Hub) applyRefundWith(ctx context.Context, id string, ru kvitt.RefundUpdate, endFlight bool) (*kvitt.Refund, error) {
	for attempt := 0; ; attempt++ {
		var r *kvitt.Refund
		var p *kvitt.Payment
		err := h.update(ctx, func(tx kvitt.Tx) (err error) {
			if r, err = tx.GetRefund(id); err != nil {
				return err
			}
			if p, err = tx.GetPayment(r.PaymentID); err != nil {
				return err
			}
			// A succeeded refund changes the payment's balance and may issue a
			// return receipt: serialized with every other check of the sale.
			if err := tx.Lock(saleLock(p.SaleID)); err != nil {
				return err
			}
			if r, err = tx.GetRefund(id); err != nil {
				return err
			}
			if p, err = tx.GetPayment(r.PaymentID); err != nil {
				return err
			}
			if endFlight && !r.InFlightUntil.IsZero() {
				r.InFlightUntil = time.Time{}
				if err := tx.UpdateRefund(r); err != nil {
					return err
				}
			}
			return h.applyRefundTo(tx, p, r, ru)
		})
		if isCode(err, kvitt.ECONFLICT) && attempt < 5 {
			continue
		}
		if err == nil {
			// The return receipt is registered before anyone is told the
			// refund succeeded: a till that prints on that news prints a
			// registered receipt (unless the control unit is down).
			h.registerReturn(ctx, r)
			h.notify(p)
		}
		return r, err
	}
}

// applyRefundTo moves a refund to its reported state; when it succeeds, the
// payment's refunded sum grows and it becomes partially_refunded or refunded.
// A refund that has succeeded or failed never changes again.
//
// As for payments (applyTo), a late truth is never lost: a "failed" (or
// "not found") while kvitt's own request may still be in flight decides
// nothing, and money reported paid back after kvitt had booked the refund
// failed is counted, with the refund marked for a person.
func (h *Hub) applyRefundTo(tx kvitt.Tx, p *kvitt.Payment, r *kvitt.Refund, ru kvitt.RefundUpdate) error {
	refundFrom := r.State // for the journal
	if r.State == kvitt.RefundFailed && ru.State == kvitt.RefundSucceeded {
		r.Attention = kvitt.AttentionRefundedAfterFailed
		ru.Message = "The provider reports this refund paid out after kvitt had booked it failed: the money went back to the customer. " +
			"Check that no second refund was given for the same goods."
		h.Logger.Warn("refund paid out after it had failed", "refund", r.ID, "payment", p.ID)
		r.State = kvitt.RefundPending // the way to succeeded, below
	}
	if r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		return nil
	}
	if ru.State == kvitt.RefundFailed && r.InFlightUntil.After(h.now()) {
		h.Logger.Info("refund in flight: not concluding", "refund", r.ID, "until", r.InFlightUntil)
		return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: r.InFlightUntil})
	}
	if ru.State == "" || (ru.State == r.State && ru.Message == r.Message) {
		if ru.Retry > 0 {
			return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: h.now().Add(ru.Retry)})
		}
		return nil
	}
	// A new state brings its own explanation; an old one would mislead.
	r.State, r.ErrorCode, r.Message = ru.State, ru.ErrorCode, ru.Message
	if len(ru.Provider) > 0 {
		if r.Provider == nil {
			r.Provider = map[string]string{}
		}
		for k, v := range ru.Provider {
			r.Provider[k] = v
		}
	}
	if r.State == kvitt.RefundSucceeded {
		s, err := tx.GetSale(p.SaleID)
		if err != nil {
			return err
		}
		// Late money (Attention) bought no goods: giving it back is no return.
		if s.State == kvitt.SaleCompleted && p.Attention == "" {
			rc, err := h.issueReturn(tx, s, p, r, h.now())
			if err != nil {
				return err
			}
			r.ReceiptID = rc.ID
		}
	}
	if err := tx.UpdateRefund(r); err != nil {
		return err
	}
	if err := journalRefund(tx, h.now(), r, refundFrom); err != nil {
		return err
	}
	if r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		if err := tx.CancelJob(jobRefundSync, r.ID); err != nil {
			return err
		}
	}
	if r.State != kvitt.RefundSucceeded {
		if (r.State == kvitt.RefundPending || r.State == kvitt.RefundCreated) && ru.Retry > 0 {
			return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: h.now().Add(ru.Retry)})
		}
		return nil
	}
	if r.Amount == 0 {
		return nil // goods back for no money (cash rounding): the payment is as it was
	}
	from := p.State
	p.Refunded += r.Amount
	p.State = kvitt.PaymentPartiallyRefunded
	if p.Refundable() <= 0 {
		p.State = kvitt.PaymentRefunded
	}
	if err := tx.UpdatePayment(p); err != nil {
		return err
	}
	return h.recordTransition(tx, p, from, p.State, CauseRefund, "Refunded "+kvitt.Money{Amount: r.Amount, Currency: r.Currency}.String())
}

// SyncRefund asks the provider about a refund whose answer was lost.
func (h *Hub) SyncRefund(ctx context.Context, id, cause string) (*kvitt.Refund, error) {
	r, err := h.GetRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		return r, nil
	}
	p, err := h.GetPayment(ctx, r.PaymentID)
	if err != nil {
		return nil, err
	}
	prov, till, err := h.providerFor(ctx, p)
	if err != nil {
		return nil, err
	}
	st, ok := prov.(kvitt.RefundStatuser)
	if !ok {
		return r, nil
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	start := time.Now()
	ru, err := st.RefundStatus(cctx, till, p, r)
	h.providerCalled(cctx, p.Method, "refund_status", start, err, ru.ErrorCode)
	if err != nil {
		return r, providerUnreachable(p.Method, err)
	}
	return h.applyRefund(ctx, id, ru)
}

// CancelRefund stops a refund still waiting for the customer (a card
// refund waiting for the card): the provider aborts it, and the refund's own
// answer says how it ended (failed: nothing paid back; or succeeded, if the
// card was read just before). A refund decided at once (Swish, cash) cannot
// be cancelled. It returns the refund after giving the answer a moment.
func (h *Hub) CancelRefund(ctx context.Context, id string) (*kvitt.Refund, error) {
	r, err := h.GetRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State != kvitt.RefundCreated && r.State != kvitt.RefundPending {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "refund %s is %s; only a refund waiting for the customer can be cancelled", id, r.State)
	}
	p, err := h.GetPayment(ctx, r.PaymentID)
	if err != nil {
		return nil, err
	}
	prov, till, err := h.providerFor(ctx, p)
	if err != nil {
		return nil, err
	}
	rc, ok := prov.(kvitt.RefundCanceler)
	if !ok {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "%s refunds are decided at once and cannot be cancelled; refund %s is %s", p.Method, id, r.State)
	}
	wake, unsub := h.Subscribe(p.ID)
	defer unsub()
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	start := time.Now()
	ru, err := rc.CancelRefund(cctx, till, p, r)
	h.providerCalled(cctx, p.Method, "refund_cancel", start, err, ru.ErrorCode)
	if err != nil {
		h.update(context.WithoutCancel(ctx), func(tx kvitt.Tx) error {
			return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: h.now().Add(time.Second)})
		})
		return nil, providerUnreachable(p.Method, err)
	}
	if ru.State != "" {
		return h.applyRefund(ctx, id, ru)
	}
	return waitChange(ctx, wake, func() (*kvitt.Refund, bool, error) {
		cur, err := h.GetRefund(ctx, id)
		return cur, err == nil && cur.State != r.State && cur.State != kvitt.RefundCreated && cur.State != kvitt.RefundPending, err
	})
}

// ResolveRefund lets a person settle a refund whose outcome kvitt cannot
// know (unknown, or undecided with nothing following it any more), after
// checking with the provider: succeeded (the money went back: the payment's
// refunded sum grows and a return receipt is issued where goods came back)
// or failed (nothing went back). A refund marked for attention (paid out
// after it was booked failed) is acknowledged with succeeded. by and note go
// into the payment's event log.
func (h *Hub) ResolveRefund(ctx context.Context, id string, to kvitt.RefundState, note, by string) (*kvitt.Refund, error) {
	if to != kvitt.RefundSucceeded && to != kvitt.RefundFailed {
		return nil, kvitt.FieldError("state", "must be succeeded or failed")
	}
	if note == "" {
		return nil, kvitt.FieldError("note", "say how the outcome was established (e.g. \"the provider's portal shows it paid out\")")
	}
	var r *kvitt.Refund
	var p *kvitt.Payment
	err := h.update(ctx, func(tx kvitt.Tx) (err error) {
		if r, err = tx.GetRefund(id); err != nil {
			return err
		}
		if p, err = tx.GetPayment(r.PaymentID); err != nil {
			return err
		}
		if err := tx.Lock(saleLock(p.SaleID)); err != nil {
			return err
		}
		if r, err = tx.GetRefund(id); err != nil {
			return err
		}
		if p, err = tx.GetPayment(r.PaymentID); err != nil {
			return err
		}
		msg := "Refund " + r.ID + " resolved as " + string(to) + " by " + by + ": " + note
		switch {
		case r.Attention != "":
			if to != kvitt.RefundSucceeded {
				return kvitt.FieldError("state", "must be succeeded: the provider paid this refund out")
			}
			r.Attention, r.Message = "", msg
			if err := tx.UpdateRefund(r); err != nil {
				return err
			}
		case r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed:
			return kvitt.Errorf(kvitt.ECONFLICT, "refund %s is %s already", id, r.State)
		case r.State != kvitt.RefundUnknown && r.InFlightUntil.After(h.now()):
			return kvitt.Errorf(kvitt.ECONFLICT, "refund %s is still on its way to the provider; wait for its answer", id)
		default:
			if r.State != kvitt.RefundUnknown {
				if j, err := tx.JobFor(jobRefundSync, r.ID); err == nil && !j.Dead {
					return kvitt.Errorf(kvitt.ECONFLICT, "refund %s is %s and kvitt is still asking the provider; only an unknown refund is resolved by hand", id, r.State)
				}
			}
			r.InFlightUntil = time.Time{}
			if err := h.applyRefundTo(tx, p, r, kvitt.RefundUpdate{State: to, Message: msg}); err != nil {
				return err
			}
			if err := tx.CancelJob(jobRefundSync, r.ID); err != nil {
				return err
			}
			if p, err = tx.GetPayment(r.PaymentID); err != nil {
				return err
			}
		}
		return h.recordTransition(tx, p, p.State, p.State, CauseOperator, msg)
	})
	if err != nil {
		return nil, err
	}
	h.registerReturn(ctx, r)
	h.notify(p)
	return r, nil
}

// registerReturn registers a refund's new return receipt at once (the job
// retries if the control unit does not answer).
func (h *Hub) registerReturn(ctx context.Context, r *kvitt.Refund) {
	if r == nil || r.ReceiptID == "" {
		return
	}
	if rc, err := h.GetReceipt(ctx, r.ReceiptID); err == nil {
		h.registerNow(ctx, rc)
	}
}

// ActOnRefund acts as the customer for a refund that needs them (a card
// refund: the customer presents the card on the terminal), in the sandbox.
func (h *Hub) ActOnRefund(ctx context.Context, id string, action kvitt.CustomerAction, opts kvitt.CustomerOptions) (*kvitt.Refund, error) {
	if !h.Sandbox {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "the sandbox is off on this server")
	}
	r, err := h.GetRefund(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := h.GetPayment(ctx, r.PaymentID)
	if err != nil {
		return nil, err
	}
	cust, ok := h.customers[p.Method]
	_, long := h.providers[p.Method].(kvitt.LongRunning)
	if !ok || !long {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "%s refunds need nothing from the customer", p.Method)
	}
	if r.State != kvitt.RefundPending && r.State != kvitt.RefundCreated {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "refund %s is %s; it is not waiting for the customer", id, r.State)
	}
	till, err := h.tillOf(ctx, p)
	if err != nil {
		return nil, err
	}
	// The customer side sees the refund as the terminal does: its own reference and amount.
	as := &kvitt.Payment{ID: r.ID, SaleID: p.SaleID, TillID: p.TillID, Method: p.Method, Amount: r.Amount, Currency: r.Currency, Reference: r.Reference}
	wake, unsub := h.Subscribe(p.ID)
	defer unsub()
	if err := cust.Act(ctx, till, as, action, opts); err != nil {
		return nil, err
	}
	return waitChange(ctx, wake, func() (*kvitt.Refund, bool, error) {
		cur, err := h.GetRefund(ctx, id)
		return cur, err == nil && cur.State != r.State, err
	})
}
