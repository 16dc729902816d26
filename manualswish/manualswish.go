// Package manualswish is manual Swish (seed 000): the customer swishes the
// amount to the store's Swish number by hand, in their own app, instead of
// scanning the payment's QR code. The Swish integration never hears of such
// a payment (it would give up on it as not completed), so it is a tender of
// its own: the cashier looks at the payment in the customer's Swish app
// (the amount, the store's name or number, "Betalningen är genomförd") and
// confirms it. Only a confirmed payment is taken; it is paid at once, like
// cash, and receipted, reported and booked apart from integrated Swish
// (method "swish_manual", printed "Swish (manuell)").
//
// kvitt cannot check such a payment with Swish, and cannot pay it back: a
// refund is given back by the store by hand (from its Swish account or the
// bank), and kvitt records it with the return receipt.
package manualswish

import (
	"context"

	"github.com/kvitt-hub/kvitt"
)

// Method is the method's name.
const Method = "swish_manual"

// KeyConfirmed and KeyConfirmedBy are the payment's provider data: the
// cashier's confirmation ("true"), and who confirmed (the user or API key).
const (
	KeyConfirmed   = "confirmed"
	KeyConfirmedBy = "confirmed_by"
)

// Provider is manual Swish. It never calls out.
type Provider struct{}

var (
	_ kvitt.Provider         = Provider{}
	_ kvitt.Instant          = Provider{}
	_ kvitt.PaymentValidator = Provider{}
)

// Method returns "swish_manual".
func (Provider) Method() string { return Method }

// NewReference returns a unique reference: Swish gives the store none that
// kvitt could read.
func (Provider) NewReference() string { return kvitt.NewID("swm") }

// CashierConfirms tells the hub that a payment needs the cashier's
// confirmation in the request ("confirmed": true).
func (Provider) CashierConfirms() bool { return true }

// ValidatePayment takes only a payment in SEK that the cashier confirmed.
func (Provider) ValidatePayment(p *kvitt.Payment) error {
	if p.Currency != kvitt.SEK {
		return kvitt.FieldError("method", "Swish takes SEK only; this sale is in %s", p.Currency)
	}
	if p.Provider[KeyConfirmed] != "true" {
		return kvitt.FieldError("confirmed", "must be true: check the payment of %s in the customer's Swish app (to the store's Swish number, completed) before you confirm it",
			kvitt.Money{Amount: p.Amount, Currency: p.Currency})
	}
	return nil
}

// Settle: the cashier has seen the payment in the customer's app.
func (Provider) Settle(p *kvitt.Payment) kvitt.Update {
	msg := "Swish to the store's number, confirmed by the cashier in the customer's Swish app."
	if by := p.Provider[KeyConfirmedBy]; by != "" {
		msg = "Swish to the store's number, confirmed by " + by + " in the customer's Swish app."
	}
	return kvitt.Update{State: kvitt.PaymentPaid, Message: msg}
}

// SettleRefund: the store gives the money back by hand; kvitt records it.
func (Provider) SettleRefund(p *kvitt.Payment, r *kvitt.Refund) kvitt.RefundUpdate {
	return kvitt.RefundUpdate{State: kvitt.RefundSucceeded,
		Message: "Send " + kvitt.Money{Amount: r.Amount, Currency: r.Currency}.String() +
			" back to the customer's Swish by hand (from the store's Swish account or the bank): kvitt cannot pay back a manual Swish payment."}
}

// Start is never called for an instant provider; it settles like Settle.
func (m Provider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return m.Settle(p), nil
}

// Status of a manual Swish payment is what the cashier confirmed.
func (Provider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{}, nil
}

// Cancel: a manual Swish payment is paid when it is recorded; give it back with a refund.
func (Provider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{}, kvitt.Errorf(kvitt.ECONFLICT, "a manual Swish payment is paid when the cashier confirms it; refund it instead")
}

// Refund records the money the store gives back by hand.
func (m Provider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return m.SettleRefund(p, r), nil
}
