package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/computop"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
)

// Provider faults for Swish through the Computop Paygate (issue 15), as
// TestProviderFaults has them for Swish: the faultProxy relay between
// kvitt's Paygate client and the simulator's failing front door (its web
// servers) for swish.aspx, inquire.aspx and credit.aspx, 5xx answers, and
// the notification (URLNotify) rows: repeated, late, out of order, forged
// (a bad MAC, bad encryption, an unknown token), and the Paygate reporting
// the money taken after kvitt had ended the payment. Each row has its own
// kvitt and simulator and ends on money: the Paygate's own book (one
// payment per TransID and per ReqID, captured once; each credit once) and
// kvitt's payment and sale.

// ctEnv is an in-process kvitt (env) with the computop method, whose client
// reaches the Paygate simulator through the relay px and its front door.
type ctEnv struct {
	*env
	ct    *simcomputop.Sim
	front *simcomputop.FaultFront
	px    *faultProxy
	keys  computop.Keys
	prov  *computop.Provider
}

// newCTEnv starts kvitt and the Paygate simulator (its notifications to
// kvitt's callback listener), with a short provider timeout, and runs the
// worker if worker.
func newCTEnv(t *testing.T, timeout time.Duration, worker bool, opts simcomputop.Options) *ctEnv {
	t.Helper()
	e := newEnv(t, options{}, false)
	opts.AllowAnyNotifyPort = true
	opts.NotifyTLS = &tls.Config{RootCAs: e.swish.PKI().RootPool()}
	ct, err := simcomputop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ct.Close() })
	front, err := ct.StartFaultFront()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	c := &ctEnv{env: e, ct: ct, front: front, px: newFaultProxy(t, front.Addr())}
	c.px.trigger = func() bool { return ct.PaymentCount() > 0 }
	o := ct.Options()
	c.keys = computop.Keys{MerchantID: o.MerchantID, Password: o.Password, HMACKey: o.HMACKey}
	c.prov = c.provider("https://"+c.px.addr+"/", timeout)
	e.h.Register(c.prov, ct.Customer())
	e.h.ProviderTimeout = timeout
	e.h.InFlightGrace = time.Second
	if worker {
		e.runWorker()
	}
	return c
}

func (c *ctEnv) provider(base string, timeout time.Duration) *computop.Provider {
	c.t.Helper()
	client, err := computop.NewClient(computop.ClientConfig{BaseURL: base, Keys: c.keys, TLS: c.ct.ClientTLS(), Timeout: timeout,
		Rules: computop.RuleContext{AllowAnyNotifyPort: true}})
	if err != nil {
		c.t.Fatal(err)
	}
	p, err := computop.NewProvider(computop.Config{Client: client, CallbackBaseURL: c.cbURL, CallbackSecret: c.secret, OrderDesc: "Kvitto"})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// notificationsOnNode2 starts a second kvitt node on the same database,
// whose Paygate client goes straight to the simulator, and sends the
// Paygate's notifications to it.
func (c *ctEnv) notificationsOnNode2() {
	c.t.Helper()
	logger := slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", "2")
	h := hub.New(c.db, logger)
	h.Register(c.provider(c.ct.URL(), 5*time.Second), c.ct.Customer())
	c.t.Cleanup(h.Close)
	c.cbTarget.Store(&handlerBox{kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: c.db, Logger: logger})})
}

// oneCharge checks the Paygate's own book: one payment, under p's TransID
// and the ReqID derived from it, paid (OK) and captured for its amount,
// and credits credits adding up to credited.
func (c *ctEnv) oneCharge(p *kvitt.Payment, credited int64, credits int) {
	c.t.Helper()
	l := c.ct.Ledger()
	if len(l.Payments) != 1 {
		c.t.Fatalf("the Paygate holds %d payments, want 1: %+v", len(l.Payments), l.Payments)
	}
	if g := l.Payments[0]; g.TransID != p.Reference || g.ReqID != computop.ReqID("pay", p.Reference) || g.Status != "OK" ||
		g.Amount != p.Amount || g.AmountCap != p.Amount || g.AmountCred != credited {
		c.t.Errorf("the Paygate's payment %+v; want TransID %s and ReqID %s, OK, %d captured, %d credited",
			g, p.Reference, computop.ReqID("pay", p.Reference), p.Amount, credited)
	}
	var sum int64
	for _, cr := range l.Credits {
		sum += cr.Amount
	}
	if len(l.Credits) != credits || sum != credited {
		c.t.Errorf("the Paygate's credits %+v, want %d adding up to %d", l.Credits, credits, credited)
	}
}

