package nexo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Config configures the "card" provider.
type Config struct {
	// RootCAs are the CAs trusted for the terminals' TLS certificates (the
	// simulator's CA in the sandbox); nil means the system roots.
	RootCAs *x509.CertPool
	// HTTPClient, when set, replaces the client built from RootCAs.
	HTTPClient *http.Client
	// Timeout is the terminal's payment timeout (Westpay: 130 s). Start
	// waits this long, plus a margin, for the answer. Default 130 s.
	Timeout time.Duration
	// Grace is added to Timeout for the payment's Deadline, after which the
	// hub marks a payment that is still not known as unknown. Default 30 s.
	Grace time.Duration
	// Retry is how soon to ask TransactionStatus again while the terminal
	// is still working. Default 2 s.
	Retry time.Duration
	// CancelWait bounds how long Cancel waits for the aborted payment to
	// settle on the terminal before answering pending. Default 5 s.
	CancelWait time.Duration
	// SaleID names the till to the terminal; default "kvitt-" + Till.ID.
	SaleID func(t *kvitt.Till) string
	// Software is sent in LoginRequest; defaults name kvitt.
	Software *SaleSoftware
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Card is the "card" provider: an integrated card terminal speaking nexo.
// It implements kvitt.Provider, kvitt.LongRunning and kvitt.RefundStatuser.
type Card struct {
	cfg    Config
	client *Client

	mu      sync.Mutex
	flights map[string]*flight // reference → request this process is sending
	cryptos map[SecurityKey]*Crypto
	clients map[string]*http.Client // per terminal TLS policy (tls.go)
}

// flight is a Payment request of this process, from Start or Refund.
type flight struct {
	sent   atomic.Bool // it holds the terminal's slot and is on its way
	cancel context.CancelFunc
}

var (
	_ kvitt.Provider       = (*Card)(nil)
	_ kvitt.LongRunning    = (*Card)(nil)
	_ kvitt.RefundStatuser = (*Card)(nil)
)

// New returns the card provider.
func New(cfg Config) *Card {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 130 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.CancelWait <= 0 {
		cfg.CancelWait = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cl := NewClient(cfg.RootCAs, cfg.Timeout+30*time.Second)
	if cfg.HTTPClient != nil {
		cl.HTTP = cfg.HTTPClient
	}
	if cfg.Software != nil {
		cl.Software = *cfg.Software
	}
	cl.Now = cfg.Now
	return &Card{cfg: cfg, client: cl, flights: map[string]*flight{}}
}

// Client returns the nexo client the provider uses.
func (c *Card) Client() *Client { return c.client }

// Method is "card".
func (c *Card) Method() string { return "card" }

// NewReference returns a new ServiceID (10 characters).
func (c *Card) NewReference() string { return NewServiceID() }

func (c *Card) endpoint(t *kvitt.Till) (Endpoint, error) {
	if t == nil || t.Terminal == nil || t.Terminal.URL == "" || t.Terminal.POIID == "" {
		return Endpoint{}, kvitt.Errorf(kvitt.EUNPROCESSABLE, "This till has no card terminal configured.")
	}
	sale := "kvitt-" + t.ID
	if c.cfg.SaleID != nil {
		sale = c.cfg.SaleID(t)
	}
	ep := Endpoint{URL: t.Terminal.URL, POIID: t.Terminal.POIID, SaleID: sale}
	switch t.Terminal.Profile {
	case "", ProfileWestpay:
	case ProfileAdyen:
		ep.NoLogin = true
	default:
		return Endpoint{}, kvitt.Errorf(kvitt.EUNPROCESSABLE, "The till's card terminal has an unknown profile %q (adyen or westpay).", t.Terminal.Profile)
	}
	hc, err := c.httpFor(t.Terminal)
	if err != nil {
		return Endpoint{}, err
	}
	ep.HTTP = hc
	if t.Terminal.Passphrase != "" {
		cr, err := c.crypto(SecurityKey{Passphrase: t.Terminal.Passphrase, KeyIdentifier: t.Terminal.KeyIdentifier, KeyVersion: t.Terminal.KeyVersion})
		if err != nil {
			return Endpoint{}, kvitt.Errorf(kvitt.EUNPROCESSABLE, "The till's card terminal encryption key is incomplete: it needs a passphrase, a key identifier and a key version.")
		}
		ep.Crypto = cr
	}
	return ep, nil
}

// Terminal profiles (kvitt.Terminal.Profile).
const (
	ProfileWestpay = "westpay" // Login before the first request; the default
	ProfileAdyen   = "adyen"   // no Login; encrypted messages in live use
)

// crypto returns the (cached) key material for key: deriving it costs
// 4000 PBKDF2 rounds.
func (c *Card) crypto(key SecurityKey) (*Crypto, error) {
	c.mu.Lock()
	cr := c.cryptos[key]
	c.mu.Unlock()
	if cr != nil {
		return cr, nil
	}
	cr, err := NewCrypto(key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cryptos == nil {
		c.cryptos = map[SecurityKey]*Crypto{}
	}
	c.cryptos[key] = cr
	c.mu.Unlock()
	return cr, nil
}

func (c *Card) deadline(p *kvitt.Payment) time.Time {
	start := p.Created
	if start.IsZero() {
		start = c.cfg.Now()
	}
	return start.Add(c.cfg.Timeout + c.cfg.Grace)
}

// Pending is what the till shows at once while Start runs in the background.
func (c *Card) Pending(t *kvitt.Till, p *kvitt.Payment) kvitt.Update {
	d := c.deadline(p)
	return kvitt.Update{
		State:    kvitt.PaymentPending,
		Action:   &kvitt.Action{Type: "follow_terminal", Message: "Follow the instructions on the card terminal", ExpiresAt: &d},
		Deadline: d,
	}
}

func (c *Card) fly(ref string, cancel context.CancelFunc) *flight {
	f := &flight{cancel: cancel}
	c.mu.Lock()
	c.flights[ref] = f
	c.mu.Unlock()
	return f
}

func (c *Card) land(ref string) {
	c.mu.Lock()
	delete(c.flights, ref)
	c.mu.Unlock()
}

func (c *Card) flying(ref string) *flight {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flights[ref]
}

// Start sends the PaymentRequest and waits for the terminal's answer. An
// error means the answer was lost: the hub asks Status; Start never sends a
// second PaymentRequest.
func (c *Card) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	ep, err := c.endpoint(t)
	if err != nil {
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "NoTerminal", Message: kvitt.ErrorMessage(err)}, nil
	}
	pr := c.paymentRequest(p.ID, p.Created, p.Amount, p.Currency, PaymentTypeNormal)
	if t.Terminal.Tip {
		pr.SaleData.SaleToAcquirerData = "tenderOption=AskGratuity"
	}
	resp, sent, err := c.send(ctx, ep, p.Reference, pr)
	if err != nil {
		if code, msg, ok := refused(err); ok {
			return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: code, Message: msg}, nil
		}
		if !sent || errors.Is(err, ErrNotSent) {
			// The request never left: a definite answer.
			if errors.Is(err, context.Canceled) {
				return kvitt.Update{State: kvitt.PaymentCancelled, ErrorCode: "Aborted", Message: "The payment was cancelled before it reached the card terminal. Nothing was charged."}, nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "Busy", Message: conditions["Busy"].Message}, nil
			}
			var te *TerminalError
			if errors.As(err, &te) {
				o, code := failure(te.Response)
				return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: code, Message: "The card terminal refused the login: " + o.Message}, nil
			}
			// The Login before it failed, or no connection to the
			// terminal could be made: the PaymentRequest never left.
			return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "Unreachable",
				Message: "The card terminal cannot be reached; nothing was charged. Check that it is on and connected, then try again."}, nil
		}
		return kvitt.Update{}, err
	}
	return c.fromPayment(ctx, ep, p, resp, t.Terminal.Tip)
}

