// Package svea speaks Svea's Instore API (pay-by-link by SMS, seed 004)
// and adapts it to kvitt's OrderProvider. The API is four calls under
// /api/v1/orders with HTTP Basic auth (the Instore merchant id and
// password): create (Svea sends the SMS), status (at most once per 5
// seconds per order, else 403), cancel and return. See docs/svea.md.
package svea

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Svea's hosts (php-instore lib/Configuration.php, lib/DevConfiguration.php).
const (
	ProductionURL = "https://webpayinstoreapi.svea.com"
	StageURL      = "https://webpayinstoreapistage.svea.com"
)

// Client calls the Instore API.
type Client struct {
	BaseURL string
	// MerchantID and Password are the Instore account's Basic auth
	// credentials (not the Checkout/PaymentAdmin ones).
	MerchantID string
	Password   string
	HTTP       *http.Client
}

// APIError is a non-2xx answer: a definite refusal for 4xx, an unknown
// outcome for 5xx.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string {
	body := strings.TrimSpace(e.Body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	if body == "" {
		return fmt.Sprintf("svea: HTTP %d", e.Status)
	}
	return fmt.Sprintf("svea: HTTP %d: %s", e.Status, body)
}

// Definite reports whether err is a refusal (4xx): the request was
// received and not carried out. Anything else may or may not have happened.
func Definite(err error) (*APIError, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		return ae, true
	}
	return nil, false
}

// Message is the reason Svea gave, in its words where the body has them.
func (e *APIError) Message() string {
	var v struct {
		Message, Title, Detail string
		Errors                 map[string][]string
	}
	if json.Unmarshal([]byte(e.Body), &v) == nil {
		var parts []string
		for _, s := range []string{v.Message, v.Title, v.Detail} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		for k, es := range v.Errors {
			parts = append(parts, k+": "+strings.Join(es, "; "))
		}
		if len(parts) > 0 {
			return strings.Join(parts, " ")
		}
	}
	if s := strings.TrimSpace(e.Body); s != "" && len(s) < 300 {
		return s
	}
	if t := http.StatusText(e.Status); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// CertificateError is a TLS handshake with Svea that failed because kvitt
// did not trust the server's certificate (another CA, another name, out of
// date): no request reached the API, so its outcome is definite.
type CertificateError struct {
	Reason string // what was wrong with it, in Go's words
	Err    error
}

func (e *CertificateError) Error() string {
	return "svea: kvitt does not trust the server's certificate (" + e.Reason + ")"
}

func (e *CertificateError) Unwrap() error { return e.Err }

// Message says what to check, for the order's message and the log.
func (e *CertificateError) Message() string {
	return "kvitt does not trust the certificate of Svea's server (" + e.Reason + "): check svea.base_url, and that the CA roots " +
		"kvitt trusts (the system's, or SSL_CERT_FILE) hold Svea's CA. Nothing reached Svea; no SMS was sent."
}

// certificateError recognises a refused server certificate in an error of
// http.Client.Do (nil for any other error).
func certificateError(err error) *CertificateError {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return &CertificateError{Reason: verr.Err.Error(), Err: err}
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return &CertificateError{Reason: err.Error(), Err: err}
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.MerchantID, c.Password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ce := certificateError(err); ce != nil {
			return ce
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("svea: decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

func orderPath(merchantOrderNumber, action string) string {
	return "/api/v1/orders/" + url.PathEscape(merchantOrderNumber) + "/" + action
}

// CreateOrder is POST /api/v1/orders: it creates the order and sends the SMS.
func (c *Client) CreateOrder(ctx context.Context, r *CreateOrderRequest) (*OrderResponse, error) {
	var out OrderResponse
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orders", r, &out)
}

// OrderStatus is GET /api/v1/orders/{merchantOrderNumber}/status; Svea
// answers 403 to a second call within 5 seconds.
func (c *Client) OrderStatus(ctx context.Context, merchantOrderNumber string) (*OrderResponse, error) {
	var out OrderResponse
	return &out, c.do(ctx, http.MethodGet, orderPath(merchantOrderNumber, "status"), nil, &out)
}

// CancelOrder is POST /api/v1/orders/{merchantOrderNumber}/cancel (no
// body): 200 cancelled, 403 refused. A delivered order is credited.
func (c *Client) CancelOrder(ctx context.Context, merchantOrderNumber string) error {
	return c.do(ctx, http.MethodPost, orderPath(merchantOrderNumber, "cancel"), nil, nil)
}

// ReturnOrder is POST /api/v1/orders/{merchantOrderNumber}/return: 200
// credited, 403 refused. No items credits the whole order.
func (c *Client) ReturnOrder(ctx context.Context, merchantOrderNumber string, items []OrderItem) error {
	if items == nil {
		items = []OrderItem{}
	}
	return c.do(ctx, http.MethodPost, orderPath(merchantOrderNumber, "return"), &ReturnOrderRequest{ReturnedItems: items}, nil)
}
