package simmobilepay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// A held request waits until released: "process" handles it as if it had
// just arrived, "drop" closes the connection with nothing done. The ledger
// counts what took effect.
func TestHoldReleaseAndLedger(t *testing.T) {
	r := newRaw(t, Options{})
	create := func(ref string) []byte {
		return []byte(`{"amount":{"currency":"DKK","value":1000},"paymentMethod":{"type":"WALLET"},"reference":"` + ref +
			`","userFlow":"PUSH_MESSAGE","customer":{"phoneNumber":"4512345678"},"customerInteraction":"CUSTOMER_PRESENT"}`)
	}
	// send posts in the background and reports the status, or 0 if the connection was dropped.
	send := func(path string, body []byte, key string) <-chan int {
		out := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("POST", r.s.URL()+path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+r.token)
			req.Header.Set("Ocp-Apim-Subscription-Key", r.s.SubscriptionKey())
			req.Header.Set("Merchant-Serial-Number", r.s.MSN())
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			resp, err := r.http.Do(req)
			if err != nil {
				out <- 0
				return
			}
			resp.Body.Close()
			out <- resp.StatusCode
		}()
		return out
	}
	waitHeld := func(n int) []HeldRequest {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if h := r.s.Held(); len(h) == n {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("held: %v, want %d", r.s.Held(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := r.s.Hold("nonsense"); err == nil {
		t.Error("held an operation that does not exist")
	}
	for _, op := range []string{"create", "create"} {
		if code, body := r.do("POST", "/sim/hold/"+op, nil, nil); code != http.StatusNoContent {
			t.Fatalf("hold: %d %s", code, body)
		}
	}
	dropped := send("/epayment/v1/payments", create("ref-dropped-1"), "k1")
	waitHeld(1)
	processed := send("/epayment/v1/payments", create("ref-processed-1"), "k2")
	waitHeld(2)
	if code, _ := r.do("POST", "/sim/held/create/drop", nil, nil); code != http.StatusNoContent {
		t.Fatal("release drop")
	}
	if code := <-dropped; code != 0 {
		t.Errorf("a dropped create was answered %d", code)
	}
	if err := r.s.Release("create", "", true); err != nil {
		t.Fatal(err)
	}
	if code := <-processed; code != http.StatusCreated {
		t.Errorf("a processed create was answered %d", code)
	}
	if err := r.s.Release("create", "", true); err == nil {
		t.Error("released a request that is not held")
	}
	// A capture held by reference; the next one is not held.
	if code, body := r.do("POST", "/sim/customer/payments/ref-processed-1/approve", nil, nil); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	r.s.Hold("capture")
	capt := []byte(`{"modificationAmount":{"currency":"DKK","value":1000}}`)
	first := send("/epayment/v1/payments/ref-processed-1/capture", capt, "c1")
	if h := waitHeld(1); h[0].Op != "capture" || h[0].Reference != "ref-processed-1" {
		t.Fatalf("held %+v", h)
	}
	if code, _ := r.do("POST", "/sim/held/capture/process?reference=ref-processed-1", nil, nil); code != http.StatusNoContent {
		t.Fatal("release by reference")
	}
	<-first
	if code, _ := r.do("POST", "/epayment/v1/payments/ref-processed-1/capture", capt, idem("c1")); code != http.StatusOK {
		t.Fatalf("capture repeated with its key: %d", code)
	}
	code, body := r.do("GET", "/sim/ledger", nil, nil)
	var l []LedgerPayment
	if err := json.Unmarshal(body, &l); err != nil || code != 200 {
		t.Fatalf("ledger: %d %s", code, body)
	}
	if len(l) != 1 || l[0].Reference != "ref-processed-1" || l[0].Captured != 1000 || l[0].Captures != 1 || l[0].Refunds != 0 || l[0].Amount != 1000 {
		t.Fatalf("ledger %+v, want the processed payment captured once", l)
	}
}
