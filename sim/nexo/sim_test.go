package simnexo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func at(s string) time.Time      { t, _ := time.Parse(time.RFC3339, s); return t }
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, opts Options) (*Terminal, *http.Client) {
	t.Helper()
	term, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: term.CertPool()}}
	t.Cleanup(tr.CloseIdleConnections)
	return term, &http.Client{Transport: tr}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

// post sends a fixture request and returns the status and the decoded answer.
func post(t *testing.T, hc *http.Client, term *Terminal, body []byte) (int, any) {
	t.Helper()
	res, err := hc.Post(term.URL(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if len(bytes.TrimSpace(b)) == 0 {
		return res.StatusCode, nil
	}
	if res.StatusCode != 200 {
		t.Fatalf("HTTP %d: %s", res.StatusCode, b)
	}
	return res.StatusCode, decode(t, b)
}

// subset checks that every field of want is in got with the same value
// (numbers compared by their exact text), so a misspelt or missing field
// on the simulator's side fails.
func subset(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: want object, got %#v", path, got)
			return
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s.%s: missing", path, k)
				continue
			}
			subset(t, path+"."+k, v, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: want %v, got %v", path, w, got)
			return
		}
		for i := range w {
			subset(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
		}
	default:
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: want %#v, got %#v", path, want, got)
		}
	}
}

func answer(t *testing.T, hc *http.Client, term *Terminal, body []byte) <-chan any {
	ch := make(chan any, 1)
	go func() {
		res, err := hc.Post(term.URL(), "application/json", bytes.NewReader(body))
		if err != nil {
			ch <- err
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			ch <- fmt.Errorf("%v: %s", err, b)
			return
		}
		ch <- v
	}()
	return ch
}

func recv(t *testing.T, ch <-chan any) any {
	t.Helper()
	v := <-ch
	if err, ok := v.(error); ok {
		t.Fatal(err)
	}
	return v
}

// TestFixturesApproved pins the simulator's side of the wire with the same
// literal fixtures package nexo is pinned with.
func TestFixturesApproved(t *testing.T) {
	clk := &clock{t: at("2026-11-23T12:00:00Z")}
	term, hc := start(t, Options{Now: clk.Now})
	ctx := ctxT(t)

	_, got := post(t, hc, term, fixture(t, "login_request.json"))
	subset(t, "login", decode(t, fixture(t, "login_response.json")), got)

	clk.Set(at("2026-11-23T12:00:05Z"))
	ch := answer(t, hc, term, fixture(t, "payment_request.json"))
	if err := term.WaitFor(ctx, "A1B2C3D4E5"); err != nil {
		t.Fatal(err)
	}
	if s := term.Screen(); s.Amount != "125.00 SEK" || s.Stage != StageCard {
		t.Errorf("screen %+v", s)
	}
	// A TransactionStatus while the card is awaited: InProgress.
	_, got = post(t, hc, term, fixture(t, "transaction_status_request.json"))
	subset(t, "status", decode(t, fixture(t, "transaction_status_response_in_progress.json")), got)

	if err := term.PresentCard(Approve); err != nil {
		t.Fatal(err)
	}
	subset(t, "payment", decode(t, fixture(t, "payment_response_approved.json")), recv(t, ch))

	_, got = post(t, hc, term, fixture(t, "transaction_status_request.json"))
	subset(t, "status", decode(t, fixture(t, "transaction_status_response_processed.json")), got)

	_, got = post(t, hc, term, fixture(t, "reversal_request.json"))
	subset(t, "reversal", decode(t, fixture(t, "reversal_response.json")), got)
	l := term.Ledger()
	if len(l) != 2 || l[0].Amount != 12500 || !l[0].Reversed || l[1].Kind != "reversal" {
		t.Errorf("ledger %+v", l)
	}
	// A second reversal of the same transaction is refused.
	_, got = post(t, hc, term, fixture(t, "reversal_request.json"))
	subset(t, "reversal", map[string]any{"SaleToPOIResponse": map[string]any{"ReversalResponse": map[string]any{
		"Response": map[string]any{"Result": "Failure", "ErrorCondition": "NotAllowed"}}}}, got)
}

func TestFixturesFailures(t *testing.T) {
	clk := &clock{t: at("2026-11-23T12:00:05Z")}
	term, hc := start(t, Options{Now: clk.Now})
	ctx := ctxT(t)

	// Not logged in: the payment is refused unprocessed and not recorded.
	_, got := post(t, hc, term, fixture(t, "payment_request.json"))
	subset(t, "payment", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"Response": map[string]any{"Result": "Failure", "ErrorCondition": "LoggedOut"}}}}, got)
	_, got = post(t, hc, term, fixture(t, "transaction_status_request.json"))
	subset(t, "status", decode(t, fixture(t, "transaction_status_response_not_found.json")), got)

	post(t, hc, term, fixture(t, "login_request.json"))
	ch := answer(t, hc, term, fixture(t, "payment_request.json"))
	if err := term.WaitFor(ctx, "A1B2C3D4E5"); err != nil {
		t.Fatal(err)
	}
	// A second payment while one runs: Busy.
	_, got = post(t, hc, term, fixture(t, "refund_request.json"))
	subset(t, "busy", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"Response": map[string]any{"Result": "Failure", "ErrorCondition": "Busy"}}}}, got)

	if err := term.PresentCard(InsufficientFunds); err != nil {
		t.Fatal(err)
	}
	subset(t, "payment", decode(t, fixture(t, "payment_response_insufficient_funds.json")), recv(t, ch))
	if len(term.Ledger()) != 0 {
		t.Errorf("ledger %+v", term.Ledger())
	}
}

