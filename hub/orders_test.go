package hub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/svea"
)

// orderRig is a hub over a real store with Svea Instore against the simulator.
type orderRig struct {
	h   *Hub
	sim *simsvea.Sim
	p   *lossyProvider
}

// lossyProvider wraps the real adapter and can lose the next create's answer.
type lossyProvider struct {
	kvitt.OrderProvider
	loseCreate  atomic.Bool // the answer is lost
	loseRequest atomic.Bool // the request never arrives
	creates     atomic.Int32
}

func (l *lossyProvider) CreateLink(ctx context.Context, o *kvitt.Order, k *kvitt.OrderLink) (kvitt.LinkUpdate, error) {
	l.creates.Add(1)
	if l.loseRequest.CompareAndSwap(true, false) {
		return kvitt.LinkUpdate{}, errors.New("connection refused")
	}
	u, err := l.OrderProvider.CreateLink(ctx, o, k)
	if l.loseCreate.CompareAndSwap(true, false) {
		return kvitt.LinkUpdate{}, errors.New("connection reset after the request was sent")
	}
	return u, err
}

func newOrderRig(t *testing.T, store kvitt.Store, interval, lifetime time.Duration) *orderRig {
	t.Helper()
	sim, err := simsvea.New(simsvea.Options{StatusInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return newOrderNode(t, store, sim, interval, lifetime)
}

func newOrderNode(t *testing.T, store kvitt.Store, sim *simsvea.Sim, interval, lifetime time.Duration) *orderRig {
	t.Helper()
	p, err := svea.NewProvider(svea.Config{Client: &svea.Client{BaseURL: sim.URL(), MerchantID: sim.MerchantID(), Password: sim.Password(), HTTP: sim.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", CallbackBaseURL: "https://kvitt.example", StatusInterval: interval, LinkLifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	h := New(store, testLogger())
	h.Sandbox = true
	h.InFlightGrace = 50 * time.Millisecond
	h.ProviderTimeout = 5 * time.Second
	lp := &lossyProvider{OrderProvider: p}
	h.RegisterOrderProvider(lp, OrderOptions{MerchantID: "m1", Customer: sim.Customer(), ExpiryGrace: 10 * time.Millisecond})
	t.Cleanup(h.Close)
	return &orderRig{h: h, sim: sim, p: lp}
}

func orderInput(number string) OrderInput {
	return OrderInput{Number: number,
		Customer: kvitt.CustomerCard{Name: "Anna Svensson", MobileNumber: "070-123 45 67", Country: "SE", NationalID: "197001011234", Email: "anna@example.se"},
		Lines: []kvitt.OrderLine{{ArticleNumber: "A1", Name: "Stol", Quantity: 200, UnitPrice: 49900, VATRate: 2500},
			{Name: "Frakt", Quantity: 100, UnitPrice: 9900, VATRate: 2500}}}
}

// callback delivers Svea's callback for the order's link seq as the HTTP route would.
func callback(t *testing.T, h *Hub, o *kvitt.Order, seq int) {
	t.Helper()
	if err := h.OrderCallback(ctx, kvitt.OrderCallbackToken(o, o.Link(seq))); err != nil {
		t.Fatal(err)
	}
}

func picking(t *testing.T, h *Hub) []string {
	t.Helper()
	os, err := h.PickingList(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range os {
		out = append(out, o.Number)
	}
	return out
}

// TestOrderPaidByLink: the order is stored with its link's reference
// before the SMS goes out; the customer pays; the callback (authenticated
// by the link's secret) makes kvitt read the status; the order is paid
// with Svea's reference and on the picking list, and only then.
func TestOrderPaidByLink(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 100*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1001"))
	if err != nil {
		t.Fatal(err)
	}
	l := o.CurrentLink()
	if o.State != kvitt.OrderAwaitingPayment || o.State.Icon() != "waiting" || l.URL == "" || !l.SMSSent || l.ProviderRef == "" {
		t.Fatalf("created: %+v", o)
	}
	if len(l.MerchantOrderNumber) > 32 || l.MerchantOrderNumber[:5] != "1001-" || !l.ExpiresAt.Equal(l.Created.Add(48*time.Hour)) {
		t.Fatalf("link %+v", l)
	}
	if sms := r.sim.Outbox(); len(sms) != 1 || sms[0].To != "0701234567" || sms[0].URL != l.URL {
		t.Fatalf("outbox %+v", sms)
	}
	if got := picking(t, r.h); len(got) != 0 {
		t.Fatalf("a waiting order is on the picking list: %v", got)
	}
	if err := r.sim.Complete(l.MerchantOrderNumber); err != nil {
		t.Fatal(err)
	}
	callback(t, r.h, o, 1)
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.State != kvitt.OrderPaid || o.Reference != l.ProviderRef || o.PaidLink != 1 {
		t.Fatalf("after callback: %s %q", o.State, o.Reference)
	}
	if got := picking(t, r.h); len(got) != 1 || got[0] != "1001" {
		t.Fatalf("picking list %v", got)
	}
	// A duplicate callback changes nothing.
	callback(t, r.h, o, 1)
	o2, _ := r.h.GetOrder(ctx, o.ID)
	if o2.State != kvitt.OrderPaid || o2.Attention != "" {
		t.Fatal(o2.State, o2.Attention)
	}
	// Paid orders cannot be changed or cancelled.
	_, err = r.h.ChangeOrder(ctx, o.ID, o.Customer, o.Lines[:1])
	wantErr(t, err, kvitt.ECONFLICT, "")
	_, err = r.h.CancelOrder(ctx, o.ID)
	wantErr(t, err, kvitt.ECONFLICT, "")
}

// TestOrderChangedTwice: each change reads the status, cancels the old
// link and sends a new one with a new merchant order number: three SMS,
// and only the last link can be paid.
func TestOrderChangedTwice(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 100*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1002"))
	if err != nil {
		t.Fatal(err)
	}
	in := orderInput("1002")
	for i := 0; i < 2; i++ {
		in.Lines[0].Quantity += 100
		if o, err = r.h.ChangeOrder(ctx, o.ID, in.Customer, in.Lines); err != nil {
			t.Fatal(err)
		}
	}
	if len(o.Links) != 3 || o.State != kvitt.OrderAwaitingPayment || o.Total != 4*49900+9900 {
		t.Fatalf("after two changes: %d links, %s, total %d", len(o.Links), o.State, o.Total)
	}
	sms := r.sim.Outbox()
	if len(sms) != 3 {
		t.Fatalf("%d SMS, want 3", len(sms))
	}
	seen := map[string]bool{}
	for i, l := range o.Links {
		seen[l.MerchantOrderNumber] = true
		st, _, calls, _ := r.sim.Status(l.MerchantOrderNumber)
		want := "Canceled"
		if i == 2 {
			want = "Active"
		}
		if st != want || (i < 2 && (l.State != kvitt.PaymentCancelled || calls == 0)) {
			t.Fatalf("link %d: kvitt %s, Svea %s, %d status reads before the cancel", l.Seq, l.State, st, calls)
		}
		if sms[i].MerchantOrderNumber != l.MerchantOrderNumber {
			t.Fatalf("SMS %d is for %s", i, sms[i].MerchantOrderNumber)
		}
	}
	if len(seen) != 3 {
		t.Fatal("merchant order numbers repeat")
	}
	for _, l := range o.Links[:2] {
		if err := r.sim.Complete(l.MerchantOrderNumber); err == nil {
			t.Fatalf("old link %d could be paid", l.Seq)
		}
	}
	if err := r.sim.Complete(o.Links[2].MerchantOrderNumber); err != nil {
		t.Fatal(err)
	}
	callback(t, r.h, o, 3)
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.State != kvitt.OrderPaid || o.PaidLink != 3 {
		t.Fatal(o.State, o.PaidLink)
	}
}

// TestChangeRacesPayment: the customer pays the old link just as the
// change arrives (after the status read, before the cancel): Svea refuses
// the cancel, kvitt reads the status again, the order is paid with the
// content the customer paid, the new link is never sent, and the change
// is refused in words.
func TestChangeRacesPayment(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 100*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1003"))
	if err != nil {
		t.Fatal(err)
	}
	r.sim.BeforeCancel(func(mon string) { r.sim.Complete(mon) })
	in := orderInput("1003")
	in.Lines = in.Lines[:1]
	o2, err := r.h.ChangeOrder(ctx, o.ID, in.Customer, in.Lines)
	wantErr(t, err, kvitt.ECONFLICT, "")
	if o2 == nil {
		o2, _ = r.h.GetOrder(ctx, o.ID)
	}
	if o2.State != kvitt.OrderPaid || o2.PaidLink != 1 || o2.Total != o.Total || len(o2.Lines) != 2 {
		t.Fatalf("after the race: %s, paid link %d, total %d (was %d)", o2.State, o2.PaidLink, o2.Total, o.Total)
	}
	if l := o2.Link(2); l == nil || l.State != kvitt.PaymentCancelled || l.Sent {
		t.Fatalf("the new link: %+v", l)
	}
	if n := len(r.sim.Outbox()); n != 1 {
		t.Fatalf("%d SMS; the new link must not be sent", n)
	}
}

// TestSecondPaidLinkGivenBack: if two links of one order are paid
// nonetheless, the first pays the order and the second is given back in
// full; a person is told.
func TestSecondPaidLinkGivenBack(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 50*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1004"))
	if err != nil {
		t.Fatal(err)
	}
	first := o.Links[0].MerchantOrderNumber
	// kvitt believes link 1 cancelled (say, a cancel Svea answered but did
	// not carry out); Svea keeps it payable.
	if _, err := r.h.mutateOrder(ctx, o.ID, func(o *kvitt.Order) error { o.Links[0].State = kvitt.PaymentCancelled; return nil }); err != nil {
		t.Fatal(err)
	}
	in := orderInput("1004")
	if o, err = r.h.ChangeOrder(ctx, o.ID, in.Customer, in.Lines); err != nil {
		t.Fatal(err)
	}
	second := o.Links[1].MerchantOrderNumber
	for _, mon := range []string{second, first} {
		if err := r.sim.Complete(mon); err != nil {
			t.Fatal(err)
		}
	}
	callback(t, r.h, o, 2)
	callback(t, r.h, o, 1)
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.State != kvitt.OrderPaid || o.PaidLink != 2 || o.Attention == "" || o.Links[0].State != kvitt.PaymentRefunded {
		t.Fatalf("state %s, paid link %d, attention %q, link 1 %s", o.State, o.PaidLink, o.Attention, o.Links[0].State)
	}
	if _, returned, _, _ := r.sim.Status(first); returned != o.Links[0].Total {
		t.Fatalf("Svea credited %d of the second payment, want %d", returned, o.Links[0].Total)
	}
	if _, returned, _, _ := r.sim.Status(second); returned != 0 {
		t.Fatal("the payment that pays the order was credited")
	}
}

// TestForgedCallbacks: a wrong secret, another link's secret, an unknown
// order or a malformed token change nothing and cause no status read.
func TestForgedCallbacks(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 100*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1005"))
	if err != nil {
		t.Fatal(err)
	}
	l := o.CurrentLink()
	r.sim.Complete(l.MerchantOrderNumber)
	for _, tok := range []string{o.ID + ".1.wrong", o.ID + ".2." + l.Secret, "ord_nope.1." + l.Secret, "garbage", o.ID + ".1"} {
		if err := r.h.OrderCallback(ctx, tok); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
			t.Fatalf("%q: %v", tok, err)
		}
	}
	if _, _, calls, _ := r.sim.Status(l.MerchantOrderNumber); calls != 0 {
		t.Fatalf("forged callbacks caused %d status reads", calls)
	}
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.State != kvitt.OrderAwaitingPayment {
		t.Fatal(o.State)
	}
}

// TestStatusRateLimit: with Svea's real 5 seconds, back-to-back callbacks
// and syncs never make Svea answer 403: the second read waits (or is left
// to the poller), on one node or two sharing the database.
func TestStatusRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out Svea's 5 seconds")
	}
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		a := newOrderRig(t, connect(), svea.StatusInterval, 0)
		b := newOrderNode(t, connect(), a.sim, svea.StatusInterval, 0)
		o, err := a.h.CreateOrder(ctx, orderInput("1006"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var wg sync.WaitGroup
		for _, n := range []*orderRig{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.h.OrderCallback(ctx, kvitt.OrderCallbackToken(o, o.CurrentLink()))
			}()
		}
		wg.Wait()
		if _, err := b.h.SyncOrder(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		_, _, calls, _ := a.sim.Status(o.CurrentLink().MerchantOrderNumber)
		if a.sim.TooSoon() != 0 || calls != 2 || time.Since(start) < 5*time.Second {
			t.Fatalf("%d status reads, %d refused with 403, in %v", calls, a.sim.TooSoon(), time.Since(start))
		}
		// The callbacks that could not read left the read to the poller.
		var job *kvitt.Job
		a.h.Store.View(ctx, func(tx kvitt.Tx) (err error) { job, err = tx.JobFor(jobOrderSync, o.ID); return err })
		if job == nil {
			t.Fatal("no poll scheduled")
		}
	})
}

// TestOrderExpiry: a link past its lifetime is shown expired (grey) and
// can no longer be paid; it is off the picking list.
func TestOrderExpiry(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 10*time.Millisecond, 300*time.Millisecond)
	o, err := r.h.CreateOrder(ctx, orderInput("1007"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	// The poller's run.
	if _, err := r.h.runOrderSync(ctx, &kvitt.Job{Kind: jobOrderSync, Ref: o.ID}); err != nil {
		t.Fatal(err)
	}
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.State != kvitt.OrderExpired || o.State.Icon() != "grey" {
		t.Fatalf("%s (%s)", o.State, o.CurrentLink().State)
	}
	if err := r.sim.Complete(o.CurrentLink().MerchantOrderNumber); err == nil {
		t.Fatal("an expired link was paid")
	}
	// A change renews the link (the seed: re-saving renews it).
	in := orderInput("1007")
	if o, err = r.h.ChangeOrder(ctx, o.ID, in.Customer, in.Lines); err != nil || o.State != kvitt.OrderAwaitingPayment {
		t.Fatal(o.State, err)
	}
}

// TestOrderCancel: cancel before payment cancels the link at Svea (black icon).
func TestOrderCancel(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 50*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1008"))
	if err != nil {
		t.Fatal(err)
	}
	if o, err = r.h.CancelOrder(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if o.State != kvitt.OrderCancelled || o.State.Icon() != "black" {
		t.Fatal(o.State)
	}
	if st, _, _, _ := r.sim.Status(o.CurrentLink().MerchantOrderNumber); st != "Canceled" {
		t.Fatal(st)
	}
	_, err = r.h.ChangeOrder(ctx, o.ID, o.Customer, o.Lines)
	wantErr(t, err, kvitt.ECONFLICT, "")
}

// TestOrderRefusedBeforeSending: bad input names the field and sends nothing.
func TestOrderRefusedBeforeSending(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 50*time.Millisecond, 0)
	bad := orderInput("1009")
	bad.Customer.Country, bad.Customer.MobileNumber = "NO", "41234567"
	_, err := r.h.CreateOrder(ctx, bad)
	wantErr(t, err, kvitt.EUNPROCESSABLE, "customer.country")
	bad = orderInput("1009")
	bad.Lines[0].Unit = "styck"
	_, err = r.h.CreateOrder(ctx, bad)
	wantErr(t, err, kvitt.EUNPROCESSABLE, "lines[0].unit")
	if n := len(r.sim.Outbox()); n != 0 || r.p.creates.Load() != 0 {
		t.Fatalf("%d SMS, %d creates", n, r.p.creates.Load())
	}
	if _, err := r.h.CreateOrder(ctx, orderInput("1009")); err != nil {
		t.Fatal(err)
	}
	_, err = r.h.CreateOrder(ctx, orderInput("1009"))
	wantErr(t, err, kvitt.ECONFLICT, "")
}

// TestLostCreateAnswer: the create's answer is lost; kvitt never creates
// again blindly: it reads the status by the stored reference and finds the
// link. A create that never arrived is sent again, with the same
// reference, once it can no longer be on its way (by the poller).
func TestLostCreateAnswer(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 10*time.Millisecond, 0)
	r.p.loseCreate.Store(true)
	o, err := r.h.CreateOrder(ctx, orderInput("1010"))
	if err != nil {
		t.Fatal(err)
	}
	if o.State != kvitt.OrderAwaitingPayment || o.CurrentLink().URL == "" || r.p.creates.Load() != 1 || len(r.sim.Outbox()) != 1 {
		t.Fatalf("lost answer: %s, %d creates, %d SMS", o.State, r.p.creates.Load(), len(r.sim.Outbox()))
	}

	r.p.loseRequest.Store(true)
	r.h.ProviderTimeout = time.Second // the in-flight window: timeout + grace
	o, err = r.h.CreateOrder(ctx, orderInput("1012"))
	if err != nil {
		t.Fatal(err)
	}
	if o.State != kvitt.OrderCreating || !o.CurrentLink().Sent || len(r.sim.Outbox()) != 1 {
		t.Fatalf("lost request: %s, %d SMS", o.State, len(r.sim.Outbox()))
	}
	if _, err := r.h.runOrderSync(ctx, &kvitt.Job{Kind: jobOrderSync, Ref: o.ID}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.sim.Outbox()); n != 1 {
		t.Fatal("sent again while the first request could still arrive")
	}
	time.Sleep(1100 * time.Millisecond) // past the in-flight window
	if _, err := r.h.runOrderSync(ctx, &kvitt.Job{Kind: jobOrderSync, Ref: o.ID}); err != nil {
		t.Fatal(err)
	}
	o2, _ := r.h.GetOrder(ctx, o.ID)
	sms := r.sim.Outbox()
	if o2.State != kvitt.OrderAwaitingPayment || len(sms) != 2 || sms[1].MerchantOrderNumber != o.CurrentLink().MerchantOrderNumber || len(o2.Links) != 1 {
		t.Fatalf("after the poller: %s, %d SMS, %d links", o2.State, len(sms), len(o2.Links))
	}
}

// TestOrderCredit: rows of a paid order are credited at Svea, never more than is left.
func TestOrderCredit(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 10*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1011"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.h.CreditOrder(ctx, o.ID, CreditInput{Rows: []CreditRow{{RowNumber: 1}}})
	wantErr(t, err, kvitt.ECONFLICT, "")
	r.sim.Complete(o.CurrentLink().MerchantOrderNumber)
	if o, err = r.h.SyncOrder(ctx, o.ID); err != nil || o.State != kvitt.OrderPaid {
		t.Fatal(o.State, err)
	}
	if o, err = r.h.CreditOrder(ctx, o.ID, CreditInput{Rows: []CreditRow{{RowNumber: 1, Quantity: 100}}}); err != nil {
		t.Fatal(err)
	}
	if o.Credited != 49900 || o.State != kvitt.OrderPaid {
		t.Fatal(o.Credited, o.State)
	}
	_, err = r.h.CreditOrder(ctx, o.ID, CreditInput{Amount: o.Total, VATRate: 2500})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "lines")
	if o, err = r.h.CreditOrder(ctx, o.ID, CreditInput{Rows: []CreditRow{{RowNumber: 1, Quantity: 100}, {RowNumber: 2}}}); err != nil {
		t.Fatal(err)
	}
	if o.State != kvitt.OrderCredited || o.Credited != o.Total {
		t.Fatal(o.State, o.Credited)
	}
	if got := picking(t, r.h); len(got) != 0 {
		t.Fatalf("a credited order is on the picking list: %v", got)
	}
	if _, returned, _, _ := r.sim.Status(o.CurrentLink().MerchantOrderNumber); returned != o.Total {
		t.Fatal(returned)
	}
}

// TestSandboxTimeout: the sandbox customer lets the link run out at Svea;
// kvitt shows the order no longer valid (grey), not cancelled.
func TestSandboxTimeout(t *testing.T) {
	store, _ := openStore(t)
	r := newOrderRig(t, store, 10*time.Millisecond, 0)
	o, err := r.h.CreateOrder(ctx, orderInput("1013"))
	if err != nil {
		t.Fatal(err)
	}
	if o, err = r.h.ActOnOrder(ctx, o.ID, kvitt.CustomerTimeout); err != nil {
		t.Fatal(err)
	}
	if o.State != kvitt.OrderExpired {
		t.Fatal(o.State)
	}
}
