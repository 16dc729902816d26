package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// The dangerous direction of DESIGN.md principle 8: the provider reports
// money taken after kvitt had ended the payment. Each case failed before the
// late-capture rule: the answer was dropped ("ignored transition"), the
// payment stayed failed, cancelled or expired, and nothing listed it.
func TestPaidAfterEnded(t *testing.T) {
	for _, ended := range []kvitt.PaymentState{kvitt.PaymentFailed, kvitt.PaymentCancelled, kvitt.PaymentExpired, kvitt.PaymentDeclined} {
		t.Run(string(ended), func(t *testing.T) {
			onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
				n := nodes(t, connect, 1)[0]
				s := sale(t, n.Hub, 10000)
				p, err := n.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
				if err != nil {
					t.Fatal(err)
				}
				n.fake.script(nil, []answer{{u: kvitt.Update{State: ended, Message: "ended"}}, {u: kvitt.Update{State: kvitt.PaymentPaid}}})
				if p, err = n.SyncPayment(ctx, p.ID, CausePoller); err != nil || p.State != ended {
					t.Fatalf("first answer: %v %v, want %s", p.State, err, ended)
				}
				// The cashier takes cash for the sale meanwhile.
				if _, err := n.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000}); err != nil {
					t.Fatal(err)
				}
				// The truth arrives late: a callback makes kvitt ask again, even
				// about a payment it had ended (before, it did not ask).
				if p, err = n.SyncPayment(ctx, p.ID, CauseCallback); err != nil {
					t.Fatal(err)
				}
				if p.State != kvitt.PaymentPaid || p.Attention != lateAttention(ended) {
					t.Fatalf("late paid: state %s attention %q, want paid and %q", p.State, p.Attention, lateAttention(ended))
				}
				evs, err := n.PaymentEvents(ctx, p.ID, 0)
				if err != nil {
					t.Fatal(err)
				}
				if last := evs[len(evs)-1]; last.From != ended || last.To != kvitt.PaymentPaid || last.Message == "" {
					t.Errorf("last event %+v, want %s → paid with a message", last, ended)
				}
				// It counts for nothing until a person decides: the sale is paid
				// once, by the cash, and completes with it alone.
				v, err := n.ViewSale(ctx, s.ID)
				if err != nil || v.Paid != 10000 {
					t.Fatalf("sale paid %d (%v), want 10000", v.Paid, err)
				}
				rc, err := n.CompleteSale(ctx, s.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(rc.Tenders) != 1 {
					t.Errorf("receipt lists %d tenders, want the cash alone", len(rc.Tenders))
				}
				page, err := n.Recovery(ctx, "1", "", 0)
				if err != nil || len(page.Items) != 1 || page.Items[0].Payment.ID != p.ID {
					t.Fatalf("recovery = %+v %v, want the late payment", page, err)
				}
				// Keeping it is refused (the sale owes nothing); refunding it clears it.
				if _, err := n.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "keep", "test"); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
					t.Errorf("keeping a late payment on a completed sale: %v, want a conflict", err)
				}
				if _, err := n.CreateRefund(ctx, p.ID, RefundInput{Amount: 100, Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}}); kvitt.ErrorField(err) != "lines" {
					t.Errorf("returning goods against late money: %v, want a 422 on lines", err)
				}
				r, err := n.CreateRefund(ctx, p.ID, RefundInput{Amount: 10000})
				if err != nil {
					t.Fatal(err)
				}
				// Late money bought no goods: giving it back is no return of
				// goods (before: a return receipt took the cash-paid goods
				// out of the day's sales and VAT).
				if r.ReceiptID != "" {
					t.Errorf("refund of late money issued return receipt %s", r.ReceiptID)
				}
				if page, _ = n.Recovery(ctx, "1", "", 0); len(page.Items) != 0 {
					t.Errorf("recovery after the refund lists %d items, want none", len(page.Items))
				}
			})
		})
	}
}