// notified waits until n notifications about transID were answered (any
// status) and returns them.
func (c *ctEnv) notified(transID string, n int) []simcomputop.Notification {
	c.t.Helper()
	var out []simcomputop.Notification
	eventually(c.t, fmt.Sprintf("%d notifications of %s answered", n, transID), func() string {
		out = out[:0]
		for _, x := range c.ct.Notifications() {
			if x.TransID == transID && (x.StatusCode != 0 || x.Err != "") {
				out = append(out, x)
			}
		}
		if len(out) < n {
			return fmt.Sprintf("%d answered: %+v", len(out), c.ct.Notifications())
		}
		return ""
	})
	return out
}

// postNotification posts a URLNotify form to kvitt's callback path for ref
// (token: the path's last segment; "" for the right one).
func (c *ctEnv) postNotification(ref, token string, form url.Values) int {
	c.t.Helper()
	if token == "" {
		token = c.prov.CallbackToken(ref)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.swish.PKI().RootPool()}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(c.cbURL+"/v1/callbacks/computop/"+token, "application/x-www-form-urlencoded; charset=iso-8859-1", strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// notification is a URLNotify form about p, sealed with keys, its MAC made
// with macKey ("" for none).
func (c *ctEnv) notification(p *kvitt.Payment, status, code, codeExt string, keys computop.Keys, macKey string) url.Values {
	c.t.Helper()
	payID := c.ct.Ledger().Payments[0].PayID
	params := computop.NewParams("mid", keys.MerchantID, "PayID", payID, "XID", "a5e3c3c9d1b24f0e8f7a6b5c4d3e2f10", "TransID", p.Reference,
		"Status", status, "Description", "notification", "Code", code)
	params.SetIf("CodeExt", codeExt)
	if macKey != "" {
		params.Set("MAC", computop.ResponseMAC(macKey, payID, p.Reference, keys.MerchantID, status, code))
	}
	env, err := keys.Seal(params)
	if err != nil {
		c.t.Fatal(err)
	}
	return url.Values{"MerchantID": {env.MerchantID}, "Len": {strconv.Itoa(env.Len)}, "Data": {env.Data}}
}

// nothingChanged checks that p still has the events and version it had,
// is paid, the sale counts it once, and the Paygate holds it captured once.
func (c *ctEnv) nothingChanged(p *kvitt.Payment, events []string, saleID string) {
	c.t.Helper()
	got := c.payment(p.ID)
	if after := transitions(c.events(p.ID)); !slices.Equal(events, after) {
		c.t.Errorf("the notifications changed the events: %v → %v", events, after)
	}
	if got.State != kvitt.PaymentPaid || got.Version != p.Version || got.Attention != "" {
		c.t.Errorf("payment %s version %d attention %q, want paid version %d (unchanged)", got.State, got.Version, got.Attention, p.Version)
	}
	if v := c.salePaid(saleID); v != p.Amount {
		c.t.Errorf("the sale counts %d as paid, want %d", v, p.Amount)
	}
	c.oneCharge(p, 0, 0)
}

// TestProviderFaultsComputop runs Swish payments through the Computop
// Paygate with each network fault, 5xx and notification fault; each row
// with its own kvitt and simulator, all at once.
func TestProviderFaultsComputop(t *testing.T) {
	if testing.Short() {
		t.Skip("network faults take seconds of provider timeouts")
	}
	const providerTimeout = 2 * time.Second
	cases := []struct {
		name string
		// fault sets the relay (or the front door) up before the create;
		// after runs once the create returned.
		fault func(c *ctEnv)
		after func(c *ctEnv)
		// created: the create's answer leaves the payment created (its
		// outcome not known); otherwise pending with the QR code.
		created bool
		// lostAnswer: swish.aspx reached the Paygate, its answer (with the
		// token for the QR code) did not reach kvitt.
		lostAnswer bool
		// failed: the payment ends failed with a message holding this.
		failed string
		// front: the front door must have failed this many requests of the endpoint.
		front    string
		frontN   int
		dropNote bool // the Paygate's notifications are lost: the poller finds the outcome
		// waitFront: the customer approves only once the front door has
		// failed its requests (an inquiry that failed while the payment
		// was open must not be taken for "not found").
		waitFront bool
	}{
		{name: "latency_below_timeout",
			fault: func(c *ctEnv) {
				c.px.delay = 100 * time.Millisecond
				c.px.mode.Store(int32(relayLatency))
			}},
		{name: "latency_beyond_timeout_on_create", created: true, lostAnswer: true,
			fault: func(c *ctEnv) {
				c.px.hold = providerTimeout + time.Second
				c.px.mode.Store(int32(relayHoldAnswer))
			}},
		{name: "reset_mid_create", created: true, lostAnswer: true,
			fault: func(c *ctEnv) { c.px.mode.Store(int32(relayResetAnswer)) }},
		{name: "connection_refused", created: true,
			fault: func(c *ctEnv) { c.px.down() },
			after: func(c *ctEnv) {
				time.Sleep(time.Second)
				c.px.up()
			}},
		{name: "5xx_before_create", created: true, front: "swish.aspx", frontN: 1,
			fault: func(c *ctEnv) { c.front.FailNext("swish.aspx", http.StatusServiceUnavailable, false) }},
		{name: "5xx_after_create", created: true, lostAnswer: true, front: "swish.aspx", frontN: 1,
			fault: func(c *ctEnv) { c.front.FailNext("swish.aspx", http.StatusInternalServerError, true) }},
		{name: "5xx_on_inquire", front: "inquire.aspx", frontN: 1, dropNote: true, waitFront: true,
			fault: func(c *ctEnv) { c.front.FailNext("inquire.aspx", http.StatusBadGateway, false) }},
		{name: "tls_other_ca", failed: "server certificate",
			fault: func(c *ctEnv) {
				impostor, err := simcomputop.New(simcomputop.Options{})
				if err != nil {
					c.t.Fatal(err)
				}
				c.t.Cleanup(func() {
					if n := impostor.PaymentCount(); n != 0 {
						c.t.Errorf("the impostor Paygate holds %d payments", n)
					}
					impostor.Close()
				})
				host := strings.TrimSuffix(strings.TrimPrefix(impostor.URL(), "https://"), "/")
				c.px.upstream.Store(&host)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCTEnv(t, providerTimeout, true, simcomputop.Options{DropNotifications: tc.dropNote})
			ctx := ctxT(t)
			s := c.sale(ctx, till1, 4200)
			tc.fault(c)
			p := c.pay(ctx, s.ID, computop.Method, 4200)
			if tc.after != nil {
				tc.after(c)
			}
			if m := faultMode(c.px.mode.Load()); (m == relayHoldAnswer || m == relayResetAnswer) && !c.px.fired.Load() {
				t.Fatalf("the fault never fired: the create's answer went through (payment %s)", p.State)
			}
			if tc.failed != "" {
				if p.State != kvitt.PaymentFailed || !strings.Contains(p.Message, tc.failed) {
					t.Fatalf("payment %s (%s %q), want failed naming the %s", p.State, p.ErrorCode, p.Message, tc.failed)
				}
				if n := c.ct.PaymentCount(); n != 0 {
					t.Errorf("the Paygate holds %d payments, want none", n)
				}
				if v := c.salePaid(s.ID); v != 0 {
					t.Errorf("the sale counts %d as paid", v)
				}
				return
			}
			if tc.created {
				if p.State != kvitt.PaymentCreated {
					t.Fatalf("payment after the fault: %s (%s %q), want created (outcome not known)", p.State, p.ErrorCode, p.Message)
				}
			} else if p.State != kvitt.PaymentPending {
				t.Fatalf("payment: %s (%s %q), want pending", p.State, p.ErrorCode, p.Message)
			}

			// The poller settles it: at Swish through the Paygate, under
			// the stored TransID and ReqID, open.
			eventually(t, "the payment known at the Paygate", func() string {
				p = c.payment(p.ID)
				if p.State != kvitt.PaymentPending {
					return fmt.Sprintf("%s (%s %q)", p.State, p.ErrorCode, p.Message)
				}
				if st, _, _, _, ok := c.ct.Payment(p.Reference); !ok || st != "AUTHORIZE_REQUEST" {
					return fmt.Sprintf("Paygate: %q %v", st, ok)
				}
				return ""
			})
			if tc.lostAnswer {
				if p.Action != nil || !strings.Contains(p.Message, "QR") {
					t.Errorf("pending after a lost answer with action %+v and message %q, want none and a message saying the QR code cannot be shown", p.Action, p.Message)
				}
			} else if tok := p.Provider[computop.KeyTokenExt]; tok == "" || p.Action == nil || p.Action.QRData != "D"+tok {
				t.Errorf("pending with action %+v, token %q: want the QR code", p.Action, tok)
			}
			if tc.waitFront {
				eventually(t, "the front door's failures", func() string {
					return map[bool]string{true: "", false: "not yet"}[c.front.Failed(tc.front) >= tc.frontN]
				})
			}
			// The customer approves (in the Swish app, by the QR code, or
			// through the simulator by TransID when the token was lost).
			if err := c.ct.Customer().Do(ctx, p.Reference, "approve"); err != nil {
				t.Fatal(err)
			}
			p = c.waitState(p.ID, kvitt.PaymentPaid)
			if n := countState(c.events(p.ID), kvitt.PaymentPaid); n != 1 {
				t.Errorf("%d transitions to paid, want 1: %v", n, transitions(c.events(p.ID)))
			}
			if v := c.salePaid(s.ID); v != 4200 {
				t.Errorf("the sale counts %d as paid, want 4200", v)
			}
			c.oneCharge(p, 0, 0)
			if tc.front != "" && c.front.Failed(tc.front) != tc.frontN {
				t.Errorf("the front door failed %d %s requests, want %d", c.front.Failed(tc.front), tc.front, tc.frontN)
			}
		})
	}

	credits := []struct {
		name  string
		fault func(c *ctEnv)
		front string
	}{
		{name: "reset_mid_credit", fault: func(c *ctEnv) {
			c.px.trigger = func() bool { return len(c.ct.Ledger().Credits) > 0 }
			c.px.mode.Store(int32(relayResetAnswer))
		}},
		{name: "5xx_before_credit", front: "credit.aspx",
			fault: func(c *ctEnv) { c.front.FailNext("credit.aspx", http.StatusServiceUnavailable, false) }},
		{name: "5xx_after_credit", front: "credit.aspx",
			fault: func(c *ctEnv) { c.front.FailNext("credit.aspx", http.StatusInternalServerError, true) }},
	}
	for _, tc := range credits {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testComputopCreditFault(t, providerTimeout, tc.fault, tc.front)
		})
	}
	t.Run("notify_duplicate", func(t *testing.T) { t.Parallel(); testComputopNotifyDuplicate(t, providerTimeout) })
	t.Run("notify_late", func(t *testing.T) { t.Parallel(); testComputopNotifyLate(t, providerTimeout) })
	t.Run("notify_out_of_order", func(t *testing.T) { t.Parallel(); testComputopNotifyOutOfOrder(t, providerTimeout) })
	t.Run("notify_forged", func(t *testing.T) { t.Parallel(); testComputopNotifyForged(t, providerTimeout) })
	t.Run("paid_after_expired", func(t *testing.T) { t.Parallel(); testComputopPaidAfterExpired(t, providerTimeout) })
}

