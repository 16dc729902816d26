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
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
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
	// cert describes the merchant certificate sent ("" when unknown), and
	// accepted the CAs the server named in its last certificate request:
	// both explain a refused certificate (CertificateError).
	cert     string
	accepted atomic.Pointer[[]string]
	// tls is the transport's configuration, for probe; nil with HTTPClient.
	tls *tls.Config
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
		c := &Client{base: u}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		c.tls = c.sendCertificate(cfg.TLS.Clone())
		tr.TLSClientConfig = c.tls
		tr.ForceAttemptHTTP2 = true
		c.http = &http.Client{Transport: tr, Timeout: timeout}
		return c, nil
	}
	return &Client{base: u, http: hc}, nil
}

// sendCertificate makes the TLS configuration send the merchant certificate
// whenever the server asks for one. Go's own choice sends nothing when the
// server names CAs the chain does not lead to; the server then answers 401
// and nobody learns why. Sent, the certificate is refused in the handshake
// with a TLS alert that says why, as OpenSSL-based clients see it. The CAs
// the server named are kept to explain the refusal.
func (c *Client) sendCertificate(cfg *tls.Config) *tls.Config {
	if len(cfg.Certificates) == 0 || cfg.GetClientCertificate != nil {
		return cfg
	}
	cert := cfg.Certificates[0]
	c.cert = describeCertificate(cert)
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		var names []string
		if cri.SupportsCertificate(&cert) != nil {
			for _, dn := range cri.AcceptableCAs {
				names = append(names, distinguishedName(dn))
			}
		}
		c.accepted.Store(&names)
		return &cert, nil
	}
	return cfg
}

// describeCertificate names a certificate and its issuer, for messages.
func describeCertificate(cert tls.Certificate) string {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf == nil {
		return ""
	}
	s := fmt.Sprintf("%s, issued by %s", leaf.Subject, leaf.Issuer)
	if n := len(cert.Certificate) - 1; n > 0 {
		s += fmt.Sprintf(", with %d intermediate(s)", n)
	} else {
		s += ", without intermediates"
	}
	return s
}

func distinguishedName(der []byte) string {
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdn); err != nil {
		return fmt.Sprintf("%X", der)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return n.String()
}

// CertificateError is a TLS handshake with Swish that failed over a
// certificate: Swish refused the merchant certificate (a TLS alert such as
// bad_certificate, unknown_ca or handshake_failure), or kvitt did not trust
// Swish's server certificate (Server). The request never reached the API.
type CertificateError struct {
	// Server is true when kvitt refused Swish's server certificate.
	Server bool
	// Reason is what the handshake said: `TLS alert "unknown certificate authority"`.
	Reason string
	// Sent describes the merchant certificate kvitt sent ("" when not known).
	Sent string
	// Accepted are the CAs Swish named in its certificate request when the
	// merchant certificate does not lead to any of them.
	Accepted []string
	Err      error
}

func (e *CertificateError) Error() string {
	if e.Server {
		return fmt.Sprintf("swish: kvitt does not trust the server's certificate (%s): check the CA bundle configured for Swish's server (ca_file)", e.Reason)
	}
	return "swish: Swish did not accept the merchant certificate (" + e.Reason + ")" + e.Detail()
}

// Detail says which certificate was sent and what the server asked for,
// as a sentence to append ("" when nothing is known).
func (e *CertificateError) Detail() string {
	var parts []string
	if e.Sent != "" {
		parts = append(parts, "kvitt sent "+e.Sent)
	}
	if len(e.Accepted) > 0 {
		parts = append(parts, "the server accepts certificates issued by "+strings.Join(e.Accepted, " or "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func (e *CertificateError) Unwrap() error { return e.Err }

// certificateAlerts are the TLS alerts (as Go names them) with which a
// server refuses a client certificate. handshake_failure is what Swish's
// users report for a refused certificate; it can also mean no common
// cipher, which a TLS 1.2+ client and Swish do not run into.
var certificateAlerts = []string{
	"tls: bad certificate", "tls: unsupported certificate", "tls: revoked certificate",
	"tls: expired certificate", "tls: unknown certificate", "tls: unknown certificate authority",
	"tls: access denied", "tls: certificate required", "tls: handshake failure",
}

// certificateError recognises a handshake failed over a certificate.
func (c *Client) certificateError(err error) *CertificateError {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return &CertificateError{Server: true, Reason: verr.Err.Error(), Err: err}
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return nil
	}
	alert := op.Err.Error()
	for _, a := range certificateAlerts {
		if alert == a {
			ce := &CertificateError{Reason: fmt.Sprintf("TLS alert %q", strings.TrimPrefix(alert, "tls: ")), Sent: c.cert, Err: err}
			if acc := c.accepted.Load(); acc != nil {
				ce.Accepted = *acc
			}
			return ce
		}
	}
	return nil
}

// probeWait bounds how long probe waits for the server's verdict on the
// merchant certificate.
const probeWait = 2 * time.Second

// probe finds out whether a request that failed on a broken connection
// failed because the server refused the merchant certificate. With TLS 1.3
// the client's side of the handshake ends before the server has looked at
// the certificate: the request is already being written when the server's
// alert arrives and it closes the connection, so the request fails with
// "broken pipe" or "connection reset" rather than the alert. probe makes a
// handshake of its own, sends nothing, and reads the server's answer: an
// alert says the certificate was refused; silence (the server waiting for a
// request) says it was accepted, and the failure was something else.
func (c *Client) probe(ctx context.Context, err error) *CertificateError {
	var ne net.Error
	if c.tls == nil || len(c.tls.Certificates) == 0 || ctx.Err() != nil ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	cfg := c.tls.Clone()
	cfg.NextProtos = nil
	host := c.base.Host
	if c.base.Port() == "" {
		host = net.JoinHostPort(c.base.Hostname(), "443")
	}
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", host)
	if err != nil {
		return c.certificateError(err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetReadDeadline(deadline)
	var b [1]byte
	_, err = conn.Read(b[:])
	return c.certificateError(err)
}

// certificateNote describes the merchant certificate for a 401's message.
func (c *Client) certificateNote() string {
	ce := &CertificateError{Sent: c.cert}
	if acc := c.accepted.Load(); acc != nil {
		ce.Accepted = *acc
	}
	return ce.Detail()
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
		ce := c.certificateError(err)
		if ce == nil {
			ce = c.probe(ctx, err)
		}
		if ce != nil {
			return nil, ce
		}
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
