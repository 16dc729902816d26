package kvitt

import (
	"context"
	"net/http"
	"time"
)

// Provider takes payments with one method. Adapters implement it and are
// registered with the hub by method name. The hub stores the payment, with
// the Reference from NewReference, before it calls Start, and it applies what
// the methods return as compare-and-set transitions, so a callback, the
// poller and the synchronous path may race safely.
//
// Errors: a method returns an error only when the outcome is not known (a
// timeout, a dropped connection, a 5xx): the hub then asks Status later with
// the same reference and never starts a second charge. A definite answer,
// including a refusal, is an Update with State set and a nil error.
type Provider interface {
	// Method is the method's name: "cash", "swish", "card".
	Method() string
	// NewReference returns the provider reference for a new payment or refund
	// (Swish: 32 uppercase hex characters; nexo: a ServiceID of ≤10 characters).
	NewReference() string
	// Start sends the payment to the provider.
	Start(ctx context.Context, t *Till, p *Payment) (Update, error)
	// Status asks the provider for the payment's state by its stored reference.
	Status(ctx context.Context, t *Till, p *Payment) (Update, error)
	// Cancel stops a payment that is not yet paid (the cashier aborts).
	Cancel(ctx context.Context, t *Till, p *Payment) (Update, error)
	// Refund gives back r.Amount of the captured payment p.
	Refund(ctx context.Context, t *Till, p *Payment, r *Refund) (RefundUpdate, error)
}

// Update is what a provider reports about a payment. Zero fields change nothing.
type Update struct {
	// State is the provider's state mapped to kvitt's; "" means unchanged.
	State PaymentState
	// Provider data to merge into Payment.Provider.
	Provider map[string]string
	Action   *Action
	Card     *CardData
	// Tip is set when the customer added one ("Extra").
	Tip int64
	// ErrorCode is the provider's code (RF07, DS24, ...); Message says what
	// happened in words a cashier understands.
	ErrorCode string
	Message   string
	// Retry, when the payment is still open, is when to ask Status again.
	Retry time.Duration
	// Deadline, when set on an open payment, is when the customer's window closes.
	Deadline time.Time
}

// RefundUpdate is what a provider reports about a refund.
type RefundUpdate struct {
	State     RefundState
	Provider  map[string]string
	ErrorCode string
	Message   string
	Retry     time.Duration
}

// Optional provider capabilities.
type (
	// RefundStatuser asks for the state of a refund whose answer was lost.
	RefundStatuser interface {
		RefundStatus(ctx context.Context, t *Till, p *Payment, r *Refund) (RefundUpdate, error)
	}

	// RefundCanceler stops a refund still waiting for the customer (a card
	// refund waiting for the card on the terminal). An empty State means the
	// provider took the cancel and the refund's own answer brings the outcome.
	RefundCanceler interface {
		CancelRefund(ctx context.Context, t *Till, p *Payment, r *Refund) (RefundUpdate, error)
	}

	// Capturer captures an authorized payment.
	Capturer interface {
		Capture(ctx context.Context, t *Till, p *Payment) (Update, error)
	}

	// CallbackReceiver takes the provider's callbacks at
	// /v1/callbacks/{method}/{token}. The token is the unguessable per-payment
	// secret the adapter put into the callback URL (see CallbackURL). The
	// adapter authenticates the call and returns the payment reference it
	// concerns; the hub then re-reads the state with Status: a callback is a
	// hint, never the truth by its body alone.
	CallbackReceiver interface {
		ParseCallback(r *http.Request) (reference string, err error)
	}

	// LongRunning providers hold the Start (or Refund) request open until the
	// customer has finished (a card terminal: up to about two minutes). The
	// hub marks the payment pending with Pending's update (the action for the
	// till), answers the till at once and waits for Start in the background.
	// If kvitt dies meanwhile, Status recovers the outcome by the reference.
	LongRunning interface {
		Pending(t *Till, p *Payment) Update
	}

	// Instant providers decide without calling out (cash). The hub applies
	// Settle's update in the transaction that creates the payment or refund.
	Instant interface {
		Settle(p *Payment) Update
		SettleRefund(p *Payment, r *Refund) RefundUpdate
	}

	// PaymentValidator checks a new payment's method-specific input (a
	// Swish payer alias) before it is stored: bad input is the caller's
	// error (422 naming the field), never a failed payment.
	PaymentValidator interface {
		ValidatePayment(p *Payment) error
	}

	// WholeAmountOnly providers take only the whole sale, alone: no split
	// with other means of payment (MobilePay at a till, seed 001).
	WholeAmountOnly interface {
		WholeAmountOnly() bool
	}

	// RecoveryLister lists payments the provider holds for a till that kvitt may
	// have lost track of (MobilePay: payments by posId and orderId).
	RecoveryLister interface {
		ListOpen(ctx context.Context, t *Till) ([]Update, error)
	}
)

// CustomerAction is something the customer does in the sandbox.
type CustomerAction string

const (
	CustomerApprove CustomerAction = "approve" // scans and approves / taps and enters PIN
	CustomerDecline CustomerAction = "decline" // declines, or the card is declined
	CustomerCancel  CustomerAction = "cancel"  // cancels on the phone or the terminal
	CustomerTimeout CustomerAction = "timeout" // walks away; the window runs out
)

// Customer acts as the customer through a simulator's own customer
// interface. Simulators provide it; the hub uses it for the sandbox endpoints
// only and never imports a simulator.
type Customer interface {
	Act(ctx context.Context, t *Till, p *Payment, action CustomerAction, opts CustomerOptions) error
}

// CustomerOptions refine a customer action: a tip ("Extra") the customer
// enters on the terminal, or a card scenario.
type CustomerOptions struct {
	Tip int64
	// Scenario picks a simulator script: a card that is declined for
	// insufficient funds, a wrong PIN, a signature request ("" = the action's default).
	Scenario string
}