// payComputop takes a paid Computop payment of amount for a new sale, its
// notification acknowledged (the Paygate takes no credit before).
func (c *ctEnv) payComputop(ctx context.Context, amount int64) (*kvitt.Sale, *kvitt.Payment) {
	c.t.Helper()
	s := c.sale(ctx, till1, amount)
	p := c.pay(ctx, s.ID, computop.Method, amount)
	if p.State != kvitt.PaymentPending {
		c.t.Fatalf("payment %s (%q), want pending", p.State, p.Message)
	}
	if err := c.ct.Customer().Do(ctx, p.Reference, "approve"); err != nil {
		c.t.Fatal(err)
	}
	p = c.waitState(p.ID, kvitt.PaymentPaid)
	if n := c.notified(p.Reference, 1); n[0].StatusCode != http.StatusOK {
		c.t.Fatalf("notification %+v, want answered 200", n[0])
	}
	return s, c.payment(p.ID)
}

// testComputopCreditFault: a refund's credit.aspx meets fault (its answer
// lost after the credit was paid out, or a 5xx before or after). The
// refund is not booked failed nor sent twice: it is resent with its ReqID,
// and the Paygate answers with the original's result or carries it out
// once. One credit at the Paygate; the payment refunded.
func testComputopCreditFault(t *testing.T, timeout time.Duration, fault func(c *ctEnv), front string) {
	c := newCTEnv(t, timeout, true, simcomputop.Options{})
	ctx := ctxT(t)
	_, p := c.payComputop(ctx, 4200)
	fault(c)
	r, err := c.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 4200})
	if err != nil {
		t.Fatal(err)
	}
	if m := faultMode(c.px.mode.Load()); m == relayResetAnswer && !c.px.fired.Load() {
		t.Fatalf("the fault never fired: the credit's answer went through (refund %s)", r.State)
	}
	if r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		t.Fatalf("refund %s (%q) after the fault, want it undecided", r.State, r.Message)
	}
	r = c.waitRefund(r.ID, kvitt.RefundSucceeded)
	if p = c.waitState(p.ID, kvitt.PaymentRefunded); p.Refunded != 4200 {
		t.Errorf("payment refunded %d, want 4200", p.Refunded)
	}
	l := c.ct.Ledger().Credits
	if len(l) != 1 || l[0].ReqID != computop.ReqID("credit", r.Reference) || l[0].Amount != 4200 {
		t.Errorf("the Paygate's credits %+v, want one of 4200 under the refund's ReqID", l)
	}
	c.oneCharge(p, 4200, 1)
	if front != "" && c.front.Failed(front) != 1 {
		t.Errorf("the front door failed %d %s requests, want 1", c.front.Failed(front), front)
	}
}

