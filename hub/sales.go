package hub

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	err := h.update(ctx, func(tx kvitt.Tx) error {
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
		if s.State == kvitt.SaleOpen {
			// A completed or cancelled sale owes nothing: refunds after
			// completion are returns, not a balance to pay again.
			v.Due = max(s.Total-v.Paid, 0)
		}
		return nil
	})
	return v, err
}

// balance returns what captured payments brought in (net of refunds), what
// open payments may still bring, and the open payment, if any.
//
// A payment that needs a person (Attention: money that arrived after kvitt
// had ended the payment) counts for nothing until the person keeps it.
func balance(s *kvitt.Sale, ps []*kvitt.Payment) (paid, open int64, openPayment *kvitt.Payment) {
	for _, p := range ps {
		switch {
		case p.Attention != "":
		case p.State == kvitt.PaymentRefunded:
			// All given back: the cash rounding with it, so nothing is left
			// even where the drawer paid out a rounded sum.
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
	err := h.update(ctx, func(tx kvitt.Tx) error {
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
	// Key orders the items and is the cursor of the next page.
	Key     string
	Sale    *kvitt.Sale
	Payment *kvitt.Payment
	// Refund is set for a refund that needs a person.
	Refund *kvitt.Refund
	// Receipt is set for a receipt the control unit has not registered.
	Receipt *kvitt.Receipt
	Reason  string
}

// RecoveryPage is one page of a till's recovery list.
type RecoveryPage struct {
	Items []RecoveryItem
	// Next, if not empty, is the cursor for the next page.
	Next string
}

// MaxRecoveryPage is the most items a recovery page holds.
const MaxRecoveryPage = 200

// Recovery lists exactly what on a till needs a person, oldest first, limit
// items after the cursor after (""= from the start):
//   - money taken for a sale that has no receipt (complete the sale with
//     it, or refund it);
//   - money that arrived after kvitt had ended the payment (keep it for the
//     sale, or refund it);
//   - payments and refunds whose outcome is unknown (resolve them by hand
//     after checking with the provider);
//   - payments and refunds kvitt has stopped following (their follow-up
//     job is gone or given up, e.g. the method was removed from the
//     configuration);
//   - refunds paid out after kvitt had booked them failed;
//   - receipts the control unit has not registered.
//
// It reads only what may need a person, so its cost does not grow with
// the ledger.
func (h *Hub) Recovery(ctx context.Context, tillID string, after string, limit int) (*RecoveryPage, error) {
	if limit <= 0 || limit > MaxRecoveryPage {
		limit = MaxRecoveryPage
	}
	var items []RecoveryItem
	now := h.now()
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetTill(tillID); err != nil {
			return err
		}
		sales := map[string]*kvitt.Sale{}
		saleOf := func(id string) (*kvitt.Sale, error) {
			if s, ok := sales[id]; ok {
				return s, nil
			}
			s, err := tx.GetSale(id)
			sales[id] = s
			return s, err
		}
		// stopped says why kvitt no longer follows an open payment or refund, or "".
		stopped := func(kind, ref string) (string, error) {
			j, err := tx.JobFor(kind, ref)
			switch {
			case kvitt.ErrorCode(err) == kvitt.ENOTFOUND:
				return "kvitt has no follow-up for it any more.", nil
			case err != nil:
				return "", err
			case j.Dead:
				return "kvitt gave up asking the provider about it (last answer: " + j.LastError + ").", nil
			}
			return "", nil
		}
		ps, err := tx.RecoveryPayments(tillID)
		if err != nil {
			return err
		}
		for _, p := range ps {
			s, err := saleOf(p.SaleID)
			if err != nil {
				return err
			}
			var reason string
			switch {
			case p.Attention != "" && p.Refundable() > 0:
				reason = p.Message
			case p.Attention != "":
				continue // refunded in full: nothing left to decide
			case p.State == kvitt.PaymentUnknown:
				reason = "The outcome of this payment is unknown. Check with the provider, then resolve it as paid or failed."
			case p.State.Captured():
				if s.State != kvitt.SaleOpen || p.Refundable() <= 0 {
					continue
				}
				reason = "Money was taken but the sale has no receipt. Complete the sale with this payment, or refund it."
			case p.State.Open():
				if p.InFlightUntil.After(now) {
					continue // kvitt is still waiting for the provider's answer
				}
				why, err := stopped(jobPaymentSync, p.ID)
				if err != nil {
					return err
				}
				if why == "" {
					continue // followed by its sync job
				}
				reason = "This payment is still " + string(p.State) + " and " + why + " Check with the provider, then cancel it or resolve it."
			default:
				continue
			}
			items = append(items, RecoveryItem{Key: recoveryKey(p.Created, p.ID), Sale: s, Payment: p, Reason: reason})
		}
		rs, err := tx.RecoveryRefunds(tillID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			p, err := tx.GetPayment(r.PaymentID)
			if err != nil {
				return err
			}
			s, err := saleOf(p.SaleID)
			if err != nil {
				return err
			}
			var reason string
			switch {
			case r.Attention != "":
				reason = r.Message
			case r.State == kvitt.RefundUnknown:
				reason = "The outcome of this refund is unknown. Check with the provider, then resolve it as succeeded or failed."
			default: // created or pending
				if r.InFlightUntil.After(now) {
					continue
				}
				why, err := stopped(jobRefundSync, r.ID)
				if err != nil {
					return err
				}
				if why == "" {
					continue
				}
				reason = "This refund is still " + string(r.State) + " and " + why + " Check with the provider, then resolve it."
			}
			items = append(items, RecoveryItem{Key: recoveryKey(r.Created, r.ID), Sale: s, Payment: p, Refund: r, Reason: reason})
		}
		pending, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: tillID, Registration: kvitt.RegistrationPending})
		if err != nil {
			return err
		}
		for _, rc := range pending {
			s, err := saleOf(rc.SaleID)
			if err != nil {
				return err
			}
			reason := "Receipt " + strconv.FormatInt(rc.Serial, 10) + " is not registered with the control unit yet; do not print it as a receipt until it is."
			j, err := tx.JobFor(jobReceiptRegister, rc.ID)
			if err != nil && kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
				return err
			}
			if err == nil && j.LastError != "" {
				reason += " Last answer: " + j.LastError
			}
			items = append(items, RecoveryItem{Key: recoveryKey(rc.Created, rc.ID), Sale: s, Receipt: rc, Reason: reason})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	i := sort.Search(len(items), func(i int) bool { return items[i].Key > after })
	items = items[i:]
	page := &RecoveryPage{Items: items}
	if len(items) > limit {
		page.Items, page.Next = items[:limit], items[limit-1].Key
	}
	return page, nil
}

// recoveryKey orders recovery items by creation, then id.
func recoveryKey(created time.Time, id string) string {
	return fmt.Sprintf("%016x.%s", created.UnixMicro(), id)
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
