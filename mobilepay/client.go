// Package mobilepay speaks the Vipps MobilePay platform that replaced
// MobilePay PoS in 2024: the Access token API, the ePayment API (in-store
// payments, capture, cancel, refund, event log), the Webhooks API (with its
// HMAC-SHA256 signatures) and the QR API's merchant callback QR (a till's
// static QR, which tells kvitt who scanned it). It adapts them to
// kvitt.Provider (see Provider) and pairs tills with their QR (see Pair).
//
// The wire format follows the published API exactly (paths, headers, field
// names and casing, status codes), so switching from kvitt's simulator
// (sim/mobilepay) to the test environment (apitest.vipps.no) or production
// (api.vipps.no) is a change of base URL and credentials only. Facts and
// their sources are in docs/mobilepay.md.
package mobilepay

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Base URLs of the platform.
const (
	ProductionURL = "https://api.vipps.no"
	TestURL       = "https://apitest.vipps.no"
)

// ClientConfig configures a Client. The credentials come from the business
// portal (portal.vippsmobilepay.com, "Developer" section) for one sales unit.
type ClientConfig struct {
	// BaseURL is the API root: TestURL, ProductionURL or the simulator's.
	BaseURL string
	// ClientID and ClientSecret fetch the access token.
	ClientID     string
	ClientSecret string
	// SubscriptionKey is sent as Ocp-Apim-Subscription-Key on every call.
	SubscriptionKey string
	// MSN is the Merchant Serial Number of the sales unit, sent as
	// Merchant-Serial-Number on every call.
	MSN string
	// SystemName and SystemVersion identify kvitt in the Vipps-System-Name
	// and Vipps-System-Version headers; PluginName and PluginVersion fill
	// Vipps-System-Plugin-Name/-Version when set.
	SystemName    string
	SystemVersion string
	PluginName    string
	PluginVersion string
	// HTTPClient, if set, is used as is; otherwise one with Timeout.
	HTTPClient *http.Client
	// Timeout bounds each request; 0 means 15 seconds.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client calls the platform's APIs with a cached access token.
type Client struct {
	cfg  ClientConfig
	base *url.URL
	http *http.Client

	mu      sync.Mutex // held while a token is fetched: one fetch at a time
	token   string
	expires time.Time
	fetches int
}

// NewClient checks cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, kvitt.FieldError("base_url", "%q must be an absolute https URL (%s or %s)", cfg.BaseURL, TestURL, ProductionURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	for _, f := range []struct{ name, v string }{
		{"client_id", cfg.ClientID}, {"client_secret", cfg.ClientSecret},
		{"subscription_key", cfg.SubscriptionKey}, {"merchant_serial_number", cfg.MSN},
	} {
		if f.v == "" {
			return nil, kvitt.FieldError(f.name, "is required (from the business portal's Developer section)")
		}
	}
	if err := ValidateMSN(cfg.MSN); err != nil {
		return nil, err
	}
	if cfg.SystemName == "" {
		cfg.SystemName = "kvitt"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := cfg.Timeout
		if t == 0 {
			t = 15 * time.Second
		}
		hc = &http.Client{Timeout: t}
	}
	return &Client{cfg: cfg, base: u, http: hc}, nil
}

// MSN returns the Merchant Serial Number the client acts for.
func (c *Client) MSN() string { return c.cfg.MSN }

// TokenFetches counts the access tokens fetched so far (for tests and metrics).
func (c *Client) TokenFetches() int { c.mu.Lock(); defer c.mu.Unlock(); return c.fetches }

// tokenMargin is how long before its expiry a token is renewed.
func tokenMargin(lifetime time.Duration) time.Duration {
	return min(5*time.Minute, lifetime/2)
}

// accessToken returns a valid token, fetching a new one when the cached one
// is missing or about to expire.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.cfg.Now().Before(c.expires) {
		return c.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+"/accesstoken/get", http.NoBody)
	if err != nil {
		return "", err
	}
	req.Header.Set("client_id", c.cfg.ClientID)
	req.Header.Set("client_secret", c.cfg.ClientSecret)
	c.commonHeaders(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if ce := serverCertificateError(err); ce != nil {
			return "", ce
		}
		return "", kvitt.Errorf(kvitt.EUNAVAILABLE, "MobilePay access token: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", readAPIError(resp)
	}
	var tr TokenResponse
	if err := decode(resp.Body, &tr); err != nil {
		return "", err
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(tr.ExpiresIn), 10, 64)
	if tr.AccessToken == "" || err != nil || secs <= 0 {
		return "", fmt.Errorf("mobilepay: access token answer without a token or a valid expires_in (%q)", tr.ExpiresIn)
	}
	life := time.Duration(secs) * time.Second
	c.token, c.expires = tr.AccessToken, c.cfg.Now().Add(life-tokenMargin(life))
	c.fetches++
	return c.token, nil
}

