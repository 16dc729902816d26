package simswish

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// hooks drives the HTTP test hooks as an e2e test does: over HTTPS with
// the simulator's CA, without a client certificate.
type hooks struct {
	t *testing.T
	s *Sim
	c *http.Client
}

func newHooks(t *testing.T, s *Sim) hooks {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.PKI().CAPEM)
	return hooks{t, s, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

func (h hooks) call(method, path string, out any) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.s.RootURL()+path, nil)
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (h hooks) ledger() Ledger {
	h.t.Helper()
	var l Ledger
	if st := h.call("GET", "sim/ledger", &l); st != 200 {
		h.t.Fatalf("ledger: %d", st)
	}
	return l
}

// putLater sends a create whose client gives up (as a killed kvitt) when
// cut is called; the channel gets the status, or 0 if no answer came.
func putLater(m merchant, path string, body []byte) (answered <-chan int, cut func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "PUT", m.s.URL()+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := m.c.Do(req)
		if err != nil {
			ch <- 0
			return
		}
		resp.Body.Close()
		ch <- resp.StatusCode
	}()
	return ch, cancel
}

func TestHoldHTTPCreateReleasedAfterClientGone(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m, h := newMerchant(s), newHooks(t, s)
	if st := h.call("POST", "sim/hold/create", nil); st != 204 {
		t.Fatalf("hold: %d", st)
	}
	answered, cut := putLater(m, "v2/paymentrequests/"+uuid1, fixture(t, "create_instore.json"))
	var held []HeldRequest
	if st := h.call("GET", "sim/held?op=create&wait=10s", &held); st != 200 || len(held) != 1 || held[0].InstructionID != uuid1 || held[0].Op != "create" {
		t.Fatalf("held: %d %+v", st, held)
	}
	// Swish knows nothing of it yet.
	if resp, _ := m.do(t, "GET", "v1/paymentrequests/"+uuid1, "", nil); resp.StatusCode != 404 {
		t.Fatalf("GET of a held create: %d", resp.StatusCode)
	}
	if l := h.ledger(); len(l.PaymentRequests) != 0 || len(l.Held) != 1 {
		t.Fatalf("ledger while held: %+v", l)
	}
	cut() // the client dies
	if code := <-answered; code != 0 {
		t.Fatalf("the cut client got %d", code)
	}
	if st := h.call("POST", "sim/release/create?instruction_id="+uuid1, nil); st != 204 {
		t.Fatalf("release: %d", st)
	}
	var l Ledger
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l = h.ledger(); len(l.PaymentRequests) == 1 && l.PaymentRequests[0].CreatesOK == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger after the release: %+v", l)
		}
	}
	p := l.PaymentRequests[0]
	if p.InstructionID != uuid1 || p.Status != "CREATED" || p.Creates != 1 || len(p.Arrivals) != 1 || len(l.Held) != 0 {
		t.Fatalf("ledger after the release: %+v", l)
	}
	// A replay of the same create: answered 201, still one request.
	if resp, _ := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json")); resp.StatusCode != 201 {
		t.Fatalf("replay: %d", resp.StatusCode)
	}
	if l = h.ledger(); len(l.PaymentRequests) != 1 || l.PaymentRequests[0].Creates != 2 || l.PaymentRequests[0].CreatesOK != 2 {
		t.Fatalf("ledger after a replay: %+v", l)
	}
}

