package kvitt

import "time"

// PaymentState is where a payment is. See DESIGN.md: created → pending →
// authorized → paid, the final alternatives, unknown, and the refund states.
type PaymentState string

const (
	PaymentCreated           PaymentState = "created"    // stored, not yet (known to be) at the provider
	PaymentPending           PaymentState = "pending"    // waiting for the customer: QR shown, card asked
	PaymentAuthorized        PaymentState = "authorized" // reserved, not captured
	PaymentPaid              PaymentState = "paid"
	PaymentPartiallyRefunded PaymentState = "partially_refunded"
	PaymentRefunded          PaymentState = "refunded"
	PaymentDeclined          PaymentState = "declined"
	PaymentCancelled         PaymentState = "cancelled"
	PaymentExpired           PaymentState = "expired"
	PaymentFailed            PaymentState = "failed"
	// PaymentUnknown: the outcome cannot be known (Swish DS24, a terminal that
	// never answers). A person resolves it; kvitt never guesses.
	PaymentUnknown PaymentState = "unknown"
)

// paymentTransitions lists every legal transition. Anything else is refused.
var paymentTransitions = map[PaymentState][]PaymentState{
	PaymentCreated:           {PaymentPending, PaymentAuthorized, PaymentPaid, PaymentDeclined, PaymentCancelled, PaymentExpired, PaymentFailed, PaymentUnknown},
	PaymentPending:           {PaymentAuthorized, PaymentPaid, PaymentDeclined, PaymentCancelled, PaymentExpired, PaymentFailed, PaymentUnknown},
	PaymentAuthorized:        {PaymentPaid, PaymentCancelled, PaymentExpired, PaymentFailed, PaymentUnknown},
	PaymentUnknown:           {PaymentPending, PaymentAuthorized, PaymentPaid, PaymentDeclined, PaymentCancelled, PaymentExpired, PaymentFailed},
	PaymentPaid:              {PaymentPartiallyRefunded, PaymentRefunded},
	PaymentPartiallyRefunded: {PaymentPartiallyRefunded, PaymentRefunded},
}

// PaymentStates lists every state, for guard tests and documentation.
var PaymentStates = []PaymentState{
	PaymentCreated, PaymentPending, PaymentAuthorized, PaymentPaid, PaymentPartiallyRefunded,
	PaymentRefunded, PaymentDeclined, PaymentCancelled, PaymentExpired, PaymentFailed, PaymentUnknown,
}

