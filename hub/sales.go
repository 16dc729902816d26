package hub

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// SaleInput is what a till sends to open a sale.
type SaleInput struct {
	TillID   string
	Currency kvitt.Currency
	Lines    []kvitt.SaleLine
	Training bool
	// IdempotencyKey, scoped to the caller, makes a retried create return the first sale.
	IdempotencyKey string
}

// tillContext loads a till with its store and merchant.
func tillContext(tx kvitt.Tx, tillID string) (*kvitt.Till, *kvitt.Shop, *kvitt.Merchant, error) {
	t, err := tx.GetTill(tillID)
	if err != nil {
		if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
			return nil, nil, nil, &kvitt.Error{Code: kvitt.EUNPROCESSABLE, Field: "till_id", Message: "no till " + quote(tillID)}
		}
		return nil, nil, nil, err
	}
	s, err := tx.GetShop(t.StoreID)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := tx.GetMerchant(s.MerchantID)
	if err != nil {
		return nil, nil, nil, err
	}
	return t, s, m, nil
}

func quote(s string) string { return "\"" + s + "\"" }

// CreateSale validates and stores a new open sale. Errors: EUNPROCESSABLE
// naming the field (unknown till, no lines, bad VAT rate, wrong currency).
func (h *Hub) CreateSale(ctx context.Context, in SaleInput) (*kvitt.Sale, error) {
	if in.TillID == "" {
		return nil, kvitt.FieldError("till_id", "is required")
	}
	var sale *kvitt.Sale
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		if in.IdempotencyKey != "" {
			if s, err := tx.SaleByIdempotencyKey(in.IdempotencyKey); err == nil {
				sale = s
				return nil
			}
		}
		_, _, m, err := tillContext(tx, in.TillID)
		if err != nil {
			return err
		}
		cur := in.Currency
		if cur == "" {
			cur = m.Currency
		}
		s := &kvitt.Sale{ID: kvitt.NewID("sale"), MerchantID: m.ID, TillID: in.TillID, Currency: cur,
			Lines: in.Lines, State: kvitt.SaleOpen, IdempotencyKey: in.IdempotencyKey, Training: in.Training}
		if err := s.ComputeTotals(m); err != nil {
			return err
		}
		if err := tx.CreateSale(s); err != nil {
			return err
		}
		sale = s
		return nil
	})
	return sale, err
}

// GetSale returns a sale.
func (h *Hub) GetSale(ctx context.Context, id string) (*kvitt.Sale, error) {
	var s *kvitt.Sale
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { s, err = tx.GetSale(id); return err })
	return s, err
}

// SaleView is a sale with its payments and what is left to pay.
type SaleView struct {
	Sale     *kvitt.Sale
	Payments []*kvitt.Payment
	Paid     int64 // received from captured payments (net of refunds)
	Due      int64 // left to pay, not counting open payments
}

// ViewSale returns a sale with its payments and balance.
func (h *Hub) ViewSale(ctx context.Context, id string) (*SaleView, error) {
	var v *SaleView
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		s, err := tx.GetSale(id)
		if err != nil {
			return err
		}
		ps, err := tx.ListSalePayments(id)
		if err != nil {
			return err
		}
		v = &SaleView{Sale: s, Payments: ps}
		v.Paid, _, _ = balance(s, ps)
		v.Due = s.Total - v.Paid
		return nil
	})
	return v, err
}

// balance returns what captured payments brought in (net of refunds), what
// open payments may still bring, and the open payment, if any.
func balance(s *kvitt.Sale, ps []*kvitt.Payment) (paid, open int64, openPayment *kvitt.Payment) {
	for _, p := range ps {
		switch {
		case p.State.Captured():
			paid += p.Applied() - min(p.Refunded, p.Applied())
		case p.State.Open():
			open += p.Applied()
			openPayment = p
		}
	}
	return paid, open, openPayment
}

