package simmobilepay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// The front door fails what it is told to, once each, before or after the
// API carried the request out; everything else, and everything through the
// simulator's own URL, passes unchanged.
func TestFaultFront(t *testing.T) {
	r := newRaw(t, Options{})
	f, err := r.s.StartFaultFront()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.FailNext("nonsense", 500, false); err == nil {
		t.Error("failed an operation that does not exist")
	}
	if err := f.FailNext(OpCreate, 404, false); err == nil {
		t.Error("took a 404 as a server error")
	}
	front := func(method, path string, body []byte, key string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL()+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Ocp-Apim-Subscription-Key", r.s.SubscriptionKey())
		req.Header.Set("Merchant-Serial-Number", r.s.MSN())
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := r.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	create := func(ref string) []byte {
		return []byte(`{"amount":{"currency":"DKK","value":1000},"paymentMethod":{"type":"WALLET"},"reference":"` + ref +
			`","userFlow":"PUSH_MESSAGE","customer":{"phoneNumber":"4512345678"},"customerInteraction":"CUSTOMER_PRESENT"}`)
	}

	// Before: the gateway answers 503 and the API never sees the create.
	f.FailNext(OpCreate, http.StatusServiceUnavailable, false)
	code, body := front("POST", "/epayment/v1/payments", create("ref-gateway-1"), "k1")
	var p struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
	}
	if code != 503 || json.Unmarshal(body, &p) != nil || p.Status != 503 {
		t.Fatalf("create through a failing gateway: %d %s, want a 503 problem", code, body)
	}
	if n := r.s.PaymentCount(); n != 0 {
		t.Fatalf("a create the gateway refused made %d payments", n)
	}
	// After: the payment is made; the answer is a 500.
	f.FailNext(OpCreate, http.StatusInternalServerError, true)
	if code, body := front("POST", "/epayment/v1/payments", create("ref-after-1"), "k2"); code != 500 {
		t.Fatalf("create failed after the effect: %d %s, want 500", code, body)
	}
	if l := r.s.Ledger(); len(l) != 1 || l[0].Reference != "ref-after-1" || l[0].State != "CREATED" {
		t.Fatalf("ledger %+v, want the one payment created behind the 500", l)
	}
	// Sent again with its key: the first answer, once, and nothing new.
	if code, body := front("POST", "/epayment/v1/payments", create("ref-after-1"), "k2"); code != http.StatusCreated {
		t.Fatalf("the create again with its key: %d %s, want 201", code, body)
	}
	if n := r.s.PaymentCount(); n != 1 {
		t.Fatalf("%d payments after the create was sent again, want 1", n)
	}
	// The simulator's own URL never fails; a queued failure waits for the front.
	f.FailNext(OpGet, http.StatusBadGateway, false)
	if code, _ := r.do("GET", "/epayment/v1/payments/ref-after-1", nil, nil); code != 200 {
		t.Fatalf("GET through the simulator's own URL: %d", code)
	}
	if f.Pending() != 1 {
		t.Fatalf("%d failures pending, want the GET's", f.Pending())
	}
	if code, _ := front("GET", "/epayment/v1/payments/ref-after-1", nil, ""); code != http.StatusBadGateway {
		t.Fatalf("GET through the front: %d, want 502", code)
	}
	if code, _ := front("GET", "/epayment/v1/payments/ref-after-1", nil, ""); code != 200 {
		t.Fatalf("the next GET through the front: %d, want 200", code)
	}
	if f.Failed(OpCreate) != 2 || f.Failed(OpGet) != 1 || f.Pending() != 0 {
		t.Fatalf("failed %d creates and %d reads, %d pending", f.Failed(OpCreate), f.Failed(OpGet), f.Pending())
	}
}
