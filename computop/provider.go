package computop

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Method is the provider name the hub registers the adapter under.
const Method = "computop"

// Keys of Payment.Provider and Refund.Provider the adapter reads and writes.
const (
	KeyPayerAlias    = "payer_alias" // set by the caller for channel Web: the customer's Swish number
	KeyChannel       = "channel"     // Web or App
	KeyPayID         = "pay_id"      // the Paygate's ID of the payment; credits and inquiries need it
	KeyXID           = "xid"         // the Paygate's ID of the last transaction
	KeyTokenExt      = "token_ext"   // channel App: the token that opens the Swish app
	KeyURLConfirm    = "url_confirm" // Swish's location URL of the payment request
	KeyTransactionID = "swish_transaction_id"
	KeyCode          = "code"     // A4 code of the last answer
	KeyCodeExt       = "code_ext" // Swish's error code, when the Paygate passed one on
	KeyErrorText     = "error_text"
	KeyCallbackURL   = "callback_url"
	// KeyFailedSeen is when an inquiry first said the payment failed
	// without a reason (RFC 3339): the notification that says why is
	// awaited for NotifyWait from then.
	KeyFailedSeen = "failed_seen_at"
)

// Config configures the provider adapter.
type Config struct {
	// Client talks to the Paygate (or the simulator).
	Client *Client
	// CallbackBaseURL is kvitt's public https root on port 443; URLNotify is
	// CallbackBaseURL + "/v1/callbacks/computop/" + token, without parameters.
	CallbackBaseURL string
	// CallbackSecret keys the per-payment callback tokens (at least 16 bytes).
	CallbackSecret []byte
	// OrderDesc describes the purchase to the customer (seed: ans..128 of
	// a-ö, A-Ö, 0-9 and :;.,?!()"); default "Kvitto".
	OrderDesc string
	// PayerWindow is how long the customer has to approve; 0 means 3 minutes.
	PayerWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider adapts Swish through the Computop Paygate to kvitt.Provider,
// kvitt.CallbackReceiver, kvitt.RefundStatuser and kvitt.PaymentValidator.
type Provider struct {
	cfg Config

	mu    sync.Mutex
	hints map[string]*Result // the last notification per TransID: its Code and CodeExt explain a failure
}

var (
	_ kvitt.Provider         = (*Provider)(nil)
	_ kvitt.CallbackReceiver = (*Provider)(nil)
	_ kvitt.RefundStatuser   = (*Provider)(nil)
	_ kvitt.PaymentValidator = (*Provider)(nil)
)

// NewProvider checks cfg and returns the adapter.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Client == nil {
		return nil, errors.New("computop: Config.Client is required")
	}
	cfg.CallbackBaseURL = strings.TrimRight(cfg.CallbackBaseURL, "/")
	if msg := notifyRule(cfg.CallbackBaseURL+"/v1/callbacks/computop/x", &cfg.Client.rules); msg != "" {
		return nil, kvitt.FieldError("callback_base_url", "URLNotify %s", msg)
	}
	if len(cfg.CallbackSecret) < 16 {
		return nil, kvitt.FieldError("callback_secret", "must be at least 16 bytes")
	}
	if cfg.OrderDesc == "" {
		cfg.OrderDesc = "Kvitto"
	}
	if msg := checkFormat("ans", 128, false, cfg.OrderDesc); msg != "" {
		return nil, kvitt.FieldError("order_desc", "ans..128: %s", msg)
	}
	if msg := orderDescRule(cfg.OrderDesc, nil); msg != "" {
		return nil, kvitt.FieldError("order_desc", "%s: %s", OrderDescNote, msg)
	}
	if cfg.PayerWindow == 0 {
		cfg.PayerWindow = 3 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg, hints: map[string]*Result{}}, nil
}

// Method returns "computop".
func (*Provider) Method() string { return Method }

