package hub

import (
	"context"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// RefundInput asks to give back part or all of a payment.
type RefundInput struct {
	// Amount to give back; with Lines it may be left 0 (the lines' total).
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
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
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
				if existing.PaymentID != paymentID || (in.Amount != 0 && in.Amount != existing.Amount) {
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
		if len(in.Lines) > 0 {
			if sale.State != kvitt.SaleCompleted {
				return kvitt.FieldError("lines", "goods are returned from a completed sale; this one is %s", sale.State)
			}
			_, total, err := returnLines(tx, sale, in.Lines)
			if err != nil {
				return err
			}
			if in.Amount == 0 {
				in.Amount = total
			} else if in.Amount != total {
				return kvitt.FieldError("amount", "%s does not match the returned lines' %s; leave it out or correct it",
					kvitt.FormatAmount(in.Amount, p.Currency), kvitt.FormatAmount(total, p.Currency))
			}
		}
		rs, err := tx.ListRefunds(paymentID)
		if err != nil {
			return err
		}
		left := p.Refundable()
		for _, x := range rs {
			if x.State == kvitt.RefundCreated || x.State == kvitt.RefundPending || x.State == kvitt.RefundUnknown {
				left -= x.Amount
			}
		}
		switch {
		case in.Amount <= 0:
			return kvitt.FieldError("amount", "must be above zero (minor units)")
		case left <= 0:
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s has nothing left to refund", paymentID)
		case in.Amount > left:
			return kvitt.FieldError("amount", "%s is more than the %s left to refund", kvitt.FormatAmount(in.Amount, p.Currency), kvitt.FormatAmount(left, p.Currency))
		}
		r = &kvitt.Refund{ID: kvitt.NewID("ref"), PaymentID: p.ID, Amount: in.Amount, Currency: p.Currency, State: kvitt.RefundCreated,
			Reference: prov.NewReference(), IdempotencyKey: in.IdempotencyKey, Lines: in.Lines}
		if err := tx.CreateRefund(r); err != nil {
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
		h.notify(p)
		h.registerReturn(ctx, r)
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
		inflight.Store(r.ID, struct{}{})
		rr := *r
		h.goBackground(func(ctx context.Context) {
			defer inflight.Delete(rr.ID)
			ctx, cancel := context.WithTimeout(ctx, h.LongRunningTimeout)
			defer cancel()
			h.callRefund(ctx, prov, till, p, &rr)
		})
		return r, nil
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	return h.callRefund(cctx, prov, till, p, r)
}

func (h *Hub) callRefund(ctx context.Context, prov kvitt.Provider, till *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (*kvitt.Refund, error) {
	ru, err := prov.Refund(ctx, till, p, r)
	if err != nil {
		h.Logger.Warn("refund: no answer", "refund", r.ID, "err", err)
		h.Store.Update(context.Background(), func(tx kvitt.Tx) error {
			return tx.EnqueueJob(&kvitt.Job{Kind: jobRefundSync, Ref: r.ID, RunAt: h.now().Add(2 * time.Second)})
		})
		h.wakeWorker()
		return h.GetRefund(context.Background(), r.ID)
	}
	return h.applyRefund(context.Background(), r.ID, ru)
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
	for attempt := 0; ; attempt++ {
		var r *kvitt.Refund
		var p *kvitt.Payment
		err := h.Store.Update(ctx, func(tx kvitt.Tx) (err error) {
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
			return h.applyRefundTo(tx, p, r, ru)
		})
		if isCode(err, kvitt.ECONFLICT) && attempt < 5 {
			continue
		}
		if err == nil {
			h.notify(p)
			h.registerReturn(ctx, r)
		}
		return r, err
	}
}

// applyRefundTo moves a refund to its reported state; when it succeeds, the
// payment's refunded sum grows and it becomes partially_refunded or refunded.
// A refund that has succeeded or failed never changes again.
func (h *Hub) applyRefundTo(tx kvitt.Tx, p *kvitt.Payment, r *kvitt.Refund, ru kvitt.RefundUpdate) error {
	if r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		return nil
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
		if s.State == kvitt.SaleCompleted {
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
	ru, err := st.RefundStatus(cctx, till, p, r)
	if err != nil {
		return r, providerUnreachable(p.Method, err)
	}
	return h.applyRefund(ctx, id, ru)
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
