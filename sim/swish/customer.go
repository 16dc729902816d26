package simswish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Customer acts as the Swish customer through the simulator's customer
// interface (POST /sim/customer/paymentrequests/{instructionUUID or token}/{action}).
// It implements kvitt.Customer for the hub's sandbox endpoints.
type Customer struct {
	// RootURL is the simulator's root, https://127.0.0.1:port/.
	RootURL string
	// HTTP trusts the simulator's CA; no client certificate is needed.
	HTTP *http.Client
}

var _ kvitt.Customer = (*Customer)(nil)

// Customer returns a customer for this simulator.
func (s *Sim) Customer() *Customer {
	c, _ := NewCustomer(s.RootURL(), s.pki.CAPEM)
	return c
}

// NewCustomer returns a customer for a simulator running elsewhere (kvitt
// sim swish): its root URL and the ca.pem it wrote.
func NewCustomer(rootURL string, caPEM []byte) (*Customer, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("simswish: no CA certificate given")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if !strings.HasSuffix(rootURL, "/") {
		rootURL += "/"
	}
	return &Customer{RootURL: rootURL, HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// Act scans and approves, declines, cancels (in BankID) or walks away from
// the payment request p.Reference.
func (c *Customer) Act(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, action kvitt.CustomerAction, opts kvitt.CustomerOptions) error {
	switch action {
	case kvitt.CustomerApprove, kvitt.CustomerDecline, kvitt.CustomerCancel, kvitt.CustomerTimeout:
	default:
		return kvitt.Errorf(kvitt.EINVALID, "the Swish customer cannot %q", action)
	}
	return c.Do(ctx, p.Reference, string(action))
}

// Do performs action ("approve", "decline", "cancel", "timeout") on the
// payment request with this instructionUUID or token.
func (c *Customer) Do(ctx context.Context, idOrToken, action string) error {
	u := c.RootURL + "sim/customer/paymentrequests/" + url.PathEscape(idOrToken) + "/" + url.PathEscape(action)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "Swish simulator: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(b))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return kvitt.Errorf(kvitt.ENOTFOUND, "the Swish simulator has no payment request %s", idOrToken)
	case http.StatusConflict:
		return kvitt.Errorf(kvitt.ECONFLICT, "Swish simulator: %s", msg)
	default:
		return kvitt.Errorf(kvitt.EINVALID, "Swish simulator: %s", msg)
	}
}
