// Package cash is the cash payment method: paid at once, with change and
// cash rounding (öresavrundning) computed by the hub and recorded.
package cash

import (
	"context"

	"github.com/kvitt-hub/kvitt"
)

// Provider is the cash method. It never calls out.
type Provider struct{}

var (
	_ kvitt.Provider = Provider{}
	_ kvitt.Instant  = Provider{}
)

// Method returns "cash".
func (Provider) Method() string { return "cash" }

// NewReference returns a unique reference; cash has no provider, but every
// payment carries one so the (method, reference) pair stays unique.
func (Provider) NewReference() string { return kvitt.NewID("cash") }

// Settle: cash is paid when the cashier records it.
func (Provider) Settle(p *kvitt.Payment) kvitt.Update {
	return kvitt.Update{State: kvitt.PaymentPaid, Message: "Paid in cash."}
}

// SettleRefund: cash is given back from the drawer at once. The hub has
// rounded the amount to what coins can pay (r.Rounding, öresavrundning); an
// amount no coins can pay is refused, never paid out.
func (Provider) SettleRefund(p *kvitt.Payment, r *kvitt.Refund) kvitt.RefundUpdate {
	if unit := r.Currency.CashUnit(); r.Amount%unit != 0 || r.Amount < 0 {
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "cash_unit",
			Message: "Cash is paid out in multiples of " + kvitt.Money{Amount: unit, Currency: r.Currency}.String() + "; " +
				kvitt.Money{Amount: r.Amount, Currency: r.Currency}.String() + " cannot be given from the drawer."}
	}
	msg := "Give the customer " + kvitt.Money{Amount: r.Amount, Currency: r.Currency}.String() + " from the drawer."
	if r.Rounding != 0 {
		msg += " Öresavrundning " + kvitt.Money{Amount: r.Rounding, Currency: r.Currency}.String() + "."
	}
	return kvitt.RefundUpdate{State: kvitt.RefundSucceeded, Message: msg}
}

// Start is never called for an instant provider; it settles like Settle.
func (c Provider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return c.Settle(p), nil
}

// Status of a cash payment is what was recorded.
func (Provider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{}, nil
}

// Cancel: a cash payment is paid at once; it is given back with a refund.
func (Provider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{}, kvitt.Errorf(kvitt.ECONFLICT, "a cash payment is paid at once; refund it instead")
}

// Refund gives cash back.
func (c Provider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return c.SettleRefund(p, r), nil
}
