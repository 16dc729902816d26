package simmobilepay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// checkin is a customer who scanned a merchant callback QR.
type checkin struct {
	token, qrID, phone string
	at                 time.Time
}

// DefaultCustomerPhone is the simulated customer's number.
const DefaultCustomerPhone = "4512345678"

// customerCheckin is POST /sim/customer/checkin {"qr", "phoneNumber"}: the
// customer scans a till's QR ("qr" is its merchantQrId or the scanned
// content). The platform sends user.checked-in.v1 with a new customer token.
func (s *Sim) customerCheckin(w http.ResponseWriter, r *http.Request) {
	var b struct {
		QR          string `json:"qr"`
		PhoneNumber string `json:"phoneNumber"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&b); err != nil {
		http.Error(w, "body must be {\"qr\":\"...\",\"phoneNumber\":\"...\"}", http.StatusBadRequest)
		return
	}
	if b.PhoneNumber == "" {
		b.PhoneNumber = DefaultCustomerPhone
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var q *callbackQR
	for _, x := range s.qrs {
		if x.ID == b.QR || x.ID == strings.ToLower(b.QR) || x.Content == b.QR {
			q = x
		}
	}
	if q == nil {
		http.Error(w, "this QR is not registered with the QR API: scanning it reaches no merchant", http.StatusNotFound)
		return
	}
	c := &checkin{token: randomBase64(33), qrID: q.ID, phone: b.PhoneNumber, at: now}
	s.checkins[c.token] = c
	s.deliverLocked("user.checked-in.v1", map[string]string{
		"customerToken": c.token, "merchantQrId": q.ID, "msn": s.opts.MSN, "initiatedAt": now.UTC().Format("2006-01-02T15:04:05.0000000Z"),
	})
	writeJSON(w, http.StatusOK, map[string]string{"customerToken": c.token})
}

// findLocked finds a payment by reference or by its one-time QR ("pay-" + token, or the QR's URL).
func (s *Sim) findLocked(ref string) *payment {
	if p := s.payments[ref]; p != nil {
		return p
	}
	if i := strings.LastIndex(ref, "/pay-"); i >= 0 {
		ref = ref[i+1:]
	}
	if tok, ok := strings.CutPrefix(strings.SplitN(ref, "?", 2)[0], "pay-"); ok {
		for _, p := range s.payments {
			if p.QRToken == tok {
				return p
			}
		}
	}
	return nil
}

func (s *Sim) customerPayment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findLocked(r.PathValue("reference"))
	if p == nil {
		http.Error(w, "no such payment", http.StatusNotFound)
		return
	}
	s.expireLocked(p)
	writeJSON(w, http.StatusOK, map[string]string{"reference": p.Reference, "state": p.State})
}

// customerAction is POST /sim/customer/payments/{reference}/{approve|reject|expire}.
func (s *Sim) customerAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findLocked(r.PathValue("reference"))
	if p == nil {
		http.Error(w, "no such payment", http.StatusNotFound)
		return
	}
	if err := s.actLocked(p, r.PathValue("action")); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Customer acts as the MobilePay customer through the simulator's customer
// interface. It implements kvitt.Customer for the hub's sandbox endpoints.
type Customer struct {
	// RootURL is the simulator's root, https://127.0.0.1:port/.
	RootURL string
	// HTTP trusts the simulator's CA.
	HTTP *http.Client
	// Phone is the customer's number; "" means DefaultCustomerPhone.
	Phone string
	// Wait bounds how long Act waits for kvitt to send the payment after
	// the customer scanned the till's QR; 0 means 20 seconds.
	Wait time.Duration
}

var _ kvitt.Customer = (*Customer)(nil)

// Customer returns a customer for this simulator.
func (s *Sim) Customer() *Customer {
	c, _ := NewCustomer(s.RootURL(), s.CAPEM())
	return c
}

// NewCustomer returns a customer for a simulator running elsewhere (kvitt
// sim mobilepay): its root URL and the ca.pem it wrote.
func NewCustomer(rootURL string, caPEM []byte) (*Customer, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("simmobilepay: no CA certificate given")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if !strings.HasSuffix(rootURL, "/") {
		rootURL += "/"
	}
	return &Customer{RootURL: rootURL, HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// Act approves, declines (rejects in the app), cancels (rejects) or walks
// away from (lets expire) the payment p. A static-QR payment is not at
// MobilePay until the customer scans: the customer first scans the till's
// QR, then waits for kvitt to send the payment, then acts on it.
func (c *Customer) Act(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, action kvitt.CustomerAction, opts kvitt.CustomerOptions) error {
	var act string
	switch action {
	case kvitt.CustomerApprove:
		act = "approve"
	case kvitt.CustomerDecline, kvitt.CustomerCancel:
		act = "reject"
	case kvitt.CustomerTimeout:
		act = "expire"
	default:
		return kvitt.Errorf(kvitt.EINVALID, "the MobilePay customer cannot %q", action)
	}
	if _, err := c.State(ctx, p.Reference); err != nil {
		if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
			return err
		}
		if t == nil || t.MobilePayBeaconID == "" {
			return kvitt.Errorf(kvitt.ECONFLICT, "MobilePay has no payment %s yet and the till has no QR to scan", p.Reference)
		}
		if _, err := c.CheckIn(ctx, t.MobilePayBeaconID); err != nil {
			return err
		}
		if err := c.waitFor(ctx, p.Reference); err != nil {
			return err
		}
	}
	return c.Do(ctx, p.Reference, act)
}

// CheckIn scans a till's QR (its beacon id or the scanned content) and
// returns the customer token the platform sent to the merchant.
func (c *Customer) CheckIn(ctx context.Context, qr string) (string, error) {
	phone := c.Phone
	if phone == "" {
		phone = DefaultCustomerPhone
	}
	b, _ := json.Marshal(map[string]string{"qr": qr, "phoneNumber": phone})
	var out struct {
		CustomerToken string `json:"customerToken"`
	}
	if err := c.post(ctx, "sim/customer/checkin", b, &out); err != nil {
		return "", err
	}
	return out.CustomerToken, nil
}

// Do performs action ("approve", "reject", "expire") on the payment with
// this reference (or one-time QR).
func (c *Customer) Do(ctx context.Context, reference, action string) error {
	return c.post(ctx, "sim/customer/payments/"+url.PathEscape(reference)+"/"+url.PathEscape(action), nil, nil)
}

// State returns the payment's state at the simulator; ENOTFOUND if it has none.
func (c *Customer) State(ctx context.Context, reference string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.RootURL+"sim/customer/payments/"+url.PathEscape(reference), nil)
	if err != nil {
		return "", err
	}
	var out struct {
		State string `json:"state"`
	}
	if err := c.send(req, &out); err != nil {
		return "", err
	}
	return out.State, nil
}

func (c *Customer) waitFor(ctx context.Context, reference string) error {
	wait := c.Wait
	if wait == 0 {
		wait = 20 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		_, err := c.State(ctx, reference)
		if err == nil {
			return nil
		}
		if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
			return err
		}
		if time.Now().After(deadline) {
			return kvitt.Errorf(kvitt.EUNAVAILABLE, "the customer scanned the till's QR but kvitt sent no payment %s within %s", reference, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Customer) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.RootURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.send(req, out)
}

func (c *Customer) send(req *http.Request, out any) error {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "MobilePay simulator: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	msg := strings.TrimSpace(string(b))
	switch resp.StatusCode {
	case http.StatusOK:
		if out != nil {
			return json.Unmarshal(b, out)
		}
		return nil
	case http.StatusNotFound:
		return kvitt.Errorf(kvitt.ENOTFOUND, "MobilePay simulator: %s", msg)
	case http.StatusConflict:
		return kvitt.Errorf(kvitt.ECONFLICT, "MobilePay simulator: %s", msg)
	default:
		return kvitt.Errorf(kvitt.EINVALID, "MobilePay simulator: %s", msg)
	}
}
