package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
	"github.com/kvitt-hub/kvitt/swish"
)

// The truth may arrive late (DESIGN.md principle 8), through the real
// adapters and simulators: a provider that reports money taken after kvitt
// had ended the payment is never ignored, and a "nothing here" while
// kvitt's own request may still be on its way decides nothing. Every test
// ends on money: what the simulator charged and paid back, and what kvitt
// books and counts for the sale.

// recvRef waits for a held request's reference (HoldCreates, HoldPayments).
func recvRef(t *testing.T, arrived <-chan string) string {
	t.Helper()
	select {
	case ref := <-arrived:
		return ref
	case <-time.After(waitLimit):
		t.Fatalf("no request reached the simulator within %v", waitLimit)
		return ""
	}
}

// node2 is a second kvitt node on the same database, as a second server
// behind the load balancer: its own hub and its own card adapter, whose
// in-memory record of the requests it is sending is its own, and no worker.
// skew puts its clock ahead of the first node's.
func (e *env) node2(skew time.Duration) *hub.Hub {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", "2")
	h := hub.New(e.db, logger)
	if skew != 0 {
		h.Now = func() time.Time { return time.Now().Add(skew) }
	}
	h.Register(cash.Provider{}, nil)
	h.Register(nexo.New(nexo.Config{RootCAs: e.term.CertPool()}), nil)
	e.t.Cleanup(h.Close)
	return h
}

// recoveryItem returns till 1's recovery item for the payment (and refund,
// if refundID is set), or nil.
func (e *env) recoveryItem(paymentID, refundID string) *hub.RecoveryItem {
	e.t.Helper()
	page, err := e.h.Recovery(context.Background(), till1, "", 0)
	if err != nil {
		e.t.Fatalf("recovery: %v", err)
	}
	for i, it := range page.Items {
		if it.Payment == nil || it.Payment.ID != paymentID {
			continue
		}
		if (refundID == "") == (it.Refund == nil) && (it.Refund == nil || it.Refund.ID == refundID) {
			return &page.Items[i]
		}
	}
	return nil
}

// recoveryLen is the number of items in till 1's recovery list.
func (e *env) recoveryLen() int {
	e.t.Helper()
	page, err := e.h.Recovery(context.Background(), till1, "", 0)
	if err != nil {
		e.t.Fatalf("recovery: %v", err)
	}
	return len(page.Items)
}

// waitAttention waits until the payment is paid with attention.
func (e *env) waitAttention(id, attention string) *kvitt.Payment {
	e.t.Helper()
	var p *kvitt.Payment
	eventually(e.t, "payment "+id+" paid with attention "+attention, func() string {
		var err error
		if p, err = e.h.GetPayment(context.Background(), id); err != nil {
			return err.Error()
		}
		if p.State != kvitt.PaymentPaid || p.Attention != attention {
			return fmt.Sprintf("state %s attention %q (%v)", p.State, p.Attention, transitions(e.events(id)))
		}
		return ""
	})
	return p
}

// entered counts the transitions into state from another state (a person
// keeping a late payment records paid → paid).
func entered(es []*kvitt.PaymentEvent, state kvitt.PaymentState) int {
	n := 0
	for _, ev := range es {
		if ev.To == state && ev.From != state {
			n++
		}
	}
	return n
}

// salePaid is what kvitt counts as paid for the sale.
func (e *env) salePaid(id string) int64 {
	e.t.Helper()
	v, err := e.h.ViewSale(context.Background(), id)
	if err != nil {
		e.t.Fatalf("view sale: %v", err)
	}
	return v.Paid
}