// A late payment kept by a person counts for its sale, once.
func TestKeepLatePayment(t *testing.T) {
	h, fp, _ := newHub(t)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	fp.script(nil, []answer{{u: kvitt.Update{State: kvitt.PaymentExpired}}})
	if p, _ = h.SyncPayment(ctx, p.ID, CausePoller); p.State != kvitt.PaymentExpired {
		t.Fatalf("state %s", p.State)
	}
	if p, err = h.apply(ctx, p.ID, kvitt.Update{State: kvitt.PaymentPaid}, CauseCallback); err != nil || p.Attention == "" {
		t.Fatalf("late paid: %+v %v", p, err)
	}
	if _, err := h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("complete before a person decided: %v, want a conflict", err)
	}
	if _, err := h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "", "test"); kvitt.ErrorField(err) != "note" {
		t.Errorf("keep without a note: %v", err)
	}
	if p, err = h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "customer chose to pay with it", "API key key_x"); err != nil || p.Attention != "" {
		t.Fatalf("keep: %+v %v", p, err)
	}
	evs, _ := h.PaymentEvents(ctx, p.ID, 0)
	if last := evs[len(evs)-1]; last.Cause != CauseOperator || last.Message != "Kept for the sale by API key key_x: customer chose to pay with it" {
		t.Errorf("event %+v", last)
	}
	if _, err := h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
}

// gatedProvider is a long-running fake (a card terminal): Start waits for
// the gate, and the Start it sends is recorded.
type gatedProvider struct {
	*fakeProvider
	gate chan struct{}
}

func (g gatedProvider) Pending(t *kvitt.Till, p *kvitt.Payment) kvitt.Update {
	return kvitt.Update{State: kvitt.PaymentPending, Action: &kvitt.Action{Type: "follow_terminal"}}
}

func (g gatedProvider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return kvitt.Update{}, ctx.Err()
	}
	return g.fakeProvider.Start(ctx, t, p)
}

// A payment queued at the terminal: another node asks TransactionStatus and
// hears "not found" while this node's Start is still on its way. Before the
// stored in-flight window, the other node booked it failed and the paid
// answer that followed was dropped.
func TestNotFoundWhileInFlightDecidesNothing(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		gp := gatedProvider{ns[0].fake, make(chan struct{})}
		ns[0].Register(gp, nil)
		ns[0].fake.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
		ns[1].fake.script(nil, []answer{{u: kvitt.Update{State: kvitt.PaymentFailed, ErrorCode: "NotFound", Message: "The terminal has no such transaction."}}})
		s := sale(t, ns[0].Hub, 10000)
		p, err := ns[0].CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
		if err != nil {
			t.Fatal(err)
		}
		// Node 2's poller.
		if _, err := ns[1].runPaymentSync(ctx, &kvitt.Job{Kind: jobPaymentSync, Ref: p.ID}); err != nil {
			t.Fatal(err)
		}
		if got, _ := ns[1].GetPayment(ctx, p.ID); got.State != kvitt.PaymentPending {
			t.Fatalf("after node 2 heard \"not found\" mid-flight: %s, want still pending", got.State)
		}
		close(gp.gate)
		p = waitState(t, ns[0].Hub, p.ID, kvitt.PaymentPaid)
		if p.Attention != "" || !p.InFlightUntil.IsZero() {
			t.Errorf("paid payment attention %q in flight until %v", p.Attention, p.InFlightUntil)
		}
		// Once the flight is over, "not found" decides (for a payment still open).
		s2 := sale(t, ns[0].Hub, 500)
		ns[0].fake.script([]answer{{err: errLost}}, nil)
		p2, err := ns[0].CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 500})
		if err != nil || p2.State != kvitt.PaymentPaid {
			t.Fatalf("cash: %v %v", p2, err)
		}
	})
}

