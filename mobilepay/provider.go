package mobilepay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Method is the provider name the hub registers the adapter under.
const Method = "mobilepay"

// Keys of Payment.Provider and Refund.Provider the adapter reads and writes.
const (
	// KeyPhone (in) is the customer's mobile number for a push payment. It
	// is the API's payer_alias; ValidatePayment stores it as MSISDN.
	KeyPhone = "payer_alias"
	// KeyFlow (in and out) is how the customer is reached: FlowStaticQR,
	// FlowOneTimeQR or FlowPush. Empty: push when a number is given, else
	// the till's static QR when the till is paired, else a one-time QR.
	KeyFlow = "mobilepay_flow"
	// KeyBeacon (out) is the till QR whose scan the payment waits for or was sent to.
	KeyBeacon = "mobilepay_beacon_id"
	// KeyCheckinAt (out) is when the customer scanned the till's QR.
	KeyCheckinAt = "mobilepay_checkin_at"
	// KeyQRURL (out) is the one-time QR's target URL.
	KeyQRURL = "mobilepay_qr_url"
	// KeyPSPReference (out) is the platform's reference of the last operation.
	KeyPSPReference = "psp_reference"
)

// How the customer is reached.
const (
	FlowStaticQR  = "static_qr" // the customer scans the till's paired QR; kvitt sends the payment to them
	FlowOneTimeQR = "qr"        // a QR for this payment only, shown on the customer display
	FlowPush      = "push"      // the cashier enters the customer's number; the app gets a push message
)

// Action types the adapter gives the till, beyond the common ones.
const (
	// ActionScanTillQR asks the customer to scan the QR sticker at the till.
	ActionScanTillQR = "scan_till_qr"
	// ActionOpenApp tells the till the payment waits in the customer's app.
	ActionOpenApp = "open_app"
)

// Config configures the provider adapter.
type Config struct {
	// Client talks to the platform (or the simulator).
	Client *Client
	// Checkins keeps user.checked-in.v1 events until a payment claims them;
	// nil means in this process's memory (one node only).
	Checkins CheckinStore
	// Verifier authenticates webhook deliveries; nil refuses every webhook
	// (polling alone then follows the payments, and the static QR is slower).
	Verifier *Verifier
	// PaymentDescription is shown in the app (3 to 100 characters; "" = the till's name).
	PaymentDescription string
	// CaptureOnComplete leaves an approved payment authorized until the sale
	// completes and the hub calls Capture. False (the default) captures as
	// soon as the customer approves, and the payment is paid: the goods
	// leave the shop with the customer.
	CaptureOnComplete bool
	// CheckinLead is how long before the payment a scan of the till's QR
	// still counts for it (the customer may scan while the cashier is still
	// ringing up); 0 means 2 minutes.
	CheckinLead time.Duration
	// CheckinWindow is how long a static-QR payment waits for a scan before
	// it expires; nothing has reached MobilePay meanwhile. 0 means 5 minutes.
	CheckinWindow time.Duration
	// PaymentWindow is how long the customer has to approve in the app: the
	// platform's own timeout, which kvitt never cuts short. 0 means 10 minutes.
	PaymentWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider adapts the ePayment API to kvitt.Provider, and implements
// kvitt.Capturer, kvitt.RefundStatuser, kvitt.CallbackReceiver and
// kvitt.PaymentValidator.
type Provider struct {
	cfg Config

	mu      sync.Mutex
	waiting map[string]string // beacon id → reference of the payment waiting for a scan (a hint only)
}

var (
	_ kvitt.Provider         = (*Provider)(nil)
	_ kvitt.Capturer         = (*Provider)(nil)
	_ kvitt.RefundStatuser   = (*Provider)(nil)
	_ kvitt.CallbackReceiver = (*Provider)(nil)
	_ kvitt.PaymentValidator = (*Provider)(nil)
)

// NewProvider checks cfg and returns the adapter.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Client == nil {
		return nil, errors.New("mobilepay: Config.Client is required")
	}
	if cfg.Checkins == nil {
		cfg.Checkins = NewMemoryCheckins()
	}
	if n := len([]rune(cfg.PaymentDescription)); n != 0 && (n < 3 || n > MaxPaymentDescription) {
		return nil, kvitt.FieldError("payment_description", "must be 3 to %d characters", MaxPaymentDescription)
	}
	if cfg.CheckinLead == 0 {
		cfg.CheckinLead = 2 * time.Minute
	}
	if cfg.CheckinWindow == 0 {
		cfg.CheckinWindow = 5 * time.Minute
	}
	if cfg.PaymentWindow == 0 {
		cfg.PaymentWindow = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg, waiting: map[string]string{}}, nil
}