// checkLatePayment checks what kvitt shows for money taken after it had
// ended the payment as ended: paid with attention, one transition from
// ended to paid (by cause) carrying the explanation, listed in the till's
// recovery list, and counted for nothing: the sale counts salePaid (what
// other payments brought) and, if that is nothing, cannot complete.
func (e *env) checkLatePayment(p *kvitt.Payment, ended kvitt.PaymentState, cause string, salePaid int64) {
	e.t.Helper()
	t := e.t
	es := e.events(p.ID)
	if n := entered(es, kvitt.PaymentPaid); n != 1 {
		t.Errorf("%d transitions to paid, want 1: %v", n, transitions(es))
	}
	last := es[len(es)-1]
	if last.From != ended || last.To != kvitt.PaymentPaid || last.Cause != cause || !strings.Contains(last.Message, "Refund it, or complete the sale with it") {
		t.Errorf("last event %s>%s/%s %q, want %s>paid/%s with the explanation", last.From, last.To, last.Cause, last.Message, ended, cause)
	}
	it := e.recoveryItem(p.ID, "")
	if it == nil {
		t.Fatalf("the late payment is not in the recovery list")
	}
	if it.Reason != p.Message || !strings.Contains(it.Reason, string(ended)) {
		t.Errorf("recovery reason %q, want the payment's explanation (%q)", it.Reason, p.Message)
	}
	if paid := e.salePaid(p.SaleID); paid != salePaid {
		t.Errorf("the sale counts %d as paid before a person decided on the late payment, want %d", paid, salePaid)
	}
	if salePaid == 0 {
		if _, err := e.h.CompleteSale(context.Background(), p.SaleID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			t.Errorf("completing the sale with a late payment nobody kept: %v, want a conflict", err)
		}
	}
}