// dropToken forgets token if it is still the cached one (the API refused it).
func (c *Client) dropToken(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

func (c *Client) commonHeaders(req *http.Request) {
	req.Header.Set("Ocp-Apim-Subscription-Key", c.cfg.SubscriptionKey)
	req.Header.Set("Merchant-Serial-Number", c.cfg.MSN)
	for _, h := range []struct{ k, v string }{
		{"Vipps-System-Name", c.cfg.SystemName}, {"Vipps-System-Version", c.cfg.SystemVersion},
		{"Vipps-System-Plugin-Name", c.cfg.PluginName}, {"Vipps-System-Plugin-Version", c.cfg.PluginVersion},
	} {
		if h.v != "" {
			req.Header.Set(h.k, h.v)
		}
	}
}

// call is one API request.
type call struct {
	method, path   string
	query          url.Values
	idempotencyKey string
	body           any
	out            any
	want           []int // accepted statuses; default 200
}

// do sends the call with the access token; a 401 drops the token and tries
// once more with a new one (the same Idempotency-Key makes that safe).
func (c *Client) do(ctx context.Context, cl call) error {
	var raw []byte
	if cl.body != nil {
		var err error
		if raw, err = json.Marshal(cl.body); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		u := c.base.String() + cl.path
		if len(cl.query) > 0 {
			u += "?" + cl.query.Encode()
		}
		var rd io.Reader = http.NoBody
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		c.commonHeaders(req)
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if cl.idempotencyKey != "" {
			req.Header.Set("Idempotency-Key", cl.idempotencyKey)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ce := serverCertificateError(err); ce != nil {
				return ce
			}
			return fmt.Errorf("mobilepay: %s %s: %w", cl.method, cl.path, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			c.dropToken(token)
			continue
		}
		err = c.finish(resp, cl)
		resp.Body.Close()
		return err
	}
}

func (c *Client) finish(resp *http.Response, cl call) error {
	want := cl.want
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	ok := false
	for _, s := range want {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return readAPIError(resp)
	}
	if cl.out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil
	}
	return decode(resp.Body, cl.out)
}

func decode(r io.Reader, out any) error {
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("mobilepay: reading the answer: %w", err)
	}
	return nil
}

func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	e := &APIError{StatusCode: resp.StatusCode}
	var p Problem
	if len(bytes.TrimSpace(b)) > 0 && json.Unmarshal(b, &p) == nil && (p.Title != "" || p.Status != 0 || p.Detail != "" || len(p.ExtraDetails) > 0) {
		e.Problem = &p
		return e
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	e.Body = s
	return e
}

// ServerCertificateError is a TLS handshake with the platform that failed
// because kvitt did not accept the server's certificate (not issued by a
// CA kvitt trusts, for another host, expired): the request was never sent.
type ServerCertificateError struct {
	Reason string
	Err    error
}

func (e *ServerCertificateError) Error() string {
	return "mobilepay: kvitt does not trust the server's certificate: " + e.Reason
}

func (e *ServerCertificateError) Unwrap() error { return e.Err }

// serverCertificateError recognises a failed verification of the server's
// certificate in a transport error (nil if it is none).
func serverCertificateError(err error) *ServerCertificateError {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return &ServerCertificateError{Reason: verr.Err.Error(), Err: err}
	}
	return nil
}

// IsNotFound reports whether err is the platform's 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// KvittError turns an error of this package into a *kvitt.Error for callers
// that answer a person (pairing, administration): the platform's refusals
// keep its words; a transport failure is EUNAVAILABLE. kvitt errors pass
// through unchanged.
func KvittError(err error) error {
	if err == nil {
		return nil
	}
	var ke *kvitt.Error
	if errors.As(err, &ke) {
		return err
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "MobilePay cannot be reached: %v", err)
	}
	code := kvitt.EPROVIDER
	switch {
	case ae.StatusCode == http.StatusNotFound:
		code = kvitt.ENOTFOUND
	case ae.StatusCode == http.StatusConflict:
		code = kvitt.ECONFLICT
	case ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode >= 500:
		code = kvitt.EUNAVAILABLE
	}
	return &kvitt.Error{Code: code, Message: ae.Error()}
}