// Method returns "mobilepay".
func (*Provider) Method() string { return Method }

// NewReference returns a new reference: 32 lowercase hexadecimal characters,
// within the ePayment rule ^[a-zA-Z0-9-]{8,64}$ and short enough that every
// Idempotency-Key derived from it stays within 50 characters.
func (*Provider) NewReference() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Idempotency-Keys are derived from the stored reference, so every retry of
// one operation, by any node and after any crash, sends the same key.
func createKey(ref string) string  { return "create-" + ref }
func captureKey(ref string) string { return "capture-" + ref }
func cancelKey(ref string) string  { return "cancel-" + ref }
func refundKey(ref string) string  { return "refund-" + ref }

// Timing of the polls the hub makes while a payment is open (webhooks come
// first; these are the fallback).
const (
	pollScan    = time.Second     // waiting for the customer to scan the till's QR
	pollApprove = 2 * time.Second // waiting for the customer to approve
	expiryGrace = 2 * time.Minute // past the platform's window before kvitt cancels itself
)

// ValidatePayment refuses, before the payment is stored, what MobilePay
// would refuse: a currency other than DKK, NOK and EUR, an amount below the
// minimum, a phone number not in MSISDN form, an unknown flow.
func (a *Provider) ValidatePayment(p *kvitt.Payment) error {
	if !Takes(p.Currency) {
		return kvitt.FieldError("method", "MobilePay takes DKK, NOK and EUR only; this sale is in %s", p.Currency)
	}
	if err := validateAmount("amount", Amount{Currency: string(p.Currency), Value: p.Amount}); err != nil {
		return kvitt.FieldError("amount", "%s", kvitt.ErrorMessage(err))
	}
	if p.Provider == nil {
		p.Provider = map[string]string{}
	}
	if phone := p.Provider[KeyPhone]; phone != "" {
		n := NormalizePhoneNumber(phone)
		if err := ValidatePhoneNumber(n); err != nil {
			return err
		}
		p.Provider[KeyPhone] = n
	}
	switch f := p.Provider[KeyFlow]; f {
	case "", FlowStaticQR, FlowOneTimeQR:
	case FlowPush:
		if p.Provider[KeyPhone] == "" {
			return kvitt.FieldError("payer_alias", "is required to push the payment to the customer's phone")
		}
	default:
		return kvitt.FieldError(KeyFlow, "must be %s, %s or %s, not %q", FlowStaticQR, FlowOneTimeQR, FlowPush, f)
	}
	return nil
}

// flow decides how the customer is reached.
func (a *Provider) flow(t *kvitt.Till, p *kvitt.Payment) string {
	if f := p.Provider[KeyFlow]; f != "" {
		return f
	}
	switch {
	case p.Provider[KeyPhone] != "":
		return FlowPush
	case t != nil && t.MobilePayBeaconID != "":
		return FlowStaticQR
	}
	return FlowOneTimeQR
}

func (a *Provider) description(t *kvitt.Till) string {
	if a.cfg.PaymentDescription != "" {
		return a.cfg.PaymentDescription
	}
	if t != nil && len([]rune(t.Name)) >= 3 && len([]rune(t.Name)) <= MaxPaymentDescription {
		return t.Name
	}
	return ""
}

// Start sends the payment. Push and one-time QR create the ePayment at
// once. The static QR waits for the customer to scan the till's QR (the
// check-in webhook, or the next poll, brings the token) and then creates
// the ePayment for that customer; until then nothing is at MobilePay.
func (a *Provider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	switch f := a.flow(t, p); f {
	case FlowStaticQR:
		return a.static(ctx, t, p)
	case FlowPush, FlowOneTimeQR:
		return a.create(ctx, t, p, f, nil)
	default:
		return kvitt.Update{State: kvitt.PaymentFailed, Message: fmt.Sprintf("Unknown MobilePay flow %q.", f)}, nil
	}
}

