package swish

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Method is the provider name the hub registers the adapter under.
const Method = "swish"

// Keys of Payment.Provider and Refund.Provider the adapter reads and writes.
const (
	KeyPayerAlias       = "payer_alias"           // set by the caller for e-commerce (the customer's number)
	KeyToken            = "payment_request_token" // in-store: the token behind the QR code
	KeyLocation         = "location"              // Swish's URL of the created object
	KeyPaymentReference = "payment_reference"     // the bank's reference once paid; refunds need it
	KeyDatePaid         = "date_paid"
	KeyCallbackURL      = "callback_url"
)

// Config configures the provider adapter.
type Config struct {
	// Client talks to Swish (or the simulator) with the merchant certificate.
	Client *Client
	// PayeeAlias is the merchant's Swish number (123xxxxxxx); it must match the certificate.
	PayeeAlias string
	// CallbackBaseURL is kvitt's public https root; callbacks go to
	// CallbackBaseURL + "/v1/callbacks/swish/" + token. Swish requires port
	// 443, a publicly trusted certificate and no SNI there.
	CallbackBaseURL string
	// CallbackSecret keys the per-payment callback tokens (at least 16 bytes).
	CallbackSecret []byte
	// Message is shown to the customer in the Swish app (≤50 characters, optional).
	Message string
	// ReturnURL, if set, is where the Swish app returns after an app switch.
	ReturnURL string
	// PayerWindow is how long the customer has to approve; 0 means 3 minutes.
	PayerWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what an operator must act on, such as a merchant
	// certificate Swish refuses; nil means slog.Default().
	Logger *slog.Logger
}

// Provider adapts the Swish Commerce API to kvitt.Provider,
// kvitt.CallbackReceiver and kvitt.RefundStatuser.
type Provider struct {
	cfg Config
}

var (
	_ kvitt.Provider         = (*Provider)(nil)
	_ kvitt.CallbackReceiver = (*Provider)(nil)
	_ kvitt.RefundStatuser   = (*Provider)(nil)
)

// NewProvider checks cfg and returns the adapter.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Client == nil {
		return nil, errors.New("swish: Config.Client is required")
	}
	if err := ValidateMerchantNumber("payee_alias", cfg.PayeeAlias); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.CallbackBaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, kvitt.FieldError("callback_base_url", "must be an absolute https URL (Swish calls back over https only)")
	}
	cfg.CallbackBaseURL = strings.TrimRight(cfg.CallbackBaseURL, "/")
	if len(cfg.CallbackSecret) < 16 {
		return nil, kvitt.FieldError("callback_secret", "must be at least 16 bytes")
	}
	if err := ValidateMessage(cfg.Message); err != nil {
		return nil, err
	}
	if cfg.PayerWindow == 0 {
		cfg.PayerWindow = 3 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Provider{cfg: cfg}, nil
}

// Method returns "swish".
func (*Provider) Method() string { return Method }

// NewReference returns a new instructionUUID.
func (*Provider) NewReference() string { return NewInstructionUUID() }

// pollInterval is how often the hub should ask while a payment is open.
const pollInterval = 2 * time.Second

// expiryGrace is how long past the payer window a request may stay CREATED
// before the adapter cancels it itself.
const expiryGrace = time.Minute

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// CallbackToken returns the secret path segment for reference: the
// reference, "-", and 26 base32 characters (130 bits) of
// HMAC-SHA256(secret, reference).
// ValidatePayment refuses, before the payment is stored, a payer alias
// Swish would refuse (the customer's number for e-commerce).
func (a *Provider) ValidatePayment(p *kvitt.Payment) error {
	if alias := p.Provider[KeyPayerAlias]; alias != "" {
		if err := ValidatePayerAlias(alias); err != nil {
			return kvitt.FieldError("payer_alias", "%s", kvitt.ErrorMessage(err))
		}
	}
	if p.Currency != kvitt.SEK {
		return kvitt.FieldError("method", "Swish takes SEK only; this sale is in %s", p.Currency)
	}
	return nil
}

func (a *Provider) CallbackToken(reference string) string {
	m := hmac.New(sha256.New, a.cfg.CallbackSecret)
	m.Write([]byte(reference))
	return reference + "-" + tokenEncoding.EncodeToString(m.Sum(nil))[:26]
}

