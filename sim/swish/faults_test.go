package simswish

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// The front door fails what it is told to, once each, before or after the
// API carried the request out; it asks for the merchant certificate as the
// API does; everything else, and everything through the simulator's own
// URL, passes unchanged.
func TestFaultFront(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	f, err := s.StartFaultFront()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.FailNext("nonsense", 500, false); err == nil {
		t.Error("failed an operation that does not exist")
	}
	if err := f.FailNext(OpCreate, 422, false); err == nil {
		t.Error("took a 422 as a server error")
	}
	front := func(c *http.Client, method, path string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL()+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := fixture(t, "create_instore.json")
	const uuid2 = "22A1B2C3D4E5F60718293A4B5C6D7E8F"

	// Without the merchant certificate the front refuses like the API.
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: s.PKI().ClientTLSConfig().Clone()}}
	anon.Transport.(*http.Transport).TLSClientConfig.Certificates = nil
	if code := front(anon, "PUT", "v2/paymentrequests/"+uuid1, body); code != http.StatusUnauthorized {
		t.Fatalf("create without a client certificate through the front: %d, want 401", code)
	}
	// Before: nothing reaches the API.
	f.FailNext(OpCreate, http.StatusServiceUnavailable, false)
	if code := front(m.c, "PUT", "v2/paymentrequests/"+uuid1, body); code != 503 {
		t.Fatalf("create through a failing gateway: %d, want 503", code)
	}
	if n := s.PaymentCount(); n != 0 {
		t.Fatalf("a create the gateway refused made %d payment requests", n)
	}
	// After: the payment request is made; the answer is a 500.
	f.FailNext(OpCreate, http.StatusInternalServerError, true)
	if code := front(m.c, "PUT", "v2/paymentrequests/"+uuid2, body); code != 500 {
		t.Fatalf("create failed after the effect: %d, want 500", code)
	}
	if st, _, ok := s.PaymentStatus(uuid2); !ok || st != "CREATED" {
		t.Fatalf("payment request %s: %q %v, want CREATED behind the 500", uuid2, st, ok)
	}
	// The simulator's own URL never fails; a queued failure waits for the front.
	f.FailNext(OpGet, http.StatusBadGateway, false)
	if resp, _ := m.do(t, "GET", "v1/paymentrequests/"+uuid2, "", nil); resp.StatusCode != 200 {
		t.Fatalf("GET through the simulator's own URL: %d", resp.StatusCode)
	}
	if code := front(m.c, "GET", "v1/paymentrequests/"+uuid2, nil); code != http.StatusBadGateway {
		t.Fatalf("GET through the front: %d, want 502", code)
	}
	if code := front(m.c, "GET", "v1/paymentrequests/"+uuid2, nil); code != 200 {
		t.Fatalf("the next GET through the front: %d, want 200", code)
	}
	l := s.Ledger()
	if len(l.PaymentRequests) != 1 || l.PaymentRequests[0].InstructionID != uuid2 || l.PaymentRequests[0].Creates != 1 {
		t.Fatalf("ledger %+v, want the one create that reached the API", l.PaymentRequests)
	}
	if f.Failed(OpCreate) != 2 || f.Failed(OpGet) != 1 || f.Pending() != 0 {
		t.Fatalf("failed %d creates and %d reads, %d pending", f.Failed(OpCreate), f.Failed(OpGet), f.Pending())
	}
}