// CancelSale voids an open sale that has no money in it. A sale with a
// captured payment is refunded first; one with an open payment is cancelled first.
func (h *Hub) CancelSale(ctx context.Context, id string) (*kvitt.Sale, error) {
	var sale *kvitt.Sale
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.Lock(saleLock(id)); err != nil {
			return err
		}
		s, err := tx.GetSale(id)
		if err != nil {
			return err
		}
		switch s.State {
		case kvitt.SaleCancelled:
			sale = s
			return nil
		case kvitt.SaleCompleted:
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is completed; refund its payments and register a return instead", id)
		}
		ps, err := tx.ListSalePayments(id)
		if err != nil {
			return err
		}
		paid, _, openP := balance(s, ps)
		if openP != nil {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s is still in progress; cancel it first", openP.ID)
		}
		if paid != 0 {
			return kvitt.Errorf(kvitt.ECONFLICT, "the sale has %s paid; refund it before cancelling the sale", kvitt.Money{Amount: paid, Currency: s.Currency})
		}
		s.State = kvitt.SaleCancelled
		if err := tx.UpdateSale(s); err != nil {
			return err
		}
		sale = s
		return nil
	})
	return sale, err
}

func isCode(err error, code string) bool {
	var e *kvitt.Error
	return errors.As(err, &e) && e.Code == code
}

// RecoveryItem is something on a till that needs a person's decision.
type RecoveryItem struct {
	Sale    *kvitt.Sale
	Payment *kvitt.Payment
	// Receipt is set for a receipt the control unit has not registered.
	Receipt *kvitt.Receipt
	Reason  string
}

// Recovery lists a till's payments that need a cashier: money taken for a sale
// that has no receipt (complete the sale with it, or refund it), and payments
// whose outcome is unknown (resolve by hand after checking with the provider).
func (h *Hub) Recovery(ctx context.Context, tillID string) ([]RecoveryItem, error) {
	var out []RecoveryItem
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		ps, err := tx.ListPayments([]kvitt.PaymentState{kvitt.PaymentPaid, kvitt.PaymentPartiallyRefunded, kvitt.PaymentUnknown, kvitt.PaymentAuthorized}, 1000)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.TillID != tillID {
				continue
			}
			s, err := tx.GetSale(p.SaleID)
			if err != nil {
				return err
			}
			switch {
			case p.State == kvitt.PaymentUnknown:
				out = append(out, RecoveryItem{Sale: s, Payment: p, Reason: "The outcome of this payment is unknown. Check with the provider, then resolve it as paid or failed."})
			case s.State == kvitt.SaleOpen && p.Refundable() > 0:
				out = append(out, RecoveryItem{Sale: s, Payment: p, Reason: "Money was taken but the sale has no receipt. Complete the sale with this payment, or refund it."})
			}
		}
		pending, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: tillID, Registration: kvitt.RegistrationPending})
		if err != nil {
			return err
		}
		jobs, err := tx.ListJobs()
		if err != nil {
			return err
		}
		lastErr := map[string]string{}
		for _, j := range jobs {
			if j.Kind == jobReceiptRegister {
				lastErr[j.Ref] = j.LastError
			}
		}
		for _, rc := range pending {
			s, err := tx.GetSale(rc.SaleID)
			if err != nil {
				return err
			}
			reason := "Receipt " + strconv.FormatInt(rc.Serial, 10) + " is not registered with the control unit yet; do not print it as a receipt until it is."
			if e := lastErr[rc.ID]; e != "" {
				reason += " Last answer: " + e
			}
			out = append(out, RecoveryItem{Sale: s, Receipt: rc, Reason: reason})
		}
		return nil
	})
	return out, err
}

// Display is what a till's customer and cashier displays show: the till's
// current sale and its latest payment.
type Display struct {
	Sale    *SaleView
	Payment *kvitt.Payment
}

// TillDisplay returns the till's latest sale (open, or finished within the
// last two minutes, so the customer sees "thank you") and its latest payment.
func (h *Hub) TillDisplay(ctx context.Context, tillID string) (*Display, error) {
	var sale *kvitt.Sale
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetTill(tillID); err != nil {
			return err
		}
		s, err := tx.LatestSale(tillID)
		if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
			return nil // no sale yet: an idle display
		}
		sale = s
		return err
	})
	if err != nil {
		return nil, err
	}
	if sale == nil {
		return &Display{}, nil
	}
	if sale.State != kvitt.SaleOpen && h.now().Sub(sale.Updated) > 2*time.Minute {
		return &Display{}, nil
	}
	v, err := h.ViewSale(ctx, sale.ID)
	if err != nil {
		return nil, err
	}
	d := &Display{Sale: v}
	if n := len(v.Payments); n > 0 {
		d.Payment = v.Payments[n-1]
	}
	return d, nil
}
