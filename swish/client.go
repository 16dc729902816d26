// Package swish speaks the Swish Commerce API ("Swish Handel"): payment
// requests, their status, cancels and refunds over mutual TLS with the
// merchant certificate. It also loads and creates that certificate and
// adapts the API to kvitt.Provider (see Provider).
//
// The wire format follows Swish's published API exactly (paths, field names
// and casing, status codes), so switching from kvitt's simulator (sim/swish)
// to Swish's MSS or production is a change of base URL and certificate only.
package swish

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Base URLs of the Swish Commerce API.
const (
	ProductionURL = "https://cpc.getswish.net/swish-cpcapi/api/"
	MSSURL        = "https://mss.cpc.getswish.net/swish-cpcapi/api/"
)

// Payment request statuses as Swish writes them.
const (
	StatusCreated   = "CREATED"
	StatusPaid      = "PAID"
	StatusDeclined  = "DECLINED"
	StatusError     = "ERROR"
	StatusCancelled = "CANCELLED"
	// Refunds also pass through these.
	StatusValidated = "VALIDATED"
	StatusDebited   = "DEBITED"
)

// NewInstructionUUID returns a new instructionUUID: 32 uppercase hex
// characters, no dashes, as Swish wants it.
func NewInstructionUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40 // UUID version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// ValidInstructionUUID reports whether s is 32 uppercase hex characters.
func ValidInstructionUUID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// BaseURL is the API root, such as MSSURL or ProductionURL.
	BaseURL string
	// TLS carries the merchant certificate chain and the trusted roots (see TLSConfig).
	TLS *tls.Config
	// Timeout bounds each request; 0 means 20 seconds.
	Timeout time.Duration
	// HTTPClient, if set, is used as is (TLS and Timeout are then ignored).
	HTTPClient *http.Client
}

// Client calls the Swish Commerce API.
type Client struct {
	base *url.URL
	http *http.Client
}

// NewClient returns a client for the API at cfg.BaseURL.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("swish: base URL %q must be an absolute https URL", cfg.BaseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		if cfg.TLS == nil {
			return nil, errors.New("swish: a TLS configuration with the merchant certificate is required")
		}
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = 20 * time.Second
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS.Clone()
		tr.ForceAttemptHTTP2 = true
		hc = &http.Client{Transport: tr, Timeout: timeout}
	}
	return &Client{base: u, http: hc}, nil
}

// Created is Swish's answer to a create (201).
type Created struct {
	// Location is the URL of the created object (a v1 path).
	Location string
	// ID is Location's last path segment (the instructionUUID for v2).
	ID string
	// Token is the PaymentRequestToken, given once, for in-store (no payerAlias) requests.
	Token string
}

// CreatePaymentRequest sends PUT v2/paymentrequests/{instructionUUID}. It
// validates req first and returns a *kvitt.Error naming the field if it breaks
// a rule; Swish's refusals come back as *APIError.
func (c *Client) CreatePaymentRequest(ctx context.Context, instructionUUID string, req *PaymentRequest) (*Created, error) {
	if !ValidInstructionUUID(instructionUUID) {
		return nil, fieldErr("instructionUUID", "must be 32 uppercase hex characters")
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return c.create(ctx, "v2/paymentrequests/"+instructionUUID, req)
}

// GetPaymentRequest sends GET v1/paymentrequests/{id}.
func (c *Client) GetPaymentRequest(ctx context.Context, id string) (*PaymentRequest, error) {
	var pr PaymentRequest
	if err := c.get(ctx, "v1/paymentrequests/"+url.PathEscape(id), &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

// CancelPaymentRequest sends PATCH v1/paymentrequests/{id} with the JSON
// patch that sets the status to cancelled.
func (c *Client) CancelPaymentRequest(ctx context.Context, id string) (*PaymentRequest, error) {
	body := []PatchOperation{{Op: "replace", Path: "/status", Value: "cancelled"}}
	resp, err := c.do(ctx, http.MethodPatch, "v1/paymentrequests/"+url.PathEscape(id), "application/json-patch+json", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readAPIError(resp)
	}
	var pr PaymentRequest
	if err := decode(resp.Body, &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

// CreateRefund sends PUT v2/refunds/{instructionUUID}.
func (c *Client) CreateRefund(ctx context.Context, instructionUUID string, req *Refund) (*Created, error) {
	if !ValidInstructionUUID(instructionUUID) {
		return nil, fieldErr("instructionUUID", "must be 32 uppercase hex characters")
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return c.create(ctx, "v2/refunds/"+instructionUUID, req)
}

// GetRefund sends GET v1/refunds/{id}.
func (c *Client) GetRefund(ctx context.Context, id string) (*Refund, error) {
	var r Refund
	if err := c.get(ctx, "v1/refunds/"+url.PathEscape(id), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (c *Client) create(ctx context.Context, p string, body any) (*Created, error) {
	resp, err := c.do(ctx, http.MethodPut, p, "application/json", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, readAPIError(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	cr := &Created{
		Location: resp.Header.Get("Location"),
		Token:    resp.Header.Get("PaymentRequestToken"),
	}
	if cr.Location != "" {
		if u, err := url.Parse(cr.Location); err == nil {
			cr.ID = path.Base(u.Path)
		}
	}
	return cr, nil
}

func (c *Client) get(ctx context.Context, p string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, p, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	return decode(resp.Body, out)
}

func (c *Client) do(ctx context.Context, method, p, contentType string, body any) (*http.Response, error) {
	u := c.base.ResolveReference(&url.URL{Path: p})
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("swish: %s %s: %w", method, p, err)
	}
	return resp, nil
}

func decode(r io.Reader, out any) error {
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("swish: reading the answer: %w", err)
	}
	return nil
}

func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	e := &APIError{StatusCode: resp.StatusCode}
	if len(bytes.TrimSpace(b)) > 0 && json.Unmarshal(b, &e.Details) == nil {
		return e
	}
	e.Details = nil
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	e.Body = s
	return e
}