// send runs one Payment request of this process, registered as in flight so
// that Status and Cancel know an answer is still coming.
func (c *Card) send(ctx context.Context, ep Endpoint, ref string, pr *PaymentRequest) (*PaymentResponse, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout+15*time.Second)
	defer cancel()
	f := c.fly(ref, cancel)
	defer c.land(ref)
	resp, err := c.client.Payment(ctx, ep, ref, pr, func() { f.sent.Store(true) })
	return resp, f.sent.Load(), err
}

// fromPayment maps a PaymentResponse (direct or repeated by
// TransactionStatus) to an update, reversing a nonsensical approval.
func (c *Card) fromPayment(ctx context.Context, ep Endpoint, p *kvitt.Payment, resp *PaymentResponse, tipOn bool) (kvitt.Update, error) {
	prov := map[string]string{"poiid": ep.POIID, "sale_id": ep.SaleID}
	if resp.POIData != nil && resp.POIData.POITransactionID.TransactionID != "" {
		prov["poi_transaction_id"] = resp.POIData.POITransactionID.TransactionID
		prov["poi_timestamp"] = resp.POIData.POITransactionID.TimeStamp
	}
	if resp.Response.Result != ResultSuccess {
		o, code := failure(resp.Response)
		u := kvitt.Update{State: o.State, ErrorCode: code, Message: o.Message, Provider: prov}
		if o.State == kvitt.PaymentPending {
			u.Retry, u.Deadline = c.cfg.Retry, c.deadline(p)
		}
		return u, nil
	}
	res := resp.PaymentResult
	if res == nil || res.AmountsResp == nil || resp.POIData == nil {
		return kvitt.Update{State: kvitt.PaymentUnknown, ErrorCode: "MissingAmount", Provider: prov,
			Message: "The card terminal approved the payment without saying the amount. Check the terminal's journal before completing the sale."}, nil
	}
	ar := res.AmountsResp
	if ar.Currency != "" && ar.Currency != string(p.Currency) {
		return c.reverse(ctx, ep, p, resp, prov, fmt.Sprintf("The card terminal approved the payment in %s instead of %s.", ar.Currency, p.Currency))
	}
	auth, err := ParseAmount(ar.AuthorizedAmount, p.Currency)
	if err != nil {
		return c.reverse(ctx, ep, p, resp, prov, "The card terminal approved an amount kvitt cannot read ("+string(ar.AuthorizedAmount)+").")
	}
	if auth < p.Amount {
		return c.reverse(ctx, ep, p, resp, prov, fmt.Sprintf("The card terminal approved only %s of %s.",
			kvitt.FormatAmount(auth, p.Currency), kvitt.FormatAmount(p.Amount, p.Currency)))
	}
	if cb, err := ParseAmount(ar.CashBackAmount, p.Currency); ar.CashBackAmount != "" && (err != nil || cb != 0) {
		// Cash back would take cash out of the drawer that no sale and no
		// report accounts for.
		return c.reverse(ctx, ep, p, resp, prov, fmt.Sprintf("The card terminal added cash back (%s), which kvitt does not give on card payments. "+
			"Turn cash back off on the terminal and take the payment again.", ar.CashBackAmount))
	}
	// The tip is what was authorised on top of the amount: AuthorizedAmount
	// includes TipAmount. The authorised money is what counts. With tipping
	// off, more than the amount is no tip: it is money the sale did not ask for.
	tip := auth - p.Amount
	if tip > 0 && !tipOn {
		return c.reverse(ctx, ep, p, resp, prov, fmt.Sprintf("The card terminal approved %s, more than the %s asked, and this till takes no tips. "+
			"Check the terminal's tip setting and take the payment again.", kvitt.FormatAmount(auth, p.Currency), kvitt.FormatAmount(p.Amount, p.Currency)))
	}
	prov["authorized_amount"] = string(ar.AuthorizedAmount)
	return kvitt.Update{
		State:    kvitt.PaymentPaid,
		Provider: prov,
		Card:     cardData(ep, resp),
		Tip:      tip,
	}, nil
}

