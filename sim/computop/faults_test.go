package simcomputop

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The front door fails what it is told to, once each, before or after the
// Paygate carried the request out; everything else, and everything through
// the simulator's own URL, passes unchanged. LatePay turns a failed payment
// into a paid one and notifies again.
func TestFaultFrontAndLatePay(t *testing.T) {
	var notes atomic.Int32
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { notes.Add(1) }))
	defer hook.Close()
	s, err := New(Options{NotifyTLS: hook.Client().Transport.(*http.Transport).TLSClientConfig, AllowAnyNotifyPort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := s.StartFaultFront()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.FailNext("other.aspx", 500, false); err == nil {
		t.Error("failed an endpoint that does not exist")
	}
	if err := f.FailNext("swish.aspx", 400, false); err == nil {
		t.Error("took a 400 as a server error")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.ClientTLS()}}
	swish := func(base, trans string) (int, string) {
		t.Helper()
		amount, cur := "10000", "SEK"
		data, n := s.seal([][2]string{{"MerchantID", s.opts.MerchantID}, {"TransID", trans}, {"Amount", amount}, {"Currency", cur},
			{"MAC", s.mac("", trans, s.opts.MerchantID, amount, cur)}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}, {"ReqID", "R" + trans},
			{"URLNotify", hook.URL + "/n"}})
		resp, err := hc.PostForm(base+"swish.aspx", url.Values{"MerchantID": {s.opts.MerchantID}, "Len": {strconv.Itoa(n)}, "Data": {data}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Before: nothing reaches the Paygate.
	f.FailNext("swish.aspx", http.StatusServiceUnavailable, false)
	if code, body := swish(f.URL(), "T1"); code != 503 || strings.Contains(body, "Data=") {
		t.Fatalf("swish.aspx through a failing front: %d %s, want a 503 without Data", code, body)
	}
	if n := s.PaymentCount(); n != 0 {
		t.Fatalf("a request the front refused made %d payments", n)
	}
	// After: the payment is made; the answer is a 500.
	f.FailNext("/swish.aspx", http.StatusInternalServerError, true)
	if code, _ := swish(f.URL(), "T2"); code != 500 {
		t.Fatalf("swish.aspx failed after the effect: %d, want 500", code)
	}
	if st, _, _, _, ok := s.Payment("T2"); !ok || st != "AUTHORIZE_REQUEST" {
		t.Fatalf("payment T2: %q %v, want it at Swish behind the 500", st, ok)
	}
	// The simulator's own URL never fails; a queued failure waits for the front.
	f.FailNext("swish.aspx", http.StatusBadGateway, false)
	if code, body := swish(s.URL(), "T3"); code != 200 || !strings.Contains(body, "Data=") {
		t.Fatalf("swish.aspx through the simulator's own URL: %d %s", code, body)
	}
	if f.Pending() != 1 || f.Failed("swish.aspx") != 2 {
		t.Fatalf("%d failures pending, %d failed", f.Pending(), f.Failed("swish.aspx"))
	}

	// The customer's time runs out (TM01); then the Paygate says paid after all.
	if err := s.LatePay("T2"); err == nil {
		t.Fatal("LatePay on an open payment")
	}
	if err := s.Customer().Do(context.Background(), "T2", "timeout"); err != nil {
		t.Fatal(err)
	}
	if st, ext, _, _, _ := s.Payment("T2"); st != "FAILED" || ext != "TM01" {
		t.Fatalf("payment T2 %s %s, want FAILED TM01", st, ext)
	}
	if err := s.LatePay("T2"); err != nil {
		t.Fatal(err)
	}
	if st, ext, captured, _, _ := s.Payment("T2"); st != "OK" || ext != "" || captured != 10000 {
		t.Fatalf("payment T2 %s %q captured %d, want OK with 100 SEK captured", st, ext, captured)
	}
	deadline := time.Now().Add(5 * time.Second)
	for notes.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var statuses []string
	for _, n := range s.Notifications() {
		if n.TransID == "T2" {
			statuses = append(statuses, n.Status)
		}
	}
	if strings.Join(statuses, ",") != "FAILED,OK" {
		t.Fatalf("notifications of T2: %v, want FAILED then OK", statuses)
	}
	if err := s.LatePay("T2"); err == nil {
		t.Fatal("LatePay on a paid payment")
	}
}