// static claims a scan of the till's QR for p and sends the payment to
// that customer, or waits for one.
func (a *Provider) static(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	beacon := ""
	if t != nil && t.MobilePayBeaconID != "" {
		beacon, _ = ParseBeaconID(t.MobilePayBeaconID)
	}
	if beacon == "" {
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "NOT_PAIRED",
			Message: "This till has no MobilePay QR paired. Pair the till, or show a one-time QR or push to the customer's phone instead."}, nil
	}
	now := a.cfg.Now()
	created := p.Created
	if created.IsZero() {
		created = now
	}
	c, ok, err := a.cfg.Checkins.ClaimCheckin(ctx, beacon, p.Reference, created.Add(-a.cfg.CheckinLead), now)
	if err != nil {
		return kvitt.Update{}, err
	}
	if !ok {
		expires := created.Add(a.cfg.CheckinWindow)
		if now.After(expires) {
			a.forget(beacon, p.Reference)
			return kvitt.Update{State: kvitt.PaymentExpired, ErrorCode: "NO_SCAN",
				Message: "No customer scanned the till's MobilePay QR in time. Nothing was sent to MobilePay; no money was taken."}, nil
		}
		a.mu.Lock()
		a.waiting[beacon] = p.Reference
		a.mu.Unlock()
		return kvitt.Update{
			State:    kvitt.PaymentPending,
			Provider: map[string]string{KeyFlow: FlowStaticQR, KeyBeacon: beacon},
			Action:   &kvitt.Action{Type: ActionScanTillQR, Message: "Ask the customer to scan the MobilePay QR code at the till", ExpiresAt: &expires},
			Retry:    pollScan,
			Deadline: expires,
		}, nil
	}
	a.forget(beacon, p.Reference)
	u, err := a.create(ctx, t, p, FlowStaticQR, &Customer{CustomerToken: c.CustomerToken})
	if u.Provider != nil {
		u.Provider[KeyBeacon] = beacon
		u.Provider[KeyCheckinAt] = c.At.UTC().Format(time.RFC3339Nano)
	}
	return u, err
}

func (a *Provider) forget(beacon, ref string) {
	a.mu.Lock()
	if a.waiting[beacon] == ref {
		delete(a.waiting, beacon)
	}
	a.mu.Unlock()
}

// create sends the ePayment create with the payment's reference and the
// Idempotency-Key derived from it.
func (a *Provider) create(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, flow string, customer *Customer) (kvitt.Update, error) {
	req := &CreatePaymentRequest{
		Amount:              Amount{Currency: string(p.Currency), Value: p.Amount},
		CustomerInteraction: CustomerPresent,
		PaymentMethod:       PaymentMethod{Type: "WALLET"},
		Reference:           p.Reference,
		UserFlow:            FlowPushMessage,
		PaymentDescription:  a.description(t),
	}
	switch flow {
	case FlowPush:
		req.Customer = &Customer{PhoneNumber: p.Provider[KeyPhone]}
	case FlowOneTimeQR:
		req.UserFlow = FlowQR
		req.QRFormat = &QRFormat{Format: QRFormatTargetURL}
	default:
		req.Customer = customer
	}
	resp, err := a.cfg.Client.CreatePayment(ctx, createKey(p.Reference), req)
	if err != nil {
		if ae := (*APIError)(nil); errors.As(err, &ae) && ae.StatusCode == http.StatusConflict {
			// The reference is taken: an earlier create of this payment
			// arrived. Read it instead of creating anything.
			return a.read(ctx, t, p, false)
		}
		if u, ok := refusal(err); ok {
			return u, nil
		}
		return kvitt.Update{}, err
	}
	now := a.cfg.Now()
	created := p.Created
	if created.IsZero() {
		created = now
	}
	expires := created.Add(a.cfg.PaymentWindow)
	if flow == FlowStaticQR {
		expires = now.Add(a.cfg.PaymentWindow)
	}
	u := kvitt.Update{
		State:    kvitt.PaymentPending,
		Provider: map[string]string{KeyFlow: flow},
		Retry:    pollApprove,
		Deadline: expires,
	}
	switch flow {
	case FlowOneTimeQR:
		if resp.RedirectURL == "" {
			u.Message = "MobilePay gave no QR code for this payment; cancel it and start again."
			return u, nil
		}
		u.Provider[KeyQRURL] = resp.RedirectURL
		u.Action = &kvitt.Action{Type: "show_qr", QRData: resp.RedirectURL, Message: "Scan the QR code with the MobilePay app", ExpiresAt: &expires}
	default:
		u.Action = &kvitt.Action{Type: ActionOpenApp, Message: "The customer approves the payment in the MobilePay app", ExpiresAt: &expires}
	}
	return u, nil
}