func TestHoldHTTPCreateDropped(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m, h := newMerchant(s), newHooks(t, s)
	h.call("POST", "sim/hold/create", nil)
	answered, cut := putLater(m, "v2/paymentrequests/"+uuid1, fixture(t, "create_instore.json"))
	defer cut()
	var held []HeldRequest
	if st := h.call("GET", "sim/held?wait=10s", &held); st != 200 || len(held) != 1 {
		t.Fatalf("held: %d %+v", st, held)
	}
	if st := h.call("POST", "sim/drop/create?id="+itoa(held[0].ID), nil); st != 204 {
		t.Fatalf("drop: %d", st)
	}
	if code := <-answered; code != 0 {
		t.Fatalf("a dropped create was answered %d", code)
	}
	if l := h.ledger(); len(l.PaymentRequests) != 0 || len(l.Held) != 0 {
		t.Fatalf("ledger after the drop: %+v", l)
	}
	// Sent again, not held: it arrives once.
	if resp, _ := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json")); resp.StatusCode != 201 {
		t.Fatalf("again: %d", resp.StatusCode)
	}
	if l := h.ledger(); len(l.PaymentRequests) != 1 || l.PaymentRequests[0].Creates != 1 || l.PaymentRequests[0].CreatesOK != 1 {
		t.Fatalf("ledger: %+v", l)
	}
}

func TestHoldHTTPRefund(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m, h := newMerchant(s), newHooks(t, s)
	const uuid2, uuid3 = "22A1B2C3D4E5F60718293A4B5C6D7E8F", "33A1B2C3D4E5F60718293A4B5C6D7E8F"
	m.do(t, "PUT", "v2/paymentrequests/"+uuid2, "application/json", fixture(t, "create_ecommerce.json"))
	if err := s.Customer().Do(context.Background(), uuid2, "approve"); err != nil {
		t.Fatal(err)
	}
	_, b := m.do(t, "GET", "v1/paymentrequests/"+uuid2, "", nil)
	var paid struct{ PaymentReference string }
	json.Unmarshal(b, &paid)
	rbody := withField(t, fixture(t, "refund_create.json"), "originalPaymentReference", paid.PaymentReference)

	h.call("POST", "sim/hold/refund", nil)
	answered, cut := putLater(m, "v2/refunds/"+uuid3, rbody)
	var held []HeldRequest
	if st := h.call("GET", "sim/held?op=refund&n=1&wait=10s", &held); st != 200 || len(held) != 1 || held[0].InstructionID != uuid3 {
		t.Fatalf("held: %d %+v", st, held)
	}
	// A create is not held meanwhile.
	if st := h.call("POST", "sim/release/create", nil); st != 409 {
		t.Errorf("release of no held create: %d, want 409", st)
	}
	cut()
	<-answered
	h.call("POST", "sim/release/refund", nil)
	var l Ledger
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l = h.ledger(); len(l.Refunds) == 1 && l.Refunds[0].RefundsOK == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger after the release: %+v", l)
		}
	}
	if r := l.Refunds[0]; r.InstructionID != uuid3 || r.Status != "PAID" || r.Refunds != 1 || r.OriginalPaymentReference != paid.PaymentReference {
		t.Fatalf("refund in the ledger: %+v", r)
	}
	if p := l.PaymentRequests[0]; p.Status != "PAID" || p.Refunded == 0 {
		t.Fatalf("payment in the ledger: %+v", p)
	}
}

func TestHoldHTTPRefusals(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	h := newHooks(t, s)
	if st := h.call("POST", "sim/hold/status", nil); st != 400 {
		t.Errorf("hold of an unknown op: %d", st)
	}
	if st := h.call("POST", "sim/drop/refund", nil); st != 409 {
		t.Errorf("drop with nothing held: %d", st)
	}
	var held []HeldRequest
	if st := h.call("GET", "sim/held?op=create&wait=50ms", &held); st != 408 || len(held) != 0 {
		t.Errorf("wait for nothing: %d %+v", st, held)
	}
	if st := h.call("GET", "sim/held?wait=2m", nil); st != 400 {
		t.Errorf("wait too long: %d", st)
	}
	// The API itself still requires the merchant certificate.
	req, _ := http.NewRequest("GET", s.URL()+"v1/paymentrequests/"+uuid1, nil)
	if resp, err := h.c.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("API without a client certificate: %v %v", resp, err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