// The cashier cancels before the background Start has read the payment:
// nothing is sent, and the payment is cancelled for certain. Before, the
// Start went out after the cancel and the card was charged for a payment
// kvitt had booked cancelled.
func TestCancelBeforeBackgroundStartSendsNothing(t *testing.T) {
	h, fp, _ := newHub(t)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	// The payment as a long-running Start would find it: in flight, with the
	// cashier's cancel stored meanwhile.
	if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		cur, err := tx.GetPayment(p.ID)
		if err != nil {
			return err
		}
		cur.InFlightUntil, cur.CancelRequested = h.now().Add(time.Minute), h.now()
		return tx.UpdatePayment(cur)
	}); err != nil {
		t.Fatal(err)
	}
	gp := gatedProvider{fp, make(chan struct{})}
	close(gp.gate)
	starts := fp.count("start")
	till, err := h.tillOf(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	h.startInBackground(gp, till, p)
	got := waitState(t, h, p.ID, kvitt.PaymentCancelled)
	if fp.count("start") != starts || !got.InFlightUntil.IsZero() {
		t.Fatalf("Start sent %d more times; in flight until %v", fp.count("start")-starts, got.InFlightUntil)
	}
}

// The Swish case: a cancel overtakes the create. The provider knows nothing
// yet (PATCH 404, GET 404); before the fix kvitt booked it cancelled and
// deleted its sync job, the create landed, the customer paid, and kvitt
// said cancelled. Now the cancel waits for the create's answer, then is sent.
func TestCancelOvertakesCreate(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		n := nodes(t, connect, 1)[0]
		started := make(chan struct{})
		release := make(chan struct{})
		n.fake.onStart = func(p *kvitt.Payment) { close(started); <-release }
		n.fake.mu.Lock()
		n.fake.cancel = []answer{{u: kvitt.Update{State: kvitt.PaymentCancelled, Message: "not found: nothing to cancel"}}, {u: kvitt.Update{State: kvitt.PaymentCancelled}}}
		n.fake.mu.Unlock()
		s := sale(t, n.Hub, 10000)
		done := make(chan *kvitt.Payment)
		go func() {
			p, err := n.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
			if err != nil {
				t.Error(err)
			}
			done <- p
		}()
		<-started
		ps, err := n.ViewSale(ctx, s.ID)
		if err != nil || len(ps.Payments) != 1 {
			t.Fatalf("payments %v %v", ps, err)
		}
		id := ps.Payments[0].ID
		p, err := n.CancelPayment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State == kvitt.PaymentCancelled {
			t.Fatalf("cancelled while the create was on its way: the customer could still pay")
		}
		close(release)
		p = <-done
		if p.State != kvitt.PaymentPending || p.CancelRequested.IsZero() {
			t.Fatalf("after the create's answer: %s, cancel requested %v", p.State, p.CancelRequested)
		}
		// The sync job now sends the cancel, which the provider takes.
		if _, err := n.runPaymentSync(ctx, &kvitt.Job{Kind: jobPaymentSync, Ref: id}); err != nil {
			t.Fatal(err)
		}
		if p, _ = n.GetPayment(ctx, id); p.State != kvitt.PaymentCancelled || n.fake.count("cancel") != 2 {
			t.Fatalf("state %s after %d cancels, want cancelled after 2", p.State, n.fake.count("cancel"))
		}
	})
}

// refundingProvider answers refunds as scripted and knows their status.
type refundingProvider struct {
	*fakeProvider
	mu     sync.Mutex
	status []kvitt.RefundUpdate
	lost   bool
}

func (r *refundingProvider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, rf *kvitt.Refund) (kvitt.RefundUpdate, error) {
	u, _ := r.fakeProvider.Refund(ctx, t, p, rf)
	if r.lost {
		return kvitt.RefundUpdate{}, errLost
	}
	return u, nil
}

func (r *refundingProvider) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, rf *kvitt.Refund) (kvitt.RefundUpdate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.status[0]
	if len(r.status) > 1 {
		r.status = r.status[1:]
	}
	return u, nil
}