// NewReference returns a new reference: 32 upper-case hex characters, used
// as the TransID (ans..35) of a payment and, for a refund, to derive its ReqID.
func (*Provider) NewReference() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// ReqID derives the ReqID of one logical operation ("pay", "credit") on a
// reference: 32 upper-case hex characters, the same every time, so a
// resubmission after a lost answer carries the original's ReqID.
func ReqID(op, reference string) string {
	h := sha256.Sum256([]byte("kvitt computop ReqID\x00" + op + "\x00" + reference))
	return strings.ToUpper(hex.EncodeToString(h[:16]))
}

// CodeServerCertificate: kvitt did not trust the Paygate's server certificate.
const CodeServerCertificate = "SERVER_CERTIFICATE"

// pollInterval is how often the hub should ask while a payment is open.
const pollInterval = 2 * time.Second

// NotifyWait is how long a failure an inquiry reports without its reason
// waits for the notification that carries the reason.
const NotifyWait = 20 * time.Second

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// CallbackToken returns the secret path segment for reference: the
// reference, "-", and 26 base32 characters of HMAC-SHA256(secret, reference).
func (a *Provider) CallbackToken(reference string) string {
	m := hmac.New(sha256.New, a.cfg.CallbackSecret)
	m.Write([]byte("computop\x00" + reference))
	return reference + "-" + tokenEncoding.EncodeToString(m.Sum(nil))[:26]
}

// CallbackURL is the URLNotify of a payment: a path, no parameters.
func (a *Provider) CallbackURL(reference string) string {
	return a.cfg.CallbackBaseURL + "/v1/callbacks/computop/" + a.CallbackToken(reference)
}

// ValidatePayment refuses, before the payment is stored, what the Paygate
// would refuse: another currency than SEK, an amount under 100 öre (unless
// enabled), a customer's number that breaks MobileNr's rule.
func (a *Provider) ValidatePayment(p *kvitt.Payment) error {
	if p.Currency != kvitt.SEK {
		return kvitt.FieldError("method", "Swish through Computop takes SEK only; this sale is in %s", p.Currency)
	}
	if msg := amountRule(fmt.Sprint(p.Amount), &a.cfg.Client.rules); msg != "" {
		return kvitt.FieldError("amount", "%s", msg)
	}
	if alias := p.Provider[KeyPayerAlias]; alias != "" {
		msg := checkFormat("n", 20, false, alias)
		if msg == "" {
			msg = mobileRule(alias, &RuleContext{})
		}
		if msg != "" {
			return kvitt.FieldError("payer_alias", "MobileNr: n..20, 8–15 digits, country code without leading zero: %s", msg)
		}
	}
	return nil
}

func (a *Provider) swishRequest(p *kvitt.Payment) *SwishPayment {
	r := &SwishPayment{
		TransID:   p.Reference,
		RefNr:     refNr(p.ID),
		Amount:    p.Amount,
		Currency:  string(p.Currency),
		OrderDesc: a.cfg.OrderDesc,
		ReqID:     ReqID("pay", p.Reference),
		Channel:   ChannelApp,
		URLNotify: a.CallbackURL(p.Reference),
		UserData:  "kvitt:" + p.ID,
	}
	if alias := p.Provider[KeyPayerAlias]; alias != "" {
		r.Channel, r.MobileNr = ChannelWeb, alias
	}
	return r
}

// refNr is kvitt's id as RefNr (ans..35), or nothing if it does not fit.
func refNr(id string) string {
	if len(id) > 35 || checkFormat("ans", 35, false, id) != "" {
		return ""
	}
	return id
}

