package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/receipt"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// postCallback posts body to kvitt's callback listener at path (or a full
// URL), as Swish does, and returns the status code and body.
func (e *env) postCallback(target string, body string) (int, string) {
	e.t.Helper()
	if !strings.HasPrefix(target, "https://") {
		target = e.cbURL + target
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.swish.PKI().RootPool()}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(target, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("post callback: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startSwish opens a sale of amount on till 1 and starts an in-store Swish
// payment for it; it checks what the till is given to show.
func (e *env) startSwish(ctx context.Context, amount int64) (*kvitt.Sale, *kvitt.Payment) {
	e.t.Helper()
	s := e.sale(ctx, till1, amount)
	p := e.pay(ctx, s.ID, "swish", amount)
	if p.State != kvitt.PaymentPending {
		e.t.Fatalf("swish payment after create: %s (%s %s), want pending", p.State, p.ErrorCode, p.Message)
	}
	tok := p.Provider[swish.KeyToken]
	if tok == "" || p.Action == nil || p.Action.Type != "show_qr" || p.Action.QRData != "D"+tok {
		e.t.Fatalf("swish payment action %+v, token %q: want a QR code D<token>", p.Action, tok)
	}
	if st, _, ok := e.swish.PaymentStatus(p.Reference); !ok || st != "CREATED" {
		e.t.Fatalf("simulator has payment request %s: %q %v, want CREATED", p.Reference, st, ok)
	}
	return s, p
}

// TestSwishInStorePaidAndReceipted: QR shown, the customer scans and
// approves, the callback makes the payment paid (no worker runs, so nothing
// else could), the sale completes and its receipt is registered.
func TestSwishInStorePaidAndReceipted(t *testing.T) {
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	s, p := e.startSwish(ctx, 12500)

	// The customer scans the QR code (the token) and approves in the app.
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	if p.Provider[swish.KeyPaymentReference] == "" || p.Action != nil {
		t.Errorf("paid payment: Swish paymentReference %q, action %+v; want a reference and no action", p.Provider[swish.KeyPaymentReference], p.Action)
	}
	want := []string{">created/api", "created>pending/provider", "pending>paid/callback"}
	if got := transitions(e.events(p.ID)); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	// The simulator records the answer after kvitt has applied the callback.
	eventually(t, "one callback answered 200", func() string {
		cbs := e.swish.Callbacks()
		if len(cbs) != 1 || cbs[0].StatusCode != http.StatusOK {
			return fmt.Sprintf("callbacks %+v", cbs)
		}
		if u := cbs[0].URL; u != p.Provider[swish.KeyCallbackURL] || !strings.HasPrefix(u, e.cbURL+"/v1/callbacks/swish/"+p.Reference+"-") {
			return "callback went to " + u
		}
		return ""
	})

	rc, err := e.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Serial != 1 || rc.Registration != kvitt.RegistrationRegistered || rc.ControlCode == "" || rc.ControlUnitID != e.cu.UnitID() {
		t.Errorf("receipt serial %d registration %s code %q unit %q; want 1, registered, a code from %s",
			rc.Serial, rc.Registration, rc.ControlCode, rc.ControlUnitID, e.cu.UnitID())
	}
	if len(rc.Tenders) != 1 || rc.Tenders[0].Method != "swish" || rc.Tenders[0].Amount != 12500 {
		t.Errorf("tenders %+v, want one swish tender of 12500", rc.Tenders)
	}
	if es := e.cu.Entries(); len(es) != 1 || es[0].Code != rc.ControlCode {
		t.Errorf("control unit holds %d entries (%+v), want exactly the receipt's", len(es), es)
	}
	text := receipt.Text(rc, 42)
	for _, w := range []string{"Swish", "125,00", groups8(rc.ControlCode)} {
		if !strings.Contains(text, w) {
			t.Errorf("receipt text lacks %q:\n%s", w, text)
		}
	}
	if e.swish.PaymentCount() != 1 {
		t.Errorf("simulator holds %d payment requests, want 1", e.swish.PaymentCount())
	}
	e.verifyJournal()
}

// tokenFor returns the last path segment of a callback URL.
func tokenFor(t *testing.T, u string) string { return u[strings.LastIndexByte(u, '/')+1:] }

// groups8 writes a control code as the receipt prints it: groups of eight.
func groups8(code string) string {
	var parts []string
	for len(code) > 8 {
		parts = append(parts, code[:8])
		code = code[8:]
	}
	return strings.Join(append(parts, code), " ")
}

// TestSwishLostCallbackRecoveredByPoller: Swish's callback never arrives;
// the payment.sync job reads the payment and finds it paid.
func TestSwishLostCallbackRecoveredByPoller(t *testing.T) {
	e := newEnv(t, options{dropCallbacks: true}, true)
	ctx := ctxT(t)
	s, p := e.startSwish(ctx, 9900)
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	es := e.events(p.ID)
	if last := es[len(es)-1]; last.To != kvitt.PaymentPaid || last.Cause != hub.CausePoller {
		t.Errorf("paid by %q, want the poller (%v)", last.Cause, transitions(es))
	}
	if n := countState(es, kvitt.PaymentPaid); n != 1 {
		t.Errorf("%d transitions to paid, want 1", n)
	}
	cbs := e.swish.Callbacks()
	if len(cbs) != 1 || !cbs[0].Dropped {
		t.Errorf("callbacks %+v, want one dropped", cbs)
	}
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if e.swish.PaymentCount() != 1 {
		t.Errorf("simulator holds %d payment requests, want 1", e.swish.PaymentCount())
	}
	// Once decided, the payment's sync job is finished.
	eventually(t, "sync job done", func() string {
		if js := e.jobs("payment.sync", p.ID); len(js) != 0 {
			return "payment.sync still queued"
		}
		return ""
	})
}

func countState(es []*kvitt.PaymentEvent, s kvitt.PaymentState) int {
	n := 0
	for _, ev := range es {
		if ev.To == s {
			n++
		}
	}
	return n
}

// TestSwishRestartBetweenPutAndCallback: the payment request is created,
// kvitt goes down, the customer approves while it is down (the callback
// finds nobody), kvitt starts again with a new worker: the sync job finds
// the payment paid. Swish holds exactly one payment request.
func TestSwishRestartBetweenPutAndCallback(t *testing.T) {
	// The first process runs no worker: a job leased by a worker that stops
	// keeps its lease (60 s) and would only delay the new one.
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	s, p := e.startSwish(ctx, 4500)
	e.stop()

	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "callback refused while kvitt is down", func() string {
		cbs := e.swish.Callbacks()
		if len(cbs) != 1 || cbs[0].StatusCode == 0 && cbs[0].Err == "" {
			return "callback not delivered yet"
		}
		return ""
	})
	if cb := e.swish.Callbacks()[0]; cb.StatusCode == http.StatusOK {
		t.Fatalf("callback answered 200 while kvitt was down: %+v", cb)
	}

	e.start(true)
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	es := e.events(p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CausePoller {
		t.Errorf("paid by %q, want the poller: %v", last.Cause, transitions(es))
	}
	if n := e.swish.PaymentCount(); n != 1 {
		t.Errorf("simulator holds %d payment requests, want exactly 1", n)
	}
	rc, err := e.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Serial != 1 || rc.Registration != kvitt.RegistrationRegistered {
		t.Errorf("receipt serial %d %s, want 1 registered", rc.Serial, rc.Registration)
	}
	e.verifyJournal()
}

// TestSwishForgedCallback: a callback with a bad token is refused with 401
// and changes nothing, even when Swish has the payment paid; the genuine
// callback then makes it paid.
func TestSwishForgedCallback(t *testing.T) {
	e := newEnv(t, options{dropCallbacks: true}, false)
	ctx := ctxT(t)
	_, p := e.startSwish(ctx, 2000)
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	before := transitions(e.events(p.ID))
	real := e.swish.Callbacks()[0]

	body := `{"id":"` + p.Reference + `","status":"PAID"}`
	for _, token := range []string{
		p.Reference + "-AAAAAAAAAAAAAAAAAAAAAAAAAA", // the right reference, a made-up MAC
		p.Reference, // no MAC at all
		strings.Repeat("A", 32) + "-" + tokenFor(t, real.URL)[33:], // another reference with this payment's MAC
		strings.ToLower(tokenFor(t, real.URL)),                     // case changed
	} {
		code, resp := e.postCallback("/v1/callbacks/swish/"+token, body)
		if code != http.StatusUnauthorized {
			t.Errorf("forged callback %s: %d %s, want 401", token, code, resp)
		}
		if !strings.Contains(resp, `"code"`) {
			t.Errorf("forged callback answer is not a JSON error: %s", resp)
		}
	}
	if got := e.payment(p.ID); got.State != kvitt.PaymentPending {
		t.Errorf("after forged callbacks the payment is %s, want pending", got.State)
	}
	if after := transitions(e.events(p.ID)); !slices.Equal(before, after) {
		t.Errorf("forged callbacks changed the events: %v → %v", before, after)
	}

	// The genuine callback (the one Swish could not deliver) is taken.
	if code, resp := e.postCallback(real.URL, string(real.Body)); code != http.StatusOK {
		t.Fatalf("genuine callback: %d %s", code, resp)
	}
	e.waitState(p.ID, kvitt.PaymentPaid)
}

// TestSwishDuplicateAndLateCallbacks: callbacks replayed after the payment
// is paid, and a late callback claiming another outcome, change nothing.
func TestSwishDuplicateAndLateCallbacks(t *testing.T) {
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	_, p := e.startSwish(ctx, 3000)
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	eventually(t, "callback delivered", func() string {
		if cbs := e.swish.Callbacks(); len(cbs) != 1 || cbs[0].StatusCode != http.StatusOK {
			return "not yet"
		}
		return ""
	})
	cb := e.swish.Callbacks()[0]
	before := transitions(e.events(p.ID))
	journal := e.verifyJournal()

	for i := 0; i < 3; i++ {
		if code, resp := e.postCallback(cb.URL, string(cb.Body)); code != http.StatusOK {
			t.Errorf("duplicate callback %d: %d %s", i, code, resp)
		}
	}
	late := strings.Replace(string(cb.Body), `"PAID"`, `"DECLINED"`, 1)
	if code, resp := e.postCallback(cb.URL, late); code != http.StatusOK {
		t.Errorf("late callback: %d %s", code, resp)
	}
	if after := transitions(e.events(p.ID)); !slices.Equal(before, after) {
		t.Errorf("duplicate/late callbacks changed the events: %v → %v", before, after)
	}
	got := e.payment(p.ID)
	if got.State != kvitt.PaymentPaid || got.Version != p.Version {
		t.Errorf("payment %s version %d, want paid version %d (unchanged)", got.State, got.Version, p.Version)
	}
	if n := e.verifyJournal(); n != journal {
		t.Errorf("journal grew from %d to %d entries on duplicate callbacks", journal, n)
	}
}

// TestSwishDS24IsUnknown: Swish ends the payment in ERROR DS24 (no answer
// from the banks after the payment started). The outcome is unknown: the
// payment is unknown, shown for recovery, never polled into a guess.
//
// The hub's PaymentInput has no message; the Swish adapter sends its
// configured Config.Message, which the simulator (like Swish's MSS) reads as
// a forced outcome, so DS24 is forced through the hub by configuring it.
func TestSwishDS24IsUnknown(t *testing.T) {
	e := newEnv(t, options{swishMessage: "DS24"}, true)
	ctx := ctxT(t)
	s, p := e.startSwish(ctx, 5000)
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	if st, code, _ := e.swish.PaymentStatus(p.Reference); st != "ERROR" || code != "DS24" {
		t.Fatalf("simulator: %s %s, want ERROR DS24", st, code)
	}
	p = e.waitState(p.ID, kvitt.PaymentUnknown)
	if p.ErrorCode != "DS24" || p.Message == "" {
		t.Errorf("unknown payment code %q message %q, want DS24 and a message for the cashier", p.ErrorCode, p.Message)
	}
	page, err := e.h.Recovery(ctx, till1, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	items := page.Items
	if len(items) != 1 || items[0].Payment.ID != p.ID {
		t.Errorf("recovery lists %d items, want the unknown payment", len(items))
	}
	if _, err := e.h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("completing a sale with an unknown payment: %v, want ECONFLICT", err)
	}
	eventually(t, "no sync job for an unknown payment", func() string {
		if js := e.jobs("payment.sync", p.ID); len(js) != 0 {
			return "payment.sync still queued"
		}
		return ""
	})
	// A person checks with the bank and resolves it.
	p, err = e.h.ResolvePayment(ctx, p.ID, kvitt.PaymentFailed, "customer's bank says no money moved", "test")
	if err != nil || p.State != kvitt.PaymentFailed {
		t.Fatalf("resolve: %v %v", p, err)
	}
	if n := e.swish.PaymentCount(); n != 1 {
		t.Errorf("simulator holds %d payment requests, want 1", n)
	}
}

// TestSwishRefunds: a partial refund, a refund above what is left refused,
// then the rest: the payment ends refunded, Swish holds two refunds.
func TestSwishRefunds(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s, p := e.startSwish(ctx, 10000)
	if _, err := e.h.ActAsCustomer(ctx, p.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitState(p.ID, kvitt.PaymentPaid)
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}

	r1, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 4000})
	if err != nil {
		t.Fatal(err)
	}
	r1 = e.waitRefund(r1.ID, kvitt.RefundSucceeded)
	p = e.waitState(p.ID, kvitt.PaymentPartiallyRefunded)
	if p.Refunded != 4000 {
		t.Errorf("refunded %d, want 4000", p.Refunded)
	}
	if _, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 6001}); kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE {
		t.Errorf("refund above what is left: %v, want EUNPROCESSABLE", err)
	}
	r2, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 6000})
	if err != nil {
		t.Fatal(err)
	}
	e.waitRefund(r2.ID, kvitt.RefundSucceeded)
	p = e.waitState(p.ID, kvitt.PaymentRefunded)
	if p.Refunded != 10000 {
		t.Errorf("refunded %d, want 10000", p.Refunded)
	}
	if _, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 1}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("refund of a refunded payment: %v, want ECONFLICT", err)
	}
	if n := e.swish.RefundCount(); n != 2 {
		t.Errorf("simulator holds %d refunds, want 2", n)
	}
	if r1.Provider[swish.KeyPaymentReference] == "" {
		t.Errorf("refund has no Swish paymentReference: %v", r1.Provider)
	}
	// The paid transition's cause is whoever saw it first (the sandbox's
	// re-read, the callback or the poller); the refunds are the refund's.
	es := e.events(p.ID)
	var got []string
	for _, ev := range es {
		got = append(got, string(ev.To))
	}
	want := []string{"created", "pending", "paid", "partially_refunded", "refunded"}
	if !slices.Equal(got, want) || es[3].Cause != hub.CauseRefund || es[4].Cause != hub.CauseRefund {
		t.Errorf("events %v, want states %v with the refunds caused by refund", transitions(es), want)
	}
	e.verifyJournal()
}

