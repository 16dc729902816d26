package kvitt

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Orders (seed 004): a back-office (ERP) order with a customer card and
// lines, paid by a payment link the provider sends to the customer by SMS
// (Svea Instore). A change before payment cancels the link and sends a new
// one, so an order has a list of links, the last one the only one that may
// still be paid. The order is released to the picking list only once the
// provider reports it paid or reserved.

// OrderState is where an order is, as the back office shows it.
type OrderState string

const (
	// OrderCreating: stored; the payment link is being created (or its
	// answer was lost and the provider is being asked).
	OrderCreating OrderState = "creating"
	// OrderAwaitingPayment: the link is sent; waiting for the customer to
	// complete the purchase at the provider. The link is shown instead of
	// the provider's reference.
	OrderAwaitingPayment OrderState = "awaiting_payment"
	// OrderLinkFailed: the provider refused to create the link (red icon);
	// Message says why in the provider's words.
	OrderLinkFailed OrderState = "link_failed"
	// OrderPaid: paid or reserved at the provider; Reference is the
	// provider's reference. Only paid orders are on the picking list.
	OrderPaid OrderState = "paid"
	// OrderCancelled: cancelled at the provider (black icon).
	OrderCancelled OrderState = "cancelled"
	// OrderExpired: the link is no longer valid at the provider (grey icon).
	OrderExpired OrderState = "expired"
	// OrderCredited: paid, then credited in full.
	OrderCredited OrderState = "credited"
)

// OrderStates lists every order state, for filters, guard tests and documentation.
var OrderStates = []OrderState{OrderCreating, OrderAwaitingPayment, OrderLinkFailed, OrderPaid, OrderCancelled, OrderExpired, OrderCredited}

// Valid reports whether s is an order state.
func (s OrderState) Valid() bool {
	for _, v := range OrderStates {
		if v == s {
			return true
		}
	}
	return false
}

// Icon is the status icon of the seed's order list: "waiting" (the
// customer has the link), "red" (the link could not be created), "black"
// (cancelled at the provider), "grey" (no longer valid), "paid".
func (s OrderState) Icon() string {
	switch s {
	case OrderCreating, OrderAwaitingPayment:
		return "waiting"
	case OrderLinkFailed:
		return "red"
	case OrderCancelled:
		return "black"
	case OrderExpired:
		return "grey"
	}
	return "paid"
}

// Order is a back-office order paid by a payment link.
type Order struct {
	ID         string // "ord_…"
	MerchantID string
	// Number is the ERP's order number, unique per merchant. The provider
	// reference of each link is built from it (MerchantOrderNumber).
	Number   string
	Method   string // the order provider: "svea"
	Currency Currency
	Customer CustomerCard
	Lines    []OrderLine
	// Total is computed from Lines by ComputeTotals.
	Total int64
	State OrderState
	// Links are the payment links in the order they were made; the last is
	// the current one. Links are never deleted.
	Links []OrderLink
	// PaidLink is the Seq of the link that paid the order (0 = none). A
	// second link paid later is given back and Attention is set.
	PaidLink int
	// Reference is the provider's reference of the paid link (Svea's
	// paymentOrderId), shown instead of the link once paid.
	Reference string
	// Credits give money back after payment; Credited is the sum of
	// succeeded ones.
	Credits  []OrderCredit
	Credited int64
	// CancelRequested: the back office cancelled the order; the link is
	// cancelled at the provider (again, by the poller, if the answer was lost).
	CancelRequested bool
	// Delivery and Annulment are the back office's actions on the paid
	// order at the provider (Svea's Payment Admin API): each is stored
	// (requested) before its request leaves, and after a lost answer the
	// provider's order is read again, never the request sent blindly.
	// At most one of them is under way at a time.
	Delivery  AdminAction
	Annulment AdminAction
	// Admin is what the provider last said about the paid order (its
	// status, actions and what it has given back).
	Admin AdminStatus
	// Attention, when set, says why a person must look at the order (a
	// second link paid: it is given back).
	Attention string
	// Message explains the state in words: the provider's reason for a
	// refused link or a refused cancel.
	Message        string
	IdempotencyKey string
	Created        time.Time
	Updated        time.Time
	// Version increases with every change; UpdateOrder compares and sets it.
	Version int64
}

