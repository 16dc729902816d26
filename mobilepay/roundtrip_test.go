package mobilepay_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/mobilepay"
	simmobilepay "github.com/kvitt-hub/kvitt/sim/mobilepay"
)

// env is a provider talking to a simulator over HTTPS, with a webhook
// receiver that hands every delivery to the provider, as kvitt's callback
// endpoint does.
type env struct {
	t      *testing.T
	sim    *simmobilepay.Sim
	client *mobilepay.Client
	prov   *mobilepay.Provider
	cust   *simmobilepay.Customer

	mu       sync.Mutex
	received []hook
	wake     chan struct{}
}

type hook struct {
	ref    string
	status int
	err    error
}

type envOpts struct {
	sim  simmobilepay.Options
	prov mobilepay.Config
	now  func() time.Time // the client's clock
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	sim, err := simmobilepay.New(o.sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e := &env{t: t, sim: sim, cust: sim.Customer(), wake: make(chan struct{}, 64)}
	cert, err := sim.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(e.receive))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.client, err = mobilepay.NewClient(mobilepay.ClientConfig{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(),
		SubscriptionKey: sim.SubscriptionKey(), MSN: sim.MSN(), SystemVersion: "1.0.0", HTTPClient: sim.HTTPClient(), Now: o.now})
	if err != nil {
		t.Fatal(err)
	}
	hookURL := srv.URL + "/v1/callbacks/mobilepay/webhook"
	reg, err := e.client.RegisterWebhook(context.Background(), hookURL, append([]string{mobilepay.EventTypeCheckedIn}, mobilepay.EPaymentEventTypes...))
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.prov
	cfg.Client = e.client
	if cfg.Verifier == nil {
		if cfg.Verifier, err = mobilepay.NewVerifier(reg.Secret, hookURL, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if e.prov, err = mobilepay.NewProvider(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) receive(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	prov := e.prov
	e.mu.Unlock()
	h := hook{status: http.StatusOK}
	if prov == nil {
		h.status = http.StatusServiceUnavailable
	} else if h.ref, h.err = prov.ParseCallback(r); h.err != nil {
		h.status = map[string]int{kvitt.EUNAUTHORIZED: 401, kvitt.ECONFLICT: 409}[kvitt.ErrorCode(h.err)]
		if h.status == 0 {
			h.status = 400
		}
	}
	e.mu.Lock()
	e.received = append(e.received, h)
	e.mu.Unlock()
	w.WriteHeader(h.status)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// hooks returns the deliveries received so far.
func (e *env) hooks() []hook {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]hook(nil), e.received...)
}

// waitHook waits until a delivery names ref (ref "" waits for any new delivery).
func (e *env) waitHook(ref string) {
	e.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, h := range e.hooks() {
			if h.ref == ref && h.err == nil {
				return
			}
		}
		select {
		case <-e.wake:
		case <-deadline:
			e.t.Fatalf("no webhook for %q; got %+v", ref, e.hooks())
		}
	}
}

// payment returns a payment as the hub stores it before Start.
func (e *env) payment(amount int64, cur kvitt.Currency, provider map[string]string) *kvitt.Payment {
	p := &kvitt.Payment{ID: kvitt.NewID("pay"), Amount: amount, Currency: cur, State: kvitt.PaymentCreated, Method: mobilepay.Method,
		Reference: e.prov.NewReference(), Provider: map[string]string{}, Created: time.Now()}
	maps.Copy(p.Provider, provider)
	if err := e.prov.ValidatePayment(p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// apply applies an update as the hub would (without its transition rules).
func apply(p *kvitt.Payment, u kvitt.Update) {
	if u.State != "" {
		p.State = u.State
	}
	maps.Copy(p.Provider, u.Provider)
	if u.Action != nil {
		p.Action = u.Action
	}
	if u.ErrorCode != "" {
		p.ErrorCode = u.ErrorCode
	}
	if u.Message != "" {
		p.Message = u.Message
	}
}

func (e *env) step(name string, p *kvitt.Payment, till *kvitt.Till, f func(context.Context, *kvitt.Till, *kvitt.Payment) (kvitt.Update, error), want kvitt.PaymentState) kvitt.Update {
	e.t.Helper()
	u, err := f(context.Background(), till, p)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	apply(p, u)
	if p.State != want {
		e.t.Fatalf("%s: state %s (%s %s), want %s", name, p.State, p.ErrorCode, p.Message, want)
	}
	return u
}

func (e *env) simState(ref string) (string, int64, int64, int64, int64) {
	e.t.Helper()
	s, a, c, x, r, ok := e.sim.PaymentState(ref)
	if !ok {
		e.t.Fatalf("the simulator has no payment %s", ref)
	}
	return s, a, c, x, r
}

func TestTokenCachedAndRenewedBeforeExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, envOpts{now: clock})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := e.client.ListWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.client.TokenFetches(); n != 1 {
		t.Fatalf("%d token fetches for 4 calls, want 1 (cached)", n)
	}
	// The simulator's tokens last an hour; past 55 minutes the client renews.
	mu.Lock()
	now = now.Add(56 * time.Minute)
	mu.Unlock()
	if _, err := e.client.ListWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.client.TokenFetches(); n != 2 {
		t.Fatalf("%d token fetches, want 2 (renewed before expiry)", n)
	}
}

func TestRefusedTokenIsReplacedOnce(t *testing.T) {
	// The client's clock stands still, so it keeps its token; the
	// simulator's token lasts 200 ms and is then refused with 401.
	e := newEnv(t, envOpts{sim: simmobilepay.Options{TokenLifetime: 200 * time.Millisecond}, now: func() time.Time { return time.Unix(0, 0) }})
	if _, err := e.client.ListWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := e.client.ListWebhooks(context.Background()); err != nil {
		t.Fatalf("a refused token is not replaced: %v", err)
	}
	if n := e.client.TokenFetches(); n != 2 {
		t.Fatalf("%d token fetches, want 2", n)
	}
}

func TestEveryRequestCarriesTheHeaders(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	e.step("status", p, nil, e.prov.Status, kvitt.PaymentPending)
	e.prov.Cancel(context.Background(), nil, p)
	reqs := e.sim.Requests()
	if len(reqs) < 5 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		h := r.Header
		if h.Get("Ocp-Apim-Subscription-Key") != e.sim.SubscriptionKey() || h.Get("Merchant-Serial-Number") != e.sim.MSN() ||
			h.Get("Vipps-System-Name") != "kvitt" || h.Get("Vipps-System-Version") != "1.0.0" {
			t.Errorf("%s %s: headers %v", r.Method, r.Path, h)
		}
		if r.Path == "/accesstoken/get" {
			if h.Get("client_id") != e.sim.ClientID() || h.Get("client_secret") != e.sim.ClientSecret() {
				t.Errorf("token request without client_id/client_secret: %v", h)
			}
			continue
		}
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
			t.Errorf("%s %s without the access token", r.Method, r.Path)
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/epayment/") {
			ref := p.Reference
			want := map[string]string{"/epayment/v1/payments": "create-" + ref, "/epayment/v1/payments/" + ref + "/cancel": "cancel-" + ref}[r.Path]
			if got := h.Get("Idempotency-Key"); got != want {
				t.Errorf("%s: Idempotency-Key %q, want %q", r.Path, got, want)
			}
		}
	}
}