func (e *env) waitRefund(id string, state kvitt.RefundState) *kvitt.Refund {
	e.t.Helper()
	var r *kvitt.Refund
	eventually(e.t, "refund "+id+" "+string(state), func() string {
		var err error
		if r, err = e.h.GetRefund(context.Background(), id); err != nil {
			return err.Error()
		}
		if r.State != state {
			return string(r.State) + " " + r.ErrorCode + " " + r.Message
		}
		return ""
	})
	return r
}

// TestSwishLostCreateRequestResent: the PUT never reaches Swish. The
// payment stays as stored; the sync job asks Swish (404) and sends the
// request again with the same instructionUUID. The customer then pays:
// one payment request, paid once.
func TestSwishLostCreateRequestResent(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s := e.sale(ctx, till1, 6600)
	e.swish.InjectFault(simswish.LoseRequest)
	p := e.pay(ctx, s.ID, "swish", 6600)
	if p.State != kvitt.PaymentCreated {
		t.Fatalf("payment after a lost PUT: %s, want created (outcome not known)", p.State)
	}
	if n := e.swish.PaymentCount(); n != 0 {
		t.Fatalf("simulator holds %d payment requests after a lost PUT", n)
	}
	eventually(t, "payment request re-sent with its QR code", func() string {
		p = e.payment(p.ID)
		if p.State != kvitt.PaymentPending || p.Provider[swish.KeyToken] == "" {
			return fmt.Sprintf("%s, token %q", p.State, p.Provider[swish.KeyToken])
		}
		return ""
	})
	if st, _, ok := e.swish.PaymentStatus(p.Reference); !ok || st != "CREATED" {
		t.Fatalf("simulator: %q %v for the stored reference", st, ok)
	}
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	if n := e.swish.PaymentCount(); n != 1 {
		t.Errorf("simulator holds %d payment requests, want 1", n)
	}
	if n := countState(e.events(p.ID), kvitt.PaymentPaid); n != 1 {
		t.Errorf("%d transitions to paid", n)
	}
}