// CodeServerCertificate: kvitt did not trust MobilePay's server certificate.
const CodeServerCertificate = "SERVER_CERTIFICATE"

// refusal turns a definite refusal (validation before sending, a 4xx
// other than 404, 408, 409 and 429, or a TLS handshake failed over the
// server's certificate, which no request passed) into a failed update.
func refusal(err error) (kvitt.Update, bool) {
	var ke *kvitt.Error
	if errors.As(err, &ke) && ke.Code == kvitt.EUNPROCESSABLE {
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "INVALID", Message: ke.Field + " " + ke.Message}, true
	}
	var ce *ServerCertificateError
	if errors.As(err, &ce) {
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: CodeServerCertificate, Message: fmt.Sprintf(
			"kvitt does not trust MobilePay's server certificate (%s): check the CA bundle kvitt checks MobilePay's server against "+
				"(mobilepay.ca_file, or none for the system's roots) and that mobilepay.base_url is MobilePay's address. "+
				"Nothing was sent to MobilePay; no money was taken.", ce.Reason)}, true
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Definite() && ae.StatusCode != http.StatusNotFound && ae.StatusCode != http.StatusConflict {
		code := fmt.Sprintf("HTTP%d", ae.StatusCode)
		if ae.Problem != nil && ae.Problem.ErrorCode() != "" {
			code = ae.Problem.ErrorCode()
		}
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: code, Message: ae.CashierMessage()}, true
	}
	return kvitt.Update{}, false
}

// Status reads the payment by its reference. Nothing found means the
// create never arrived: an open payment is created now with the same
// reference and Idempotency-Key (or, for the static QR, still waits for a
// scan), until its window has passed. A payment kvitt has ended is only
// read: creating it now would charge for a sale the till has given up.
func (a *Provider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return a.read(ctx, t, p, p.State.Open())
}

func (a *Provider) read(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, resend bool) (kvitt.Update, error) {
	pay, err := a.cfg.Client.GetPayment(ctx, p.Reference)
	if IsNotFound(err) {
		if !resend {
			return kvitt.Update{}, nil
		}
		flow := a.flow(t, p)
		if flow == FlowStaticQR {
			return a.static(ctx, t, p)
		}
		if !p.Created.IsZero() && a.cfg.Now().After(p.Created.Add(a.cfg.PaymentWindow)) {
			return kvitt.Update{State: kvitt.PaymentExpired, ErrorCode: "NOT_CREATED",
				Message: "The payment never reached MobilePay and the customer's time is over. No money was taken."}, nil
		}
		return a.create(ctx, t, p, flow, nil)
	}
	if err != nil {
		return kvitt.Update{}, err
	}
	u := a.mapPayment(p, pay)
	switch {
	case u.State == kvitt.PaymentAuthorized && p.State.Open() && !a.cfg.CaptureOnComplete:
		return a.capture(ctx, p, pay)
	case u.State == kvitt.PaymentAuthorized && kvitt.LateCapture(p.State, u.State):
		// An approval that came after kvitt had ended the payment (the
		// customer approved as the cashier cancelled) is captured too: the
		// hub books it paid with Attention, listed for a person with the
		// two honest choices, keep it for the sale or refund it. Left
		// authorized, it would be a reservation no recovery list shows,
		// lapsing unseen.
		return a.capture(ctx, p, pay)
	case u.State == kvitt.PaymentPending:
		if a.cfg.Now().After(u.Deadline.Add(expiryGrace)) {
			// The platform should have expired it by now; make sure.
			return a.cancel(ctx, p, kvitt.PaymentExpired)
		}
	}
	return u, nil
}