// CallbackURL returns the callback URL Swish is given for reference.
func (a *Provider) CallbackURL(reference string) string {
	return a.cfg.CallbackBaseURL + "/v1/callbacks/swish/" + a.CallbackToken(reference)
}

// ParseCallback authenticates a callback by its token and returns the
// reference (payment or refund instructionUUID) it concerns. The body is not
// trusted: the hub re-reads the state with Status or RefundStatus.
func (a *Provider) ParseCallback(r *http.Request) (string, error) {
	token := r.PathValue("token")
	if token == "" {
		token = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	ref, _, ok := strings.Cut(token, "-")
	if !ok || !ValidInstructionUUID(ref) ||
		subtle.ConstantTimeCompare([]byte(token), []byte(a.CallbackToken(ref))) != 1 {
		return "", kvitt.Errorf(kvitt.EUNAUTHORIZED, "Swish callback with an unknown token")
	}
	var body struct {
		ID string `json:"id"`
	}
	if b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16)); err == nil && json.Unmarshal(b, &body) == nil && body.ID != "" {
		if !strings.EqualFold(body.ID, ref) {
			return "", kvitt.Errorf(kvitt.EINVALID, "Swish callback for %s carries id %s", ref, body.ID)
		}
	}
	return ref, nil
}

func (a *Provider) paymentRequest(p *kvitt.Payment) *PaymentRequest {
	return &PaymentRequest{
		PayeePaymentReference: payeeReference(p.ID),
		CallbackURL:           a.CallbackURL(p.Reference),
		PayerAlias:            p.Provider[KeyPayerAlias],
		PayeeAlias:            a.cfg.PayeeAlias,
		Amount:                AmountOf(p.Amount),
		Currency:              string(p.Currency),
		Message:               a.cfg.Message,
	}
}

// payeeReference turns kvitt's payment id into Swish's reference format, or
// leaves it out if it cannot be.
func payeeReference(id string) string {
	s := strings.ReplaceAll(id, "_", "-")
	if validateReference("payeePaymentReference", s, false) != nil {
		return ""
	}
	return s
}

// Start sends the payment request. In-store (no payer alias) it returns a QR
// code to show; e-commerce (Provider["payer_alias"] set) the customer gets a
// notice in the Swish app.
func (a *Provider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return a.create(ctx, p)
}

func (a *Provider) create(ctx context.Context, p *kvitt.Payment) (kvitt.Update, error) {
	req := a.paymentRequest(p)
	cr, err := a.cfg.Client.CreatePaymentRequest(ctx, p.Reference, req)
	if err != nil {
		if u, ok := a.refusal(err); ok {
			if u.ErrorCode == "RP09" { // already there: our earlier PUT arrived
				return a.read(ctx, p, false)
			}
			return u, nil
		}
		return kvitt.Update{}, a.explain(err)
	}
	now := a.cfg.Now()
	expires := now.Add(a.cfg.PayerWindow)
	u := kvitt.Update{
		State:    kvitt.PaymentPending,
		Provider: map[string]string{KeyLocation: cr.Location, KeyCallbackURL: req.CallbackURL},
		Retry:    pollInterval,
		Deadline: expires,
	}
	if req.PayerAlias != "" {
		u.Action = &kvitt.Action{Type: "open_app", Message: "Open Swish on your phone to approve", ExpiresAt: &expires}
		return u, nil
	}
	if cr.Token == "" {
		u.Message = "Swish gave no QR code for this payment; cancel it and start again."
		return u, nil
	}
	u.Provider[KeyToken] = cr.Token
	appURL := "swish://paymentrequest?token=" + url.QueryEscape(cr.Token)
	if a.cfg.ReturnURL != "" {
		appURL += "&callbackurl=" + url.QueryEscape(a.cfg.ReturnURL)
	}
	u.Action = &kvitt.Action{
		Type:      "show_qr",
		QRData:    "D" + cr.Token,
		AppURL:    appURL,
		Message:   "Scan the QR code with the Swish app",
		ExpiresAt: &expires,
	}
	return u, nil
}

