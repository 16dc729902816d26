package svea

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// TestAdminToken pins the Authorization header against a digest computed
// outside Go (sha512sum and base64 of coreutils), with the constants of
// Svea's C# sample (merchant 123123, secret "sharedSecret") and the
// timestamp of Svea's authentication page:
//
//	printf '%s' '{"IsCancelled":true}sharedSecret2017-10-23 13:03:03' | sha512sum
//	printf '%s' "123123:<hex>" | base64 -w0
func TestAdminToken(t *testing.T) {
	const ts = "2017-10-23 13:03:03"
	got := AdminToken("123123", "sharedSecret", []byte(`{"IsCancelled":true}`), ts)
	want := "Svea MTIzMTIzOjNjOWU3NmY2NzBhNDliZTAyODgwYjBhNDJlNjhjYmQ1MDg3NzM3NGUxNjZlNGUxOWE4N2Q5OGJiOWM3ZDQwZjc1ZjQxY2UyMTc1Yjc1NWE1NzQ4YjJjMDI4Mzg4ZjYyZGVmMmFiN2NkODU4YmZhNzk0MmFmYmFiN2VjYmM3MDZh"
	if got != want {
		t.Fatalf("token\n got %s\nwant %s", got, want)
	}
	// GET: an empty body.
	got = AdminToken("123123", "sharedSecret", nil, ts)
	want = "Svea MTIzMTIzOmVhZDBlODIxZTkyNTNmNGU4M2FiZTRjNjQzYTg5OGYxNGVjOTM3ZDE1YTQzNTYwMTU5MzI2NWQ5YTczN2FiODRhZTBmMWYzMDNmZWI4YTU1OTI5YTg4NmYxYmEwOGFiYjJiNTE1YWQ4YTMyNDM0N2ViMzVkMTAwNmEwOTlkYTMw"
	if got != want {
		t.Fatalf("GET token\n got %s\nwant %s", got, want)
	}
	if _, err := time.Parse(AdminTimestampFormat, ts); err != nil {
		t.Fatal(err)
	}
}

func TestAdminRequestsMatchFixtures(t *testing.T) {
	got, _ := json.Marshal(&DeliveryRequest{OrderRowIDs: []int64{}})
	sameJSON(t, got, fixture(t, "admin_deliver_request.json"))
	got, _ = json.Marshal(&CancelRequest{IsCancelled: true})
	sameJSON(t, got, fixture(t, "admin_cancel_request.json"))
}

func TestAdminOrdersDecode(t *testing.T) {
	var open, delivered AdminOrder
	strict(t, fixture(t, "admin_order_open.json"), &open)
	strict(t, fixture(t, "admin_order_delivered.json"), &delivered)
	u := AdminUpdateOf(&open)
	if !u.Read || u.Status != "Open" || u.Delivered || u.Cancelled || !u.CanDeliver || !u.CanCancel || u.Credited != 0 {
		t.Fatalf("open: %+v", u)
	}
	if open.ID != 8000001 || len(open.OrderRows) != 2 || open.OrderRows[1].OrderRowID != 2 || open.OrderAmount != 109700 {
		t.Fatalf("open order: %+v", open)
	}
	u = AdminUpdateOf(&delivered)
	if !u.Delivered || u.CanDeliver || u.CanCancel || u.Credited != 49900 {
		t.Fatalf("delivered: %+v", u)
	}
	if d := delivered.Deliveries[0]; d.Credits[0].Amount != -49900 || d.DeliveryAmount != 109700 || *d.InvoiceID != 1000001 {
		t.Fatalf("delivery %+v", d)
	}
	var e AdminErrorBody
	strict(t, fixture(t, "admin_error.json"), &e)
	msg := AdminMessage(&APIError{Status: 400, Body: string(fixture(t, "admin_error.json"))})
	if msg != "The order cannot be cancelled. IsCancelled: The order has no action CanCancelOrder." {
		t.Fatal(msg)
	}
}

// adminServer is a scripted Payment Admin that checks each request's
// headers the way Svea documents them.
type adminServer struct {
	t        *testing.T
	mu       sync.Mutex
	calls    []string
	bodies   []string
	status   map[string]int // "METHOD path" → status to answer
	order    string         // fixture answered to GET
	hang     chan struct{}  // when set, POSTs wait on it
	location string
}