// Start sends the Swish payment request. Channel App (no customer number)
// answers with TokenExt: the till shows it as a QR code and as the
// swish://paymentrequest link; channel Web pushes the request to the phone
// of the number given.
func (a *Provider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	req := a.swishRequest(p)
	res, err := a.cfg.Client.Swish(ctx, req)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) { // nothing was sent
			return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "FORMAT", Message: "kvitt refused to send the payment: " + fe.Error()}, nil
		}
		var ce *ServerCertificateError
		if errors.As(err, &ce) { // the handshake failed: nothing was sent
			return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: CodeServerCertificate, Message: fmt.Sprintf(
				"kvitt does not trust Computop's server certificate (%s): check the CA bundle kvitt checks the Paygate against "+
					"(computop.ca_file, or none for the system's roots) and that computop.base_url is the Paygate's address. "+
					"Nothing was sent to Computop; no money was taken.", ce.Reason)}, nil
		}
		return kvitt.Update{}, err
	}
	if !strings.EqualFold(res.TransID, p.Reference) && res.TransID != "" {
		return kvitt.Update{}, fmt.Errorf("computop: the answer is for TransID %s, not %s", res.TransID, p.Reference)
	}
	now := a.cfg.Now()
	u := kvitt.Update{Provider: providerData(res)}
	u.Provider[KeyChannel] = req.Channel
	u.Provider[KeyCallbackURL] = req.URLNotify
	switch {
	case res.Status == StatusFailed || CodeClass(res.Code) == ClassError || CodeClass(res.Code) == ClassFatal:
		return a.failed(res, u), nil
	case res.Status == StatusAuthorizeRequest || CodeClass(res.Code) == ClassPending:
	default:
		// OK or AUTHORIZED right away: read the amounts before booking anything.
		return a.Status(ctx, t, mergeProvider(p, u))
	}
	expires := now.Add(a.cfg.PayerWindow)
	u.State, u.Retry, u.Deadline = kvitt.PaymentPending, pollInterval, expires
	if req.Channel == ChannelWeb {
		u.Action = &kvitt.Action{Type: "open_app", Message: "Open Swish on your phone to approve", ExpiresAt: &expires}
		return u, nil
	}
	if res.TokenExt == "" {
		u.Message = "Computop gave no Swish token for this payment; cancel it and start again."
		return u, nil
	}
	u.Action = &kvitt.Action{
		Type:      "show_qr",
		QRData:    "D" + res.TokenExt,
		AppURL:    "swish://paymentrequest?token=" + url.QueryEscape(res.TokenExt),
		Message:   "Scan the QR code with the Swish app",
		ExpiresAt: &expires,
	}
	return u, nil
}

func mergeProvider(p *kvitt.Payment, u kvitt.Update) *kvitt.Payment {
	c := *p
	c.Provider = map[string]string{}
	for k, v := range p.Provider {
		c.Provider[k] = v
	}
	for k, v := range u.Provider {
		c.Provider[k] = v
	}
	return &c
}

// providerData keeps the Paygate's identifiers and codes of an answer.
func providerData(r *Result) map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set(KeyPayID, r.PayID)
	set(KeyXID, r.XID)
	set(KeyTokenExt, r.TokenExt)
	set(KeyURLConfirm, r.URLConfirm)
	set(KeyTransactionID, r.TransactionID)
	set(KeyCode, r.Code)
	set(KeyCodeExt, r.CodeExt)
	set(KeyErrorText, r.ErrorText)
	return m
}

// failed maps a failed payment, by its Code and Swish's CodeExt.
func (a *Provider) failed(r *Result, u kvitt.Update) kvitt.Update {
	u.State = failureState(r.CodeExt)
	if u.Provider == nil {
		u.Provider = map[string]string{}
	}
	for k, v := range providerData(r) {
		u.Provider[k] = v
	}
	u.ErrorCode = r.Code
	if r.CodeExt != "" {
		u.ErrorCode = r.CodeExt
	}
	u.Message = CashierMessage(r.Code, r.CodeExt, r.ErrorText)
	if r.CodeExt == "" && CodeClass(r.Code) == ClassOK {
		// The last code kvitt holds is the create's OK: the reason never came.
		u.Message = "Computop reports the Swish payment failed and did not say why. No money was taken."
	}
	u.Retry = 0
	return u
}