// Error codes of the certificate refusals, which Swish sends no code for.
const (
	// CodeCertificate: Swish refused the merchant certificate in the TLS handshake.
	CodeCertificate = "CERTIFICATE"
	// CodeServerCertificate: kvitt did not trust Swish's server certificate.
	CodeServerCertificate = "SERVER_CERTIFICATE"
	// CodeUnauthorized: Swish answered 401 (certificate not accepted, or number not enrolled).
	CodeUnauthorized = "HTTP401"
)

// refusal turns a definite refusal (validation before sending, a 4xx from
// Swish other than 404, 408 and 429, or a TLS handshake failed over a
// certificate, which no request passed) into a failed update.
func (a *Provider) refusal(err error) (kvitt.Update, bool) {
	var ke *kvitt.Error
	if errors.As(err, &ke) && ke.Code == kvitt.EUNPROCESSABLE {
		code := FieldCodes[ke.Field]
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: code, Message: ke.Field + " " + ke.Message}, true
	}
	if code, msg := a.certificateProblem(err); code != "" {
		a.cfg.Logger.Error(msg, "method", Method, "payee_alias", a.cfg.PayeeAlias, "error_code", code, "err", err)
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: code, Message: msg}, true
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Definite() && ae.StatusCode != http.StatusNotFound {
		code := ae.Code()
		if code == "" {
			code = fmt.Sprintf("HTTP%d", ae.StatusCode)
		}
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: code, Message: ae.CashierMessage()}, true
	}
	return kvitt.Update{}, false
}