// TestSwishPaidAfterEnded: kvitt has booked a Swish payment ended (the
// customer's time ran out, the cashier cancelled, Swish reported an error),
// then Swish reports it PAID after all (LatePay: the approval that raced
// the end is booked) and calls back. kvitt shows it paid with attention, in
// the recovery list, counted for no sale until a person keeps or refunds it.
// Swish holds one payment request, paid once.
//
// Before the late-capture rule, hub.applyTo dropped ended → paid as an
// illegal transition (Logger.Info "ignored transition"): the payment stayed
// expired, cancelled or failed while the customer's money was at the
// merchant, and nothing listed it.
func TestSwishPaidAfterEnded(t *testing.T) {
	cases := []struct {
		name      string
		message   string // the adapter's Message: "FF10" forces ERROR FF10 on approval
		ended     kvitt.PaymentState
		attention string
		end       func(ctx context.Context, e *env, p *kvitt.Payment)
		keep      bool // a person keeps it for the sale; otherwise it is refunded
	}{
		{name: "expired", ended: kvitt.PaymentExpired, attention: kvitt.AttentionPaidAfterExpired, keep: true,
			end: func(ctx context.Context, e *env, p *kvitt.Payment) {
				if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "timeout"); err != nil {
					e.t.Fatal(err)
				}
			}},
		{name: "cancelled", ended: kvitt.PaymentCancelled, attention: kvitt.AttentionPaidAfterCancelled,
			end: func(ctx context.Context, e *env, p *kvitt.Payment) {
				if _, err := e.h.CancelPayment(ctx, p.ID); err != nil {
					e.t.Fatal(err)
				}
			}},
		{name: "failed", message: "FF10", ended: kvitt.PaymentFailed, attention: kvitt.AttentionPaidAfterFailed, keep: true,
			end: func(ctx context.Context, e *env, p *kvitt.Payment) {
				if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
					e.t.Fatal(err)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, options{swishMessage: c.message}, true)
			ctx := ctxT(t)
			s, p := e.startSwish(ctx, 10000)
			c.end(ctx, e, p)
			p = e.waitState(p.ID, c.ended)
			if st, _, _ := e.swish.PaymentStatus(p.Reference); st == "PAID" || st == "CREATED" {
				t.Fatalf("simulator has the request %s after kvitt booked it %s", st, c.ended)
			}
			// The callback of the end has been answered: the late one is a new one.
			eventually(t, "the end's callback answered", func() string {
				cbs := e.swish.Callbacks()
				if len(cbs) != 1 || cbs[0].StatusCode != http.StatusOK {
					return fmt.Sprintf("callbacks %+v", cbs)
				}
				return ""
			})

			if _, err := e.swish.LatePay(p.Reference); err != nil {
				t.Fatal(err)
			}
			p = e.waitAttention(p.ID, c.attention)
			e.checkLatePayment(p, c.ended, hub.CauseCallback, 0)
			if p.Provider[swish.KeyPaymentReference] == "" {
				t.Errorf("late payment has no Swish paymentReference (refunds need it): %v", p.Provider)
			}
			// The callback again changes nothing: one late capture, once.
			before := transitions(e.events(p.ID))
			cbs := e.swish.Callbacks()
			late := cbs[len(cbs)-1]
			if code, resp := e.postCallback(late.URL, string(late.Body)); code != http.StatusOK {
				t.Errorf("repeated callback: %d %s", code, resp)
			}
			if after := transitions(e.events(p.ID)); !slices.Equal(before, after) {
				t.Errorf("a repeated callback changed the events: %v → %v", before, after)
			}

			var rc *kvitt.Receipt
			if c.keep {
				// The customer meant to pay with it: a person keeps it and the
				// sale completes with it.
				if _, err := e.h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "customer confirms the Swish payment", "e2e"); err != nil {
					t.Fatal(err)
				}
				if paid := e.salePaid(s.ID); paid != 10000 {
					t.Errorf("kept: the sale counts %d as paid, want 10000", paid)
				}
				var err error
				if rc, err = e.h.CompleteSale(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
				if len(rc.Tenders) != 1 || rc.Tenders[0].PaymentID != p.ID || rc.Tenders[0].Amount != 10000 {
					t.Errorf("receipt tenders %+v, want the kept Swish payment of 10000", rc.Tenders)
				}
				if n := e.swish.RefundCount(); n != 0 {
					t.Errorf("simulator holds %d refunds, want none", n)
				}
			} else {
				// The customer wants the money back and pays cash.
				r, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 10000})
				if err != nil {
					t.Fatal(err)
				}
				e.waitRefund(r.ID, kvitt.RefundSucceeded)
				if p = e.waitState(p.ID, kvitt.PaymentRefunded); p.Refunded != 10000 {
					t.Errorf("refunded %d, want 10000", p.Refunded)
				}
				if n := e.swish.RefundCount(); n != 1 {
					t.Errorf("simulator holds %d refunds, want 1", n)
				}
				e.pay(ctx, s.ID, "cash", 10000)
				if rc, err = e.h.CompleteSale(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
				if len(rc.Tenders) != 1 || rc.Tenders[0].Method != "cash" {
					t.Errorf("receipt tenders %+v, want the cash alone", rc.Tenders)
				}
			}
			// Money: one payment request at Swish, paid once; one receipt.
			e.waitRegistered(rc.ID)
			if n := e.recoveryLen(); n != 0 {
				t.Errorf("recovery lists %d items after the person decided, want none", n)
			}
			if n := e.swish.PaymentCount(); n != 1 {
				t.Errorf("simulator holds %d payment requests, want 1", n)
			}
			if st, _, _ := e.swish.PaymentStatus(p.Reference); st != "PAID" {
				t.Errorf("simulator: %s, want PAID", st)
			}
			if n := entered(e.events(p.ID), kvitt.PaymentPaid); n != 1 {
				t.Errorf("%d transitions to paid, want 1", n)
			}
			if n := len(e.cu.Entries()); n != 1 {
				t.Errorf("control unit holds %d registrations, want the sale's receipt alone", n)
			}
			e.verifyJournal()
		})
	}
}