// Status asks the Paygate: by PayID once kvitt has it, else by TransID (the
// answer with the PayID was lost). A payment the Paygate does not know is
// sent again with the same TransID and ReqID only when the first request
// can no longer be on its way: the Paygate processes a ReqID again while its
// first transaction is open, so resending earlier could charge twice.
func (a *Provider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	res, err := a.inquire(ctx, p)
	if err != nil {
		return kvitt.Update{}, err
	}
	if res == nil {
		return a.notFound(ctx, t, p)
	}
	return a.mapInquiry(p, res), nil
}

// inquire returns the Paygate's record of p, or nil when it has none.
func (a *Provider) inquire(ctx context.Context, p *kvitt.Payment) (*Result, error) {
	var res *Result
	var err error
	if payID := p.Provider[KeyPayID]; payID != "" {
		res, err = a.cfg.Client.Inquire(ctx, payID, p.Reference)
	} else {
		res, err = a.cfg.Client.InquireByTransID(ctx, p.Reference)
	}
	if err != nil {
		return nil, err
	}
	if res.Status == StatusFailed || CodeClass(res.Code) == ClassError || CodeClass(res.Code) == ClassFatal {
		if unknownValue(res.Code) {
			return nil, nil
		}
		return nil, fmt.Errorf("computop: the inquiry failed: %s", CashierMessage(res.Code, "", ""))
	}
	if res.TransID != "" && !strings.EqualFold(res.TransID, p.Reference) {
		return nil, fmt.Errorf("computop: the inquiry answered for TransID %s, not %s", res.TransID, p.Reference)
	}
	return res, nil
}

func (a *Provider) notFound(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	now := a.cfg.Now()
	switch {
	case !p.State.Open():
		return kvitt.Update{}, nil // kvitt ended it and the Paygate never had it
	case p.InFlightUntil.After(now):
		// The request may still be on its way: "not found" proves nothing yet.
		return kvitt.Update{Retry: p.InFlightUntil.Sub(now) + time.Second}, nil
	case !p.CancelRequested.IsZero():
		return kvitt.Update{State: kvitt.PaymentCancelled, Message: "The payment never reached Computop. No money was taken."}, nil
	case !p.Created.IsZero() && now.After(p.Created.Add(a.cfg.PayerWindow)):
		return kvitt.Update{State: kvitt.PaymentExpired, ErrorCode: "TM01",
			Message: "The payment request never reached Computop and the customer's time is over. No money was taken."}, nil
	}
	return a.Start(ctx, t, p)
}

// window says a duration in words: "3 minutes", "20s".
func window(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.Round(time.Second).String()
}

