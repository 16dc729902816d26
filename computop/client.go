package computop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ProductionURL is the Paygate's base URL.
const ProductionURL = "https://www.computop-paygate.com/"

// Endpoints kvitt uses, relative to the base URL.
const (
	PathSwish     = "swish.aspx"     // Swish payment, channel Web or App
	PathCredit    = "credit.aspx"    // credit with reference (PayID)
	PathInquire   = "inquire.aspx"   // status by PayID
	PathInquire24 = "inquire24.aspx" // status by TransID
)

// Statuses of answers and notifications.
const (
	StatusOK               = "OK"
	StatusFailed           = "FAILED"
	StatusAuthorizeRequest = "AUTHORIZE_REQUEST" // the request is at Swish, waiting for the customer
	StatusAuthorized       = "AUTHORIZED"
)

// CodeOK is the A4 code of success.
const CodeOK = "00000000"

// ClientConfig configures a Client.
type ClientConfig struct {
	// BaseURL is ProductionURL or a simulator's URL.
	BaseURL string
	Keys    Keys
	// TLS, if set, is the client's TLS configuration (the simulator's roots).
	TLS *tls.Config
	// Timeout bounds each request; 0 means 30 seconds.
	Timeout time.Duration
	// HTTPClient, if set, is used as is.
	HTTPClient *http.Client
	// Rules are the merchant's settings the format rules depend on.
	Rules RuleContext
}

// Client calls the Paygate.
type Client struct {
	base  *url.URL
	keys  Keys
	http  *http.Client
	rules RuleContext
}

// NewClient checks cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("computop: base URL %q must be an absolute https URL", cfg.BaseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if err := cfg.Keys.Validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS.Clone()
		}
		hc = &http.Client{Transport: tr, Timeout: timeout}
	}
	return &Client{base: u, keys: cfg.Keys, http: hc, rules: cfg.Rules}, nil
}

// Keys returns the client's credentials.
func (c *Client) Keys() Keys { return c.keys }

// SwishPayment is a Swish payment request (swish.aspx).
type SwishPayment struct {
	TransID   string
	RefNr     string
	Amount    int64 // öre
	Currency  string
	OrderDesc string
	ReqID     string
	Channel   string // ChannelWeb or ChannelApp
	MobileNr  string // required for ChannelWeb
	URLNotify string
	UserData  string
}

// Params returns the request's plaintext, MAC included.
func (r *SwishPayment) Params(k Keys) *Params {
	amount := strconv.FormatInt(r.Amount, 10)
	p := NewParams("MerchantID", k.MerchantID, "TransID", r.TransID)
	p.SetIf("RefNr", r.RefNr)
	p.Set("Amount", amount)
	p.Set("Currency", r.Currency)
	p.Set("MAC", RequestMAC(k.HMACKey, "", r.TransID, k.MerchantID, amount, r.Currency))
	p.Set("OrderDesc", r.OrderDesc)
	p.SetIf("ReqID", r.ReqID)
	p.Set("Channel", r.Channel)
	p.SetIf("MobileNr", r.MobileNr)
	p.SetIf("URLNotify", r.URLNotify)
	p.SetIf("UserData", r.UserData)
	return p
}

// Credit is a credit with reference (credit.aspx): money back on a paid payment.
type Credit struct {
	PayID    string
	TransID  string // the TransID of the payment credited
	RefNr    string
	Amount   int64
	Currency string
	ReqID    string
}

// Params returns the request's plaintext, MAC included.
func (r *Credit) Params(k Keys) *Params {
	amount := strconv.FormatInt(r.Amount, 10)
	p := NewParams("MerchantID", k.MerchantID, "PayID", r.PayID, "TransID", r.TransID)
	p.SetIf("RefNr", r.RefNr)
	p.Set("Amount", amount)
	p.Set("Currency", r.Currency)
	p.Set("MAC", RequestMAC(k.HMACKey, r.PayID, r.TransID, k.MerchantID, amount, r.Currency))
	p.SetIf("ReqID", r.ReqID)
	return p
}

// Result is an answer, an inquiry or a notification, parsed.
type Result struct {
	MID           string
	PayID         string
	XID           string
	TransID       string
	RefNr         string
	Status        string
	Description   string
	Code          string
	CodeExt       string
	ErrorText     string
	TransactionID string
	TokenExt      string
	URLConfirm    string
	UserData      string
	// Inquiries only: amounts so far, in öre (-1 when not given), and the
	// status of the payment's last transaction.
	AmountAuth, AmountCap, AmountCred int64
	LastStatus                        string
	Currency                          string
	// MACChecked says the answer carried a MAC and it was right.
	MACChecked bool
	// Params is the whole plaintext.
	Params *Params
}

func resultOf(p *Params) *Result {
	r := &Result{
		MID: p.Get("mid"), PayID: p.Get("PayID"), XID: p.Get("XID"), TransID: p.Get("TransID"), RefNr: p.Get("RefNr"),
		Status: p.Get("Status"), Description: p.Get("Description"), Code: p.Get("Code"), CodeExt: p.Get("CodeExt"),
		ErrorText: p.Get("ErrorText"), TransactionID: p.Get("TransactionID"), TokenExt: p.Get("TokenExt"),
		URLConfirm: p.Get("URLConfirm"), UserData: p.Get("UserData"), LastStatus: p.Get("LastStatus"),
		Currency: p.Get("Currency"), Params: p,
	}
	if r.MID == "" {
		r.MID = p.Get("MerchantID")
	}
	r.AmountAuth, r.AmountCap, r.AmountCred = amountOf(p, "AmountAuth"), amountOf(p, "AmountCap"), amountOf(p, "AmountCred")
	return r
}

