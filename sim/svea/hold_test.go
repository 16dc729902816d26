package simsvea

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A held request waits until released: "process" handles it as if it had
// just arrived (its client gone or not), "drop" closes the connection with
// nothing done. The ledger counts what arrived and what it did, per
// merchant order number.
func TestHoldReleaseDropAndLedger(t *testing.T) {
	s, err := New(Options{StatusInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	create := func(mon string) []byte {
		b := bytes.Replace(fixture(t, "create_request.json"), []byte("100234-20240305140709123"), []byte(mon), 1)
		return bytes.Replace(b, []byte("https://kvitt.example"), []byte("https://127.0.0.1:1"), 1) // callbacks lost
	}
	// send posts in the background and reports the status, or 0 if the connection was dropped.
	send := func(method, path string, body []byte) <-chan int {
		out := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
			req.SetBasicAuth(s.MerchantID(), s.Password())
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.HTTPClient().Do(req)
			if err != nil {
				out <- 0
				return
			}
			resp.Body.Close()
			out <- resp.StatusCode
		}()
		return out
	}
	hook := func(method, path string, want int) string {
		t.Helper()
		st, body := call(t, s, method, path, nil, "", "")
		if st != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, st, body, want)
		}
		return body
	}
	wait := func(op string, n int) []HeldRequest {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h, err := s.WaitHeld(ctx, op, n)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if err := s.Hold("nonsense"); err == nil {
		t.Error("held an operation that does not exist")
	}
	hook("POST", "/sim/hold/nonsense", 400)

	// Two creates held: one dropped (never arrived), one processed.
	hook("POST", "/sim/hold/create", 204)
	hook("POST", "/sim/hold/create", 204)
	dropped := send("POST", "/api/v1/orders", create("7001-1"))
	processed := send("POST", "/api/v1/orders", create("7002-1"))
	// The test's way to wait: GET /sim/held?op=…&n=…&wait=….
	var held []HeldRequest
	if err := json.Unmarshal([]byte(hook("GET", "/sim/held?op=create&n=2&wait=10s", 200)), &held); err != nil || len(held) != 2 {
		t.Fatalf("held %+v %v", held, err)
	}
	mons := map[string]bool{held[0].MerchantOrderNumber: true, held[1].MerchantOrderNumber: true}
	if !mons["7001-1"] || !mons["7002-1"] || held[0].Op != "create" || held[0].ID == held[1].ID {
		t.Fatalf("held %+v: want both creates, named by their merchant order numbers", held)
	}
	if st, body := call(t, s, "GET", "/sim/held?op=return&wait=50ms", nil, "", ""); st != http.StatusRequestTimeout || !strings.HasPrefix(body, "[") {
		t.Fatalf("waiting for a return nobody sent: %d %s", st, body)
	}
	if o := s.Ledger().Orders; len(o) != 0 {
		t.Fatalf("held requests are in the ledger before they arrive: %+v", o)
	}
	hook("POST", "/sim/drop/create?merchant_order_number=7001-1", 204)
	if code := <-dropped; code != 0 {
		t.Errorf("a dropped create was answered %d", code)
	}
	hook("POST", "/sim/held/create/process?merchant_order_number=7002-1", 204)
	if code := <-processed; code != http.StatusOK {
		t.Errorf("a processed create was answered %d", code)
	}
	hook("POST", "/sim/release/create", 409) // nothing held
	if err := s.Release("create", "", true); err == nil {
		t.Error("released a request that is not held")
	}

	// A duplicate create arrives and is refused; it is counted.
	if code := <-send("POST", "/api/v1/orders", create("7002-1")); code != http.StatusBadRequest {
		t.Fatalf("duplicate create: %d", code)
	}

	// A status held, its client gone before it is processed: it still
	// takes effect. A status within the interval is counted as refused.
	s.Hold("status")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v1/orders/7002-1/status", nil)
	req.SetBasicAuth(s.MerchantID(), s.Password())
	gone := make(chan error, 1)
	go func() {
		resp, err := s.HTTPClient().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		gone <- err
	}()
	if h := wait("status", 1); h[0].MerchantOrderNumber != "7002-1" {
		t.Fatalf("held %+v", h)
	}
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("the client was not cut off")
	}
	if err := s.Release("status", "7002-1", true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, calls, _ := s.Status("7002-1"); calls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held status call never took effect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code := <-send("GET", "/api/v1/orders/7002-1/status", nil); code != http.StatusForbidden {
		t.Fatalf("status within the interval: %d", code)
	}

	// The customer pays; a return held and processed, one dropped, one
	// refused (more than is left).
	if err := s.Complete("7002-1"); err != nil {
		t.Fatal(err)
	}
	ret := func(amount int) []byte {
		return []byte(`{"returnedItems":[{"name":"Stol","quantity":100,"unitPrice":` + itoa(amount) + `,"vatPercent":2500,"unit":"st","rowNumber":1}]}`)
	}
	s.Hold("return")
	s.Hold("return")
	r1 := send("POST", "/api/v1/orders/7002-1/return", ret(10000))
	wait("return", 1)
	r2 := send("POST", "/api/v1/orders/7002-1/return", ret(5000))
	h := wait("return", 2)
	hook("POST", "/sim/drop/return?id="+itoa(h[1].ID), 204)
	hook("POST", "/sim/release/return?id="+itoa(h[0].ID), 204)
	if c1, c2 := <-r1, <-r2; c1 != 200 || c2 != 0 {
		t.Fatalf("returns answered %d and %d; want 200 and dropped", c1, c2)
	}
	if code := <-send("POST", "/api/v1/orders/7002-1/return", ret(1_000_000)); code != http.StatusForbidden {
		t.Fatalf("a return of more than is left: %d", code)
	}
	if code := <-send("POST", "/api/v1/orders/7001-1/cancel", nil); code != http.StatusNotFound {
		t.Fatalf("cancel of the dropped order: %d", code)
	}

	var l InstoreLedger
	if err := json.Unmarshal([]byte(hook("GET", "/sim/ledger", 200)), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Orders) != 2 || len(l.Held) != 0 || l.StatusTooSoon != 1 || l.Orders[1].Callbacks != 1 || l.Orders[1].CallbacksDelivered != 0 {
		t.Fatalf("ledger %+v", l)
	}
	never, o := l.Orders[0], l.Orders[1]
	if never.MerchantOrderNumber != "7001-1" || never.Status != "" || never.Creates != 0 || never.Cancels != 1 || never.CancelsOK != 0 {
		t.Errorf("the dropped create: %+v; want no order, no create arrived, one cancel refused", never)
	}
	if o.MerchantOrderNumber != "7002-1" || o.Status != "Completed" || o.Creates != 2 || o.CreatesOK != 1 ||
		o.StatusCalls != 2 || o.StatusRefused != 1 || o.Returns != 2 || o.ReturnsOK != 1 || o.Returned != 10000 ||
		o.Total != 89820+9900 || !strings.HasPrefix(o.URL, s.URL()+"/checkout/") || o.PaymentOrderID == 0 {
		t.Errorf("the processed create: %+v; want completed, 2 creates (1 made it), 2 status calls (1 refused), 2 returns (1 carried out, 100 SEK)", o)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