func TestPushPaymentIsCapturedWhenApproved(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.payment(12550, kvitt.DKK, map[string]string{mobilepay.KeyPhone: "+45 12 34 56 78"})
	u := e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	if u.Action == nil || u.Action.Type != mobilepay.ActionOpenApp || u.Deadline.Before(time.Now().Add(9*time.Minute)) {
		t.Fatalf("action %+v, deadline %s (the platform's 10 minutes must not be cut short)", u.Action, u.Deadline)
	}
	if err := e.cust.Do(context.Background(), p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	e.waitHook(p.Reference) // the authorized webhook names the payment
	e.step("status", p, nil, e.prov.Status, kvitt.PaymentPaid)
	if s, a, c, _, _ := e.simState(p.Reference); s != "AUTHORIZED" || a != 12550 || c != 12550 {
		t.Fatalf("simulator: %s authorized %d captured %d", s, a, c)
	}
	// Reading again captures nothing more.
	e.step("status again", p, nil, e.prov.Status, kvitt.PaymentPaid)
	if _, _, c, _, _ := e.simState(p.Reference); c != 12550 {
		t.Fatalf("captured %d", c)
	}
}

func TestCaptureWhenTheSaleCompletes(t *testing.T) {
	e := newEnv(t, envOpts{prov: mobilepay.Config{CaptureOnComplete: true}})
	p := e.payment(10000, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	e.cust.Do(context.Background(), p.Reference, "approve")
	e.step("status", p, nil, e.prov.Status, kvitt.PaymentAuthorized)
	if _, _, c, _, _ := e.simState(p.Reference); c != 0 {
		t.Fatalf("captured %d before the sale completed", c)
	}
	e.step("capture", p, nil, e.prov.Capture, kvitt.PaymentPaid)
	e.step("capture again", p, nil, e.prov.Capture, kvitt.PaymentPaid)
	if _, _, c, _, _ := e.simState(p.Reference); c != 10000 {
		t.Fatalf("captured %d, want 10000 once", c)
	}
}

func TestOneTimeQR(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.payment(1000, kvitt.EUR, nil)
	u := e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	if u.Action == nil || u.Action.Type != "show_qr" || !strings.HasPrefix(u.Action.QRData, e.sim.RootURL()) {
		t.Fatalf("action %+v", u.Action)
	}
	// The customer scans what the display shows and approves.
	if err := e.cust.Do(context.Background(), u.Action.QRData, "approve"); err != nil {
		t.Fatal(err)
	}
	e.step("status", p, nil, e.prov.Status, kvitt.PaymentPaid)
}

func pairTill(t *testing.T, e *env, beacon string) *kvitt.Till {
	t.Helper()
	pr, err := e.client.Pair(context.Background(), beacon, "Kasse 1", false)
	if err != nil {
		t.Fatal(err)
	}
	return &kvitt.Till{ID: "1", Name: "Kasse 1", MobilePayBeaconID: pr.BeaconID, MobilePayPosID: pr.MSN}
}

func TestStaticQRCustomerScansAfterTheCashier(t *testing.T) {
	e := newEnv(t, envOpts{})
	till := pairTill(t, e, "3fa85f64-5717-4562-b3fc-2c963f66afa6")
	p := e.payment(12500, kvitt.DKK, nil)
	u := e.step("start", p, till, e.prov.Start, kvitt.PaymentPending)
	if u.Action == nil || u.Action.Type != mobilepay.ActionScanTillQR || e.sim.PaymentCount() != 0 {
		t.Fatalf("before the scan: action %+v, %d payments at MobilePay", u.Action, e.sim.PaymentCount())
	}
	if _, err := e.cust.CheckIn(context.Background(), till.MobilePayBeaconID); err != nil {
		t.Fatal(err)
	}
	e.waitHook(p.Reference) // the check-in names the waiting payment
	e.step("status after the scan", p, till, e.prov.Status, kvitt.PaymentPending)
	if e.sim.PaymentCount() != 1 || p.Provider[mobilepay.KeyCheckinAt] == "" || p.Action.Type != mobilepay.ActionOpenApp {
		t.Fatalf("after the scan: %d payments, provider %v, action %+v", e.sim.PaymentCount(), p.Provider, p.Action)
	}
	e.cust.Do(context.Background(), p.Reference, "approve")
	e.step("status", p, till, e.prov.Status, kvitt.PaymentPaid)
}

func TestStaticQRCustomerScansFirst(t *testing.T) {
	e := newEnv(t, envOpts{})
	till := pairTill(t, e, "123456789012345")
	if _, err := e.cust.CheckIn(context.Background(), till.MobilePayBeaconID); err != nil {
		t.Fatal(err)
	}
	e.waitHook("") // the check-in, before any payment: nothing to read
	p := e.payment(500, kvitt.DKK, nil)
	e.step("start", p, till, e.prov.Start, kvitt.PaymentPending)
	if e.sim.PaymentCount() != 1 {
		t.Fatal("the payment was not sent to the customer who had scanned")
	}
	// A second payment at the same till does not reuse that scan.
	q := e.payment(700, kvitt.DKK, nil)
	u := e.step("second start", q, till, e.prov.Start, kvitt.PaymentPending)
	if u.Action.Type != mobilepay.ActionScanTillQR || e.sim.PaymentCount() != 1 {
		t.Fatalf("one scan sent two payments: %+v", u.Action)
	}
}

func TestStaticQRWithoutAScanExpiresWithNothingSent(t *testing.T) {
	e := newEnv(t, envOpts{prov: mobilepay.Config{CheckinWindow: 50 * time.Millisecond}})
	till := pairTill(t, e, "3fa85f64-5717-4562-b3fc-2c963f66afa6")
	p := e.payment(500, kvitt.DKK, nil)
	e.step("start", p, till, e.prov.Start, kvitt.PaymentPending)
	time.Sleep(80 * time.Millisecond)
	e.step("status", p, till, e.prov.Status, kvitt.PaymentExpired)
	if e.sim.PaymentCount() != 0 {
		t.Fatal("something reached MobilePay")
	}
}

func TestCustomerRejectsOrWalksAway(t *testing.T) {
	e := newEnv(t, envOpts{})
	for action, want := range map[string]kvitt.PaymentState{"reject": kvitt.PaymentDeclined, "expire": kvitt.PaymentExpired} {
		p := e.payment(2000, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
		e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
		if err := e.cust.Do(context.Background(), p.Reference, action); err != nil {
			t.Fatal(err)
		}
		e.step(action, p, nil, e.prov.Status, want)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, envOpts{prov: mobilepay.Config{CaptureOnComplete: true}})
	p := e.payment(3000, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	e.step("cancel pending", p, nil, e.prov.Cancel, kvitt.PaymentCancelled)
	if s, _, _, _, _ := e.simState(p.Reference); s != "TERMINATED" {
		t.Fatalf("simulator: %s", s)
	}
	// An authorized payment: the cancel releases the reservation.
	q := e.payment(3000, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", q, nil, e.prov.Start, kvitt.PaymentPending)
	e.cust.Do(context.Background(), q.Reference, "approve")
	e.step("status", q, nil, e.prov.Status, kvitt.PaymentAuthorized)
	e.step("cancel authorized", q, nil, e.prov.Cancel, kvitt.PaymentCancelled)
	e.step("read after cancel", q, nil, e.prov.Status, kvitt.PaymentCancelled)
	if s, a, c, x, _ := e.simState(q.Reference); s != "AUTHORIZED" || a != 3000 || c != 0 || x != 3000 {
		t.Fatalf("simulator: %s authorized %d captured %d cancelled %d", s, a, c, x)
	}
}

// The truth may arrive late: an approval that the platform books after the
// cancel is never dropped. It is captured and reported paid (the hub books
// it with Attention for a person to keep or refund), in both capture modes,
// once: a second read captures nothing more.
func TestLateApprovalAfterCancel(t *testing.T) {
	for _, onComplete := range []bool{false, true} {
		e := newEnv(t, envOpts{prov: mobilepay.Config{CaptureOnComplete: onComplete}})
		p := e.payment(3000, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
		e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
		e.step("cancel", p, nil, e.prov.Cancel, kvitt.PaymentCancelled)
		if err := e.sim.LateApprove(p.Reference); err != nil {
			t.Fatal(err)
		}
		e.step("callback re-read", p, nil, e.prov.Status, kvitt.PaymentPaid)
		e.step("read again", p, nil, e.prov.Status, kvitt.PaymentPaid)
		if s, a, c, _, _ := e.simState(p.Reference); s != "AUTHORIZED" || a != 3000 || c != 3000 {
			t.Fatalf("on_complete=%v: simulator %s authorized %d captured %d; want the late approval captured once", onComplete, s, a, c)
		}
	}
}

func TestRefundsPartialAndFull(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.payment(10000, kvitt.DKK, map[string]string{mobilepay.KeyPhone: "4512345678"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	e.cust.Do(context.Background(), p.Reference, "approve")
	e.step("status", p, nil, e.prov.Status, kvitt.PaymentPaid)
	refund := func(amount int64) (kvitt.RefundUpdate, *kvitt.Refund, error) {
		r := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: amount, Currency: kvitt.DKK, Reference: e.prov.NewReference()}
		u, err := e.prov.Refund(context.Background(), nil, p, r)
		return u, r, err
	}
	if u, _, err := refund(3000); err != nil || u.State != kvitt.RefundSucceeded {
		t.Fatalf("partial: %+v %v", u, err)
	}
	// A lost answer: the refund is found in the event log by its key, not sent twice.
	e.sim.InjectFault(simmobilepay.LoseResponse)
	_, r, err := refund(5000)
	if err == nil {
		t.Fatal("the lost answer was not reported")
	}
	u, err := e.prov.RefundStatus(context.Background(), nil, p, r)
	if err != nil || u.State != kvitt.RefundSucceeded {
		t.Fatalf("refund status: %+v %v", u, err)
	}
	if _, _, _, _, rf := e.simState(p.Reference); rf != 8000 {
		t.Fatalf("refunded %d, want 8000", rf)
	}
	// More than is left is refused; the rest succeeds.
	if u, _, err := refund(2001); err != nil || u.State != kvitt.RefundFailed {
		t.Fatalf("over-refund: %+v %v", u, err)
	}
	if u, _, err := refund(2000); err != nil || u.State != kvitt.RefundSucceeded {
		t.Fatalf("rest: %+v %v", u, err)
	}
	if _, _, _, _, rf := e.simState(p.Reference); rf != 10000 {
		t.Fatalf("refunded %d, want 10000", rf)
	}
}

// A lost create answer is a question: Status asks by the same reference and
// the platform never holds a second payment.
func TestLostCreateAnswer(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.sim.InjectFault(simmobilepay.LoseResponse)
	if _, err := e.prov.Start(context.Background(), nil, p); err == nil {
		t.Fatal("a lost answer was taken for an answer")
	}
	e.step("status", p, nil, e.prov.Status, kvitt.PaymentPending)
	e.step("start again", p, nil, e.prov.Start, kvitt.PaymentPending)
	if n := e.sim.PaymentCount(); n != 1 {
		t.Fatalf("%d payments at MobilePay, want 1", n)
	}
	// A create that never arrived is sent by Status, with the same reference.
	q := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.sim.InjectFault(simmobilepay.LoseRequest)
	if _, err := e.prov.Start(context.Background(), nil, q); err == nil {
		t.Fatal("a lost request was taken for an answer")
	}
	e.step("status", q, nil, e.prov.Status, kvitt.PaymentPending)
	if _, _, _, _, _, ok := e.sim.PaymentState(q.Reference); !ok || e.sim.PaymentCount() != 2 {
		t.Fatalf("%d payments at MobilePay, want 2", e.sim.PaymentCount())
	}
	// A payment kvitt has ended is never created after the fact.
	r := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	r.State = kvitt.PaymentCancelled
	if u, err := e.prov.Status(context.Background(), nil, r); err != nil || u.State != "" || e.sim.PaymentCount() != 2 {
		t.Fatalf("ended payment: %+v %v, %d payments", u, err, e.sim.PaymentCount())
	}
}

func TestWebhooksForgedStaleAndReplayedAreRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	p := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	e.waitHook(p.Reference) // epayments.payment.created.v1, signed, accepted
	var ds []simmobilepay.Delivery
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ds = e.sim.Deliveries(); len(ds) > 0 && ds[0].StatusCode != 0 {
			break
		}
	}
	if len(ds) == 0 || ds[0].StatusCode != 200 {
		t.Fatalf("deliveries %+v", ds)
	}
	// Replayed: the very same request again.
	if code, err := e.sim.Replay(0); err != nil || code != http.StatusConflict {
		t.Errorf("replay answered %d %v, want 409", code, err)
	}
	// Forged: a changed body under the recorded signature.
	d := ds[0]
	forged := bytes.Replace(d.Body, []byte(`"CREATED"`), []byte(`"AUTHORIZED"`), 1)
	if code := post(t, e, d.URL, d.Header, forged); code != http.StatusUnauthorized {
		t.Errorf("changed body answered %d, want 401", code)
	}
	// Forged: signed with a secret that is not the registration's.
	h := d.Header.Clone()
	u, _ := url.Parse(d.URL)
	h.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+
		mobilepay.Signature("guess", "POST", u.Path, h.Get("x-ms-date"), u.Host, h.Get("x-ms-content-sha256")))
	if code := post(t, e, d.URL, h, d.Body); code != http.StatusUnauthorized {
		t.Errorf("wrong secret answered %d, want 401", code)
	}
	// Unsigned.
	if code := post(t, e, d.URL, http.Header{"Content-Type": {"application/json"}}, d.Body); code != http.StatusUnauthorized {
		t.Errorf("unsigned answered %d, want 401", code)
	}
}

func TestStaleWebhookIsRefused(t *testing.T) {
	// The simulator's clock is ten minutes behind: its x-ms-date is stale.
	e := newEnv(t, envOpts{sim: simmobilepay.Options{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}})
	p := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	deadline := time.Now().Add(5 * time.Second)
	for len(e.hooks()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	hs := e.hooks()
	if len(hs) == 0 || hs[0].status != http.StatusUnauthorized || !strings.Contains(hs[0].err.Error(), "stale") {
		t.Fatalf("hooks %+v", hs)
	}
}

func post(t *testing.T, e *env, url string, h http.Header, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header = h.Clone()
	resp, err := e.sim.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPairing(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	const beacon = "3FA85F64-5717-4562-B3FC-2C963F66AFA6"
	pr, err := e.client.Pair(ctx, beacon, "Kasse 1", false)
	if err != nil {
		t.Fatal(err)
	}
	if pr.BeaconID != strings.ToLower(beacon) || pr.MSN != e.sim.MSN() || pr.Location != "Kasse 1" || pr.QRContent == "" || pr.Sticker {
		t.Fatalf("pairing %+v", pr)
	}
	// Re-pairing changes the text, never the printed QR.
	again, err := e.client.Pair(ctx, beacon, "Kasse 1 (vid dörren)", false)
	if err != nil || again.Location != "Kasse 1 (vid dörren)" || again.QRContent != pr.QRContent {
		t.Fatalf("re-pair: %+v %v", again, err)
	}
	png, ct, err := e.client.QRImage(ctx, beacon, "PNG", 300)
	if err != nil || ct != "image/png" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("PNG: %q %v", ct, err)
	}
	svg, ct, err := e.client.QRImage(ctx, beacon, "SVG", 0)
	if err != nil || ct != "image/svg+xml" || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("SVG: %q %v", ct, err)
	}
	if _, _, err := e.client.QRImage(ctx, beacon, "PNG", 50); kvitt.ErrorField(err) != "size" {
		t.Errorf("size 50: %v", err)
	}
	// An existing MobilePay PoS sticker moves over with its printed content.
	st, err := e.client.Pair(ctx, "mobilepaypos://pos?id=123456789012345&source=qr", "Kasse 2", true)
	if err != nil || st.BeaconID != "123456789012345" || !st.Sticker || st.QRContent != "mobilepaypos://pos?id=123456789012345&source=qr" {
		t.Fatalf("sticker: %+v %v", st, err)
	}
	list, err := e.client.CallbackQRs(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := e.client.Unpair(ctx, beacon); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PairingOf(ctx, beacon); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Fatalf("after unpairing: %v", err)
	}
	if err := e.client.Unpair(ctx, beacon); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Fatalf("unpair twice: %v", err)
	}
	// A beacon id of the wrong form never leaves kvitt.
	before := len(e.sim.Requests())
	for _, bad := range []string{"kasse-1", "12345", ""} {
		if _, err := e.client.Pair(ctx, bad, "Kasse 1", false); kvitt.ErrorField(err) != "beacon_id" {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := e.client.Pair(ctx, beacon, strings.Repeat("x", 37), false); kvitt.ErrorField(err) != "location_description" {
		t.Errorf("long location: %v", err)
	}
	if len(e.sim.Requests()) != before {
		t.Error("an invalid pairing was sent")
	}
}

// The simulator answers problems the client reads, with the platform's words.
func TestRefusalsAreProblems(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	_, err := e.client.CapturePayment(ctx, "no-such-payment-1", "capture-x", mobilepay.Amount{Currency: "NOK", Value: 100})
	if !mobilepay.IsNotFound(err) {
		t.Fatalf("capture of nothing: %v", err)
	}
	p := e.payment(4900, kvitt.NOK, map[string]string{mobilepay.KeyPhone: "4791234567"})
	e.step("start", p, nil, e.prov.Start, kvitt.PaymentPending)
	_, err = e.client.CapturePayment(ctx, p.Reference, "capture-"+p.Reference, mobilepay.Amount{Currency: "NOK", Value: 4900})
	var ae *mobilepay.APIError
	if !asAPIError(err, &ae) || ae.StatusCode != 400 || ae.Problem == nil || ae.Problem.ErrorCode() != "6080" {
		t.Fatalf("capture before approval: %v", err)
	}
	if err := e.client.ForceApprove(ctx, p.Reference, mobilepay.ForceApprove{Customer: &mobilepay.Customer{PhoneNumber: "4791234567"}}); err != nil {
		t.Fatal(err)
	}
	e.step("status after force approve", p, nil, e.prov.Status, kvitt.PaymentPaid)
	b, _ := json.Marshal(ae.Problem)
	if !strings.Contains(string(b), `"traceId"`) {
		t.Errorf("problem %s", b)
	}
}

func asAPIError(err error, target **mobilepay.APIError) bool {
	ae, ok := err.(*mobilepay.APIError)
	if ok {
		*target = ae
	}
	return ok
}

// The sandbox's customer (kvitt.Customer) scans the till's QR, waits for
// kvitt to send the payment, and approves it; kvitt reads the payment
// again on every webhook, as the hub does.
func TestSandboxCustomerPaysAtTheTillsQR(t *testing.T) {
	e := newEnv(t, envOpts{})
	till := pairTill(t, e, "3fa85f64-5717-4562-b3fc-2c963f66afa6")
	p := e.payment(9900, kvitt.DKK, nil)
	e.step("start", p, till, e.prov.Start, kvitt.PaymentPending)
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the hub: a webhook naming the payment makes it read it
		defer close(done)
		seen := 0
		for {
			select {
			case <-stop:
				return
			case <-e.wake:
			case <-time.After(50 * time.Millisecond):
			}
			hs := e.hooks()
			for _, h := range hs[seen:] {
				if h.ref == p.Reference {
					mu.Lock()
					if u, err := e.prov.Status(context.Background(), till, p); err == nil {
						apply(p, u)
					}
					mu.Unlock()
				}
			}
			seen = len(hs)
		}
	}()
	err := e.cust.Act(context.Background(), till, p, kvitt.CustomerApprove, kvitt.CustomerOptions{})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	e.step("status", p, till, e.prov.Status, kvitt.PaymentPaid)
	if e.sim.PaymentCount() != 1 {
		t.Fatalf("%d payments", e.sim.PaymentCount())
	}
}

func TestPairTillAndUnpair(t *testing.T) {
	e := newEnv(t, envOpts{})
	till := &kvitt.Till{ID: "1", Name: "Kassa 1 vid entrén, den stora kassan till vänster"}
	pr, err := e.prov.PairTill(context.Background(), till, "mobilepaypos://pos?id=3FA85F64-5717-4562-B3FC-2C963F66AFA6&source=qr", true)
	if err != nil {
		t.Fatal(err)
	}
	if pr.BeaconID != "3fa85f64-5717-4562-b3fc-2c963f66afa6" || len([]rune(pr.Location)) != 36 || pr.MSN != e.sim.MSN() {
		t.Fatalf("%+v", pr)
	}
	till.MobilePayBeaconID, till.MobilePayPosID = pr.BeaconID, pr.MSN
	if err := e.prov.UnpairTill(context.Background(), till); err != nil {
		t.Fatal(err)
	}
	if err := e.prov.UnpairTill(context.Background(), till); err != nil {
		t.Fatalf("unpairing a QR already gone: %v", err)
	}
	if !e.prov.WholeAmountOnly() {
		t.Error("a MobilePay tender must be the whole amount")
	}
}