func amountOf(p *Params, name string) int64 {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// checkMAC verifies a result's MAC, when it has one (server-to-server
// answers need not; notifications must). required makes its absence an error.
func (r *Result) checkMAC(k Keys, required bool) error {
	got := r.Params.Get("MAC")
	if got == "" {
		if required {
			return &MACError{"the notification carries no MAC"}
		}
		return nil
	}
	want := ResponseMAC(k.HMACKey, r.PayID, r.TransID, r.MID, r.Status, r.Code)
	if !EqualMAC(got, want) {
		return &MACError{fmt.Sprintf("MAC of TransID %s does not match PayID*TransID*MerchantID*Status*Code", r.TransID)}
	}
	r.MACChecked = true
	return nil
}

// MACError is a MAC that is missing or wrong: the message is forged or
// damaged and nothing in it is used.
type MACError struct{ Reason string }

func (e *MACError) Error() string { return "computop: " + e.Reason }

// ServerCertificateError is a TLS handshake with the Paygate that failed
// because kvitt did not accept the server's certificate (not issued by a
// CA kvitt trusts, for another host, expired): the request was never sent.
type ServerCertificateError struct {
	Reason string
	Err    error
}

func (e *ServerCertificateError) Error() string {
	return "computop: kvitt does not trust the Paygate's server certificate: " + e.Reason
}

func (e *ServerCertificateError) Unwrap() error { return e.Err }

// HTTPError is an answer other than 200. The outcome of the request is not
// known from it.
type HTTPError struct {
	StatusCode int
	Body       string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("computop: HTTP %d: %s", e.StatusCode, e.Body)
}

// Swish sends a Swish payment request. The format rules are checked first:
// a violation is a *FormatError and nothing is sent.
func (c *Client) Swish(ctx context.Context, r *SwishPayment) (*Result, error) {
	return c.call(ctx, PathSwish, r.Params(c.keys), SwishTable)
}

// Credit sends a credit with reference.
func (c *Client) Credit(ctx context.Context, r *Credit) (*Result, error) {
	return c.call(ctx, PathCredit, r.Params(c.keys), CreditTable)
}

// Inquire asks for a payment's status by its PayID.
func (c *Client) Inquire(ctx context.Context, payID, transID string) (*Result, error) {
	p := NewParams("MerchantID", c.keys.MerchantID, "PayID", payID, "TransID", transID)
	p.Set("MAC", RequestMAC(c.keys.HMACKey, payID, transID, c.keys.MerchantID, "", ""))
	return c.call(ctx, PathInquire, p, InquireTable)
}

// InquireByTransID asks for a payment's status by the merchant's TransID.
func (c *Client) InquireByTransID(ctx context.Context, transID string) (*Result, error) {
	p := NewParams("MerchantID", c.keys.MerchantID, "TransID", transID)
	p.Set("MAC", RequestMAC(c.keys.HMACKey, "", transID, c.keys.MerchantID, "", ""))
	return c.call(ctx, PathInquire24, p, Inquire24Table)
}

func (c *Client) call(ctx context.Context, path string, p *Params, t Table) (*Result, error) {
	if err := t.Validate(p, c.rules); err != nil {
		return nil, err
	}
	env, err := c.keys.Seal(p)
	if err != nil {
		return nil, err
	}
	form := url.Values{"MerchantID": {env.MerchantID}, "Len": {strconv.Itoa(env.Len)}, "Data": {env.Data}}
	u := c.base.ResolveReference(&url.URL{Path: path})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return nil, &ServerCertificateError{Reason: verr.Err.Error(), Err: err}
		}
		return nil, fmt.Errorf("computop: %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("computop: %s: reading the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 {
			s = s[:200]
		}
		return nil, &HTTPError{StatusCode: resp.StatusCode, Body: s}
	}
	r, err := c.OpenAnswer(string(body))
	if err != nil {
		return nil, fmt.Errorf("computop: %s: %w", path, err)
	}
	return r, nil
}

// OpenAnswer deciphers a server-to-server answer body ("Data=…&Len=…") and
// checks its MAC if it has one.
func (c *Client) OpenAnswer(body string) (*Result, error) {
	form, err := url.ParseQuery(strings.TrimSpace(body))
	if err != nil {
		return nil, fmt.Errorf("the answer is not form-encoded: %v", err)
	}
	if form.Get("Data") == "" {
		return nil, errors.New("the answer carries no Data")
	}
	p, err := c.keys.Open(form.Get("Data"), form.Get("Len"))
	if err != nil {
		return nil, err
	}
	r := resultOf(p)
	if err := r.checkMAC(c.keys, false); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenNotification deciphers a URLNotify post (form fields Data and Len,
// possibly MerchantID in plain text) and checks the MAC, which a
// notification must carry, and the MerchantID.
func (c *Client) OpenNotification(form url.Values) (*Result, error) {
	if form.Get("Data") == "" {
		return nil, errors.New("computop: the notification carries no Data")
	}
	if mid := form.Get("MerchantID"); mid != "" && mid != c.keys.MerchantID {
		return nil, fmt.Errorf("computop: the notification is for merchant %q", mid)
	}
	p, err := c.keys.Open(form.Get("Data"), form.Get("Len"))
	if err != nil {
		return nil, err
	}
	r := resultOf(p)
	if r.MID != c.keys.MerchantID {
		return nil, fmt.Errorf("computop: the notification is for merchant %q", r.MID)
	}
	if err := r.checkMAC(c.keys, true); err != nil {
		return nil, err
	}
	return r, nil
}