// CanTransition reports whether from → to is legal.
func CanTransition(from, to PaymentState) bool {
	for _, s := range paymentTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Final reports whether no further transition is possible except refunds.
func (s PaymentState) Final() bool {
	switch s {
	case PaymentDeclined, PaymentCancelled, PaymentExpired, PaymentFailed, PaymentRefunded:
		return true
	}
	return false
}

// Open reports whether the payment may still take money: created, pending, authorized or unknown.
func (s PaymentState) Open() bool {
	switch s {
	case PaymentCreated, PaymentPending, PaymentAuthorized, PaymentUnknown:
		return true
	}
	return false
}

// Captured reports whether the money is taken (paid, possibly partly refunded).
func (s PaymentState) Captured() bool {
	return s == PaymentPaid || s == PaymentPartiallyRefunded || s == PaymentRefunded
}

// Payment is one attempt to take money with one method for a sale.
type Payment struct {
	ID       string
	SaleID   string
	TillID   string
	Method   string // registered provider name: cash, card, swish, mobilepay
	Amount   int64  // what this tender pays of the sale, minor units
	Currency Currency
	State    PaymentState
	// Reference is the provider reference kvitt chose and stored before the
	// first call (Swish instructionUUID, nexo ServiceID). A lost answer is
	// followed by a status query with this same reference, never a new charge.
	Reference string
	// Provider holds the provider's own identifiers and data (Swish
	// "payment_request_token", "payment_reference"; nexo "poi_transaction_id").
	Provider map[string]string
	// Action tells the till what to show while the payment is pending.
	Action *Action
	// Tendered and Change are for cash: what the customer handed over, and
	// what was given back. Rounding is the cash rounding (öresavrundning)
	// included in Amount: Amount − Rounding is what the sale received.
	Tendered int64
	Change   int64
	Rounding int64
	// Tip is paid on top of Amount (card "Extra"); it is not part of the sale.
	Tip  int64
	Card *CardData
	// Refunded is the sum of completed refunds.
	Refunded int64
	// ErrorCode and Message explain a declined, failed or unknown payment:
	// the provider's code and a sentence a cashier understands.
	ErrorCode string
	Message   string
	// Deadline is when the customer's window closes; an open payment whose
	// provider cannot be asked past it becomes unknown.
	Deadline time.Time
	// IdempotencyKey is the caller's key, scoped to the API key, that created the payment.
	IdempotencyKey string
	// Attention, when set, says why a person must decide on this payment
	// (AttentionPaidAfterCancelled, …): the provider took the money after
	// kvitt had ended the payment. Such a payment counts for no sale until
	// a person keeps it (completes the sale with it) or refunds it.
	Attention string
	// InFlightUntil is when a request kvitt sent (or is about to send) to the
	// provider for this payment can no longer be on its way or being served.
	// Until then an answer of "nothing found" decides nothing.
	InFlightUntil time.Time
	// CancelRequested is when the cashier asked to cancel; the cancel is
	// sent again once the provider can take it.
	CancelRequested time.Time
	Created         time.Time
	Updated         time.Time
	// Version increases with every change; updates compare and set it.
	Version int64
}

// Reasons a payment needs a person (Payment.Attention): the provider took the
// money after kvitt had ended the payment with the state named.
const (
	AttentionPaidAfterCancelled = "paid_after_cancelled"
	AttentionPaidAfterFailed    = "paid_after_failed"
	AttentionPaidAfterExpired   = "paid_after_expired"
	AttentionPaidAfterDeclined  = "paid_after_declined"
	// AttentionRefundedAfterFailed is a refund's: the money went back after
	// kvitt had booked the refund failed.
	AttentionRefundedAfterFailed = "refunded_after_failed"
	// AttentionRefundedTwice is a refund's: the provider reports it paid
	// back although kvitt had it paid back already (online, or by another
	// batch file): a person checks that the customer got the money once.
	AttentionRefundedTwice = "refunded_twice"
)

// LateCapture reports whether from → to is the truth arriving late: the
// provider reports money taken for a payment kvitt had ended without any.
// Such an answer is never dropped: the payment moves to "to" and needs a person.
func LateCapture(from, to PaymentState) bool {
	switch from {
	case PaymentDeclined, PaymentCancelled, PaymentExpired, PaymentFailed:
		return to == PaymentPaid || to == PaymentAuthorized
	}
	return false
}

// Applied is what the payment contributes to its sale (cash rounding excluded).
func (p *Payment) Applied() int64 { return p.Amount - p.Rounding }

// Refundable is the money left to give back: the amount charged (cash
// rounding included) and the tip, less completed refunds. It is not what
// may still be returned as goods: that is Applied() less the goods of the
// payment's refunds (Refund.Goods), and a tip is given back only after the
// goods (see hub.CreateRefund).
func (p *Payment) Refundable() int64 {
	if !p.State.Captured() {
		return 0
	}
	return p.Amount + p.Tip - p.Refunded
}

// Action is what the till shows while a payment is pending.
type Action struct {
	Type string `json:"type"` // "show_qr", "app_switch", "follow_terminal", "sms_sent"
	// QRData is the text encoded in the QR code; QRURL points at kvitt's rendering.
	QRData   string `json:"qr_data,omitempty"`
	QRSVGURL string `json:"qr_svg_url,omitempty"`
	QRPNGURL string `json:"qr_png_url,omitempty"`
	// AppURL opens the provider's app on the same phone.
	AppURL  string `json:"app_url,omitempty"`
	Message string `json:"message,omitempty"`
	// ExpiresAt is when the customer's window closes.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CardData is what the terminal reports about the card, for the receipt.
type CardData struct {
	MaskedPAN        string `json:"masked_pan,omitempty"` // "************1234"
	Brand            string `json:"brand,omitempty"`      // "VISA", "MasterCard"
	ApplicationLabel string `json:"application_label,omitempty"`
	AID              string `json:"aid,omitempty"`
	EntryMode        string `json:"entry_mode,omitempty"`   // "Contactless", "ICC", "MagStripe"
	Verification     string `json:"verification,omitempty"` // "PIN", "Signature", "None"
	AuthCode         string `json:"auth_code,omitempty"`
	TerminalID       string `json:"terminal_id,omitempty"`
	TransactionRef   string `json:"transaction_ref,omitempty"`
	ResultText       string `json:"result_text,omitempty"` // "Godkänd" / "Nekad"
	// SignatureRequired: the terminal asks for a signed merchant copy.
	SignatureRequired bool `json:"signature_required,omitempty"`
}

// PaymentEvent is one transition of a payment, kept forever.
type PaymentEvent struct {
	PaymentID string
	Seq       int64 // 1, 2, 3… per payment
	From      PaymentState
	To        PaymentState
	// Cause says who moved it: "api", "provider", "callback", "poller",
	// "recovery", "sandbox", "operator".
	Cause   string
	Message string
	At      time.Time
}

// RefundState is where a refund is.
type RefundState string

const (
	RefundCreated   RefundState = "created"
	RefundPending   RefundState = "pending"
	RefundSucceeded RefundState = "succeeded"
	RefundFailed    RefundState = "failed"
	RefundUnknown   RefundState = "unknown"
)

// Refund gives money back against one payment, by the same method.
type Refund struct {
	ID        string
	PaymentID string
	Amount    int64
	Currency  Currency
	State     RefundState
	// Reference is chosen and stored before the provider is called (Swish refund instructionUUID).
	Reference      string
	Provider       map[string]string
	ErrorCode      string
	Message        string
	IdempotencyKey string
	// Lines are the goods taken back, for a refund on a completed sale.
	Lines []ReturnLine
	// ReceiptID is the return receipt issued when a refund on a completed sale succeeded.
	ReceiptID string
	// Amount is all that goes back to the customer. Tip is the part of it
	// that gives back the payment's tip (card "Extra"): a tip refund, not a
	// return of goods, so without VAT. Rounding is the cash rounding
	// (öresavrundning) included in it, as on a cash payment. Goods() is the
	// rest: the goods taken back.
	Tip      int64
	Rounding int64
	// Attention, when set, says why a person must look at this refund
	// (AttentionRefundedAfterFailed).
	Attention string
	// InFlightUntil: see Payment.InFlightUntil.
	InFlightUntil time.Time
	Created       time.Time
	Updated       time.Time
	Version       int64
}

// Goods is the value of the goods a refund takes back, incl. VAT: its
// amount less the tip refund and the cash rounding.
func (r *Refund) Goods() int64 { return r.Amount - r.Tip - r.Rounding }

// ReturnLine takes back a quantity of one line of the original sale.
type ReturnLine struct {
	Line          int   `json:"line"`           // index in the sale's lines
	QuantityMilli int64 `json:"quantity_milli"` // thousandths
	// Total is what the quantity is worth, incl. VAT, fixed when the refund
	// is created; the returns of a line never add up to more than its total.
	Total int64 `json:"total,omitempty"`
}
