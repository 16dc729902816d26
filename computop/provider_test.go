package computop_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/computop"
	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
)

// env is a provider talking to the simulator over HTTPS, with kvitt's
// notification endpoint on a real TLS listener.
type env struct {
	sim      *simcomputop.Sim
	client   *computop.Client
	provider *computop.Provider
	till     *kvitt.Till

	mu      sync.Mutex
	notes   []string // references of authenticated notifications
	bodies  [][]byte // raw notification bodies, to replay
	refused []error
	got     chan string
}

func newEnv(t *testing.T, opts simcomputop.Options, cfg computop.Config) *env {
	t.Helper()
	e := &env{till: &kvitt.Till{ID: "1"}, got: make(chan string, 32)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/callbacks/computop/{token}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		ref, err := e.provider.ParseCallback(r)
		e.mu.Lock()
		e.bodies = append(e.bodies, body)
		if err != nil {
			e.refused = append(e.refused, err)
			e.mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		e.notes = append(e.notes, ref)
		e.mu.Unlock()
		e.got <- ref
	})
	cb := httptest.NewTLSServer(mux)
	t.Cleanup(cb.Close)
	opts.NotifyTLS = cb.Client().Transport.(*http.Transport).TLSClientConfig
	opts.AllowAnyNotifyPort = true
	opts.RetryUnit = 10 * time.Millisecond
	s, err := simcomputop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.sim = s
	o := s.Options()
	enc := computop.Blowfish
	if o.AES {
		enc = computop.AES
	}
	e.client, err = computop.NewClient(computop.ClientConfig{BaseURL: s.URL(), TLS: s.ClientTLS(),
		Keys:  computop.Keys{MerchantID: o.MerchantID, Password: o.Password, HMACKey: o.HMACKey, Encryption: enc},
		Rules: computop.RuleContext{AllowAnyNotifyPort: true}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client = e.client
	cfg.CallbackBaseURL = cb.URL
	cfg.CallbackSecret = []byte("0123456789abcdef0123456789abcdef")
	if e.provider, err = computop.NewProvider(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) payment(amount int64, alias string) *kvitt.Payment {
	p := &kvitt.Payment{ID: kvitt.NewID("pay"), Method: "computop", Amount: amount, Currency: kvitt.SEK,
		State: kvitt.PaymentCreated, Reference: e.provider.NewReference(), Provider: map[string]string{}, Created: time.Now()}
	if alias != "" {
		p.Provider[computop.KeyPayerAlias] = alias
	}
	return p
}

func apply(p *kvitt.Payment, u kvitt.Update) {
	if u.State != "" {
		p.State = u.State
	}
	for k, v := range u.Provider {
		p.Provider[k] = v
	}
	if u.Action != nil {
		p.Action = u.Action
	}
	if u.State != "" {
		p.ErrorCode, p.Message = u.ErrorCode, u.Message
	}
}

func (e *env) start(t *testing.T, p *kvitt.Payment) kvitt.Update {
	t.Helper()
	u, err := e.provider.Start(context.Background(), e.till, p)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	apply(p, u)
	return u
}

func (e *env) status(t *testing.T, p *kvitt.Payment) kvitt.Update {
	t.Helper()
	u, err := e.provider.Status(context.Background(), e.till, p)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	apply(p, u)
	return u
}

func (e *env) act(t *testing.T, p *kvitt.Payment, a kvitt.CustomerAction) {
	t.Helper()
	if err := e.sim.Customer().Act(context.Background(), e.till, p, a, kvitt.CustomerOptions{}); err != nil {
		t.Fatalf("customer %s: %v", a, err)
	}
}

// waitNote waits for an authenticated notification for ref.
func (e *env) waitNote(t *testing.T, ref string) {
	t.Helper()
	for {
		select {
		case got := <-e.got:
			if got == ref {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no notification for %s (refused: %v)", ref, e.refused)
		}
	}
}

func TestAppChannelPaidAndCredited(t *testing.T) {
	e := newEnv(t, simcomputop.Options{}, computop.Config{OrderDesc: "Kvitto:1"})
	p := e.payment(12550, "")
	u := e.start(t, p)
	tok := p.Provider[computop.KeyTokenExt]
	if u.State != kvitt.PaymentPending || u.Action == nil || u.Action.Type != "show_qr" || tok == "" {
		t.Fatalf("Start: %+v", u)
	}
	if u.Action.QRData != "D"+tok || u.Action.AppURL != "swish://paymentrequest?token="+tok {
		t.Errorf("action %+v", u.Action)
	}
	if p.Provider[computop.KeyPayID] == "" || p.Provider[computop.KeyChannel] != "App" {
		t.Errorf("provider data %v", p.Provider)
	}
	if u := e.status(t, p); u.State != kvitt.PaymentPending {
		t.Fatalf("before the customer: %+v", u)
	}
	e.act(t, p, kvitt.CustomerApprove)
	e.waitNote(t, p.Reference)
	if u := e.status(t, p); u.State != kvitt.PaymentPaid {
		t.Fatalf("after approval: %+v", u)
	}

	// Credit with reference, then the limit: captured minus earlier credits.
	ctx := context.Background()
	r1 := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 5000, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
	ru, err := e.provider.Refund(ctx, e.till, p, r1)
	if err != nil || ru.State != kvitt.RefundSucceeded {
		t.Fatalf("credit: %+v, %v", ru, err)
	}
	r2 := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 7551, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
	ru, err = e.provider.Refund(ctx, e.till, p, r2)
	if err != nil || ru.State != kvitt.RefundFailed || ru.ErrorCode != "LIMIT" || !strings.Contains(ru.Message, "at most 75.50") {
		t.Fatalf("credit over the limit: %+v, %v", ru, err)
	}
	if _, _, captured, credited, _ := e.sim.Payment(p.Reference); captured != 12550 || credited != 5000 {
		t.Errorf("simulator: captured %d credited %d", captured, credited)
	}
	// A credit whose answer is lost is resubmitted with its ReqID: the
	// Paygate answers with the original, nothing is credited twice.
	r3 := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 2000, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
	if _, err := e.provider.Refund(ctx, e.till, p, r3); err != nil {
		t.Fatalf("credit r3: %v", err)
	}
	r4 := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 1000, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
	e.sim.InjectFault(0) // the inquiry before the credit goes through; the credit's answer is lost
	e.sim.InjectFault(simcomputop.LoseResponse)
	if _, err := e.provider.Refund(ctx, e.till, p, r4); err == nil {
		t.Fatalf("lost credit answer gave no error")
	}
	r4.InFlightUntil = time.Now().Add(time.Minute)
	if ru, _ := e.provider.RefundStatus(ctx, e.till, p, r4); ru.State != kvitt.RefundPending {
		t.Fatalf("in flight: %+v", ru)
	}
	r4.InFlightUntil = time.Time{}
	for i := 0; i < 2; i++ {
		ru, err := e.provider.RefundStatus(ctx, e.till, p, r4)
		if err != nil || ru.State != kvitt.RefundSucceeded {
			t.Fatalf("RefundStatus: %+v, %v", ru, err)
		}
	}
	if _, _, _, credited, _ := e.sim.Payment(p.Reference); credited != 8000 {
		t.Errorf("credited %d, want 8000 (5000+2000+1000 once)", credited)
	}
}

func TestWebChannelDeclinedReadsCodeExt(t *testing.T) {
	e := newEnv(t, simcomputop.Options{}, computop.Config{})
	p := e.payment(10000, "46701234567")
	u := e.start(t, p)
	if u.State != kvitt.PaymentPending || u.Action == nil || u.Action.Type != "open_app" || p.Provider[computop.KeyChannel] != "Web" {
		t.Fatalf("Start: %+v", u)
	}
	e.act(t, p, kvitt.CustomerDecline)
	e.waitNote(t, p.Reference)
	u = e.status(t, p)
	if u.State != kvitt.PaymentDeclined || u.ErrorCode != "RF07" || !strings.Contains(u.Message, "declined") {
		t.Fatalf("declined: %+v", u)
	}
	if p.Provider[computop.KeyCodeExt] != "RF07" || p.Provider[computop.KeyErrorText] == "" {
		t.Errorf("CodeExt/ErrorText not kept: %v", p.Provider)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		desc   string
		action kvitt.CustomerAction
		want   kvitt.PaymentState
	}{
		{"Kvitto", kvitt.CustomerCancel, kvitt.PaymentCancelled},
		{"Kvitto", kvitt.CustomerTimeout, kvitt.PaymentExpired},
		{"DS24", kvitt.CustomerApprove, kvitt.PaymentUnknown},
		{"FF10", kvitt.CustomerApprove, kvitt.PaymentFailed},
	}
	for _, tt := range tests {
		e := newEnv(t, simcomputop.Options{}, computop.Config{OrderDesc: tt.desc})
		p := e.payment(10000, "")
		e.start(t, p)
		e.act(t, p, tt.action)
		e.waitNote(t, p.Reference)
		if u := e.status(t, p); u.State != tt.want {
			t.Errorf("%s/%s: %+v, want %s", tt.desc, tt.action, u, tt.want)
		}
	}
	// A refusal at once (RP06 in OrderDesc forces it) is a definite failure.
	e := newEnv(t, simcomputop.Options{}, computop.Config{OrderDesc: "RP06"})
	p := e.payment(10000, "46701234567")
	if u := e.start(t, p); u.State != kvitt.PaymentFailed || u.ErrorCode != "RP06" {
		t.Errorf("RP06: %+v", u)
	}
}

// The ReqID trap: the Paygate processes a resubmission with the same ReqID
// as a new payment while the first is open. A lost answer is followed by an
// inquiry, never by a resubmission of an open payment.
func TestLostAnswerNeverChargesTwice(t *testing.T) {
	e := newEnv(t, simcomputop.Options{}, computop.Config{})
	ctx := context.Background()

	// The answer is lost; the payment is at the Paygate, open.
	p := e.payment(10000, "")
	p.InFlightUntil = time.Now().Add(time.Minute)
	e.sim.InjectFault(simcomputop.LoseResponse)
	if _, err := e.provider.Start(ctx, e.till, p); err == nil {
		t.Fatal("lost answer gave no error")
	}
	for i := 0; i < 3; i++ {
		if u := e.status(t, p); u.State != kvitt.PaymentPending || p.Provider[computop.KeyPayID] == "" {
			t.Fatalf("status after lost answer: %+v", u)
		}
	}
	p.InFlightUntil = time.Time{}
	e.status(t, p)
	if n := e.sim.PaymentCount(); n != 1 {
		t.Fatalf("%d payments at the Paygate, want 1", n)
	}

	// The request is lost: nothing is found. While it may still be on its
	// way nothing is sent; after, it is sent again with the same TransID and ReqID.
	q := e.payment(10000, "")
	q.InFlightUntil = time.Now().Add(time.Minute)
	e.sim.InjectFault(simcomputop.LoseRequest)
	if _, err := e.provider.Start(ctx, e.till, q); err == nil {
		t.Fatal("lost request gave no error")
	}
	if u := e.status(t, q); u.State != "" || u.Retry == 0 {
		t.Fatalf("not found in flight: %+v", u)
	}
	if n := e.sim.PaymentCount(); n != 1 {
		t.Fatalf("%d payments, want 1", n)
	}
	q.InFlightUntil = time.Time{}
	if u := e.status(t, q); u.State != kvitt.PaymentPending || u.Action == nil {
		t.Fatalf("resent: %+v", u)
	}
	if n := e.sim.PaymentCount(); n != 2 {
		t.Fatalf("%d payments, want 2", n)
	}

	// The trap is real in the simulator: resubmitting an open ReqID makes a second payment.
	req := &computop.SwishPayment{TransID: q.Reference, Amount: 10000, Currency: "SEK", OrderDesc: "Kvitto",
		ReqID: computop.ReqID("pay", q.Reference), Channel: computop.ChannelApp}
	if _, err := e.client.Swish(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.PaymentCount(); n != 3 {
		t.Fatalf("the simulator did not model the trap: %d payments", n)
	}
	// Once final, the same ReqID returns the original.
	e.act(t, p, kvitt.CustomerApprove)
	res, err := e.client.Swish(ctx, &computop.SwishPayment{TransID: p.Reference, Amount: 10000, Currency: "SEK", OrderDesc: "Kvitto",
		ReqID: computop.ReqID("pay", p.Reference), Channel: computop.ChannelApp})
	if err != nil || res.Status != computop.StatusOK || res.PayID != p.Provider[computop.KeyPayID] {
		t.Fatalf("final ReqID: %+v, %v", res, err)
	}
	if n := e.sim.PaymentCount(); n != 3 {
		t.Fatalf("%d payments after a final ReqID, want 3", n)
	}
}

func TestNotificationsForgedDuplicatedOutOfOrder(t *testing.T) {
	e := newEnv(t, simcomputop.Options{}, computop.Config{})
	p := e.payment(10000, "")
	e.start(t, p)
	e.act(t, p, kvitt.CustomerApprove)
	e.waitNote(t, p.Reference)
	e.status(t, p)

	// Duplicated: authenticated again, and the re-read changes nothing.
	if err := e.sim.Renotify(p.Reference); err != nil {
		t.Fatal(err)
	}
	e.waitNote(t, p.Reference)
	if u := e.status(t, p); u.State != kvitt.PaymentPaid {
		t.Fatalf("after duplicate: %+v", u)
	}

	post := func(token string, form url.Values) error {
		r := httptest.NewRequest(http.MethodPost, "/v1/callbacks/computop/"+token, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetPathValue("token", token)
		_, err := e.provider.ParseCallback(r)
		return err
	}
	token := e.provider.CallbackToken(p.Reference)
	keys := e.client.Keys()
	seal := func(k computop.Keys, kv ...string) url.Values {
		env, err := k.Seal(computop.NewParams(kv...))
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"MerchantID": {env.MerchantID}, "Len": {itoa(env.Len)}, "Data": {env.Data}}
	}
	good := func(k computop.Keys, transID, status, code string) url.Values {
		mac := computop.ResponseMAC(k.HMACKey, "P1", transID, k.MerchantID, status, code)
		return seal(k, "mid", k.MerchantID, "PayID", "P1", "TransID", transID, "Status", status, "Code", code, "MAC", mac)
	}
	if err := post(token, good(keys, p.Reference, "FAILED", "21000001")); err != nil {
		t.Fatalf("well-formed notification refused: %v", err)
	}
	forged := keys
	forged.HMACKey = "guess"
	tests := []struct {
		name  string
		token string
		form  url.Values
		code  string
	}{
		{"forged MAC", token, good(forged, p.Reference, "OK", "00000000"), kvitt.EUNAUTHORIZED},
		{"no MAC", token, seal(keys, "mid", keys.MerchantID, "PayID", "P1", "TransID", p.Reference, "Status", "OK", "Code", "00000000"), kvitt.EUNAUTHORIZED},
		{"wrong token", p.Reference + "-AAAAAAAAAAAAAAAAAAAAAAAAAA", good(keys, p.Reference, "OK", "00000000"), kvitt.EUNAUTHORIZED},
		{"other TransID", token, good(keys, "0000", "OK", "00000000"), kvitt.EINVALID},
		{"truncated Data", token, func() url.Values {
			f := good(keys, p.Reference, "OK", "00000000")
			f.Set("Data", f.Get("Data")[:len(f.Get("Data"))-16])
			return f
		}(), kvitt.EINVALID},
	}
	for _, tt := range tests {
		err := post(tt.token, tt.form)
		if kvitt.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	// Out of order: the FAILED notification above arrived after the
	// payment was paid; the re-read by inquiry still says paid.
	if u := e.status(t, p); u.State != kvitt.PaymentPaid {
		t.Fatalf("after a stale notification: %+v", u)
	}
}

func TestCreditBeforeNotificationRefused(t *testing.T) {
	e := newEnv(t, simcomputop.Options{DropNotifications: true}, computop.Config{})
	p := e.payment(10000, "")
	e.start(t, p)
	e.act(t, p, kvitt.CustomerApprove)
	if u := e.status(t, p); u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v", u)
	}
	r := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 1000, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
	ru, err := e.provider.Refund(context.Background(), e.till, p, r)
	if err != nil || ru.State != kvitt.RefundFailed || ru.ErrorCode != simcomputop.CodeNotifyFirst || !strings.Contains(ru.Message, "Nothing was refunded") {
		t.Fatalf("credit before the first notification: %+v, %v", ru, err)
	}
}

func TestAES(t *testing.T) {
	e := newEnv(t, simcomputop.Options{AES: true, Password: "0123456789abcdef0123456789abcdef"}, computop.Config{})
	p := e.payment(10000, "")
	e.start(t, p)
	e.act(t, p, kvitt.CustomerApprove)
	e.waitNote(t, p.Reference)
	if u := e.status(t, p); u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v", u)
	}
}

func TestValidatePayment(t *testing.T) {
	e := newEnv(t, simcomputop.Options{}, computop.Config{})
	tests := []struct {
		amount   int64
		currency kvitt.Currency
		alias    string
		field    string
	}{
		{99, kvitt.SEK, "", "amount"},
		{100, "NOK", "", "method"},
		{100, kvitt.SEK, "0701234567", "payer_alias"},
		{100, kvitt.SEK, "4670", "payer_alias"},
		{100, kvitt.SEK, "46-70123456", "payer_alias"},
	}
	for _, tt := range tests {
		p := e.payment(tt.amount, tt.alias)
		p.Currency = tt.currency
		err := e.provider.ValidatePayment(p)
		if kvitt.ErrorField(err) != tt.field {
			t.Errorf("%d %s %q: %v, want field %s", tt.amount, tt.currency, tt.alias, err, tt.field)
		}
	}
	if err := e.provider.ValidatePayment(e.payment(100, "46701234567")); err != nil {
		t.Error(err)
	}
	var fe *computop.FormatError
	_, err := e.client.Swish(context.Background(), &computop.SwishPayment{TransID: "T1", Amount: 50, Currency: "EUR",
		OrderDesc: "Köp 1", Channel: computop.ChannelWeb, MobileNr: "0701234567", URLNotify: "https://x.example/n?id=1"})
	if !errors.As(err, &fe) {
		t.Fatalf("not a format error: %v", err)
	}
	want := []string{
		"Amount: n..10",
		"Currency: a3, SEK only",
		"OrderDesc: ans..128, " + computop.OrderDescNote + ": may not contain ' '",
		"MobileNr: n..20, 8–15 digits, country code without leading zero, required when Channel=Web: must start with the country code",
		"URLNotify: ans..256, https on port 443, no parameters (use UserData): may not contain parameters",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("violations %q lack %q", err, w)
		}
	}
	if e.sim.PaymentCount() != 0 {
		t.Errorf("a refused request reached the Paygate")
	}
}

// TestFailureWaitsForItsReason: an inquiry says the payment failed but not
// why; kvitt waits up to NotifyWait for the notification that says why
// (declined, not "failed"), and only then fails it with a message that does
// not pretend Computop accepted anything.
func TestFailureWaitsForItsReason(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnv(t, simcomputop.Options{DropNotifications: true}, computop.Config{Now: clock})
	p := e.payment(10000, "46701234567")
	apply(p, e.start(t, p))
	e.act(t, p, kvitt.CustomerDecline)
	u := e.status(t, p)
	if u.State != kvitt.PaymentPending || u.Retry <= 0 || u.Provider[computop.KeyFailedSeen] == "" {
		t.Fatalf("a failure without its reason: %+v", u)
	}
	apply(p, u)
	now = now.Add(computop.NotifyWait - time.Second)
	if u := e.status(t, p); u.State != kvitt.PaymentPending {
		t.Fatalf("before NotifyWait: %+v", u)
	}
	now = now.Add(2 * time.Second)
	u = e.status(t, p)
	if u.State != kvitt.PaymentFailed || strings.Contains(u.Message, "accepted") || !strings.Contains(u.Message, "No money was taken") {
		t.Fatalf("after NotifyWait: %+v", u)
	}
}