// reverse undoes an approval kvitt cannot accept and fails the payment.
func (c *Card) reverse(ctx context.Context, ep Endpoint, p *kvitt.Payment, resp *PaymentResponse, prov map[string]string, why string) (kvitt.Update, error) {
	rr, err := c.client.Reversal(ctx, ep, &ReversalRequest{
		OriginalPOITransaction: OriginalPOITransaction{SaleID: ep.SaleID, POIID: ep.POIID, POITransactionID: resp.POIData.POITransactionID},
		ReversalReason:         "MerchantCancel",
	})
	if err == nil && rr.Response.Result == ResultSuccess {
		prov["reversed"] = "true"
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "Reversed", Provider: prov,
			Message: why + " The approval was reversed; nothing was charged. Try again."}, nil
	}
	detail := ""
	if err != nil {
		detail = err.Error()
	} else {
		detail = rr.Response.ErrorCondition + " " + rr.Response.AdditionalResponse
	}
	return kvitt.Update{State: kvitt.PaymentUnknown, ErrorCode: "ReversalFailed", Provider: prov,
		Message: why + " Reversing it failed (" + strings.TrimSpace(detail) + "): check the terminal's journal and reverse it there."}, nil
}

var brands = map[string]string{"mc": "MasterCard", "visa": "VISA", "amex": "AMEX", "maestro": "Maestro", "visadankort": "Visa/Dankort", "dankort": "Dankort"}