// CustomerCard is the customer card of an order (the seed's kundkort).
type CustomerCard struct {
	Name string `json:"name,omitempty"`
	// MobileNumber receives the link by SMS. Stored as given less spaces and dashes.
	MobileNumber string `json:"mobile_number"`
	// Country (ISO 3166 alpha-2) must be the provider account's country.
	Country    string `json:"country"`
	NationalID string `json:"national_id,omitempty"` // personnummer or organisationsnummer
	Email      string `json:"email,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	// Company: the customer is a company (B2B); sent with the national id.
	Company bool `json:"company,omitempty"`
}

// OrderLine is one row of an order, in the units payment links carry.
type OrderLine struct {
	RowNumber     int    `json:"row_number"` // 1, 2, 3… unique in the order
	ArticleNumber string `json:"article_number,omitempty"`
	Name          string `json:"name"`
	// Quantity in hundredths (100 = 1, 150 = 1.5 kg).
	Quantity int64 `json:"quantity"`
	// UnitPrice incl. VAT in minor units; may be negative (a discount row).
	UnitPrice int64 `json:"unit_price"`
	// DiscountPercent in hundredths of a percent (1000 = 10 %).
	DiscountPercent int64 `json:"discount_percent,omitempty"`
	// VATRate in basis points (2500 = 25 %), valid in the customer's country.
	VATRate int64  `json:"vat_rate"`
	Unit    string `json:"unit"` // "st", "kg"; at most 4 characters
	// Total = UnitPrice × Quantity/100 less the discount, rounded to minor units.
	Total int64 `json:"total"`
}

// OrderLink is one payment link made for an order at the provider.
type OrderLink struct {
	Seq int `json:"seq"` // 1, 2, 3… per order
	// MerchantOrderNumber is the provider reference kvitt chose: the order
	// number + "-" + a timestamp in milliseconds, at most 32 characters,
	// unique. It is stored before the create request leaves.
	MerchantOrderNumber string `json:"merchant_order_number"`
	// Secret authenticates the provider's callback for this link: it is in
	// the callback URL and nowhere else.
	Secret string `json:"secret"`
	// State: created (stored, not known at the provider), pending (link
	// sent), paid, cancelled, expired, failed (refused), unknown, refunded
	// (a second paid link given back).
	State PaymentState `json:"state"`
	// URL is the checkout link (Svea's instoreUiUri), to copy to the
	// customer when the SMS does not arrive.
	URL string `json:"url,omitempty"`
	// SMSSent: the provider's SMS operator accepted the message (not a
	// delivery receipt).
	SMSSent     bool   `json:"sms_sent"`
	ProviderRef string `json:"provider_ref,omitempty"` // Svea's paymentOrderId
	PaymentType string `json:"payment_type,omitempty"` // how the customer paid (invoice, card…)
	ErrorCode   string `json:"error_code,omitempty"`
	Message     string `json:"message,omitempty"`
	// Lines, Customer and Total are what the link charges: the order's
	// content when the link was made. If an earlier link is paid after a
	// change, the order goes back to that link's content.
	Lines    []OrderLine  `json:"lines"`
	Customer CustomerCard `json:"customer"`
	Total    int64        `json:"total"`
	// Sent: the create request has left (or may have); until then the
	// link exists only in kvitt and is sent once every earlier link is
	// closed, so only the last link can be paid.
	Sent bool `json:"sent,omitempty"`
	// ExpiresAt is when the link stops being valid at the provider.
	ExpiresAt time.Time `json:"expires_at"`
	// CancelRequested: kvitt asked (or is about to ask) the provider to
	// cancel this link; the poller sends it again until it is answered.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// StatusAt is when kvitt last asked the provider for this link's status
	// (Svea allows one call per 5 seconds per order).
	StatusAt time.Time `json:"status_at"`
	// InFlightUntil: until then the create request may still be on its
	// way; "not found" decides nothing before it.
	InFlightUntil time.Time `json:"in_flight_until"`
	Created       time.Time `json:"created"`
}

// Open reports whether the link may still be paid.
func (l *OrderLink) Open() bool {
	return l.State == PaymentCreated || l.State == PaymentPending || l.State == PaymentUnknown
}

// AdminActionState is where a deliver or annul of a paid order is.
type AdminActionState string

const (
	// AdminRequested: stored; the provider's order is read first, then the
	// request is sent (or not, when the read shows it done or impossible).
	AdminRequested AdminActionState = "requested"
	// AdminSent: the request has left (or may have); until InFlightUntil
	// it may still be on its way. A lost answer is followed by a read of
	// the provider's order: only a read showing it did not happen, after
	// InFlightUntil, sends it again.
	AdminSent AdminActionState = "sent"
	// AdminAccepted: the provider took the request (Svea: 2xx) and may
	// still be carrying it out; it is read, never sent again.
	AdminAccepted AdminActionState = "accepted"
	// AdminDone: the provider shows it done (delivered, cancelled).
	AdminDone AdminActionState = "done"
	// AdminRefused: the provider (or kvitt, on what the provider shows)
	// refused it; Message says why. It may be asked for again.
	AdminRefused AdminActionState = "refused"
)

// AdminAction is the stored state of one action on a paid order at the
// provider: deliver (Svea: activate, the invoice goes out) or annul
// (Svea: cancel an undelivered order, the reservation is released).
type AdminAction struct {
	State AdminActionState `json:"state,omitempty"`
	// Message explains the state in words a back-office user understands.
	Message     string    `json:"message,omitempty"`
	RequestedAt time.Time `json:"requested_at,omitzero"`
	// InFlightUntil: until then a sent request may still be on its way.
	InFlightUntil time.Time `json:"in_flight_until,omitzero"`
	// Sends counts the requests sent (a test and a person can see that a
	// lost answer did not cause a second one).
	Sends  int       `json:"sends,omitempty"`
	DoneAt time.Time `json:"done_at,omitzero"`
}

// Pending reports whether the action is asked for and not yet decided.
func (a *AdminAction) Pending() bool {
	return a.State == AdminRequested || a.State == AdminSent || a.State == AdminAccepted
}

// Done reports whether the provider shows the action done.
func (a *AdminAction) Done() bool { return a.State == AdminDone }

// AdminStatus is what the provider last said about a paid order.
type AdminStatus struct {
	// Status is the provider's word (Svea: Open, Delivered, Cancelled, Failed).
	Status     string `json:"status,omitempty"`
	Delivered  bool   `json:"delivered,omitempty"`
	Cancelled  bool   `json:"cancelled,omitempty"`
	CanDeliver bool   `json:"can_deliver,omitempty"`
	CanCancel  bool   `json:"can_cancel,omitempty"`
	// Credited is what the provider has given back on the order (credits
	// and cancelled amounts), in minor units.
	Credited int64     `json:"credited,omitempty"`
	ReadAt   time.Time `json:"read_at,omitzero"`
	// Message says what kvitt could not read (the provider does not know
	// the order, an unknown status).
	Message string `json:"message,omitempty"`
}

// OrderCredit gives money back on a paid order (Svea: return).
type OrderCredit struct {
	ID     string      `json:"id"`
	Lines  []OrderLine `json:"lines"` // the rows credited, as sent to the provider
	Amount int64       `json:"amount"`
	State  RefundState `json:"state"`
	// Message explains a failed or unknown credit.
	Message string    `json:"message,omitempty"`
	Created time.Time `json:"created"`
}

// OrderFilter selects orders for the list.
type OrderFilter struct {
	MerchantID string
	// States keeps orders in these states (none = all).
	States []OrderState
	// Query matches the order number, or the customer's name, mobile
	// number or e-mail, case-insensitively, as a substring.
	Query string
	Limit int // 0 = 100
}

// Limits of order data, the provider's where it has them.
const (
	MaxOrderLines         = 500
	MaxOrderNumberLength  = 14 // + "-" + 17-digit timestamp = 32, the merchantOrderNumber limit
	MaxOrderLineName      = 40
	MaxOrderUnit          = 4
	MaxOrderQuantity      = 9_999_999 // hundredths; 7 digits
	MaxMerchantOrderNumLn = 32
	maxOrderArticleNumber = 256
	maxOrderEmail         = 50
)

var (
	orderNumberRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// Mobile numbers per country, national or international form, after
	// spaces and dashes are removed.
	mobileRE = map[string]*regexp.Regexp{
		"SE": regexp.MustCompile(`^(\+46|0)7\d{8}$`),
		"NO": regexp.MustCompile(`^(\+47)?[49]\d{7}$`),
		"DK": regexp.MustCompile(`^(\+45)?[2-9]\d{7}$`),
		"FI": regexp.MustCompile(`^(\+358|0)(4\d|50)\d{5,8}$`),
	}
	countryCurrency = map[string]Currency{"SE": SEK, "NO": NOK, "DK": DKK, "FI": EUR}
)

// CountryCurrency returns the currency of a Nordic country ("" if unknown).
func CountryCurrency(country string) Currency { return countryCurrency[country] }

// ComputeTotals validates the order and fills each line's Total, default
// row numbers and units, and the order's Total. Errors name the field
// ("customer.mobile_number", "lines[2].vat_rate"). Nothing is sent to a
// provider before the order passes.
func (o *Order) ComputeTotals() error {
	if o.Number == "" {
		return FieldError("number", "is required")
	}
	if len(o.Number) > MaxOrderNumberLength {
		return FieldError("number", "is %d characters; at most %d (the payment link's reference adds a timestamp and may hold 32)", len(o.Number), MaxOrderNumberLength)
	}
	if !orderNumberRE.MatchString(o.Number) {
		return FieldError("number", "may hold only A-Z, a-z, 0-9, - and _")
	}
	if err := WithFieldPrefix("customer", o.Customer.validate()); err != nil {
		return err
	}
	want := CountryCurrency(o.Customer.Country)
	if o.Currency == "" {
		o.Currency = want
	}
	if !o.Currency.Valid() {
		return FieldError("currency", "%q is not a supported currency", string(o.Currency))
	}
	if o.Currency != want {
		return FieldError("currency", "must be %s, the currency of %s", want, o.Customer.Country)
	}
	if len(o.Lines) == 0 {
		return FieldError("lines", "an order needs at least one line")
	}
	if len(o.Lines) > MaxOrderLines {
		return FieldError("lines", "at most %d lines", MaxOrderLines)
	}
	rates := DefaultVATRates(o.Customer.Country)
	rows := map[int]bool{}
	var total int64
	for i := range o.Lines {
		l := &o.Lines[i]
		if l.RowNumber == 0 {
			l.RowNumber = i + 1
		}
		if err := l.compute(rates, o.Customer.Country); err != nil {
			return WithFieldPrefix(fmt.Sprintf("lines[%d]", i), err)
		}
		if rows[l.RowNumber] {
			return FieldError(fmt.Sprintf("lines[%d].row_number", i), "%d is used by another line", l.RowNumber)
		}
		rows[l.RowNumber] = true
		var ok bool
		if total, ok = AddAmounts(total, l.Total); !ok {
			return FieldError("lines", "the order total is too large")
		}
	}
	if total < 0 {
		return FieldError("lines", "the order total is negative (%s); a payment link needs a total of zero or more", FormatAmount(total, o.Currency))
	}
	o.Total = total
	return nil
}

func (c *CustomerCard) validate() error {
	c.MobileNumber = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(c.MobileNumber)
	c.Country = strings.ToUpper(strings.TrimSpace(c.Country))
	if c.Country == "" {
		return FieldError("country", "is required (SE, NO, DK or FI)")
	}
	re, ok := mobileRE[c.Country]
	if !ok {
		return FieldError("country", "%q is not a country kvitt sends payment links in (SE, NO, DK, FI)", c.Country)
	}
	if c.MobileNumber == "" {
		return FieldError("mobile_number", "is required: the payment link is sent to it by SMS")
	}
	if !re.MatchString(c.MobileNumber) {
		return FieldError("mobile_number", "%q is not a mobile number in %s", c.MobileNumber, c.Country)
	}
	for _, f := range []struct{ name, v string }{{"name", c.Name}, {"national_id", c.NationalID}, {"email", c.Email}, {"postal_code", c.PostalCode}} {
		if err := CheckText(f.name, f.v); err != nil {
			return err
		}
	}
	if utf8.RuneCountInString(c.Name) > 100 {
		return FieldError("name", "at most 100 characters")
	}
	if c.Email != "" && (len(c.Email) > maxOrderEmail || !strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " ,;")) {
		return FieldError("email", "%q is not an e-mail address of at most %d characters", c.Email, maxOrderEmail)
	}
	if c.NationalID != "" && !regexp.MustCompile(`^[0-9+-]{6,20}$`).MatchString(c.NationalID) {
		return FieldError("national_id", "%q is not a national id (digits, - and +)", c.NationalID)
	}
	if len(c.PostalCode) > 10 {
		return FieldError("postal_code", "at most 10 characters")
	}
	return nil
}

func (l *OrderLine) compute(rates []int64, country string) error {
	if l.Name == "" {
		return FieldError("name", "is required")
	}
	if n := utf8.RuneCountInString(l.Name); n > MaxOrderLineName {
		return FieldError("name", "is %d characters; at most %d", n, MaxOrderLineName)
	}
	if l.Unit == "" {
		l.Unit = "st"
	}
	if n := utf8.RuneCountInString(l.Unit); n > MaxOrderUnit {
		return FieldError("unit", "%q is %d characters; at most %d", l.Unit, n, MaxOrderUnit)
	}
	if len(l.ArticleNumber) > maxOrderArticleNumber {
		return FieldError("article_number", "at most %d characters", maxOrderArticleNumber)
	}
	for _, f := range []struct{ name, v string }{{"name", l.Name}, {"unit", l.Unit}, {"article_number", l.ArticleNumber}} {
		if err := CheckText(f.name, f.v); err != nil {
			return err
		}
	}
	if l.RowNumber < 0 {
		return FieldError("row_number", "must be above zero")
	}
	if l.Quantity <= 0 {
		return FieldError("quantity", "must be above zero")
	}
	if l.Quantity > MaxOrderQuantity {
		return FieldError("quantity", "must be at most %s", FormatAmount(MaxOrderQuantity, SEK))
	}
	if l.UnitPrice > MaxAmount || l.UnitPrice < -MaxAmount {
		return FieldError("unit_price", "is beyond the maximum")
	}
	if l.DiscountPercent < 0 || l.DiscountPercent > 10000 {
		return FieldError("discount_percent", "must be from 0 to 100")
	}
	allowed := false
	for _, r := range rates {
		allowed = allowed || r == l.VATRate
	}
	if !allowed {
		return FieldError("vat_rate", "%s %% is not a VAT rate in %s (allowed: %s)", FormatRate(l.VATRate), country, formatRates(rates))
	}
	total, ok := l.LineTotal()
	if !ok {
		return FieldError("quantity", "unit price × quantity is too large")
	}
	l.Total = total
	return nil
}

// LineTotal is UnitPrice × Quantity/100 less the discount, rounded half
// away from zero; false when it is too large.
func (l *OrderLine) LineTotal() (int64, bool) {
	gross, ok := mulRound(l.UnitPrice, l.Quantity, 100)
	if !ok {
		return 0, false
	}
	return mulRound(gross, 10000-l.DiscountPercent, 10000)
}

// mulRound returns a*b/div rounded half away from zero, or false on overflow or beyond ±MaxAmount.
func mulRound(a, b, div int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a {
		return 0, false
	}
	q, r := p/div, p%div
	if 2*r >= div {
		q++
	} else if 2*r <= -div {
		q--
	}
	if q > MaxAmount || q < -MaxAmount {
		return 0, false
	}
	return q, true
}

// NewMerchantOrderNumber returns the provider reference for a new link of
// the order: the order number, "-", and the time in milliseconds
// (yyyyMMddHHmmssSSS, UTC). A reference not later than prev (the order's
// last link) is moved on by a millisecond, so references stay unique.
func NewMerchantOrderNumber(number string, now time.Time, prev string) string {
	t := now.UTC()
	for {
		s := number + "-" + t.Format("20060102150405") + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
		if s > prev {
			return s
		}
		t = t.Add(time.Millisecond)
	}
}

// CurrentLink returns the last link, or nil.
func (o *Order) CurrentLink() *OrderLink {
	if len(o.Links) == 0 {
		return nil
	}
	return &o.Links[len(o.Links)-1]
}

// Link returns the link with seq, or nil.
func (o *Order) Link(seq int) *OrderLink {
	for i := range o.Links {
		if o.Links[i].Seq == seq {
			return &o.Links[i]
		}
	}
	return nil
}

// OpenLinks reports whether any link may still be paid.
func (o *Order) OpenLinks() bool {
	for i := range o.Links {
		if o.Links[i].Open() {
			return true
		}
	}
	return false
}

// UpdateState derives the order's State, Reference and Message from its
// links and credits. The hub calls it after every change.
func (o *Order) UpdateState() {
	if l := o.Link(o.PaidLink); l != nil {
		o.Reference = l.ProviderRef
		switch {
		case o.CancelRequested, o.Annulment.Done():
			// Annulled after payment: cancelled at the provider (black
			// icon), off the picking list.
			o.State = OrderCancelled
		case o.Total > 0 && o.Credited >= o.Total:
			o.State = OrderCredited
		default:
			o.State = OrderPaid
		}
		return
	}
	l := o.CurrentLink()
	if l == nil {
		o.State = OrderCreating
		return
	}
	o.Message = l.Message
	switch l.State {
	case PaymentCreated, PaymentUnknown:
		o.State = OrderCreating
	case PaymentPending:
		o.State = OrderAwaitingPayment
	case PaymentFailed, PaymentDeclined:
		o.State = OrderLinkFailed
	case PaymentExpired:
		o.State = OrderExpired
	default: // cancelled at the provider
		o.State = OrderCancelled
	}
}

// OrderCallbackToken is the last path element of a link's callback URL:
// the order id, the link's seq and its secret.
func OrderCallbackToken(o *Order, l *OrderLink) string {
	return fmt.Sprintf("%s.%d.%s", o.ID, l.Seq, l.Secret)
}

// ParseOrderCallbackToken splits a callback token; ok is false when it is malformed.
func ParseOrderCallbackToken(token string) (orderID string, seq int, secret string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return "", 0, "", false
	}
	if _, err := fmt.Sscanf(parts[1], "%d", &seq); err != nil || seq <= 0 || fmt.Sprint(seq) != parts[1] {
		return "", 0, "", false
	}
	return parts[0], seq, parts[2], true
}

// OrderProvider makes payment links for orders (Svea Instore). The hub
// stores the link, with its MerchantOrderNumber and Secret, before it calls
// CreateLink, and applies what the methods return as compare-and-set
// changes of the order, so a callback, the poller and the API may race.
//
// Errors, as for Provider: a method returns an error only when the outcome
// is not known (a timeout, a 5xx); a definite answer, a refusal included,
// is a LinkUpdate with State set and a nil error.
type OrderProvider interface {
	// Method is the provider's name: "svea".
	Method() string
	// ValidateOrder checks what the provider's account adds to
	// ComputeTotals (its country): an error names the field.
	ValidateOrder(o *Order) error
	// CreateLink creates the order at the provider under l's
	// MerchantOrderNumber, which sends the SMS. Sent again only with the
	// same MerchantOrderNumber, after LinkStatus found nothing.
	CreateLink(ctx context.Context, o *Order, l *OrderLink) (LinkUpdate, error)
	// LinkStatus reads the link's status. The hub calls it at most once
	// per StatusInterval per link.
	LinkStatus(ctx context.Context, o *Order, l *OrderLink) (LinkUpdate, error)
	// CancelLink cancels a link not yet paid.
	CancelLink(ctx context.Context, o *Order, l *OrderLink) (LinkUpdate, error)
	// Credit gives back c's lines of the paid link l (none: all of it).
	Credit(ctx context.Context, o *Order, l *OrderLink, c *OrderCredit) (RefundState, string, error)
	// StatusInterval is the least time between two status calls of one
	// link (Svea: 5 seconds).
	StatusInterval() time.Duration
	// LinkLifetime is how long a new link is valid (the seed's ERP: 48 h).
	LinkLifetime() time.Duration
}

// OrderAdmin administers a paid order at the provider (Svea's Payment
// Admin API, under the paid link's ProviderRef). The hub stores the
// action before it calls Deliver or Annul, reads the order (AdminOrder)
// before sending and after a lost answer, and sends again only when the
// read shows the action did not happen.
//
// Errors, as for OrderProvider: a method returns an error only when the
// outcome is not known (a timeout, a 5xx); a definite answer, a refusal
// included, is an AdminUpdate with a nil error.
type OrderAdmin interface {
	// AdminAvailable is nil when the provider can administer paid orders,
	// else an error saying what to configure.
	AdminAvailable() error
	// AdminOrder reads the paid order at the provider.
	AdminOrder(ctx context.Context, o *Order, l *OrderLink) (AdminUpdate, error)
	// Deliver delivers every row of the paid order (Svea: the invoice goes
	// out, a card reservation is captured).
	Deliver(ctx context.Context, o *Order, l *OrderLink) (AdminUpdate, error)
	// Annul cancels the paid, undelivered order (the reservation is released).
	Annul(ctx context.Context, o *Order, l *OrderLink) (AdminUpdate, error)
}

// AdminUpdate is what the provider says about a paid order.
type AdminUpdate struct {
	// Read: the order was read; Status and the flags below are set.
	Read bool
	// NotFound: the provider knows no such order.
	NotFound   bool
	Status     string
	Delivered  bool
	Cancelled  bool
	CanDeliver bool
	CanCancel  bool
	// Credited is what the provider has given back (credits and cancelled
	// amounts), minor units.
	Credited int64
	// Accepted: the provider took a deliver or annul request (it may still
	// be carrying it out).
	Accepted bool
	// Refused is a definite refusal, in words a back-office user understands.
	Refused   string
	ErrorCode string
}

// OrderCustomer acts as the customer on a payment link in the sandbox,
// through a simulator's own customer interface (its checkout page).
type OrderCustomer interface {
	ActOnLink(ctx context.Context, o *Order, l *OrderLink, action CustomerAction) error
}

// LinkUpdate is what an order provider reports about a link. Zero fields change nothing.
type LinkUpdate struct {
	// State: pending (link sent), paid (completed: paid or reserved),
	// cancelled, expired, failed (refused); "" = unchanged.
	State PaymentState
	// NotFound: the provider knows no such link (a create that never arrived).
	NotFound    bool
	URL         string
	SMSSent     *bool
	ProviderRef string
	PaymentType string
	ErrorCode   string
	Message     string
	// TooSoon: the provider refused a status call as too early after the
	// last (Svea: 403 within 5 seconds); nothing is known.
	TooSoon bool
}