// A refund is not failed by a "not found" while kvitt's request may be on
// its way; a refund paid out after kvitt booked it failed is counted, not
// dropped (before: it stayed failed, and the cashier refunded again).
func TestRefundLateTruth(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		n := nodes(t, connect, 1)[0]
		rp := &refundingProvider{fakeProvider: n.fake, lost: true,
			status: []kvitt.RefundUpdate{{State: kvitt.RefundFailed, ErrorCode: "NotFound"}, {State: kvitt.RefundFailed, ErrorCode: "NotFound"}, {State: kvitt.RefundSucceeded}}}
		n.Register(rp, nil)
		p := paidFake(t, n, 10000)
		// The answer is lost: a short call is over, so its flight ended.
		r, err := n.CreateRefund(ctx, p.ID, RefundInput{Amount: 4000})
		if err != nil {
			t.Fatal(err)
		}
		// Make it look like another node's request still in flight.
		if err := n.Store.Update(ctx, func(tx kvitt.Tx) error {
			cur, err := tx.GetRefund(r.ID)
			if err != nil {
				return err
			}
			cur.InFlightUntil = n.now().Add(time.Minute)
			return tx.UpdateRefund(cur)
		}); err != nil {
			t.Fatal(err)
		}
		if r, err = n.SyncRefund(ctx, r.ID, CausePoller); err != nil || r.State == kvitt.RefundFailed {
			t.Fatalf("not found mid-flight: %s %v, want not failed", r.State, err)
		}
		n.clk.Advance(2 * time.Minute)
		if r, err = n.SyncRefund(ctx, r.ID, CausePoller); err != nil || r.State != kvitt.RefundFailed {
			t.Fatalf("not found after the flight: %s %v, want failed", r.State, err)
		}
		// The money went back after all.
		if r, err = n.applyRefund(ctx, r.ID, kvitt.RefundUpdate{State: kvitt.RefundSucceeded}); err != nil {
			t.Fatal(err)
		}
		if r.State != kvitt.RefundSucceeded || r.Attention != kvitt.AttentionRefundedAfterFailed {
			t.Fatalf("late success: %s %q", r.State, r.Attention)
		}
		if got, _ := n.GetPayment(ctx, p.ID); got.Refunded != 4000 {
			t.Fatalf("payment refunded %d, want 4000", got.Refunded)
		}
		if got := refundItems(t, n); len(got) != 1 || got[0] != r.ID {
			t.Fatalf("recovery lists refunds %v, want %s", got, r.ID)
		}
		if _, err := n.ResolveRefund(ctx, r.ID, kvitt.RefundSucceeded, "checked: one refund only", "test"); err != nil {
			t.Fatal(err)
		}
		if got := refundItems(t, n); len(got) != 0 {
			t.Errorf("recovery after acknowledging lists refunds %v", got)
		}
	})
}

// refundItems lists the refunds in till 1's recovery list.
func refundItems(t *testing.T, n *node) []string {
	t.Helper()
	page, err := n.Recovery(ctx, "1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range page.Items {
		if it.Refund != nil {
			ids = append(ids, it.Refund.ID)
		}
	}
	return ids
}