func (a *adminServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("Timestamp")
	if _, err := time.Parse(AdminTimestampFormat, ts); err != nil {
		a.t.Errorf("Timestamp %q: %v", ts, err)
	}
	if got, want := r.Header.Get("Authorization"), AdminToken("100002", "s3cret", b, ts); got != want {
		a.t.Errorf("Authorization %q, want %q", got, want)
	}
	key := r.Method + " " + r.URL.Path
	a.mu.Lock()
	a.calls = append(a.calls, key)
	a.bodies = append(a.bodies, string(b))
	st, hang := a.status[key], a.hang
	a.mu.Unlock()
	if hang != nil && r.Method != http.MethodGet {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	if st >= 300 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		if st < 500 {
			w.Write(fixture(a.t, "admin_error.json"))
		}
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixture(a.t, a.order))
	case http.MethodPost:
		w.Header().Set("Location", a.location)
		w.WriteHeader(http.StatusAccepted)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func adminProvider(t *testing.T, a *adminServer) *Provider {
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.location = srv.URL + "/api/v1/queue/3000001"
	p, err := NewProvider(Config{Client: &Client{BaseURL: StageURL, MerchantID: "m", Password: "p"}, TermsURI: "https://butiken.example/villkor",
		Admin: &AdminClient{BaseURL: srv.URL, MerchantID: "100002", Secret: "s3cret", HTTP: &http.Client{Timeout: 500 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func paidLink() (*kvitt.Order, *kvitt.OrderLink) {
	o, l, _ := fixtureOrder()
	l.ProviderRef, l.State = "8000001", kvitt.PaymentPaid
	return o, l
}

// TestAdminDeliverAndAnnul: the paths, methods and bodies Svea documents;
// a definite refusal is an update in words, a timeout or 5xx an error
// (the outcome is unknown).
func TestAdminDeliverAndAnnul(t *testing.T) {
	a := &adminServer{t: t, order: "admin_order_delivered.json", status: map[string]int{}}
	p := adminProvider(t, a)
	o, l := paidLink()
	u, err := p.Deliver(context.Background(), o, l)
	if err != nil || !u.Accepted || !u.Delivered || u.Refused != "" {
		t.Fatalf("deliver: %+v %v", u, err)
	}
	if a.calls[0] != "POST /api/v1/orders/8000001/deliveries" || a.calls[1] != "GET /api/v1/orders/8000001" {
		t.Fatal(a.calls)
	}
	sameJSON(t, []byte(a.bodies[0]), fixture(t, "admin_deliver_request.json"))
	if a.bodies[1] != "" {
		t.Fatalf("GET with a body %q", a.bodies[1])
	}

	a.order = "admin_order_open.json"
	a.status["PATCH /api/v1/orders/8000001"] = 400
	u, err = p.Annul(context.Background(), o, l)
	if err != nil || u.Accepted || !strings.Contains(u.Refused, "Svea refused to cancel the order: The order cannot be cancelled.") {
		t.Fatalf("refused annul: %+v %v", u, err)
	}
	sameJSON(t, []byte(a.bodies[2]), fixture(t, "admin_cancel_request.json"))

	a.status["PATCH /api/v1/orders/8000001"] = 401
	u, _ = p.Annul(context.Background(), o, l)
	if !strings.Contains(u.Refused, "admin_merchant_id and admin_secret") {
		t.Fatal(u.Refused)
	}

	a.status["PATCH /api/v1/orders/8000001"] = 503
	if u, err = p.Annul(context.Background(), o, l); err == nil {
		t.Fatalf("a 503 is an unknown outcome, not %+v", u)
	}
	a.status["GET /api/v1/orders/8000001"] = 404
	if u, err = p.AdminOrder(context.Background(), o, l); err != nil || !u.NotFound || u.Read {
		t.Fatalf("404: %+v %v", u, err)
	}

	// A request that never gets an answer is an error, not a refusal.
	a.hang = make(chan struct{})
	defer close(a.hang)
	if u, err = p.Deliver(context.Background(), o, l); err == nil {
		t.Fatalf("timeout: %+v", u)
	}
}

// TestAdminNotConfigured: without Payment Admin credentials deliver and
// annul are refused before anything is sent, saying what to configure.
func TestAdminNotConfigured(t *testing.T) {
	p, err := NewProvider(Config{Client: &Client{BaseURL: StageURL, MerchantID: "m", Password: "p"}, TermsURI: "https://butiken.example/villkor"})
	if err != nil {
		t.Fatal(err)
	}
	o, l := paidLink()
	err = p.AdminAvailable()
	if kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE || !strings.Contains(err.Error(), "admin_merchant_id") || !strings.Contains(err.Error(), "admin_secret") {
		t.Fatal(err)
	}
	if _, err := p.Deliver(context.Background(), o, l); kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Fatal(err)
	}
	l.ProviderRef = ""
	p.c.Admin = &AdminClient{BaseURL: AdminStageURL, MerchantID: "1", Secret: "s"}
	if u, err := p.Annul(context.Background(), o, l); err != nil || !strings.Contains(u.Refused, "no Svea order id") {
		t.Fatal(u, err)
	}
}