// mapInquiry maps an inquiry. The amounts decide (Computop: LastStatus
// alone is not sufficient); LastStatus tells open from failed.
func (a *Provider) mapInquiry(p *kvitt.Payment, res *Result) kvitt.Update {
	u := kvitt.Update{Provider: providerData(res)}
	delete(u.Provider, KeyCode) // the inquiry's own code, not the payment's
	paid := res.AmountCap
	if paid <= 0 && res.AmountAuth > 0 && strings.EqualFold(res.LastStatus, StatusOK) {
		paid = res.AmountAuth
	}
	if paid > 0 {
		if paid != p.Amount {
			u.State = kvitt.PaymentUnknown
			u.Message = fmt.Sprintf("Computop reports %s SEK taken but kvitt asked for %s SEK; check the payment in Computop Analytics.",
				kvitt.FormatAmount(paid, kvitt.SEK), kvitt.FormatAmount(p.Amount, kvitt.SEK))
			return u
		}
		u.State = kvitt.PaymentPaid
		return u
	}
	switch strings.ToUpper(res.LastStatus) {
	case StatusFailed:
		hint := a.hint(p.Reference)
		if hint == nil && p.Provider[KeyCodeExt] == "" {
			// The inquiry says failed, not why; the notification says why
			// (the customer declined, cancelled in BankID, ran out of time),
			// and the cashier's answer differs. Wait for it a little, on
			// any node: the first sighting is stored with the payment.
			now := a.cfg.Now()
			seen, err := time.Parse(time.RFC3339Nano, p.Provider[KeyFailedSeen])
			if err != nil {
				u.Provider[KeyFailedSeen] = now.UTC().Format(time.RFC3339Nano)
				seen = now
			}
			if now.Before(seen.Add(NotifyWait)) {
				u.State, u.Retry = kvitt.PaymentPending, time.Second
				return u
			}
		}
		if hint == nil {
			hint = &Result{Code: p.Provider[KeyCode], CodeExt: p.Provider[KeyCodeExt], ErrorText: p.Provider[KeyErrorText]}
		}
		return a.failed(hint, u)
	case StatusOK, StatusAuthorized:
		// OK without an amount: the payment took nothing. Should not happen.
		u.State = kvitt.PaymentUnknown
		u.Message = "Computop reports the payment OK without an amount; check the payment in Computop Analytics."
		return u
	}
	u.State, u.Retry = kvitt.PaymentPending, pollInterval
	if !p.Created.IsZero() {
		u.Deadline = p.Created.Add(a.cfg.PayerWindow)
	}
	if p.Provider[KeyPayerAlias] == "" && p.Provider[KeyTokenExt] == "" {
		// Channel App, and the answer with the token was lost: an inquiry
		// does not give it, and a resubmission while the payment is open
		// would be a second payment.
		u.Message = fmt.Sprintf("The Swish QR code of this payment was lost with Computop's answer and cannot be shown. "+
			"Computop cannot withdraw a Swish request: it ends by itself when the customer's time is over (%s after it was made); then take the payment again.",
			window(a.cfg.PayerWindow))
	}
	return u
}

// Cancel: the Paygate's Swish interface has no way to withdraw a payment
// request. Cancel reads the payment: if it is paid it says so (the money is
// never lost to a cancel); if it is still open the Swish request ends by
// itself when the customer declines or the window closes, and that outcome
// comes with the payment's own answer (an empty State).
func (a *Provider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	res, err := a.inquire(ctx, p)
	if err != nil {
		return kvitt.Update{}, err
	}
	if res == nil {
		if p.InFlightUntil.After(a.cfg.Now()) {
			return kvitt.Update{}, nil
		}
		return kvitt.Update{State: kvitt.PaymentCancelled, Message: "The payment never reached Computop. No money was taken."}, nil
	}
	u := a.mapInquiry(p, res)
	if u.State == kvitt.PaymentPending {
		return kvitt.Update{Provider: u.Provider, Retry: pollInterval}, nil
	}
	return u, nil
}

// Refund is a credit with reference: checked first against what the Paygate
// has captured less what it has credited, then sent with the refund's own
// ReqID, so that RefundStatus can resubmit it safely.
func (a *Provider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	payID := p.Provider[KeyPayID]
	if payID == "" {
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "NOPAYID",
			Message: "The payment has no Computop PayID, so it cannot be credited through Computop."}, nil
	}
	inq, err := a.cfg.Client.Inquire(ctx, payID, p.Reference)
	if err != nil {
		return kvitt.RefundUpdate{}, err
	}
	if inq.Status == StatusFailed || CodeClass(inq.Code) == ClassError || CodeClass(inq.Code) == ClassFatal {
		return kvitt.RefundUpdate{}, fmt.Errorf("computop: the inquiry before the credit failed: %s", CashierMessage(inq.Code, "", ""))
	}
	captured, credited := inq.AmountCap, inq.AmountCred
	if captured < 0 {
		captured = p.Amount
	}
	if credited < 0 {
		credited = 0
	}
	if left := captured - credited; r.Amount > left {
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "LIMIT",
			Message: fmt.Sprintf("Computop has %s SEK captured and %s SEK credited: at most %s SEK can be credited, not %s.",
				kvitt.FormatAmount(captured, kvitt.SEK), kvitt.FormatAmount(credited, kvitt.SEK),
				kvitt.FormatAmount(max(left, 0), kvitt.SEK), kvitt.FormatAmount(r.Amount, kvitt.SEK))}, nil
	}
	return a.credit(ctx, p, r)
}