// A refund in unknown is listed and resolved by hand, with who and why in
// the payment's event log; before, it was polled every 5 s for ever, never
// listed, and counted as taken for ever.
func TestUnknownRefundResolvedByHand(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		n := nodes(t, connect, 1)[0]
		rp := &refundingProvider{fakeProvider: n.fake, status: []kvitt.RefundUpdate{{State: kvitt.RefundUnknown, Message: "no answer"}}}
		n.Register(rp, nil)
		p := paidFake(t, n, 10000)
		n.fake.mu.Lock()
		n.fake.refund = []kvitt.RefundUpdate{{State: kvitt.RefundUnknown, Message: "The provider did not say."}}
		n.fake.mu.Unlock()
		r, err := n.CreateRefund(ctx, p.ID, RefundInput{Amount: 10000})
		if err != nil || r.State != kvitt.RefundUnknown {
			t.Fatalf("refund %v %v", r, err)
		}
		if _, err := n.CreateRefund(ctx, p.ID, RefundInput{Amount: 100}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			t.Errorf("second refund while the first is unknown: %v, want a conflict", err)
		}
		if got := refundItems(t, n); len(got) != 1 || got[0] != r.ID {
			t.Fatalf("recovery lists refunds %v, want %s", got, r.ID)
		}
		if next, err := n.runRefundSync(ctx, &kvitt.Job{Kind: jobRefundSync, Ref: r.ID}); err != nil || next < 5*time.Second {
			t.Fatalf("sync of an unknown refund: %v %v", next, err)
		}
		for age, want := range map[time.Duration]time.Duration{0: 5 * time.Second, 10 * time.Minute: time.Minute, 10 * time.Hour: time.Hour, 1000 * time.Hour: time.Hour} {
			if got := refundBackoff(age); got != want {
				t.Errorf("a refund %v old is asked about every %v, want %v", age, got, want)
			}
		}
		if _, err := n.ResolveRefund(ctx, r.ID, kvitt.RefundFailed, "", "test"); kvitt.ErrorField(err) != "note" {
			t.Errorf("resolve without a note: %v", err)
		}
		if r, err = n.ResolveRefund(ctx, r.ID, kvitt.RefundFailed, "the provider's portal shows no payout", "API key key_b"); err != nil || r.State != kvitt.RefundFailed {
			t.Fatalf("resolve: %v %v", r, err)
		}
		evs, _ := n.PaymentEvents(ctx, p.ID, 0)
		if last := evs[len(evs)-1]; last.Cause != CauseOperator || last.Message != "Refund "+r.ID+" resolved as failed by API key key_b: the provider's portal shows no payout" {
			t.Errorf("event %+v", last)
		}
		if got := refundItems(t, n); len(got) != 0 {
			t.Errorf("recovery after resolving lists refunds %v", got)
		}
		if _, err := n.CreateRefund(ctx, p.ID, RefundInput{Amount: 10000}); err != nil {
			t.Errorf("refund after the unknown one failed: %v", err)
		}
	})
}