// testComputopNotifyDuplicate: the payment is paid by its notification;
// the Paygate sends it twice more: each is taken (200), nothing changes.
func testComputopNotifyDuplicate(t *testing.T, timeout time.Duration) {
	c := newCTEnv(t, timeout, false, simcomputop.Options{})
	ctx := ctxT(t)
	s, p := c.payComputop(ctx, 3000)
	es := c.events(p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CauseCallback {
		t.Fatalf("paid by %s, want the notification: %v", last.Cause, transitions(es))
	}
	events := transitions(es)
	for range 2 {
		if err := c.ct.Renotify(p.Reference); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.notified(p.Reference, 3) {
		if n.StatusCode != http.StatusOK {
			t.Errorf("notification %+v, want answered 200", n)
		}
	}
	c.nothingChanged(p, events, s.ID)
}

// testComputopNotifyLate: the notification is lost when the customer
// approves; the poller finds the payment paid. The Paygate's retry then
// arrives: taken, nothing changes; and since it is acknowledged now, the
// Paygate takes a credit.
func testComputopNotifyLate(t *testing.T, timeout time.Duration) {
	c := newCTEnv(t, timeout, true, simcomputop.Options{DropNotifications: true})
	ctx := ctxT(t)
	s := c.sale(ctx, till1, 3000)
	p := c.pay(ctx, s.ID, computop.Method, 3000)
	if err := c.ct.Customer().Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = c.waitState(p.ID, kvitt.PaymentPaid)
	es := c.events(p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CausePoller {
		t.Fatalf("paid by %s, want the poller: %v", last.Cause, transitions(es))
	}
	events := transitions(es)
	c.ct.SetDropNotifications(false)
	if err := c.ct.Renotify(p.Reference); err != nil {
		t.Fatal(err)
	}
	if n := c.notified(p.Reference, 1); n[0].StatusCode != http.StatusOK {
		t.Errorf("late notification %+v, want answered 200", n[0])
	}
	c.nothingChanged(p, events, s.ID)
	r, err := c.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 1000})
	if err != nil || r.State != kvitt.RefundSucceeded {
		t.Fatalf("refund after the late notification: %+v %v, want succeeded", r, err)
	}
	c.oneCharge(c.payment(p.ID), 1000, 1)
}

// testComputopNotifyOutOfOrder: swish.aspx reaches the Paygate and its
// answer is held in the network; the customer approves meanwhile, and the
// OK notification reaches another kvitt node, which books the payment
// paid before the answer (AUTHORIZE_REQUEST, pending) is in; the answer,
// arriving after, must not move it back. Then a FAILED notification with a
// right MAC, and the OK one again, come after: nothing changes.
func testComputopNotifyOutOfOrder(t *testing.T, timeout time.Duration) {
	c := newCTEnv(t, timeout, false, simcomputop.Options{})
	ctx := ctxT(t)
	c.px.mode.Store(int32(relayGateAnswer))
	c.notificationsOnNode2()
	s := c.sale(ctx, till1, 3300)
	created := make(chan *kvitt.Payment, 1)
	go func() {
		p, err := c.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: computop.Method, Amount: 3300})
		if err != nil {
			t.Errorf("create payment: %v", err)
		}
		created <- p
	}()
	eventually(t, "the swish.aspx answer held in the network", func() string {
		return map[bool]string{true: "", false: "not yet"}[c.px.fired.Load()]
	})
	p := c.storedPayment(s.ID)
	if err := c.ct.Customer().Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = c.waitState(p.ID, kvitt.PaymentPaid)
	c.px.openGate()
	select {
	case answered := <-created:
		if answered == nil || answered.State != kvitt.PaymentPaid {
			t.Fatalf("the late swish.aspx answer left the payment %+v, want paid", answered)
		}
	case <-time.After(waitLimit):
		t.Fatal("swish.aspx never answered")
	}
	p = c.payment(p.ID)
	events := transitions(c.events(p.ID))
	if want := []string{">created/api", "created>paid/callback"}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v: the create's answer must not move a paid payment", events, want)
	}
	if p.Action != nil {
		t.Errorf("paid payment with action %+v for the till", p.Action)
	}
	// A FAILED notification, authentic, after the OK; then the OK again.
	failed := c.notification(p, "FAILED", simcomputop.CodeSwishFailed, "RF07", c.keys, c.keys.HMACKey)
	if code := c.postNotification(p.Reference, "", failed); code != http.StatusOK {
		t.Errorf("FAILED after OK: %d, want 200 (taken as a hint)", code)
	}
	if err := c.ct.Renotify(p.Reference); err != nil {
		t.Fatal(err)
	}
	c.notified(p.Reference, 2)
	c.nothingChanged(p, events, s.ID)
}

