package simswish

import (
	"strings"
	"testing"
	"time"
)

// HoldCreates: a held create is unknown to Swish (GET and PATCH 404) until
// released, then served as usual.
func TestHoldCreates(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	arrived, release := s.HoldCreates()
	answered := make(chan int, 1)
	go func() {
		resp, _ := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json"))
		answered <- resp.StatusCode
	}()
	select {
	case id := <-arrived:
		if id != uuid1 {
			t.Fatalf("held %s, want %s", id, uuid1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the create was not held")
	}
	if resp, _ := m.do(t, "GET", "v1/paymentrequests/"+uuid1, "", nil); resp.StatusCode != 404 {
		t.Errorf("GET of a held create: %d, want 404", resp.StatusCode)
	}
	if resp, _ := m.do(t, "PATCH", "v1/paymentrequests/"+uuid1, "application/json-patch+json", fixture(t, "cancel_patch.json")); resp.StatusCode != 404 {
		t.Errorf("PATCH of a held create: %d, want 404", resp.StatusCode)
	}
	release()
	if code := <-answered; code != 201 {
		t.Fatalf("released create: %d, want 201", code)
	}
	if st, _, _ := s.PaymentStatus(uuid1); st != "CREATED" {
		t.Errorf("status %s, want CREATED", st)
	}
}

// LatePay: an ended request becomes PAID and is called back again; an open
// or paid one is refused.
func TestLatePay(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json"))
	if _, err := s.LatePay(uuid1); err == nil {
		t.Errorf("LatePay of a CREATED request succeeded")
	}
	if resp, _ := m.do(t, "PATCH", "v1/paymentrequests/"+uuid1, "application/json-patch+json", fixture(t, "cancel_patch.json")); resp.StatusCode != 200 {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	if _, err := s.LatePay(uuid1); err != nil {
		t.Fatal(err)
	}
	_, b := m.do(t, "GET", "v1/paymentrequests/"+uuid1, "", nil)
	sameShape(t, b, fixture(t, "payment_paid.json"))
	if !strings.Contains(string(b), `"status":"PAID"`) || strings.Contains(string(b), `"paymentReference":null`) {
		t.Errorf("after LatePay: %s", b)
	}
	if cbs := s.Callbacks(); len(cbs) != 2 || !strings.Contains(string(cbs[1].Body), `"PAID"`) {
		t.Errorf("callbacks %+v, want the cancel's and the late PAID", cbs)
	}
	if _, err := s.LatePay(uuid1); err == nil {
		t.Errorf("LatePay of a PAID request succeeded")
	}
}
