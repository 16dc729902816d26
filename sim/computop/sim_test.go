package simcomputop

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// post sends a request enciphered with the simulator's own code (the
// envelope is symmetric) and returns the deciphered answer.
func post(t *testing.T, s *Sim, path string, pairs [][2]string) fields {
	t.Helper()
	data, n := s.seal(pairs)
	form := url.Values{"MerchantID": {s.opts.MerchantID}, "Len": {strconv.Itoa(n)}, "Data": {data}}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.ClientTLS()}}
	resp, err := hc.PostForm(s.URL()+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.WriteString(string(buf[:k]))
		if err != nil {
			break
		}
	}
	q, _ := url.ParseQuery(b.String())
	f, err := s.open(q.Get("Data"), q.Get("Len"))
	if err != nil {
		t.Fatalf("answer %q: %v", b.String(), err)
	}
	return f
}

// Notifications are retried on failure with gaps of n³ units, and stop at
// the first 2xx.
func TestNotificationRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded; charset=iso-8859-1" || r.FormValue("Data") == "" {
			t.Errorf("notification %v", r.Header)
		}
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	s, err := New(Options{NotifyTLS: srv.Client().Transport.(*http.Transport).TLSClientConfig, AllowAnyNotifyPort: true, RetryUnit: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	amount, cur, trans := "10000", "SEK", "T1"
	a := post(t, s, "swish.aspx", [][2]string{{"MerchantID", s.opts.MerchantID}, {"TransID", trans}, {"Amount", amount}, {"Currency", cur},
		{"MAC", s.mac("", trans, s.opts.MerchantID, amount, cur)}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}, {"URLNotify", srv.URL + "/n"}})
	if a["status"] != "AUTHORIZE_REQUEST" || a["tokenext"] == "" || a["code"] != CodeOK {
		t.Fatalf("answer %v", a)
	}
	if err := s.Customer().Do(context.Background(), trans, "approve"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	notes := s.Notifications()
	if len(notes) != 3 || notes[0].StatusCode != 500 || notes[2].StatusCode != 200 || notes[2].Attempt != 2 {
		t.Fatalf("notifications %+v", notes)
	}
	if err := s.Customer().Do(context.Background(), trans, "decline"); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("second action: %v", err)
	}
	if err := s.Customer().Do(context.Background(), "nope", "approve"); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("unknown TransID: %v", err)
	}
	// A wrong MAC and a bad format are refused with A4-shaped codes.
	a = post(t, s, "swish.aspx", [][2]string{{"MerchantID", s.opts.MerchantID}, {"TransID", "T2"}, {"Amount", amount}, {"Currency", cur},
		{"MAC", strings.Repeat("0", 64)}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}})
	if a["status"] != "FAILED" || a["code"] != CodeMAC {
		t.Errorf("wrong MAC: %v", a)
	}
	a = post(t, s, "swish.aspx", [][2]string{{"MerchantID", s.opts.MerchantID}, {"TransID", "T3"}, {"Amount", amount}, {"Currency", cur},
		{"MAC", s.mac("", "T3", s.opts.MerchantID, amount, cur)}, {"OrderDesc", "Kvitto 1"}, {"Channel", "App"}})
	if a["status"] != "FAILED" || !strings.HasPrefix(a["code"], "2011") {
		t.Errorf("format error: %v", a)
	}
	a = post(t, s, "inquire24.aspx", [][2]string{{"MerchantID", s.opts.MerchantID}, {"TransID", "T9"}})
	if a["status"] != "FAILED" || a["code"] != CodeUnknown {
		t.Errorf("unknown TransID: %v", a)
	}
	if s.PaymentCount() != 1 {
		t.Errorf("%d payments", s.PaymentCount())
	}
}

func TestMainRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	done := make(chan error)
	go func() { done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--certs", t.TempDir()}, &out) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "swish.aspx") {
		t.Errorf("output %q", out.String())
	}
}