var verifications = map[string]string{
	"OnlinePIN": "PIN", "OfflinePIN": "PIN", "PaperSignature": "Signature", "SignatureCapture": "Signature",
	"NoAuthentication": "None", "Bypass": "None", "ConsumerDevice": "Device",
}

// cardData takes what the receipt needs from an approved PaymentResponse.
func cardData(ep Endpoint, resp *PaymentResponse) *kvitt.CardData {
	add := additional(resp.Response.AdditionalResponse)
	cd := &kvitt.CardData{
		AID:              add.Get("AID"),
		ApplicationLabel: add.Get("applicationLabel"),
		TerminalID:       ep.POIID,
		ResultText:       "Godkänd",
	}
	if cd.ApplicationLabel == "" {
		cd.ApplicationLabel = add.Get("applicationPreferredName")
	}
	if resp.POIData != nil {
		cd.TransactionRef = resp.POIData.POITransactionID.TransactionID
	}
	res := resp.PaymentResult
	if pid := res.PaymentInstrumentData; pid != nil && pid.CardData != nil {
		cd.MaskedPAN = maskPAN(pid.CardData.MaskedPan)
		cd.Brand = pid.CardData.PaymentBrand
		if b, ok := brands[strings.ToLower(cd.Brand)]; ok {
			cd.Brand = b
		}
		if len(pid.CardData.EntryMode) > 0 {
			cd.EntryMode = pid.CardData.EntryMode[0]
		}
	}
	if res.PaymentAcquirerData != nil {
		cd.AuthCode = res.PaymentAcquirerData.ApprovalCode
	}
	for _, m := range res.AuthenticationMethod {
		if v, ok := verifications[m]; ok {
			cd.Verification = v
			break
		}
	}
	for _, r := range resp.PaymentReceipt {
		if r.RequiredSignatureFlag {
			cd.SignatureRequired = true
		}
	}
	if cd.Verification == "Signature" {
		cd.SignatureRequired = true
	}
	return cd
}