// TestSwishCancelOvertakesCreate: the cashier cancels while kvitt's create
// (PUT) is still on its way to Swish (HoldCreates). Swish knows nothing yet
// (PATCH 404, GET 404): kvitt must not book the payment cancelled, or the
// create lands, the customer scans and pays, and kvitt says cancelled. The
// cancel is stored; once the create's answer is in, the sync job sends it.
//
//   - cancel_sent_after_create: Swish takes the cancel; nobody can pay.
//   - customer_pays_first: the customer pays before the cancel lands; Swish
//     refuses the cancel (RP07) and kvitt books paid, not cancelled.
//
// Before: CancelPayment sent the cancel at once and applied the adapter's
// "never reached Swish: cancelled" (hub.applyTo had no in-flight window),
// deleting the sync job; the create's answer (cancelled → pending) and the
// PAID were then dropped as illegal transitions ("ignored transition").
func TestSwishCancelOvertakesCreate(t *testing.T) {
	for _, pays := range []bool{false, true} {
		name := "cancel_sent_after_create"
		if pays {
			name = "customer_pays_first"
		}
		t.Run(name, func(t *testing.T) {
			// No worker yet: the test decides when the stored cancel is sent.
			// Callbacks are dropped when the customer pays, so that only the
			// cancel's answer can tell kvitt.
			e := newEnv(t, options{dropCallbacks: pays}, false)
			ctx := ctxT(t)
			s := e.sale(ctx, till1, 8800)
			arrived, release := e.swish.HoldCreates()
			var created *kvitt.Payment
			done := make(chan struct{})
			go func() {
				defer close(done)
				var err error
				if created, err = e.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: "swish", Amount: 8800}); err != nil {
					t.Errorf("create payment: %v", err)
				}
			}()
			// Whatever happens below, the create answers before kvitt stops.
			t.Cleanup(func() {
				release()
				select {
				case <-done:
				case <-time.After(waitLimit):
				}
			})
			ref := recvRef(t, arrived)
			v, err := e.h.ViewSale(ctx, s.ID)
			if err != nil || len(v.Payments) != 1 || v.Payments[0].Reference != ref {
				t.Fatalf("sale payments %+v %v, want the one on its way (%s)", v, err, ref)
			}
			id := v.Payments[0].ID

			p, err := e.h.CancelPayment(ctx, id)
			if err != nil {
				t.Fatalf("cancel while the create is on its way: %v", err)
			}
			if p.State == kvitt.PaymentCancelled {
				t.Fatalf("kvitt booked the payment cancelled while its create was on its way: the customer could still pay")
			}
			if p = e.payment(id); p.State != kvitt.PaymentCreated || p.CancelRequested.IsZero() {
				t.Fatalf("stored payment %s, cancel requested %v: want created with the cancel stored", p.State, p.CancelRequested)
			}
			if _, _, ok := e.swish.PaymentStatus(ref); ok {
				t.Fatalf("the create reached the simulator before it was released")
			}

			release()
			select {
			case <-done:
				p = created
			case <-time.After(waitLimit):
				t.Fatal("the create never answered")
			}
			if p == nil || p.State != kvitt.PaymentPending || p.Provider[swish.KeyToken] == "" {
				t.Fatalf("after the create's answer: %+v, want pending with a QR code", p)
			}
			if pays {
				if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
					t.Fatal(err)
				}
			}
			e.runWorker()
			if !pays {
				p = e.waitState(id, kvitt.PaymentCancelled)
				if st, _, _ := e.swish.PaymentStatus(ref); st != "CANCELLED" {
					t.Errorf("simulator: %s, want CANCELLED (kvitt sent the stored cancel)", st)
				}
				if err := e.swish.Customer().Do(ctx, ref, "approve"); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
					t.Errorf("customer approving a cancelled request: %v, want refused", err)
				}
				if paid := e.salePaid(s.ID); paid != 0 {
					t.Errorf("sale counts %d as paid, want 0", paid)
				}
				e.pay(ctx, s.ID, "cash", 8800)
			} else {
				p = e.waitState(id, kvitt.PaymentPaid)
				if p.Attention != "" {
					t.Errorf("paid payment needs attention %q: it was never ended", p.Attention)
				}
				if st, _, _ := e.swish.PaymentStatus(ref); st != "PAID" {
					t.Errorf("simulator: %s, want PAID", st)
				}
				if n := entered(e.events(id), kvitt.PaymentPaid); n != 1 {
					t.Errorf("%d transitions to paid", n)
				}
			}
			if n := countState(e.events(id), kvitt.PaymentCancelled); n != map[bool]int{false: 1, true: 0}[pays] {
				t.Errorf("events %v: %d transitions to cancelled", transitions(e.events(id)), n)
			}
			rc, err := e.h.CompleteSale(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantMethod := "cash"
			if pays {
				wantMethod = "swish"
			}
			if len(rc.Tenders) != 1 || rc.Tenders[0].Method != wantMethod || rc.Tenders[0].Amount != 8800 {
				t.Errorf("receipt tenders %+v, want one %s tender of 8800", rc.Tenders, wantMethod)
			}
			e.waitRegistered(rc.ID)
			// Money: one payment request at Swish (the create was never sent
			// twice), nothing listed for a person.
			if n := e.swish.PaymentCount(); n != 1 {
				t.Errorf("simulator holds %d payment requests, want 1", n)
			}
			if n := e.recoveryLen(); n != 0 {
				t.Errorf("recovery lists %d items, want none", n)
			}
		})
	}
}