// Recovery lists exactly what needs a person, whatever the ledger's size.
// Before: it scanned the 1,000 oldest paid payments of every till, so with
// 1,000 completed sales the paid open sale was not listed.
func TestRecoveryIgnoresTheLedgerSize(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		n := nodes(t, connect, 1)[0]
		const completed = 10000
		err := n.Store.Update(ctx, func(tx kvitt.Tx) error {
			for i := range completed {
				s := &kvitt.Sale{ID: fmt.Sprintf("sale_old%05d", i), MerchantID: "m1", TillID: "1", Currency: kvitt.SEK, State: kvitt.SaleCompleted,
					Lines: []kvitt.SaleLine{line("Vara", 1000, 1000, 2500)}, Total: 1000}
				if err := tx.CreateSale(s); err != nil {
					return err
				}
				p := &kvitt.Payment{ID: fmt.Sprintf("pay_old%05d", i), SaleID: s.ID, TillID: "1", Method: "cash", Amount: 1000, Currency: kvitt.SEK,
					State: kvitt.PaymentPaid, Reference: fmt.Sprintf("cash%05d", i)}
				if err := tx.CreatePayment(p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		paid := paidFake(t, n, 5000) // money taken, sale still open
		page, err := n.Recovery(ctx, "1", "", 0)
		if err != nil || len(page.Items) != 1 || page.Items[0].Payment.ID != paid.ID {
			t.Fatalf("recovery: %d items %v, want the one paid open sale", len(page.Items), err)
		}
		// Another till sees nothing of it.
		if page, err = n.Recovery(ctx, "2", "", 0); err != nil || len(page.Items) != 0 {
			t.Fatalf("till 2: %d items %v", len(page.Items), err)
		}
	})
}

// Pages follow each other with the cursor and list each item once.
func TestRecoveryPages(t *testing.T) {
	h, fp, clk := newHub(t)
	var want []string
	for range 5 {
		s := sale(t, h, 1000)
		fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
		p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p.ID)
		clk.Advance(time.Second)
	}
	var got []string
	after := ""
	for range 10 {
		page, err := h.Recovery(ctx, "1", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			got = append(got, it.Payment.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages listed %v, want %v", got, want)
	}
}

// An open payment kvitt no longer follows (its method was removed from the
// configuration, so its sync job gave up) is listed. Before: it stayed
// pending and unlisted.
func TestStoppedPaymentIsListed(t *testing.T) {
	h, _, clk := newHub(t)
	s := sale(t, h, 1000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if page, _ := h.Recovery(ctx, "1", "", 0); len(page.Items) != 0 {
		t.Fatalf("a followed pending payment is listed: %+v", page.Items)
	}
	delete(h.providers, "fake")
	clk.Advance(time.Hour)
	if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		js, err := tx.ClaimJobs("w", h.now(), h.now().Add(time.Minute), 10)
		if err != nil {
			return err
		}
		for _, j := range js {
			if err := tx.RetryJob(j.ID, "w", h.now(), "payment method \"fake\" is not configured on this server", true); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	page, err := h.Recovery(ctx, "1", "", 0)
	if err != nil || len(page.Items) != 1 || page.Items[0].Payment.ID != p.ID {
		t.Fatalf("recovery %+v %v, want the stopped payment", page, err)
	}
}

// A sale whose cash payment was refunded in full (the drawer paid out the
// rounded sum) has nothing paid and can be cancelled; a completed sale
// refunded afterwards owes nothing. Before: "the sale has 0.47 SEK paid",
// and a completed sale showed due 20.00 after a refund while a new
// payment on it was a 409.
func TestBalanceAfterRefunds(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 3247)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 3247})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: p.Amount}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CancelSale(ctx, s.ID); err != nil {
		t.Fatalf("cancel after a full refund: %v", err)
	}
	s2 := sale(t, h, 10000)
	p2, err := h.CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CompleteSale(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateRefund(ctx, p2.ID, RefundInput{Amount: 2000}); err != nil {
		t.Fatal(err)
	}
	v, err := h.ViewSale(ctx, s2.ID)
	if err != nil || v.Due != 0 || v.Paid != 8000 {
		t.Fatalf("completed sale after a refund: paid %d due %d (%v), want 8000 and 0", v.Paid, v.Due, err)
	}
}

// wholeProvider is the fake as a method that takes only the whole sale (MobilePay).
type wholeProvider struct{ *fakeProvider }

func (wholeProvider) Method() string        { return "whole" }
func (wholeProvider) WholeAmountOnly() bool { return true }

// A whole-amount-only method (MobilePay, seed 001) pays the whole sale
// alone: a part is refused, and so is a split with cash before or after.
func TestWholeAmountOnly(t *testing.T) {
	h, fp, _ := newHub(t)
	h.Register(wholeProvider{fp}, nil)
	s := sale(t, h, 10000)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "whole", Amount: 4000}); kvitt.ErrorField(err) != "amount" {
		t.Errorf("a part: %v, want a 422 on amount", err)
	}
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 4000}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "whole", Amount: 6000}); kvitt.ErrorField(err) != "amount" {
		t.Errorf("the rest after cash: %v, want a 422 on amount", err)
	}
	// Paid whole, part refunded on the open sale: the rest is not paid in cash.
	s2 := sale(t, h, 10000)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	p, err := h.CreatePayment(ctx, s2.ID, PaymentInput{Method: "whole", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 3000}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 3000}); kvitt.ErrorField(err) != "method" {
		t.Errorf("cash for the rest of a sale the whole-amount method pays: %v, want a 422 on method", err)
	}
}