// maskPAN keeps only the last four digits ("541333 **** 9999" → "************9999").
func maskPAN(s string) string {
	var digits []byte
	for i := len(s) - 1; i >= 0 && len(digits) < 4; i-- {
		if s[i] >= '0' && s[i] <= '9' {
			digits = append([]byte{s[i]}, digits...)
		} else if len(digits) > 0 {
			break
		}
	}
	if len(digits) == 0 {
		return ""
	}
	return strings.Repeat("*", 12) + string(digits)
}

// status asks TransactionStatus for a Payment-category request by its ServiceID.
func (c *Card) status(ctx context.Context, ep Endpoint, ref string) (*TransactionStatusResponse, error) {
	return c.client.TransactionStatus(ctx, ep, MessageReference{MessageCategory: CategoryPayment, SaleID: ep.SaleID, ServiceID: ref})
}

// repeated returns the original PaymentResponse if ts holds it for ref.
func repeated(ts *TransactionStatusResponse, ref string) (*PaymentResponse, error) {
	rm := ts.RepeatedMessageResponse
	if rm == nil || rm.RepeatedResponseMessageBody.PaymentResponse == nil {
		return nil, fmt.Errorf("%w: TransactionStatus succeeded without the original PaymentResponse", ErrTransport)
	}
	if rm.MessageHeader.ServiceID != ref {
		return nil, fmt.Errorf("%w: TransactionStatus repeated ServiceID %q, asked for %q", ErrTransport, rm.MessageHeader.ServiceID, ref)
	}
	return rm.RepeatedResponseMessageBody.PaymentResponse, nil
}

// Status recovers the outcome by the stored reference (the ServiceID).
func (c *Card) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	ep, err := c.endpoint(t)
	if err != nil {
		return kvitt.Update{}, err
	}
	ts, err := c.status(ctx, ep, p.Reference)
	if err != nil {
		if code, msg, ok := refused(err); ok {
			// The terminal cannot be asked: the outcome stays open, and
			// the till says why, until the deadline leaves it to a person.
			msg = strings.Replace(msg, " Nothing was charged.", "", 1)
			msg = strings.Replace(msg, " Nothing was sent to the terminal and nothing was charged.", "", 1)
			if c.cfg.Now().After(c.deadline(p)) {
				return kvitt.Update{State: kvitt.PaymentUnknown, ErrorCode: code,
					Message: msg + " kvitt cannot ask the terminal what became of this payment: check the terminal's journal before taking the money again."}, nil
			}
			return kvitt.Update{ErrorCode: code, Message: msg + " kvitt keeps asking the terminal what became of this payment.", Retry: c.cfg.Retry}, nil
		}
		return kvitt.Update{}, err
	}
	return c.fromStatus(ctx, ep, p, ts, t.Terminal.Tip)
}

// refused says whether err is a definite refusal of a request the terminal
// never processed: its certificate was refused (nothing left kvitt), or
// it could not authenticate the protected message (not a replay); and
// with which code and message.
func refused(err error) (code, msg string, ok bool) {
	var ce *CertificateError
	if errors.As(err, &ce) {
		return "TerminalCertificate", ce.Message(), true
	}
	var cr *CryptoRefusal
	if errors.As(err, &cr) && !cr.Replay {
		return "CryptoError", cr.Message(), true
	}
	return "", "", false
}

func (c *Card) fromStatus(ctx context.Context, ep Endpoint, p *kvitt.Payment, ts *TransactionStatusResponse, tipOn bool) (kvitt.Update, error) {
	pending := kvitt.Update{State: kvitt.PaymentPending, Retry: c.cfg.Retry, Deadline: c.deadline(p)}
	if ts.Response.Result == ResultSuccess {
		resp, err := repeated(ts, p.Reference)
		if err != nil {
			return kvitt.Update{}, err
		}
		return c.fromPayment(ctx, ep, p, resp, tipOn)
	}
	switch ts.Response.ErrorCondition {
	case "InProgress", "Busy":
		pending.Message = conditions["InProgress"].Message
		return pending, nil
	case "NotFound":
		if c.flying(p.Reference) != nil {
			// This process is still sending it: the answer is on its way.
			return pending, nil
		}
		return kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "NotFound", Message: conditions["NotFound"].Message}, nil
	}
	return kvitt.Update{}, fmt.Errorf("%w: TransactionStatus answered %s %s", ErrTransport, ts.Response.ErrorCondition, ts.Response.AdditionalResponse)
}