// mapPayment maps the platform's payment to an update.
func (a *Provider) mapPayment(p *kvitt.Payment, pay *Payment) kvitt.Update {
	u := kvitt.Update{Provider: map[string]string{}}
	if pay.PSPReference != "" {
		u.Provider[KeyPSPReference] = pay.PSPReference
	}
	if pay.Amount.Value != p.Amount || pay.Amount.Currency != string(p.Currency) {
		// Never book a payment whose amount differs from the sale's.
		u.State = kvitt.PaymentUnknown
		u.Message = fmt.Sprintf("MobilePay holds %s %s for this payment but kvitt asked for %s %s; check the payment in the business portal.",
			kvitt.FormatAmount(pay.Amount.Value, kvitt.Currency(pay.Amount.Currency)), pay.Amount.Currency,
			kvitt.FormatAmount(p.Amount, p.Currency), p.Currency)
		return u
	}
	agg := pay.Aggregate
	switch pay.State {
	case StateCreated:
		u.State, u.Retry = kvitt.PaymentPending, pollApprove
		u.Deadline = a.deadline(p)
		if p.Action == nil || p.Action.Type == ActionScanTillQR {
			// The create's answer, which carried what the till shows, was
			// lost (or the till still asks for a scan): MobilePay's copy
			// of the payment says it again.
			waitingAction(p, pay, &u)
		}
	case StateAuthorized:
		switch {
		case agg.CapturedAmount.Value == pay.Amount.Value:
			u.State = kvitt.PaymentPaid
		case agg.CapturedAmount.Value > 0:
			u.State = kvitt.PaymentUnknown
			u.Message = fmt.Sprintf("MobilePay shows %s of %s captured; check the payment in the business portal.",
				kvitt.FormatAmount(agg.CapturedAmount.Value, p.Currency), kvitt.FormatAmount(pay.Amount.Value, p.Currency))
		case agg.AuthorizedAmount.Value > 0 && agg.CancelledAmount.Value >= agg.AuthorizedAmount.Value:
			u.State = kvitt.PaymentCancelled
			u.Message = "The payment was cancelled and the customer's reservation released. No money was taken."
		default:
			u.State = kvitt.PaymentAuthorized
			if a.cfg.CaptureOnComplete {
				u.Message = "The customer approved; the amount is reserved and is captured when the sale completes."
			}
		}
	case StateAborted:
		u.State, u.ErrorCode = kvitt.PaymentDeclined, StateAborted
		u.Message = "The customer rejected the payment in MobilePay. No money was taken."
	case StateExpired:
		u.State, u.ErrorCode = kvitt.PaymentExpired, StateExpired
		u.Message = "The customer did not approve in time. No money was taken."
	case StateTerminated:
		u.State = kvitt.PaymentCancelled
		u.Message = "The payment was cancelled. No money was taken."
	default:
		u.State = kvitt.PaymentUnknown
		u.Message = fmt.Sprintf("MobilePay reported an unknown state %q; check the payment in the business portal.", pay.State)
	}
	return u
}

// waitingAction sets what the till shows for a payment waiting for the
// customer at MobilePay: the app, or the one-time QR MobilePay made for it
// (its redirectUrl), as the create's answer gave them.
func waitingAction(p *kvitt.Payment, pay *Payment, u *kvitt.Update) {
	expires := u.Deadline
	flow := p.Provider[KeyFlow]
	if flow == "" {
		// The flow is stored from the create's answer; Start chose it.
		flow = FlowOneTimeQR
		if p.Provider[KeyPhone] != "" {
			flow = FlowPush
		}
	}
	u.Provider[KeyFlow] = flow
	if flow != FlowOneTimeQR {
		u.Action = &kvitt.Action{Type: ActionOpenApp, Message: "The customer approves the payment in the MobilePay app", ExpiresAt: &expires}
		return
	}
	if pay.RedirectURL == "" {
		u.Message = "MobilePay gave no QR code for this payment; cancel it and start again."
		return
	}
	u.Provider[KeyQRURL] = pay.RedirectURL
	u.Action = &kvitt.Action{Type: "show_qr", QRData: pay.RedirectURL, Message: "Scan the QR code with the MobilePay app", ExpiresAt: &expires}
}