// TestCardNotFoundWhileStartOnItsWay: kvitt's PaymentRequest is still on
// its way to the terminal (HoldPayments: TransactionStatus answers
// NotFound) when a second kvitt node asks about the payment. NotFound while
// the Start may still arrive decides nothing: the payment stays pending;
// the request arrives, the customer pays, kvitt books paid. One charge.
//
// Before: node 2's adapter (which is not the one sending) mapped NotFound to
// failed and hub.applyTo applied pending → failed at once (no InFlightUntil);
// the terminal's approval then came back to node 1 and was dropped as
// failed → paid ("ignored transition"): the card charged, the sale unpaid.
func TestCardNotFoundWhileStartOnItsWay(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	arrived, release := e.term.HoldPayments()
	defer release()
	s := e.sale(ctx, till1, 10000)
	p := e.pay(ctx, s.ID, "card", 10000)
	if p.State != kvitt.PaymentPending {
		t.Fatalf("card payment after create: %s", p.State)
	}
	if ref := recvRef(t, arrived); ref != p.Reference {
		t.Fatalf("terminal holds %s, want %s", ref, p.Reference)
	}

	n2 := e.node2(0)
	got, err := n2.SyncPayment(ctx, p.ID, hub.CausePoller)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != kvitt.PaymentPending {
		t.Fatalf("node 2 heard NotFound while the Start was on its way and booked %s, want still pending", got.State)
	}
	if p = e.payment(p.ID); p.State != kvitt.PaymentPending || !p.InFlightUntil.After(time.Now()) {
		t.Fatalf("stored payment %s in flight until %v, want pending and in flight", p.State, p.InFlightUntil)
	}
	if e.recoveryItem(p.ID, "") != nil {
		t.Errorf("a payment in flight is in the recovery list")
	}

	release()
	if err := e.term.WaitFor(ctx, p.Reference); err != nil {
		t.Fatalf("the held request never reached the card screen: %v", err)
	}
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	es := e.events(p.ID)
	if p.Attention != "" || !p.InFlightUntil.IsZero() {
		t.Errorf("paid payment: attention %q, in flight until %v; want neither", p.Attention, p.InFlightUntil)
	}
	if n := countState(es, kvitt.PaymentFailed); n != 0 {
		t.Errorf("events %v: the payment was booked failed on the way", transitions(es))
	}
	if last := es[len(es)-1]; last.From != kvitt.PaymentPending || last.Cause != hub.CauseProvider {
		t.Errorf("paid by %s>%s/%s, want pending>paid by the Start's answer", last.From, last.To, last.Cause)
	}
	// Money: one charge, which the sale completes with.
	if n := e.term.Charges(p.Reference); n != 1 || len(e.term.Ledger()) != 1 {
		t.Errorf("terminal charged %d times (ledger %+v), want once", n, e.term.Ledger())
	}
	rc, err := e.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Tenders) != 1 || rc.Tenders[0].PaymentID != p.ID || rc.Tenders[0].Card == nil {
		t.Errorf("receipt tenders %+v, want the card payment", rc.Tenders)
	}
}