// certificateProblem recognises a refused merchant certificate (a TLS
// alert, or HTTP 401 without a Swish code) and a Swish server certificate
// kvitt does not trust, and says so in words an operator can act on.
func (a *Provider) certificateProblem(err error) (code, msg string) {
	var ce *CertificateError
	if errors.As(err, &ce) {
		if ce.Server {
			return CodeServerCertificate, fmt.Sprintf("kvitt does not trust Swish's server certificate (%s): check the CA bundle kvitt checks Swish's server against "+
				"(swish.ca_file: Swish's TLS root, or ca.pem of kvitt's Swish simulator), and that swish.base_url is Swish's address.", ce.Reason)
		}
		return CodeCertificate, a.certificateMessage(ce.Reason, "", ce.Detail())
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized && ae.Code() == "" {
		note := ""
		if a.cfg.Client != nil {
			note = a.cfg.Client.certificateNote()
		}
		return CodeUnauthorized, a.certificateMessage("HTTP 401", ", and that the number is enrolled for Swish Handel", note)
	}
	return "", ""
}

func (a *Provider) certificateMessage(reason, also, detail string) string {
	return fmt.Sprintf("Swish did not accept the merchant certificate (%s): check that the certificate was issued by Swish for payee alias %s%s, "+
		"that the certificate file holds its intermediates, and that it is for this Swish environment (test and production certificates differ)%s.",
		reason, a.cfg.PayeeAlias, also, detail)
}

// explain tells an error that leaves the outcome open (a poll or cancel
// that failed over a certificate) in the operator's words, for the log;
// other errors pass unchanged.
func (a *Provider) explain(err error) error {
	if err == nil {
		return nil
	}
	if _, msg := a.certificateProblem(err); msg != "" {
		return &explainedError{msg: strings.TrimSuffix(msg, "."), err: err}
	}
	return err
}

// explainedError is an error told in an operator's words, which already
// say what the wrapped error says.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// Status reads the payment request by its instructionUUID. A 404 while
// kvitt's own create may still be on its way (p.InFlightUntil) proves
// nothing: it is asked again once the flight is over. After that a 404
// means the create never arrived: for an open payment it is sent again with
// the same instructionUUID (Swish keeps one request per UUID), unless the
// payer window has passed. A payment kvitt has ended (read again because a
// callback came for it) is only read: sending its create now would let the
// customer pay for a payment the till has given up.
func (a *Provider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return a.read(ctx, p, p.State.Open())
}

func (a *Provider) read(ctx context.Context, p *kvitt.Payment, resend bool) (kvitt.Update, error) {
	pr, err := a.cfg.Client.GetPaymentRequest(ctx, p.Reference)
	if isNotFound(err) && resend {
		if now := a.cfg.Now(); p.InFlightUntil.After(now) {
			return kvitt.Update{Retry: p.InFlightUntil.Sub(now) + time.Second}, nil
		}
		if !p.Created.IsZero() && a.cfg.Now().After(p.Created.Add(a.cfg.PayerWindow)) {
			return kvitt.Update{State: kvitt.PaymentExpired, ErrorCode: "TM01",
				Message: "The payment request never reached Swish and the customer's time is over. No money was taken."}, nil
		}
		return a.create(ctx, p)
	}
	if err != nil {
		return kvitt.Update{}, a.explain(err)
	}
	u := mapPayment(pr)
	if pr.Status == StatusPaid {
		if ore, err := pr.Amount.Ore(); err != nil || ore != p.Amount {
			// Never book a payment whose amount differs from the sale's.
			u.State = kvitt.PaymentUnknown
			u.Message = fmt.Sprintf("Swish reports %s SEK paid but kvitt asked for %s SEK; check the payment in Swish.",
				pr.Amount, kvitt.FormatAmount(p.Amount, kvitt.SEK))
		}
	}
	if pr.Status == StatusCreated && pr.PayerAlias == "" && p.Provider[KeyPayerAlias] == "" && p.Provider[KeyToken] == "" {
		// In-store, and the create's answer with the token was lost: nobody
		// can scan this request. It runs out by itself; the cashier may cancel.
		u.Message = "The QR code for this payment was lost. Cancel the payment and start a new one."
	}
	if pr.Status == StatusCreated {
		created := pr.DateCreated.Time
		if created.IsZero() {
			created = p.Created
		}
		if !created.IsZero() {
			u.Deadline = created.Add(a.cfg.PayerWindow)
			if a.cfg.Now().After(u.Deadline.Add(expiryGrace)) {
				return a.cancel(ctx, p, kvitt.PaymentExpired)
			}
		}
	}
	return u, nil
}

// mapPayment maps Swish's payment request to an update.
func mapPayment(pr *PaymentRequest) kvitt.Update {
	u := kvitt.Update{Provider: map[string]string{}}
	switch pr.Status {
	case StatusCreated:
		u.State, u.Retry = kvitt.PaymentPending, pollInterval
	case StatusPaid:
		u.State = kvitt.PaymentPaid
		u.Provider[KeyPaymentReference] = pr.PaymentReference
		if !pr.DatePaid.IsZero() {
			u.Provider[KeyDatePaid] = pr.DatePaid.UTC().Format(time.RFC3339Nano)
		}
	case StatusDeclined:
		u.State = kvitt.PaymentDeclined
		u.ErrorCode = pr.ErrorCode
		u.Message = "The customer declined the payment in Swish. No money was taken."
	case StatusCancelled:
		u.State = kvitt.PaymentCancelled
		u.Message = "The payment was cancelled. No money was taken."
	case StatusError:
		u.ErrorCode = pr.ErrorCode
		switch pr.ErrorCode {
		case "TM01":
			u.State = kvitt.PaymentExpired
		case "RF07":
			u.State = kvitt.PaymentDeclined
		case "BANKIDCL":
			u.State = kvitt.PaymentCancelled
		case "DS24":
			u.State = kvitt.PaymentUnknown // never retried: a person checks with the customer's bank
		default:
			u.State = kvitt.PaymentFailed
		}
	default:
		u.State = kvitt.PaymentUnknown
		u.Message = fmt.Sprintf("Swish reported an unknown status %q; check the payment in Swish.", pr.Status)
	}
	if u.ErrorCode != "" {
		u.Message = CodeMessage(u.ErrorCode)
	}
	return u
}

// Cancel withdraws an unpaid payment request. If Swish has it paid by then,
// it says paid: a payment is never lost to a late cancel.
func (a *Provider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return a.cancel(ctx, p, kvitt.PaymentCancelled)
}

func (a *Provider) cancel(ctx context.Context, p *kvitt.Payment, as kvitt.PaymentState) (kvitt.Update, error) {
	pr, err := a.cfg.Client.CancelPaymentRequest(ctx, p.Reference)
	if err == nil && pr.Status == StatusCancelled {
		return a.cancelled(as), nil
	}
	var ae *APIError
	if err != nil && !errors.As(err, &ae) {
		return kvitt.Update{}, a.explain(err) // transport: unknown
	}
	// Refused, or not cancelled: read what Swish has.
	pr, err = a.cfg.Client.GetPaymentRequest(ctx, p.Reference)
	if isNotFound(err) {
		u := a.cancelled(as)
		u.Message = "The payment request never reached Swish. No money was taken."
		return u, nil
	}
	if err != nil {
		return kvitt.Update{}, a.explain(err)
	}
	if pr.Status == StatusCancelled {
		return a.cancelled(as), nil
	}
	return mapPayment(pr), nil
}

func (a *Provider) cancelled(as kvitt.PaymentState) kvitt.Update {
	if as == kvitt.PaymentExpired {
		return kvitt.Update{State: kvitt.PaymentExpired, ErrorCode: "TM01", Message: CodeMessage("TM01")}
	}
	return kvitt.Update{State: kvitt.PaymentCancelled, Message: "The payment was cancelled. No money was taken."}
}

// Refund pays r.Amount back from the merchant's number to the customer.
func (a *Provider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	orig := p.Provider[KeyPaymentReference]
	if orig == "" {
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "RF02",
			Message: "The payment has no Swish payment reference, so it cannot be refunded through Swish."}, nil
	}
	currency := r.Currency
	if currency == "" {
		currency = p.Currency
	}
	req := &Refund{
		OriginalPaymentReference: orig,
		PayerPaymentReference:    payeeReference(r.ID),
		CallbackURL:              a.CallbackURL(r.Reference),
		PayerAlias:               a.cfg.PayeeAlias,
		Amount:                   AmountOf(r.Amount),
		Currency:                 string(currency),
		Message:                  a.cfg.Message,
	}
	cr, err := a.cfg.Client.CreateRefund(ctx, r.Reference, req)
	if err != nil {
		if u, ok := a.refusal(err); ok {
			if u.ErrorCode == "RP09" {
				return a.refundRead(ctx, p, r, false)
			}
			return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: u.ErrorCode, Message: u.Message}, nil
		}
		return kvitt.RefundUpdate{}, a.explain(err)
	}
	return kvitt.RefundUpdate{
		State:    kvitt.RefundPending,
		Provider: map[string]string{KeyLocation: cr.Location},
		Retry:    pollInterval,
	}, nil
}