// testComputopNotifyForged: the customer has approved; the Paygate's
// notification is lost and no poller runs, so only a notification can tell
// kvitt. Forged ones are refused: a MAC made with another key or none (401),
// Data enciphered with another password or not hex (400), an unknown token
// in the path (401); nothing changes. The genuine one, sent again, makes
// the payment paid.
func testComputopNotifyForged(t *testing.T, timeout time.Duration) {
	c := newCTEnv(t, timeout, false, simcomputop.Options{DropNotifications: true})
	ctx := ctxT(t)
	s := c.sale(ctx, till1, 2500)
	p := c.pay(ctx, s.ID, computop.Method, 2500)
	if err := c.ct.Customer().Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = c.payment(p.ID)
	events := transitions(c.events(p.ID))
	other := c.keys
	other.Password = "an0ther-Passw0rd"
	garbage := c.notification(p, "OK", computop.CodeOK, "", c.keys, c.keys.HMACKey)
	garbage.Set("Data", "not hex at all")
	for _, f := range []struct {
		name  string
		token string
		form  url.Values
		want  int
	}{
		{"a MAC made with another key", "", c.notification(p, "OK", computop.CodeOK, "", c.keys, "not the HMAC key"), http.StatusUnauthorized},
		{"no MAC", "", c.notification(p, "OK", computop.CodeOK, "", c.keys, ""), http.StatusUnauthorized},
		{"Data enciphered with another password", "", c.notification(p, "OK", computop.CodeOK, "", other, c.keys.HMACKey), http.StatusBadRequest},
		{"Data not hex", "", garbage, http.StatusBadRequest},
		{"an unknown token", p.Reference + "-AAAAAAAAAAAAAAAAAAAAAAAAAA", c.notification(p, "OK", computop.CodeOK, "", c.keys, c.keys.HMACKey), http.StatusUnauthorized},
	} {
		if code := c.postNotification(p.Reference, f.token, f.form); code != f.want {
			t.Errorf("forged notification (%s): %d, want %d", f.name, code, f.want)
		}
	}
	if q := c.payment(p.ID); q.State != kvitt.PaymentPending || q.Version != p.Version || !slices.Equal(events, transitions(c.events(p.ID))) {
		t.Errorf("after forged notifications the payment is %s (%v), want pending as before", q.State, transitions(c.events(p.ID)))
	}

	// The genuine notification, as the Paygate's retry sends it.
	c.ct.SetDropNotifications(false)
	if err := c.ct.Renotify(p.Reference); err != nil {
		t.Fatal(err)
	}
	p = c.waitState(p.ID, kvitt.PaymentPaid)
	es := c.events(p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CauseCallback || countState(es, kvitt.PaymentPaid) != 1 {
		t.Errorf("events %v, want one transition to paid, by the genuine notification", transitions(es))
	}
	if v := c.salePaid(s.ID); v != 2500 {
		t.Errorf("the sale counts %d as paid, want 2500", v)
	}
	c.oneCharge(p, 0, 0)
}

// testComputopPaidAfterExpired: the customer's time runs out (TM01) and
// kvitt books the payment expired; then the Paygate reports it OK after all
// and notifies. kvitt books it paid with attention: counted for nothing,
// listed for a person, and the sale cannot complete on it. The person
// refunds it (a credit, once); the customer pays cash.
func testComputopPaidAfterExpired(t *testing.T, timeout time.Duration) {
	c := newCTEnv(t, timeout, true, simcomputop.Options{})
	ctx := ctxT(t)
	s := c.sale(ctx, till1, 4200)
	p := c.pay(ctx, s.ID, computop.Method, 4200)
	if err := c.ct.Customer().Do(ctx, p.Reference, "timeout"); err != nil {
		t.Fatal(err)
	}
	p = c.waitState(p.ID, kvitt.PaymentExpired)
	c.notified(p.Reference, 1)
	if err := c.ct.LatePay(p.Reference); err != nil {
		t.Fatal(err)
	}
	p = c.waitAttention(p.ID, kvitt.AttentionPaidAfterExpired)
	c.checkLatePayment(p, kvitt.PaymentExpired, hub.CauseCallback, 0)

	r, err := c.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 4200})
	if err != nil {
		t.Fatal(err)
	}
	if r = c.waitRefund(r.ID, kvitt.RefundSucceeded); r.ReceiptID != "" {
		t.Errorf("refunding money that was never the sale's issued return receipt %s", r.ReceiptID)
	}
	p = c.waitState(p.ID, kvitt.PaymentRefunded)
	if n := c.recoveryLen(); n != 0 {
		t.Errorf("recovery lists %d items after the refund, want none", n)
	}
	c.pay(ctx, s.ID, "cash", 4200)
	rc, err := c.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Tenders) != 1 || rc.Tenders[0].Method != "cash" {
		t.Errorf("receipt tenders %+v, want the cash alone", rc.Tenders)
	}
	c.oneCharge(p, 4200, 1)
}