func TestFixturesAbortAndRefund(t *testing.T) {
	term, hc := start(t, Options{})
	ctx := ctxT(t)
	post(t, hc, term, fixture(t, "login_request.json"))

	ch := answer(t, hc, term, fixture(t, "payment_request.json"))
	if err := term.WaitFor(ctx, "A1B2C3D4E5"); err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, hc, term, fixture(t, "abort_request.json")); code != http.StatusNoContent || body != nil {
		t.Errorf("abort answered %d %v", code, body)
	}
	subset(t, "aborted", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"Response": map[string]any{"Result": "Failure", "ErrorCondition": "Aborted"}}}}, recv(t, ch))

	ch = answer(t, hc, term, fixture(t, "refund_request.json"))
	if err := term.WaitFor(ctx, "R1R2R3R4R5"); err != nil {
		t.Fatal(err)
	}
	if !term.Screen().Refund {
		t.Error("screen does not say refund")
	}
	term.PresentCard(Approve)
	subset(t, "refund", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"Response":      map[string]any{"Result": "Success"},
		"PaymentResult": map[string]any{"PaymentType": "Refund", "AmountsResp": map[string]any{"AuthorizedAmount": json.Number("50.00"), "Currency": "SEK"}},
	}}}, recv(t, ch))
	if l := term.Ledger(); len(l) != 1 || l[0].Kind != "refund" || l[0].Amount != 5000 {
		t.Errorf("ledger %+v", l)
	}
}

func TestRefusesBadMessages(t *testing.T) {
	term, hc := start(t, Options{})
	post(t, hc, term, fixture(t, "login_request.json"))
	tests := []struct{ name, from, to string }{
		{"float amount with too many decimals", `"RequestedAmount": 125.00`, `"RequestedAmount": 125.001`},
		{"amount as string", `"RequestedAmount": 125.00`, `"RequestedAmount": "125.00"`},
		{"ServiceID too long", `"ServiceID": "A1B2C3D4E5"`, `"ServiceID": "A1B2C3D4E5X"`},
		{"other terminal", `"POIID": "KVITTSIM-0001"`, `"POIID": "OTHER"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(string(fixture(t, "payment_request.json")), tc.from, tc.to, 1)
			if body == string(fixture(t, "payment_request.json")) {
				t.Fatal("replacement did not apply")
			}
			res, err := hc.Post(term.URL(), "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && !strings.Contains(string(b), `"MessageFormat"`) {
				t.Errorf("accepted: %d %s", res.StatusCode, b)
			}
		})
	}
	if s := term.Screen(); s.Stage != StageIdle {
		t.Errorf("a bad message started a transaction: %+v", s)
	}
}

func TestTipEntry(t *testing.T) {
	term, hc := start(t, Options{Tip: true})
	ctx := ctxT(t)
	post(t, hc, term, fixture(t, "login_request.json"))
	ch := answer(t, hc, term, fixture(t, "payment_request.json"))
	if err := term.WaitFor(ctx, "A1B2C3D4E5"); err != nil {
		t.Fatal(err)
	}
	if s := term.Screen(); s.Stage != StageTip || !strings.Contains(s.Message, "Extra") {
		t.Fatalf("screen %+v", s)
	}
	low := int64(10000)
	if err := term.EnterTotal(&low); err != ErrTotalBelowAmount {
		t.Fatalf("total below amount: %v", err)
	}
	if term.Screen().Stage != StageTip {
		t.Fatal("left the tip screen after a refused total")
	}
	// Through the customer's HTTP endpoint, as the screen's form does.
	res, err := hc.PostForm(strings.Replace(term.URL(), "/nexo", "/customer/total", 1), url.Values{"total": {"150,00"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if s := term.Screen(); s.Stage != StageCard {
		t.Fatalf("screen %+v", s)
	}
	term.PresentCard(Approve)
	subset(t, "tip", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"PaymentResult": map[string]any{"AmountsResp": map[string]any{"AuthorizedAmount": json.Number("150.00"), "TipAmount": json.Number("25.00")}},
	}}}, recv(t, ch))
}

func TestScreenAndCustomer(t *testing.T) {
	term, hc := start(t, Options{Tip: true})
	ctx := ctxT(t)
	post(t, hc, term, fixture(t, "login_request.json"))
	ch := answer(t, hc, term, fixture(t, "payment_request.json"))
	if err := term.WaitFor(ctx, "A1B2C3D4E5"); err != nil {
		t.Fatal(err)
	}
	res, err := hc.Get(term.ScreenURL())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"125.00 SEK", "Enter total (amount", `action="customer/total"`, `value="approve"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("screen lacks %q", want)
		}
	}
	p := &kvitt.Payment{Reference: "A1B2C3D4E5", Amount: 12500, Currency: kvitt.SEK}
	if err := term.Customer().Act(ctx, nil, p, kvitt.CustomerApprove, kvitt.CustomerOptions{Tip: 1000}); err != nil {
		t.Fatal(err)
	}
	subset(t, "tip", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"PaymentResult": map[string]any{"AmountsResp": map[string]any{"AuthorizedAmount": json.Number("135.00"), "TipAmount": json.Number("10.00")}},
	}}}, recv(t, ch))
	res, _ = hc.Get(term.ScreenURL())
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "Approved 135.00 SEK") {
		t.Errorf("screen after approval: %s", page)
	}
}

func TestMain_(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--ca-out", filepath.Join(dir, "ca.pem"), "--tip"}, &out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "screen:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "/nexo") {
		t.Errorf("output: %s", out.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ca.pem")); err != nil || !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("CA file: %v %s", err, b)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