func (a *Provider) deadline(p *kvitt.Payment) time.Time {
	if at, err := time.Parse(time.RFC3339Nano, p.Provider[KeyCheckinAt]); err == nil && !at.IsZero() {
		// Sent when the customer scanned, after the payment was made.
		if at.After(p.Created) {
			return at.Add(a.cfg.PaymentWindow)
		}
	}
	if p.Created.IsZero() {
		return a.cfg.Now().Add(a.cfg.PaymentWindow)
	}
	return p.Created.Add(a.cfg.PaymentWindow)
}

// Capture takes the authorized amount (kvitt.Capturer): when the sale
// completes with CaptureOnComplete, or when a person keeps a payment that
// was approved late. A captured payment is paid; anything else is reported
// as it is.
func (a *Provider) Capture(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	pay, err := a.cfg.Client.GetPayment(ctx, p.Reference)
	if err != nil {
		return kvitt.Update{}, err
	}
	if u := a.mapPayment(p, pay); u.State != kvitt.PaymentAuthorized {
		return u, nil
	}
	return a.capture(ctx, p, pay)
}

// capture captures what is authorized and not yet captured, with the
// Idempotency-Key derived from the reference (a retry captures nothing twice).
func (a *Provider) capture(ctx context.Context, p *kvitt.Payment, pay *Payment) (kvitt.Update, error) {
	rest := pay.Amount.Value - pay.Aggregate.CapturedAmount.Value
	mr, err := a.cfg.Client.CapturePayment(ctx, p.Reference, captureKey(p.Reference), Amount{Currency: pay.Amount.Currency, Value: rest})
	if err == nil {
		return a.mapModification(p, mr), nil
	}
	u := a.mapPayment(p, pay) // authorized
	u.Retry = pollApprove
	u.Message = "The customer approved; capturing the amount did not succeed yet (" + err.Error() + "). kvitt tries again."
	var ae *APIError
	if errors.As(err, &ae) && ae.Definite() {
		// Refused: read again; it may have been captured meanwhile.
		if again, gerr := a.cfg.Client.GetPayment(ctx, p.Reference); gerr == nil {
			if v := a.mapPayment(p, again); v.State != kvitt.PaymentAuthorized {
				return v, nil
			}
		}
		u.Message = "The customer approved, but MobilePay refused the capture: " + ae.CashierMessage()
	}
	return u, nil
}

func (a *Provider) mapModification(p *kvitt.Payment, mr *ModificationResponse) kvitt.Update {
	return a.mapPayment(p, &Payment{Aggregate: mr.Aggregate, Amount: mr.Amount, State: mr.State, PSPReference: mr.PSPReference, Reference: mr.Reference})
}

// Cancel stops a payment that is not paid: it cancels the ePayment, which
// releases an authorized, uncaptured amount too. If the money is captured by
// then, it says paid: a payment is never lost to a late cancel.
func (a *Provider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	if b := p.Provider[KeyBeacon]; b != "" {
		a.forget(b, p.Reference)
	}
	return a.cancel(ctx, p, kvitt.PaymentCancelled)
}

func (a *Provider) cancel(ctx context.Context, p *kvitt.Payment, as kvitt.PaymentState) (kvitt.Update, error) {
	mr, err := a.cfg.Client.CancelPayment(ctx, p.Reference, cancelKey(p.Reference), false)
	if IsNotFound(err) {
		return kvitt.Update{State: as, Message: "The payment never reached MobilePay. No money was taken."}, nil
	}
	var u kvitt.Update
	switch {
	case err == nil:
		u = a.mapModification(p, mr)
	default:
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Definite() {
			return kvitt.Update{}, err // outcome unknown: ask again later
		}
		// Refused (already captured, expired, aborted...): read what is there.
		pay, gerr := a.cfg.Client.GetPayment(ctx, p.Reference)
		if gerr != nil {
			return kvitt.Update{}, gerr
		}
		u = a.mapPayment(p, pay)
	}
	if as == kvitt.PaymentExpired && u.State == kvitt.PaymentCancelled {
		u.State, u.ErrorCode = kvitt.PaymentExpired, StateExpired
		u.Message = "The customer did not approve in time. No money was taken."
	}
	return u, nil
}

