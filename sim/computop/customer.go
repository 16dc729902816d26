package simcomputop

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

// act performs a customer action on a TransID's open payment. It returns
// an HTTP status: 200, 404 (no such payment) or 409 (no longer open).
func (s *Sim) act(transID, action string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byTrans[transID]
	if p == nil {
		return http.StatusNotFound, "no payment " + transID
	}
	if p.final() {
		return http.StatusConflict, "the payment is " + p.Status
	}
	switch action {
	case "approve":
		for code, text := range outcomeCodes {
			if strings.Contains(p.OrderDesc, code) {
				s.finishLocked(p, "FAILED", code, text)
				return http.StatusOK, ""
			}
		}
		s.finishLocked(p, "OK", "", "")
	case "decline":
		s.finishLocked(p, "FAILED", "RF07", outcomeCodes["RF07"])
	case "cancel":
		s.finishLocked(p, "FAILED", "BANKIDCL", outcomeCodes["BANKIDCL"])
	case "timeout":
		s.finishLocked(p, "FAILED", "TM01", outcomeCodes["TM01"])
	default:
		return http.StatusBadRequest, "unknown action " + action
	}
	return http.StatusOK, ""
}

func (s *Sim) handleCustomer(w http.ResponseWriter, r *http.Request) {
	code, msg := s.act(r.PathValue("transID"), r.PathValue("action"))
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// Customer acts as the Swish customer through the simulator's customer
// interface (POST /sim/customer/{TransID}/{action}). It implements
// kvitt.Customer for the hub's sandbox endpoints.
type Customer struct {
	RootURL string
	HTTP    *http.Client
}

var _ kvitt.Customer = (*Customer)(nil)

// Customer returns a customer for this simulator.
func (s *Sim) Customer() *Customer {
	c, _ := NewCustomer(s.URL(), s.CAPEM())
	return c
}

// NewCustomer returns a customer for a simulator running elsewhere (kvitt
// sim computop): its URL and the CA it wrote.
func NewCustomer(rootURL string, caPEM []byte) (*Customer, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("simcomputop: no CA certificate given")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if !strings.HasSuffix(rootURL, "/") {
		rootURL += "/"
	}
	return &Customer{RootURL: rootURL, HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// Act approves, declines, cancels (in BankID) or walks away from the
// payment whose TransID is p.Reference.
func (c *Customer) Act(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, action kvitt.CustomerAction, opts kvitt.CustomerOptions) error {
	switch action {
	case kvitt.CustomerApprove, kvitt.CustomerDecline, kvitt.CustomerCancel, kvitt.CustomerTimeout:
	default:
		return kvitt.Errorf(kvitt.EINVALID, "the Swish customer cannot %q", action)
	}
	return c.Do(ctx, p.Reference, string(action))
}

// Do performs action on the payment with this TransID.
func (c *Customer) Do(ctx context.Context, transID, action string) error {
	u := c.RootURL + "sim/customer/" + url.PathEscape(transID) + "/" + url.PathEscape(action)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "Computop simulator: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(b))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return kvitt.Errorf(kvitt.ENOTFOUND, "the Computop simulator has no payment %s", transID)
	case http.StatusConflict:
		return kvitt.Errorf(kvitt.ECONFLICT, "Computop simulator: %s", msg)
	}
	return kvitt.Errorf(kvitt.EINVALID, "Computop simulator: %s", msg)
}