// Cancel aborts the payment on the terminal, then asks TransactionStatus for
// the truth: the card may have been approved just before the abort.
func (c *Card) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	ep, err := c.endpoint(t)
	if err != nil {
		return kvitt.Update{}, err
	}
	if f := c.flying(p.Reference); f != nil && !f.sent.Load() {
		// Still waiting for the terminal's slot in this process: it never
		// reaches the terminal.
		f.cancel()
	}
	if err := c.client.Abort(ctx, ep, MessageReference{MessageCategory: CategoryPayment, SaleID: ep.SaleID, ServiceID: p.Reference, POIID: ep.POIID}, "MerchantAbort"); err != nil {
		return kvitt.Update{}, err
	}
	wait := time.NewTimer(c.cfg.CancelWait)
	defer wait.Stop()
	for {
		ts, err := c.status(ctx, ep, p.Reference)
		if err != nil {
			return kvitt.Update{}, err
		}
		if ts.Response.Result == ResultFailure && ts.Response.ErrorCondition == "NotFound" {
			if f := c.flying(p.Reference); f == nil || !f.sent.Load() {
				return kvitt.Update{State: kvitt.PaymentCancelled, ErrorCode: "Aborted", Message: "The payment was cancelled before it reached the card terminal. Nothing was charged."}, nil
			}
		}
		u, err := c.fromStatus(ctx, ep, p, ts, t.Terminal.Tip)
		if err != nil || u.State != kvitt.PaymentPending {
			return u, err
		}
		select {
		case <-wait.C:
			return u, nil
		case <-ctx.Done():
			return kvitt.Update{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Refund gives r.Amount back to the card the customer presents (a card
// present refund: PaymentRequest with PaymentType Refund, r.Reference as
// ServiceID). The hub caps r.Amount at what is left.
func (c *Card) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	ep, err := c.endpoint(t)
	if err != nil {
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "NoTerminal", Message: kvitt.ErrorMessage(err)}, nil
	}
	pr := c.paymentRequest(r.ID, r.Created, r.Amount, r.Currency, PaymentTypeRefund)
	resp, sent, err := c.send(ctx, ep, r.Reference, pr)
	if err != nil {
		if code, msg, ok := refused(err); ok {
			return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: code, Message: strings.Replace(msg, "Nothing was charged", "Nothing was paid back", 1)}, nil
		}
		if !sent || errors.Is(err, ErrNotSent) {
			// The PaymentRequest never left: a definite answer.
			return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "NotSent",
				Message: "The refund did not reach the card terminal (" + err.Error() + "); nothing was paid back. Try again."}, nil
		}
		return kvitt.RefundUpdate{}, err
	}
	return c.fromRefund(r, resp), nil
}