// TestSwishLostCreateAnswer: Swish creates the request but its answer (with
// the QR token) is lost. kvitt asks rather than creating another: it finds
// the request, cannot show a QR code for it and says so; the cashier
// cancels it. One payment request, cancelled at Swish.
func TestSwishLostCreateAnswer(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s := e.sale(ctx, till1, 3300)
	e.swish.InjectFault(simswish.LoseResponse)
	p := e.pay(ctx, s.ID, "swish", 3300)
	if p.State != kvitt.PaymentCreated {
		t.Fatalf("payment after a lost answer: %s, want created", p.State)
	}
	eventually(t, "the sync job found the request", func() string {
		p = e.payment(p.ID)
		if p.State != kvitt.PaymentPending || !strings.Contains(p.Message, "QR") {
			return fmt.Sprintf("%s %q", p.State, p.Message)
		}
		return ""
	})
	if n := e.swish.PaymentCount(); n != 1 {
		t.Errorf("simulator holds %d payment requests, want 1", n)
	}
	p, err := e.h.CancelPayment(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentCancelled {
		t.Errorf("after cancel: %s", p.State)
	}
	if st, _, _ := e.swish.PaymentStatus(p.Reference); st != "CANCELLED" {
		t.Errorf("simulator: %s, want CANCELLED", st)
	}
	if n := e.swish.PaymentCount(); n != 1 {
		t.Errorf("simulator holds %d payment requests, want 1", n)
	}
}

// TestSwishCallbacksRacePoller: the callback (delivered many times at once),
// the poller and a till's sync all learn of the same payment together:
// exactly one transition to paid, one journal entry for it.
func TestSwishCallbacksRacePoller(t *testing.T) {
	e := newEnv(t, options{dropCallbacks: true}, false)
	ctx := ctxT(t)
	_, p := e.startSwish(ctx, 1500)
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	cb := e.swish.Callbacks()[0]
	e.runWorker()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if code, resp := e.postCallback(cb.URL, string(cb.Body)); code != http.StatusOK {
				t.Errorf("callback: %d %s", code, resp)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := e.h.SyncPayment(ctx, p.ID, hub.CauseAPI); err != nil {
				t.Errorf("sync: %v", err)
			}
		}()
	}
	wg.Wait()
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	es := e.events(p.ID)
	if n := countState(es, kvitt.PaymentPaid); n != 1 || len(es) != 3 {
		t.Errorf("events %v, want created, pending and one paid", transitions(es))
	}
	if n := e.journalKinds(p.ID)["payment.state"]; n != 3 {
		t.Errorf("%d payment.state journal entries, want 3", n)
	}
	e.verifyJournal()
}