// TestCardRefundNotFoundWhileOnItsWay: as above for a card-present refund:
// node 2's refund sync hears NotFound while node 1's refund request is on
// its way to the terminal; the refund stays pending, the customer presents
// the card, the money goes back once and kvitt counts it.
//
// Before: hub.applyRefundTo booked the refund failed (no InFlightUntil) and
// then dropped the terminal's success ("a refund that has succeeded or
// failed never changes again"): money back to the customer, the payment
// still fully refundable, so the cashier could refund it again.
func TestCardRefundNotFoundWhileOnItsWay(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 10000)
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	e.waitState(p.ID, kvitt.PaymentPaid)
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.term.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	arrived, release := e.term.HoldPayments()
	defer release()
	r, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 4000})
	if err != nil {
		t.Fatal(err)
	}
	if ref := recvRef(t, arrived); ref != r.Reference {
		t.Fatalf("terminal holds %s, want the refund's %s", ref, r.Reference)
	}
	n2 := e.node2(0)
	got, err := n2.SyncRefund(ctx, r.ID, hub.CausePoller)
	if err != nil {
		t.Fatal(err)
	}
	if got.State == kvitt.RefundFailed {
		t.Fatalf("node 2 heard NotFound while the refund was on its way and booked it failed")
	}
	if r = e.waitRefund(r.ID, kvitt.RefundPending); !r.InFlightUntil.After(time.Now()) {
		t.Errorf("refund in flight until %v, want a time to come", r.InFlightUntil)
	}

	release()
	if err := e.term.WaitFor(ctx, r.Reference); err != nil {
		t.Fatalf("the held refund never reached the card screen: %v", err)
	}
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	r = e.waitRefund(r.ID, kvitt.RefundSucceeded)
	if r.Attention != "" {
		t.Errorf("refund attention %q, want none: it was never booked failed", r.Attention)
	}
	p = e.waitState(p.ID, kvitt.PaymentPartiallyRefunded)
	if p.Refunded != 4000 {
		t.Errorf("payment refunded %d, want 4000", p.Refunded)
	}
	// Money: one charge, one refund of 4000, and kvitt says so.
	if n := e.term.Charges(p.Reference); n != 1 {
		t.Errorf("terminal charged %d times, want 1", n)
	}
	if refunds := e.ledger("refund"); len(refunds) != 1 || refunds[0].Amount != 4000 || refunds[0].ServiceID != r.Reference {
		t.Errorf("terminal refunds %+v, want one of 4000 for %s", refunds, r.Reference)
	}
	if _, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 6001}); kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE {
		t.Errorf("refund above what is left after the counted refund: %v, want refused", err)
	}
}

