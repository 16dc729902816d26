package nexo_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/nexo"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeAny(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// setServiceID overwrites the header's ServiceID (random for Login, Abort,
// TransactionStatus and Reversal) so a request compares with its fixture.
func setServiceID(m map[string]any, id string) {
	for _, top := range []string{"SaleToPOIRequest", "SaleToPOIResponse"} {
		if o, ok := m[top].(map[string]any); ok {
			o["MessageHeader"].(map[string]any)["ServiceID"] = id
		}
	}
}

func header(m map[string]any) map[string]any {
	return m["SaleToPOIRequest"].(map[string]any)["MessageHeader"].(map[string]any)
}

// fakeTerminal answers with the literal fixtures and records every request.
type fakeTerminal struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	requests []map[string]any
	answers  map[string]string // MessageCategory (or "Refund") → fixture
	edit     func(category string, answer map[string]any)
}

func newFake(t *testing.T) *fakeTerminal {
	f := &fakeTerminal{t: t, answers: map[string]string{
		"Login":             "login_response.json",
		"Payment":           "payment_response_approved.json",
		"TransactionStatus": "transaction_status_response_processed.json",
		"Reversal":          "reversal_response.json",
	}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := decodeAny(t, b)
		h := header(req)
		cat := h["MessageCategory"].(string)
		f.mu.Lock()
		f.requests = append(f.requests, req)
		name, edit := f.answers[cat], f.edit
		f.mu.Unlock()
		if cat == "Abort" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ans := decodeAny(t, fixture(t, name))
		setServiceID(ans, h["ServiceID"].(string))
		if edit != nil {
			edit(cat, ans)
		}
		json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTerminal) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.srv.Certificate())
	return p
}

func (f *fakeTerminal) take() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

// sameAs compares a recorded request with a fixture, numbers by their exact text.
func sameAs(t *testing.T, got map[string]any, name string, serviceID bool) {
	t.Helper()
	want := decodeAny(t, fixture(t, name))
	if serviceID {
		setServiceID(got, header(want)["ServiceID"].(string))
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("request differs from %s:\ngot  %s\nwant %s", name, g, w)
	}
}

var fixedNow = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

func fakeSetup(t *testing.T) (*fakeTerminal, *nexo.Card, *kvitt.Till, *kvitt.Payment) {
	f := newFake(t)
	card := nexo.New(nexo.Config{RootCAs: f.pool(), Now: fixedNow, CancelWait: 10 * time.Second})
	till := &kvitt.Till{ID: "1", Terminal: &kvitt.Terminal{POIID: "KVITTSIM-0001", URL: f.srv.URL + "/nexo"}}
	p := &kvitt.Payment{ID: "pay_01", Amount: 12500, Currency: kvitt.SEK, Reference: "A1B2C3D4E5", Created: fixedNow()}
	return f, card, till, p
}