func (c *Card) fromRefund(r *kvitt.Refund, resp *PaymentResponse) kvitt.RefundUpdate {
	prov := map[string]string{}
	if resp.POIData != nil && resp.POIData.POITransactionID.TransactionID != "" {
		prov["poi_transaction_id"] = resp.POIData.POITransactionID.TransactionID
		prov["poi_timestamp"] = resp.POIData.POITransactionID.TimeStamp
	}
	if resp.Response.Result != ResultSuccess {
		o, code := failure(resp.Response)
		u := kvitt.RefundUpdate{State: o.Refund, ErrorCode: code, Message: strings.Replace(o.Message, "payment", "refund", 1), Provider: prov}
		if o.Refund == kvitt.RefundPending {
			u.Retry = c.cfg.Retry
		}
		return u
	}
	if res := resp.PaymentResult; res != nil && res.AmountsResp != nil {
		if amt, err := ParseAmount(res.AmountsResp.AuthorizedAmount, r.Currency); err != nil || amt != r.Amount {
			return kvitt.RefundUpdate{State: kvitt.RefundUnknown, ErrorCode: "AmountMismatch", Provider: prov,
				Message: "The card terminal refunded " + string(res.AmountsResp.AuthorizedAmount) + " instead of " + kvitt.FormatAmount(r.Amount, r.Currency) + ". Check the terminal's journal."}
		}
	}
	return kvitt.RefundUpdate{State: kvitt.RefundSucceeded, Provider: prov}
}

// CancelRefund aborts a card refund still waiting for the card. The
// terminal then answers the refund's own PaymentRequest (Aborted, or the
// refund if the card was read just before), which brings the outcome; after
// a restart, RefundStatus does.
func (c *Card) CancelRefund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	ep, err := c.endpoint(t)
	if err != nil {
		return kvitt.RefundUpdate{}, err
	}
	if f := c.flying(r.Reference); f != nil && !f.sent.Load() {
		// Still waiting for the terminal's slot in this process: it never
		// reaches the terminal.
		f.cancel()
	}
	if err := c.client.Abort(ctx, ep, MessageReference{MessageCategory: CategoryPayment, SaleID: ep.SaleID, ServiceID: r.Reference, POIID: ep.POIID}, "MerchantAbort"); err != nil {
		return kvitt.RefundUpdate{}, err
	}
	return kvitt.RefundUpdate{}, nil
}

// RefundStatus recovers a refund whose answer was lost, by its ServiceID.
func (c *Card) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	ep, err := c.endpoint(t)
	if err != nil {
		return kvitt.RefundUpdate{}, err
	}
	ts, err := c.status(ctx, ep, r.Reference)
	if err != nil {
		return kvitt.RefundUpdate{}, err
	}
	if ts.Response.Result == ResultSuccess {
		resp, err := repeated(ts, r.Reference)
		if err != nil {
			return kvitt.RefundUpdate{}, err
		}
		return c.fromRefund(r, resp), nil
	}
	switch ts.Response.ErrorCondition {
	case "InProgress", "Busy":
		return kvitt.RefundUpdate{State: kvitt.RefundPending, Retry: c.cfg.Retry}, nil
	case "NotFound":
		if c.flying(r.Reference) != nil {
			return kvitt.RefundUpdate{State: kvitt.RefundPending, Retry: c.cfg.Retry}, nil
		}
		return kvitt.RefundUpdate{State: kvitt.RefundFailed, ErrorCode: "NotFound", Message: "The card terminal never received the refund; nothing was paid back. You can try again."}, nil
	}
	return kvitt.RefundUpdate{}, fmt.Errorf("%w: TransactionStatus answered %s %s", ErrTransport, ts.Response.ErrorCondition, ts.Response.AdditionalResponse)
}

// paymentRequest is the PaymentRequest of a payment or a card-present
// refund: kvitt's id as the sale's transaction id, stamped with its creation
// time, for amount (formatted exactly from minor units).
func (c *Card) paymentRequest(id string, created time.Time, amount int64, cur kvitt.Currency, paymentType string) *PaymentRequest {
	if created.IsZero() {
		created = c.cfg.Now()
	}
	return &PaymentRequest{
		SaleData: SaleData{SaleTransactionID: TransactionID{TransactionID: id, TimeStamp: Timestamp(created)}},
		PaymentTransaction: PaymentTransaction{AmountsReq: AmountsReq{
			Currency:        string(cur),
			RequestedAmount: FormatAmount(amount, cur),
		}},
		PaymentData: &PaymentData{PaymentType: paymentType},
	}
}