// TestCardPaidAfterEnded: a second kvitt node whose clock runs ahead (its
// NTP broke) sees the payment's in-flight window over while node 1's
// PaymentRequest is still queued in front of the terminal (HoldPayments), so
// by its rules it concludes: NotFound is failed, or the cashier's cancel
// through it finds nothing to abort and is cancelled. The request then
// reaches the terminal and the customer pays: the terminal's answer to node
// 1's own Start reports the money taken after kvitt booked the payment
// ended. kvitt shows paid with attention, lists it for recovery, counts it
// for nothing until a person keeps or refunds it. One charge.
//
// Before: the answer was dropped (hub.applyTo: failed/cancelled → paid is
// not a legal transition, Logger.Info "ignored transition"): the card
// charged, the payment failed or cancelled, nothing listed.
func TestCardPaidAfterEnded(t *testing.T) {
	for _, ended := range []kvitt.PaymentState{kvitt.PaymentFailed, kvitt.PaymentCancelled} {
		t.Run(string(ended), func(t *testing.T) {
			e := newEnv(t, options{}, true)
			ctx := ctxT(t)
			arrived, release := e.term.HoldPayments()
			defer release()
			s := e.sale(ctx, till1, 10000)
			p := e.pay(ctx, s.ID, "card", 10000)
			if ref := recvRef(t, arrived); ref != p.Reference {
				t.Fatalf("terminal holds %s, want %s", ref, p.Reference)
			}

			n2 := e.node2(e.h.LongRunningTimeout + e.h.InFlightGrace + time.Minute)
			var got *kvitt.Payment
			var err error
			if ended == kvitt.PaymentFailed {
				got, err = n2.SyncPayment(ctx, p.ID, hub.CausePoller)
			} else {
				got, err = n2.CancelPayment(ctx, p.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.State != ended {
				t.Fatalf("node 2 booked %s, want %s (its clock says the flight is over)", got.State, ended)
			}
			if ended == kvitt.PaymentCancelled {
				// The customer pays cash and the sale completes.
				e.pay(ctx, s.ID, "cash", 10000)
				if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
			}

			// The queued request reaches the terminal; the customer taps the card.
			release()
			if err := e.term.WaitFor(ctx, p.Reference); err != nil {
				t.Fatalf("the held request never reached the card screen: %v", err)
			}
			if err := e.term.PresentCard(simnexo.Approve); err != nil {
				t.Fatal(err)
			}
			attention := kvitt.AttentionPaidAfterFailed
			if ended == kvitt.PaymentCancelled {
				attention = kvitt.AttentionPaidAfterCancelled
			}
			p = e.waitAttention(p.ID, attention)
			if p.Card == nil || p.Card.MaskedPAN == "" || p.Card.AuthCode == "" {
				t.Errorf("late card payment without its card data: %+v", p.Card)
			}
			salePaid := int64(0)
			if ended == kvitt.PaymentCancelled {
				salePaid = 10000 // the cash
			}
			e.checkLatePayment(p, ended, hub.CauseProvider, salePaid)
			if n := e.term.Charges(p.Reference); n != 1 {
				t.Fatalf("terminal charged %d times, want 1", n)
			}

			if ended == kvitt.PaymentFailed {
				// The customer meant to pay by card: a person keeps it.
				if _, err := e.h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "customer confirms the card payment", "e2e"); err != nil {
					t.Fatal(err)
				}
				rc, err := e.h.CompleteSale(ctx, s.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(rc.Tenders) != 1 || rc.Tenders[0].PaymentID != p.ID || rc.Tenders[0].Amount != 10000 || rc.Tenders[0].Card == nil {
					t.Errorf("receipt tenders %+v, want the kept card payment", rc.Tenders)
				}
				e.waitRegistered(rc.ID)
				if l := e.term.Ledger(); len(l) != 1 {
					t.Errorf("terminal ledger %+v, want the one charge", l)
				}
			} else {
				// The sale was paid in cash: keeping the card money is refused;
				// it is refunded on the terminal.
				if _, err := e.h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "keep", "e2e"); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
					t.Errorf("keeping a late payment for a completed sale: %v, want a conflict", err)
				}
				if err := e.term.WaitIdle(ctx); err != nil {
					t.Fatal(err)
				}
				r, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 10000})
				if err != nil {
					t.Fatal(err)
				}
				if err := e.term.WaitFor(ctx, r.Reference); err != nil {
					t.Fatal(err)
				}
				if err := e.term.PresentCard(simnexo.Approve); err != nil {
					t.Fatal(err)
				}
				r = e.waitRefund(r.ID, kvitt.RefundSucceeded)
				if r.ReceiptID != "" {
					// The late payment was never the sale's: no goods came back.
					// A return receipt would take the coffee the customer paid
					// cash for out of the day's turnover and VAT.
					t.Errorf("refunding money that was never the sale's issued return receipt %s", r.ReceiptID)
					e.waitRegistered(r.ReceiptID)
				}
				if n := len(e.cu.Entries()); n != 1 {
					t.Errorf("control unit holds %d registrations, want the sale's receipt alone", n)
				}
				if p = e.waitState(p.ID, kvitt.PaymentRefunded); p.Refunded != 10000 {
					t.Errorf("refunded %d, want 10000", p.Refunded)
				}
				if refunds := e.ledger("refund"); len(refunds) != 1 || refunds[0].Amount != 10000 {
					t.Errorf("terminal refunds %+v, want one of 10000", refunds)
				}
			}
			if n := e.recoveryLen(); n != 0 {
				t.Errorf("recovery lists %d items after the person decided, want none", n)
			}
			if n := entered(e.events(p.ID), kvitt.PaymentPaid); n != 1 {
				t.Errorf("%d transitions to paid, want 1", n)
			}
			if n := e.term.Charges(p.Reference); n != 1 {
				t.Errorf("terminal charged %d times, want 1", n)
			}
			e.verifyJournal()
		})
	}
}