// TestWireFixtures pins what the adapter sends and how it reads the
// answers to the literal fixtures the simulator is pinned with too.
func TestWireFixtures(t *testing.T) {
	f, card, till, p := fakeSetup(t)
	ctx := context.Background()

	u, err := card.Start(ctx, till, p)
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.take()
	if len(reqs) != 2 {
		t.Fatalf("want Login + Payment, got %d requests", len(reqs))
	}
	sameAs(t, reqs[0], "login_request.json", true)
	sameAs(t, reqs[1], "payment_request.json", false)
	wantCard := &kvitt.CardData{
		MaskedPAN: "************9999", Brand: "MasterCard", ApplicationLabel: "MASTERCARD", AID: "A0000000041010",
		EntryMode: "Contactless", Verification: "PIN", AuthCode: "100001", TerminalID: "KVITTSIM-0001",
		TransactionRef: "SIM00000001", ResultText: "Godkänd",
	}
	if u.State != kvitt.PaymentPaid || u.Tip != 0 || !reflect.DeepEqual(u.Card, wantCard) {
		t.Errorf("update %+v card %+v", u, u.Card)
	}
	if u.Provider["poi_transaction_id"] != "SIM00000001" || u.Provider["poi_timestamp"] != "2026-11-23T12:00:05.000Z" {
		t.Errorf("provider %v", u.Provider)
	}

	s, err := card.Status(ctx, till, p)
	if err != nil {
		t.Fatal(err)
	}
	reqs = f.take()
	sameAs(t, reqs[0], "transaction_status_request.json", true)
	if !reflect.DeepEqual(s, u) {
		t.Errorf("Status %+v differs from Start %+v", s, u)
	}

	c, err := card.Cancel(ctx, till, p)
	if err != nil {
		t.Fatal(err)
	}
	reqs = f.take()
	sameAs(t, reqs[0], "abort_request.json", true)
	if c.State != kvitt.PaymentPaid {
		t.Errorf("cancel after approval: %+v", c)
	}

	rr, err := card.Client().Reversal(ctx, nexo.Endpoint{URL: till.Terminal.URL, POIID: "KVITTSIM-0001", SaleID: "kvitt-1"},
		&nexo.ReversalRequest{
			OriginalPOITransaction: nexo.OriginalPOITransaction{SaleID: "kvitt-1", POIID: "KVITTSIM-0001",
				POITransactionID: nexo.TransactionID{TransactionID: "SIM00000001", TimeStamp: "2026-11-23T12:00:05.000Z"}},
			ReversalReason: "MerchantCancel",
		})
	if err != nil {
		t.Fatal(err)
	}
	sameAs(t, f.take()[0], "reversal_request.json", true)
	if amt, err := nexo.ParseAmount(rr.ReversedAmount, kvitt.SEK); err != nil || amt != 12500 {
		t.Errorf("ReversedAmount %v %v", amt, err)
	}

	r := &kvitt.Refund{ID: "ref_01", Amount: 5000, Currency: kvitt.SEK, Reference: "R1R2R3R4R5", Created: fixedNow()}
	ru, err := card.Refund(ctx, till, p, r)
	if err != nil {
		t.Fatal(err)
	}
	sameAs(t, f.take()[0], "refund_request.json", false)
	// The fake answers 125.00 to a refund of 50.00: kvitt must not call that a success.
	if ru.State != kvitt.RefundUnknown || ru.ErrorCode != "AmountMismatch" {
		t.Errorf("refund %+v", ru)
	}
}

// TestResponseFixturesStrict decodes every answer fixture with unknown
// fields refused and re-encodes it unchanged: no field is misspelt or lost.
func TestResponseFixturesStrict(t *testing.T) {
	for _, name := range []string{
		"login_response.json", "payment_response_approved.json", "payment_response_insufficient_funds.json",
		"transaction_status_response_processed.json", "transaction_status_response_in_progress.json",
		"transaction_status_response_not_found.json", "reversal_response.json",
		"login_request.json", "payment_request.json", "refund_request.json", "abort_request.json",
		"transaction_status_request.json", "reversal_request.json",
	} {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var m nexo.Message
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := decodeAny(t, out), decodeAny(t, b); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs:\n%s\n%s", out, b)
			}
		})
	}
}

func TestStatusAnswers(t *testing.T) {
	tests := []struct {
		fixture string
		state   kvitt.PaymentState
		retry   bool
		message string
	}{
		{"transaction_status_response_in_progress.json", kvitt.PaymentPending, true, "still working"},
		{"transaction_status_response_not_found.json", kvitt.PaymentFailed, false, "never received"},
		{"transaction_status_response_processed.json", kvitt.PaymentPaid, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			f, card, till, p := fakeSetup(t)
			f.answers["TransactionStatus"] = tc.fixture
			u, err := card.Status(context.Background(), till, p)
			if err != nil {
				t.Fatal(err)
			}
			if u.State != tc.state || (u.Retry > 0) != tc.retry || !strings.Contains(u.Message, tc.message) {
				t.Errorf("update %+v", u)
			}
			if u.State == kvitt.PaymentPending && !u.Deadline.Equal(p.Created.Add(160*time.Second)) {
				t.Errorf("deadline %v", u.Deadline)
			}
		})
	}
}