// Refund gives back r.Amount of the captured payment p, with the
// Idempotency-Key derived from the refund's own reference: a retry after a
// lost answer refunds nothing twice.
func (a *Provider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	cur := r.Currency
	if cur == "" {
		cur = p.Currency
	}
	mr, err := a.cfg.Client.RefundPayment(ctx, p.Reference, refundKey(r.Reference), Amount{Currency: string(cur), Value: r.Amount})
	if err != nil {
		var ke *kvitt.Error
		if errors.As(err, &ke) && ke.Code == kvitt.EUNPROCESSABLE {
			return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "INVALID", Message: ke.Field + " " + ke.Message}, nil
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Definite() && ae.StatusCode != http.StatusConflict {
			code := fmt.Sprintf("HTTP%d", ae.StatusCode)
			if ae.Problem != nil && ae.Problem.ErrorCode() != "" {
				code = ae.Problem.ErrorCode()
			}
			return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: code, Message: ae.CashierMessage()}, nil
		}
		return kvitt.RefundUpdate{}, err
	}
	return kvitt.RefundUpdate{State: kvitt.RefundSucceeded, Provider: map[string]string{
		KeyPSPReference:   mr.PSPReference,
		"refunded_amount": strconv.FormatInt(mr.Aggregate.RefundedAmount.Value, 10),
	}}, nil
}

// RefundStatus finds the refund in the payment's event log by its
// Idempotency-Key; if it is not there, the refund never arrived and is sent
// again with the same key.
func (a *Provider) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	events, err := a.cfg.Client.PaymentEvents(ctx, p.Reference)
	if err != nil {
		return kvitt.RefundUpdate{}, err
	}
	key := refundKey(r.Reference)
	for _, e := range events {
		if e.IdempotencyKey != key || e.Name != EventRefunded {
			continue
		}
		if e.Success {
			return kvitt.RefundUpdate{State: kvitt.RefundSucceeded, Provider: map[string]string{KeyPSPReference: e.PSPReference}}, nil
		}
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "REFUND_FAILED", Message: "MobilePay did not carry out the refund."}, nil
	}
	return a.Refund(ctx, t, p, r)
}

// webhookBody holds the fields of both kinds of delivery kvitt takes.
type webhookBody struct {
	MSN       string `json:"msn"`
	Reference string `json:"reference"`
	Name      string `json:"name"`
	// user.checked-in.v1
	CustomerToken        string `json:"customerToken"`
	MerchantQRID         string `json:"merchantQrId"`
	MerchantSerialNumber string `json:"merchantSerialNumber"` // the field's name in older documentation
	InitiatedAt          string `json:"initiatedAt"`
}