// RefundStatus reads the refund; a 404 re-sends it with the same instructionUUID.
func (a *Provider) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return a.refundRead(ctx, p, r, true)
}

func (a *Provider) refundRead(ctx context.Context, p *kvitt.Payment, r *kvitt.Refund, resend bool) (kvitt.RefundUpdate, error) {
	rf, err := a.cfg.Client.GetRefund(ctx, r.Reference)
	if isNotFound(err) && resend {
		return a.Refund(ctx, nil, p, r)
	}
	if err != nil {
		return kvitt.RefundUpdate{}, a.explain(err)
	}
	return mapRefund(rf), nil
}

func mapRefund(rf *Refund) kvitt.RefundUpdate {
	u := kvitt.RefundUpdate{Provider: map[string]string{}}
	switch rf.Status {
	case StatusPaid:
		u.State = kvitt.RefundSucceeded
		if rf.PaymentReference != "" {
			u.Provider[KeyPaymentReference] = rf.PaymentReference
		}
		if !rf.DatePaid.IsZero() {
			u.Provider[KeyDatePaid] = rf.DatePaid.UTC().Format(time.RFC3339Nano)
		}
	case StatusError, StatusDeclined:
		u.State = kvitt.RefundFailed
		u.ErrorCode = rf.ErrorCode
		u.Message = CodeMessage(rf.ErrorCode)
	case StatusCreated, StatusValidated, StatusDebited:
		u.State, u.Retry = kvitt.RefundPending, pollInterval
	default:
		u.State = kvitt.RefundUnknown
		u.Message = fmt.Sprintf("Swish reported an unknown refund status %q; check the refund in Swish.", rf.Status)
	}
	return u
}