// TestPartialApprovalIsReversed: a terminal that approves less than asked
// gets its approval reversed and the payment fails.
func TestPartialApprovalIsReversed(t *testing.T) {
	f, card, till, p := fakeSetup(t)
	f.edit = func(cat string, m map[string]any) {
		if cat == "Payment" {
			pr := m["SaleToPOIResponse"].(map[string]any)["PaymentResponse"].(map[string]any)
			pr["PaymentResult"].(map[string]any)["AmountsResp"].(map[string]any)["AuthorizedAmount"] = json.Number("100.00")
		}
	}
	u, err := card.Start(context.Background(), till, p)
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.take()
	if len(reqs) != 3 {
		t.Fatalf("want Login, Payment, Reversal; got %d", len(reqs))
	}
	sameAs(t, reqs[2], "reversal_request.json", true)
	if u.State != kvitt.PaymentFailed || u.ErrorCode != "Reversed" || !strings.Contains(u.Message, "only 100.00 of 125.00") {
		t.Errorf("update %+v", u)
	}
}

func TestTransportErrorIsUnknown(t *testing.T) {
	f, card, till, p := fakeSetup(t)
	f.edit = func(cat string, _ map[string]any) {
		if cat == "Payment" {
			panic(http.ErrAbortHandler) // the connection drops after the request arrived
		}
	}
	_, err := card.Start(context.Background(), till, p)
	if !errors.Is(err, nexo.ErrTransport) {
		t.Fatalf("want ErrTransport, got %v", err)
	}
	if n := len(f.take()); n != 2 {
		t.Errorf("want Login + one Payment, got %d requests: never a second PaymentRequest", n)
	}
}

// TestConditionsGuard fails when an ErrorCondition has no state or message.
func TestConditionsGuard(t *testing.T) {
	for _, c := range nexo.ErrorConditions {
		o := nexo.Outcome(nexo.Response{Result: nexo.ResultFailure, ErrorCondition: c})
		if o.State == "" || o.Refund == "" || o.Message == "" || strings.Contains(o.Message, "refused the payment ("+c+")") {
			t.Errorf("%s: no mapping: %+v", c, o)
		}
		if !strings.HasSuffix(o.Message, ".") {
			t.Errorf("%s: message is not a sentence: %q", c, o.Message)
		}
	}
	for _, reason := range nexo.RefusalReasons() {
		o := nexo.Outcome(nexo.Response{Result: nexo.ResultFailure, ErrorCondition: "Refusal", AdditionalResponse: "refusalReason=" + reason})
		if o.Message == nexo.Outcome(nexo.Response{Result: nexo.ResultFailure, ErrorCondition: "Refusal"}).Message && reason != "Refused" {
			t.Errorf("%s: not refined", reason)
		}
	}
	o := nexo.Outcome(nexo.Response{Result: nexo.ResultFailure, ErrorCondition: "Refusal", AdditionalResponse: "refusalReason=Not enough balance"})
	if o.State != kvitt.PaymentDeclined || !strings.Contains(o.Message, "Insufficient funds") {
		t.Errorf("insufficient funds: %+v", o)
	}
}

func TestAmounts(t *testing.T) {
	for _, tc := range []struct {
		n    string
		c    kvitt.Currency
		want int64
		ok   bool
	}{
		{"125.00", kvitt.SEK, 12500, true},
		{"125.5", kvitt.SEK, 12550, true},
		{"0.1", kvitt.SEK, 10, true},
		{"125.001", kvitt.SEK, 0, false},
		{"1e2", kvitt.SEK, 0, false},
		{"125", kvitt.ISK, 125, true},
		{"125.5", kvitt.ISK, 0, false},
	} {
		got, err := nexo.ParseAmount(json.Number(tc.n), tc.c)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAmount(%s, %s) = %d, %v", tc.n, tc.c, got, err)
		}
	}
	if got := nexo.FormatAmount(12500, kvitt.SEK); got != "125.00" {
		t.Errorf("FormatAmount = %s", got)
	}
	if id := nexo.NewServiceID(); len(id) != 10 {
		t.Errorf("ServiceID %q", id)
	}
}