// ParseCallback authenticates a webhook delivery (kvitt.CallbackReceiver)
// and returns the payment reference to read again. An ePayment event names
// its payment. A check-in (user.checked-in.v1) is kept for the till whose
// QR was scanned and names the payment waiting at that till, if this
// process knows one; otherwise it returns "" (nothing to read: the waiting
// payment's poll picks the check-in up). A forged or stale delivery is
// EUNAUTHORIZED, a replayed one ECONFLICT.
func (a *Provider) ParseCallback(r *http.Request) (string, error) {
	if a.cfg.Verifier == nil {
		return "", kvitt.Errorf(kvitt.EUNAUTHORIZED, "MobilePay webhooks are not set up (no webhook secret)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return "", kvitt.Errorf(kvitt.EINVALID, "reading the MobilePay webhook: %v", err)
	}
	if err := a.cfg.Verifier.Verify(r, body); err != nil {
		return "", err
	}
	var w webhookBody
	if err := json.Unmarshal(body, &w); err != nil {
		return "", kvitt.Errorf(kvitt.EINVALID, "MobilePay webhook body is not JSON: %v", err)
	}
	msn := w.MSN
	if msn == "" {
		msn = w.MerchantSerialNumber
	}
	if msn != "" && msn != a.cfg.Client.MSN() {
		return "", nil // another sales unit's event (a partner webhook): not kvitt's
	}
	if w.CustomerToken != "" {
		return a.checkin(r.Context(), w)
	}
	if w.Reference == "" {
		return "", kvitt.Errorf(kvitt.EINVALID, "MobilePay webhook with neither a payment reference nor a check-in")
	}
	if err := ValidateReference(w.Reference); err != nil {
		return "", err
	}
	return w.Reference, nil
}

func (a *Provider) checkin(ctx context.Context, w webhookBody) (string, error) {
	beacon, err := ParseBeaconID(w.MerchantQRID)
	if err != nil {
		return "", nil // a QR that is no till's: nothing to do
	}
	at, err := parseTime(w.InitiatedAt)
	if err != nil {
		at = a.cfg.Now()
	}
	added, err := a.cfg.Checkins.PutCheckin(ctx, Checkin{BeaconID: beacon, CustomerToken: w.CustomerToken, At: at})
	if err != nil {
		return "", err
	}
	if !added {
		return "", nil
	}
	a.mu.Lock()
	ref := a.waiting[beacon]
	a.mu.Unlock()
	return ref, nil
}

// WholeAmountOnly reports that a MobilePay tender must be the whole amount
// of the sale (seed 001: no split with another method, no cash back). The
// hub checks it before it stores the payment (kvitt.WholeAmountOnly).
func (*Provider) WholeAmountOnly() bool { return true }

// PairTill registers the till's static QR (see Client.Pair) with the till's
// name as the text the app shows, cut to 36 characters. The caller stores
// the pairing's BeaconID on the till (Till.MobilePayBeaconID) and its MSN
// (Till.MobilePayPosID): that is what the platform knows the till by.
func (a *Provider) PairTill(ctx context.Context, t *kvitt.Till, beaconID string, sticker bool) (*Pairing, error) {
	loc := t.Name
	if loc == "" {
		loc = t.ID
	}
	if r := []rune(loc); len(r) > MaxLocationDescription {
		loc = string(r[:MaxLocationDescription])
	}
	return a.cfg.Client.Pair(ctx, beaconID, loc, sticker)
}

// UnpairTill deletes the till's QR at the platform; a QR already gone is
// not an error. The caller then clears the till's pairing.
func (a *Provider) UnpairTill(ctx context.Context, t *kvitt.Till) error {
	if t.MobilePayBeaconID == "" {
		return kvitt.Errorf(kvitt.ECONFLICT, "till %s has no MobilePay QR paired", t.ID)
	}
	if err := a.cfg.Client.Unpair(ctx, t.MobilePayBeaconID); err != nil && kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		return err
	}
	return nil
}

// ParseTillQR returns the beacon id typed or scanned at a till in its
// canonical form (ParseBeaconID): the hub checks it against the other tills
// before anything is sent. A wrong form is EUNPROCESSABLE naming beacon_id
// and the rule.
func (*Provider) ParseTillQR(beaconID string) (string, error) { return ParseBeaconID(beaconID) }

// PairTillQR pairs the till's static QR (PairTill) and returns what the
// till keeps: the beacon id in canonical form (Till.MobilePayBeaconID) and
// the sales unit's MSN (Till.MobilePayPosID). It is the hub's view of
// PairTill, in words the hub knows.
func (a *Provider) PairTillQR(ctx context.Context, t *kvitt.Till, beaconID string, sticker bool) (beacon, posID string, err error) {
	pr, err := a.PairTill(ctx, t, beaconID, sticker)
	if err != nil {
		return "", "", err
	}
	return pr.BeaconID, pr.MSN, nil
}

// TillQRImage returns the till's paired QR as an image to print: format
// "SVG" or "PNG", size in pixels for PNG (100 to 2000; 0 for the
// platform's default).
func (a *Provider) TillQRImage(ctx context.Context, t *kvitt.Till, format string, size int) ([]byte, string, error) {
	if t.MobilePayBeaconID == "" {
		return nil, "", kvitt.Errorf(kvitt.ECONFLICT, "till %s has no MobilePay QR paired", t.ID)
	}
	return a.cfg.Client.QRImage(ctx, t.MobilePayBeaconID, format, size)
}

// Client returns the client, for pairing and administration.
func (a *Provider) Client() *Client { return a.cfg.Client }