func (a *Provider) credit(ctx context.Context, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	currency := r.Currency
	if currency == "" {
		currency = p.Currency
	}
	res, err := a.cfg.Client.Credit(ctx, &Credit{
		PayID: p.Provider[KeyPayID], TransID: p.Reference, RefNr: refNr(r.ID),
		Amount: r.Amount, Currency: string(currency), ReqID: ReqID("credit", r.Reference),
	})
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "FORMAT", Message: "kvitt refused to send the credit: " + fe.Error()}, nil
		}
		return kvitt.RefundUpdate{}, err
	}
	u := kvitt.RefundUpdate{Provider: providerData(res)}
	switch {
	case CodeClass(res.Code) == ClassOK && !strings.EqualFold(res.Status, StatusFailed):
		u.State = kvitt.RefundSucceeded
	case CodeClass(res.Code) == ClassPending:
		u.State, u.Retry = kvitt.RefundPending, pollInterval
	default:
		u.State = kvitt.RefundFailed
		u.ErrorCode = res.Code
		u.Message = RefundMessage(res.Code, res.CodeExt, res.ErrorText)
	}
	return u, nil
}

// RefundStatus recovers a credit whose answer was lost by resubmitting it
// with the same ReqID once it can no longer be on its way: a credit ends at
// once, so the Paygate answers a resubmission with the original's status
// and carries it out only if it never arrived.
func (a *Provider) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	if now := a.cfg.Now(); r.InFlightUntil.After(now) {
		return kvitt.RefundUpdate{State: kvitt.RefundPending, Retry: r.InFlightUntil.Sub(now) + time.Second}, nil
	}
	if p.Provider[KeyPayID] == "" {
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "NOPAYID", Message: "The payment has no Computop PayID."}, nil
	}
	return a.credit(ctx, p, r)
}

// ParseCallback authenticates a URLNotify post: the token in the path, then
// the Data deciphered with the merchant's password and its MAC over
// PayID*TransID*MerchantID*Status*Code. It returns the TransID; the hub
// re-reads the payment by inquiry. The notification's Code and CodeExt are
// kept (in memory, as a hint only) to explain a failure in words.
func (a *Provider) ParseCallback(r *http.Request) (string, error) {
	token := r.PathValue("token")
	if token == "" {
		token = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	ref, _, ok := strings.Cut(token, "-")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(a.CallbackToken(ref))) != 1 {
		return "", kvitt.Errorf(kvitt.EUNAUTHORIZED, "Computop notification with an unknown token")
	}
	if err := r.ParseForm(); err != nil {
		return "", kvitt.Errorf(kvitt.EINVALID, "Computop notification: %v", err)
	}
	res, err := a.cfg.Client.OpenNotification(r.PostForm)
	if err != nil {
		var me *MACError
		if errors.As(err, &me) {
			return "", kvitt.Errorf(kvitt.EUNAUTHORIZED, "Computop notification: %v", err)
		}
		return "", kvitt.Errorf(kvitt.EINVALID, "Computop notification: %v", err)
	}
	if !strings.EqualFold(res.TransID, ref) {
		return "", kvitt.Errorf(kvitt.EINVALID, "Computop notification for %s carries TransID %s", ref, res.TransID)
	}
	a.mu.Lock()
	if len(a.hints) > 10000 {
		clear(a.hints)
	}
	a.hints[strings.ToUpper(ref)] = res
	a.mu.Unlock()
	return ref, nil
}

func (a *Provider) hint(ref string) *Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hints[strings.ToUpper(ref)]
}
