package hub

import (
	"slices"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Principle 1: the payment row, with the reference the provider will see,
// is committed before Start is called.
func TestPersistBeforeCall(t *testing.T) {
	h, fp, _ := newHub(t)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if fp.count("start") != 1 {
		t.Fatalf("Start called %d times", fp.count("start"))
	}
	if got := fp.startedState; len(got) != 1 || got[0] != kvitt.PaymentCreated {
		t.Fatalf("stored state when Start was called: %v; want [created]", got)
	}
	if refs := fp.references("start"); refs[0] != p.Reference || p.Reference == "" {
		t.Fatalf("Start got reference %q; payment has %q", refs[0], p.Reference)
	}
	if p.State != kvitt.PaymentPending || p.Action == nil || p.Action.Type != "show_qr" {
		t.Fatalf("payment = %s %+v; want pending with the action", p.State, p.Action)
	}
	if got := eventStates(t, h, p.ID); !statesEqual(got, []kvitt.PaymentState{kvitt.PaymentCreated, kvitt.PaymentPending}) {
		t.Fatalf("events = %v", got)
	}
	// The safety net job was stored with the payment.
	if js := jobsOf(t, h, jobPaymentSync); len(js) != 1 || js[0].Ref != p.ID {
		t.Fatalf("sync jobs = %+v", js)
	}
}

// Principle 2: a lost answer leaves the payment created; the worker asks
// Status with the same reference and never starts a second charge.
func TestLostAnswerIsAQuestion(t *testing.T) {
	h, fp, clk := newHub(t)
	fp.script([]answer{{err: errLost}}, []answer{{u: kvitt.Update{State: kvitt.PaymentPaid, Provider: map[string]string{"paymentReference": "ABC"}}}})
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatalf("a lost answer is not an error for the till: %v", err)
	}
	if p.State != kvitt.PaymentCreated {
		t.Fatalf("state = %s, want created", p.State)
	}
	if fp.count("status") != 0 {
		t.Fatal("Status asked synchronously")
	}
	// A second attempt from the till is refused while the first is undecided.
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("second payment while the first is open: %v; want conflict", err)
	}
	clk.Advance(11 * time.Second) // the sync job is due
	stop := startWorker(h, "w1")
	p = waitState(t, h, p.ID, kvitt.PaymentPaid)
	stop()
	if fp.count("start") != 1 {
		t.Fatalf("Start called %d times; a lost answer must never cause a second charge", fp.count("start"))
	}
	for _, ref := range fp.references("status") {
		if ref != p.Reference {
			t.Fatalf("Status asked about %q; payment reference is %q", ref, p.Reference)
		}
	}
	if fp.count("status") != 1 {
		t.Errorf("Status asked %d times, want 1", fp.count("status"))
	}
	if p.Provider["paymentReference"] != "ABC" {
		t.Errorf("provider data not merged: %v", p.Provider)
	}
	if js := jobsOf(t, h, jobPaymentSync); len(js) != 0 {
		t.Errorf("sync job left after the payment was decided: %+v", js)
	}
	want := []kvitt.PaymentState{kvitt.PaymentCreated, kvitt.PaymentPaid}
	if got := eventStates(t, h, p.ID); !statesEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	// A decided payment is not asked again.
	if _, err := h.SyncPayment(ctx, p.ID, CauseAPI); err != nil || fp.count("status") != 1 {
		t.Errorf("SyncPayment of a paid payment: %v, %d status calls", err, fp.count("status"))
	}
}

// Before the deadline an unanswered status is retried; after it (plus the
// grace) the payment becomes unknown, never guessed and never re-sent.
func TestNoAnswerPastDeadlineBecomesUnknown(t *testing.T) {
	h, fp, clk := newHub(t)
	fp.script([]answer{{err: errLost}}, []answer{{err: errLost}})
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	// Before the deadline: the job fails (to be retried) and nothing changes.
	if _, err := h.runPaymentSync(ctx, &kvitt.Job{Kind: jobPaymentSync, Ref: p.ID}); err == nil {
		t.Fatal("status error before the deadline: job reported success")
	}
	if got := mustPayment(t, h, p.ID).State; got != kvitt.PaymentCreated {
		t.Fatalf("state = %s, want created", got)
	}
	// Past deadline + grace, the worker makes it unknown.
	clk.Advance(h.ProviderTimeout + h.SyncGrace + time.Minute)
	stop := startWorker(h, "w1")
	p = waitState(t, h, p.ID, kvitt.PaymentUnknown)
	stop()
	if p.Message == "" {
		t.Error("an unknown payment needs a message for the cashier")
	}
	if fp.count("start") != 1 {
		t.Fatalf("Start called %d times", fp.count("start"))
	}
	for _, ref := range fp.references("status") {
		if ref != p.Reference {
			t.Fatalf("Status asked about %q, want %q", ref, p.Reference)
		}
	}
	// Unknown is left to a person: the job asks no more.
	n := fp.count("status")
	if next, err := h.runPaymentSync(ctx, &kvitt.Job{Kind: jobPaymentSync, Ref: p.ID}); err != nil || next != 0 || fp.count("status") != n {
		t.Errorf("sync of an unknown payment: %v, %v, status calls %d → %d", next, err, n, fp.count("status"))
	}
	page, err := h.Recovery(ctx, "1", "", 0)
	if err != nil || len(page.Items) != 1 || page.Items[0].Payment.ID != p.ID {
		t.Fatalf("recovery = %+v, %v", page, err)
	}
	// The sale cannot take another payment or complete while it is unknown.
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("cash while a payment is unknown: %v", err)
	}
}

// Swish DS24-like: the provider itself says the outcome cannot be known.
func TestProviderReportsUnknown(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script(nil, []answer{{u: kvitt.Update{State: kvitt.PaymentUnknown, ErrorCode: "DS24", Message: "Swish has not answered the bank."}}})
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	p, err = h.SyncPayment(ctx, p.ID, CausePoller)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentUnknown || p.ErrorCode != "DS24" || p.Message == "" {
		t.Fatalf("payment = %s %q %q; want unknown DS24", p.State, p.ErrorCode, p.Message)
	}
	n := fp.count("status")
	if next, err := h.runPaymentSync(ctx, &kvitt.Job{Kind: jobPaymentSync, Ref: p.ID}); next != 0 || err != nil || fp.count("status") != n {
		t.Errorf("the poller kept asking about an unknown payment: %v %v", next, err)
	}
	// Resolved by a person, with a reason.
	if _, err := h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "", "test"); kvitt.ErrorField(err) != "note" {
		t.Errorf("resolve without a note: %v", err)
	}
	if _, err := h.ResolvePayment(ctx, p.ID, kvitt.PaymentExpired, "x", "test"); kvitt.ErrorField(err) != "state" {
		t.Errorf("resolve to expired: %v", err)
	}
	p, err = h.ResolvePayment(ctx, p.ID, kvitt.PaymentPaid, "the customer's bank confirmed", "test")
	if err != nil || p.State != kvitt.PaymentPaid {
		t.Fatalf("resolve: %v %v", p, err)
	}
	es, _ := h.PaymentEvents(ctx, p.ID, 0)
	if last := es[len(es)-1]; last.Cause != CauseOperator || last.To != kvitt.PaymentPaid {
		t.Errorf("last event = %+v", last)
	}
	if _, err := h.ResolvePayment(ctx, p.ID, kvitt.PaymentFailed, "oops", "test"); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("resolving a paid payment: %v", err)
	}
	if _, err := h.CompleteSale(ctx, s.ID); err != nil {
		t.Errorf("complete after resolving paid: %v", err)
	}
}

// Principle 3: transitions are compare-and-set on the stored state; a late
// "cancelled" after "paid" changes nothing.
func TestIllegalLateTransitionIgnored(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil || p.State != kvitt.PaymentPaid {
		t.Fatalf("%v %v", p, err)
	}
	for _, late := range []kvitt.PaymentState{kvitt.PaymentCancelled, kvitt.PaymentPending, kvitt.PaymentExpired, kvitt.PaymentDeclined, kvitt.PaymentUnknown, kvitt.PaymentCreated} {
		got, err := h.apply(ctx, p.ID, kvitt.Update{State: late, Message: "late " + string(late)}, CauseCallback)
		if err != nil || got.State != kvitt.PaymentPaid {
			t.Fatalf("late %s: %v %v", late, got.State, err)
		}
	}
	want := []kvitt.PaymentState{kvitt.PaymentCreated, kvitt.PaymentPaid}
	if got := eventStates(t, h, p.ID); !statesEqual(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if _, err := h.CancelPayment(ctx, p.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT || fp.count("cancel") != 0 {
		t.Errorf("cancel of a paid payment: %v (%d provider calls)", err, fp.count("cancel"))
	}
}

// A callback says paid while Start is still waiting for its answer; Start
// then answers cancelled. The first definite outcome wins.
func TestCallbackRacesStart(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentCancelled}}}, nil)
	fp.onStart = func(p *kvitt.Payment) {
		if _, err := h.apply(ctx, p.ID, kvitt.Update{State: kvitt.PaymentPaid}, CauseCallback); err != nil {
			t.Error(err)
		}
	}
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentPaid {
		t.Fatalf("state = %s, want paid", p.State)
	}
	es, _ := h.PaymentEvents(ctx, p.ID, 0)
	if len(es) != 2 || es[1].Cause != CauseCallback {
		t.Fatalf("events = %+v", es)
	}
}

func TestDeclinedThenPayAgain(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentDeclined, ErrorCode: "RF07", Message: "Declined by the customer."}}}, nil)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil || p.State != kvitt.PaymentDeclined || p.ErrorCode != "RF07" || p.Action != nil {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("complete after a decline: %v", err)
	}
	p2, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000})
	if err != nil || p2.State != kvitt.PaymentPaid || p2.Reference == p.Reference {
		t.Fatalf("%+v %v", p2, err)
	}
}

func TestOneOpenPaymentPerSale(t *testing.T) {
	h, fp, _ := newHub(t)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 4000})
	if err != nil || p.State != kvitt.PaymentPending {
		t.Fatal(p, err)
	}
	for _, in := range []PaymentInput{{Method: "fake", Amount: 6000}, {Method: "cash", Amount: 6000}} {
		if _, err := h.CreatePayment(ctx, s.ID, in); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			t.Errorf("%s while a payment is pending: %v; want conflict", in.Method, err)
		}
	}
	if _, err := h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("complete with a pending payment: %v", err)
	}
	if _, err := h.CancelSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("cancel sale with a pending payment: %v", err)
	}
	if fp.count("start") != 1 {
		t.Errorf("Start called %d times", fp.count("start"))
	}
	p, err = h.CancelPayment(ctx, p.ID)
	if err != nil || p.State != kvitt.PaymentCancelled || fp.references("cancel")[0] != p.Reference {
		t.Fatalf("cancel: %+v %v", p, err)
	}
	if p2, err := h.CancelPayment(ctx, p.ID); err != nil || p2.State != kvitt.PaymentCancelled || fp.count("cancel") != 1 {
		t.Errorf("cancel again: %v %v", p2, err)
	}
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000}); err != nil {
		t.Fatalf("cash after the cancel: %v", err)
	}
}

func TestPaymentInputErrors(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 10000)
	before := countRows(t, h, "payments")
	for _, tc := range []struct {
		in    PaymentInput
		code  string
		field string
	}{
		{PaymentInput{Method: "", Amount: 100}, kvitt.EUNPROCESSABLE, "method"},
		{PaymentInput{Method: "bitcoin", Amount: 100}, kvitt.EUNPROCESSABLE, "method"},
		{PaymentInput{Method: "fake", Amount: 0}, kvitt.EUNPROCESSABLE, "amount"},
		{PaymentInput{Method: "fake", Amount: -100}, kvitt.EUNPROCESSABLE, "amount"},
		{PaymentInput{Method: "fake", Amount: 10001}, kvitt.EUNPROCESSABLE, "amount"},
		{PaymentInput{Method: "fake", Amount: kvitt.MaxAmount + 1}, kvitt.EUNPROCESSABLE, "amount"},
		{PaymentInput{Method: "fake", Amount: 100, Tendered: 200}, kvitt.EUNPROCESSABLE, "tendered"},
		{PaymentInput{Method: "cash", Amount: 10100}, kvitt.EUNPROCESSABLE, "amount"},
		{PaymentInput{Method: "cash", Amount: 5000, Tendered: 4000}, kvitt.EUNPROCESSABLE, "tendered"},
		{PaymentInput{Method: "cash", Amount: 5000, Tendered: kvitt.MaxAmount + 1}, kvitt.EUNPROCESSABLE, "tendered"},
	} {
		_, err := h.CreatePayment(ctx, s.ID, tc.in)
		if kvitt.ErrorCode(err) != tc.code || kvitt.ErrorField(err) != tc.field {
			t.Errorf("%+v: %v; want %s on %q", tc.in, err, tc.code, tc.field)
		}
	}
	if _, err := h.CreatePayment(ctx, "sale_nope", PaymentInput{Method: "cash", Amount: 100}); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("unknown sale: %v", err)
	}
	if n := countRows(t, h, "payments"); n != before {
		t.Errorf("refused payments were stored: %d → %d", before, n)
	}
}

func TestCashRoundingAndChange(t *testing.T) {
	h, _, _ := newHub(t)
	t.Run("rounded up, change", func(t *testing.T) {
		s := sale(t, h, 14950)
		p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 14950, Tendered: 20000})
		if err != nil {
			t.Fatal(err)
		}
		if p.State != kvitt.PaymentPaid || p.Amount != 15000 || p.Rounding != 50 || p.Tendered != 20000 || p.Change != 5000 || p.Applied() != 14950 {
			t.Fatalf("payment = %s amount %d rounding %d tendered %d change %d", p.State, p.Amount, p.Rounding, p.Tendered, p.Change)
		}
		rc, err := h.CompleteSale(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rc.Tenders) != 1 || rc.Total != 14950 {
			t.Fatalf("receipt %+v", rc)
		}
		if tn := rc.Tenders[0]; tn.Amount != 15000 || tn.Rounding != 50 || tn.Tendered != 20000 || tn.Change != 5000 {
			t.Errorf("tender = %+v", tn)
		}
	})
	t.Run("rounded down, the rounded amount given", func(t *testing.T) {
		s := sale(t, h, 14949)
		p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 14900})
		if err != nil {
			t.Fatal(err)
		}
		if p.Amount != 14900 || p.Rounding != -49 || p.Tendered != 14900 || p.Change != 0 || p.Applied() != 14949 {
			t.Fatalf("amount %d rounding %d tendered %d change %d", p.Amount, p.Rounding, p.Tendered, p.Change)
		}
		if _, err := h.CompleteSale(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("part in cash, then the rest", func(t *testing.T) {
		s := sale(t, h, 14950)
		p1, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000})
		if err != nil || p1.Amount != 5000 || p1.Rounding != 0 {
			t.Fatal(p1, err)
		}
		if _, err := h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			t.Fatalf("complete with 99.50 left: %v", err)
		}
		v, _ := h.ViewSale(ctx, s.ID)
		if v.Paid != 5000 || v.Due != 9950 {
			t.Fatalf("paid %d due %d", v.Paid, v.Due)
		}
		p2, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 9950, Tendered: 10000})
		if err != nil || p2.Amount != 10000 || p2.Rounding != 50 || p2.Change != 0 {
			t.Fatal(p2, err)
		}
		if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 100}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			t.Fatalf("payment on a fully paid sale: %v", err)
		}
		rc, err := h.CompleteSale(ctx, s.ID)
		if err != nil || len(rc.Tenders) != 2 || rc.Tenders[0].Amount+rc.Tenders[1].Amount != 15000 || rc.Tenders[1].Rounding != 50 {
			t.Fatal(rc, err)
		}
	})
}

func TestCompleteSale(t *testing.T) {
	h, _, _ := newHub(t)
	s1 := sale(t, h, 10000)
	if _, err := h.CompleteSale(ctx, s1.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("complete unpaid: %v", err)
	}
	if _, err := h.CreatePayment(ctx, s1.ID, PaymentInput{Method: "cash", Amount: 10000}); err != nil {
		t.Fatal(err)
	}
	rc1, err := h.CompleteSale(ctx, s1.ID)
	if err != nil || rc1.Serial != 1 || rc1.Registration != kvitt.RegistrationNotRequired {
		t.Fatalf("receipt 1: %+v %v", rc1, err)
	}
	// Completing again returns the same receipt and uses no serial.
	again, err := h.CompleteSale(ctx, s1.ID)
	if err != nil || again.ID != rc1.ID || again.Serial != 1 {
		t.Fatalf("complete again: %+v %v", again, err)
	}
	if _, err := h.CreatePayment(ctx, s1.ID, PaymentInput{Method: "cash", Amount: 100}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("payment on a completed sale: %v", err)
	}
	if _, err := h.CancelSale(ctx, s1.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("cancel a completed sale: %v", err)
	}
	s2 := sale(t, h, 2500)
	h.CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 2500})
	rc2, err := h.CompleteSale(ctx, s2.ID)
	if err != nil || rc2.Serial != 2 {
		t.Fatalf("receipt 2: %+v %v", rc2, err)
	}
	// Another till has its own series.
	s3, err := h.CreateSale(ctx, SaleInput{TillID: "2", Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500)}})
	if err != nil {
		t.Fatal(err)
	}
	h.CreatePayment(ctx, s3.ID, PaymentInput{Method: "cash", Amount: 100})
	if rc3, err := h.CompleteSale(ctx, s3.ID); err != nil || rc3.Serial != 1 {
		t.Fatalf("till 2 receipt: %+v %v", rc3, err)
	}
	// A cancelled sale cannot complete.
	s4 := sale(t, h, 100)
	if _, err := h.CancelSale(ctx, s4.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CompleteSale(ctx, s4.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("complete a cancelled sale: %v", err)
	}
}

func TestCreateSaleErrors(t *testing.T) {
	h, _, _ := newHub(t)
	_, err := h.CreateSale(ctx, SaleInput{TillID: "9", Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500)}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "till_id")
	_, err = h.CreateSale(ctx, SaleInput{Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500)}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "till_id")
	_, err = h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500), line("y", 1000, 100, 1900)}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "lines[1].vat_rate")
	_, err = h.CreateSale(ctx, SaleInput{TillID: "1", Currency: kvitt.EUR, Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500)}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "currency")
	if n := countRows(t, h, "sales"); n != 0 {
		t.Errorf("%d sales stored", n)
	}
	s, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500)}})
	if err != nil || s.Currency != kvitt.SEK || s.State != kvitt.SaleOpen {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestRefunds(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil || p.State != kvitt.PaymentPaid {
		t.Fatal(p, err)
	}
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: 10001})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: 0})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: -5})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	if rs, _ := h.ListRefunds(ctx, p.ID); len(rs) != 0 || fp.count("refund") != 0 {
		t.Fatalf("refused refunds stored or sent: %d stored, %d sent", len(rs), fp.count("refund"))
	}

	r1, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 4000})
	if err != nil || r1.State != kvitt.RefundSucceeded || fp.references("refund")[0] != r1.Reference {
		t.Fatalf("refund 1: %+v %v", r1, err)
	}
	p = mustPayment(t, h, p.ID)
	if p.State != kvitt.PaymentPartiallyRefunded || p.Refunded != 4000 || p.Refundable() != 6000 {
		t.Fatalf("after 40.00: %s refunded %d refundable %d", p.State, p.Refunded, p.Refundable())
	}
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: 6001})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	r2, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 6000})
	if err != nil || r2.State != kvitt.RefundSucceeded {
		t.Fatalf("refund 2: %+v %v", r2, err)
	}
	p = mustPayment(t, h, p.ID)
	if p.State != kvitt.PaymentRefunded || p.Refunded != 10000 || p.Refundable() != 0 {
		t.Fatalf("after all: %s refunded %d", p.State, p.Refunded)
	}
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: 1})
	wantErr(t, err, kvitt.ECONFLICT, "")
	if fp.count("refund") != 2 {
		t.Errorf("provider refunds = %d, want 2", fp.count("refund"))
	}
	want := []kvitt.PaymentState{kvitt.PaymentCreated, kvitt.PaymentPaid, kvitt.PaymentPartiallyRefunded, kvitt.PaymentRefunded}
	if got := eventStates(t, h, p.ID); !statesEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if rs, _ := h.ListRefunds(ctx, p.ID); len(rs) != 2 {
		t.Errorf("%d refunds stored", len(rs))
	}
}

// A refund whose outcome is not yet known counts as taken.
func TestRefundInProgressCounts(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	fp.refund = []kvitt.RefundUpdate{{State: kvitt.RefundPending, Retry: time.Second}, {State: kvitt.RefundSucceeded}}
	s := sale(t, h, 10000)
	p, _ := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	r, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 6000})
	if err != nil || r.State != kvitt.RefundPending {
		t.Fatal(r, err)
	}
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: 4001})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 4000}); err != nil {
		t.Fatal(err)
	}
	if p := mustPayment(t, h, p.ID); p.Refunded != 4000 || p.State != kvitt.PaymentPartiallyRefunded {
		t.Fatalf("%s %d", p.State, p.Refunded)
	}
}

func TestRefundNotPaid(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 10000)
	p, _ := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000}) // pending
	_, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 100})
	wantErr(t, err, kvitt.ECONFLICT, "")
	_, err = h.CreateRefund(ctx, "pay_nope", RefundInput{Amount: 100})
	wantErr(t, err, kvitt.ENOTFOUND, "")
}

func TestCashRefund(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 14950)
	p, _ := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 14950, Tendered: 20000})
	// The customer paid 150.00 in cash; that is what can be given back.
	_, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 15001})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	r, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 15000})
	if err != nil || r.State != kvitt.RefundSucceeded {
		t.Fatal(r, err)
	}
	if p := mustPayment(t, h, p.ID); p.State != kvitt.PaymentRefunded {
		t.Fatalf("state %s", p.State)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	s1, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("x", 1000, 10000, 2500)}, IdempotencyKey: "key:sale"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("y", 1000, 999, 2500)}, IdempotencyKey: "key:sale"})
	if err != nil || s2.ID != s1.ID || s2.Total != 10000 {
		t.Fatalf("retried CreateSale = %+v, %v; want the first sale", s2, err)
	}
	if n := countRows(t, h, "sales"); n != 1 {
		t.Fatalf("%d sales", n)
	}
	p1, err := h.CreatePayment(ctx, s1.ID, PaymentInput{Method: "fake", Amount: 10000, IdempotencyKey: "key:pay"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := h.CreatePayment(ctx, s1.ID, PaymentInput{Method: "fake", Amount: 10000, IdempotencyKey: "key:pay"})
	if err != nil || p2.ID != p1.ID || p2.Reference != p1.Reference {
		t.Fatalf("retried CreatePayment = %+v, %v", p2, err)
	}
	if fp.count("start") != 1 || countRows(t, h, "payments") != 1 {
		t.Fatalf("Start called %d times, %d payments", fp.count("start"), countRows(t, h, "payments"))
	}
	r1, err := h.CreateRefund(ctx, p1.ID, RefundInput{Amount: 3000, IdempotencyKey: "key:ref"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.CreateRefund(ctx, p1.ID, RefundInput{Amount: 3000, IdempotencyKey: "key:ref"})
	if err != nil || r2.ID != r1.ID {
		t.Fatalf("retried CreateRefund = %+v, %v", r2, err)
	}
	if fp.count("refund") != 1 || countRows(t, h, "refunds") != 1 {
		t.Fatalf("Refund called %d times", fp.count("refund"))
	}
	if p := mustPayment(t, h, p1.ID); p.Refunded != 3000 {
		t.Fatalf("refunded %d, want 3000", p.Refunded)
	}
}

func TestEventsAreJournaled(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 10000)
	h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000})
	h.CompleteSale(ctx, s.ID)
	var v kvitt.JournalVerifier
	var kinds []string
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		es, err := tx.ListJournal(0, 100)
		for _, e := range es {
			if err := v.Check(e); err != nil {
				return err
			}
			kinds = append(kinds, e.Kind)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kinds, []string{"payment.state", "payment.state", "receipt.issued"}) {
		t.Errorf("journal kinds = %v", kinds)
	}
}

// Other Nordic currencies: the merchant's currency, its VAT rates and its cash unit.
func TestOtherCurrencies(t *testing.T) {
	h, _, _ := newHub(t)
	if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		for _, m := range []struct {
			id, country string
			cur         kvitt.Currency
		}{{"fi", "FI", kvitt.EUR}, {"dk", "DK", kvitt.DKK}, {"is", "IS", kvitt.ISK}} {
			rates := kvitt.DefaultVATRates(m.country)
			if m.country == "IS" {
				rates = []int64{2400, 1100, 0}
			}
			if err := tx.CreateMerchant(&kvitt.Merchant{ID: m.id, Name: m.id, Country: m.country, Currency: m.cur, VATRates: rates}); err != nil {
				return err
			}
			if err := tx.CreateShop(&kvitt.Shop{ID: "s-" + m.id, MerchantID: m.id, Name: m.id}); err != nil {
				return err
			}
			if err := tx.CreateTill(&kvitt.Till{ID: m.id, StoreID: "s-" + m.id, Name: m.id}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		till                   string
		price, rate            int64
		wantCur                kvitt.Currency
		wantVAT                int64
		wantAmount, wantRounds int64
	}{
		{"fi", 1233, 2550, kvitt.EUR, 251, 1235, 2},   // 12.33 € → 12.35 in cash; VAT 25.5 %
		{"dk", 1224, 2500, kvitt.DKK, 245, 1200, -24}, // 12.24 kr → 12.00
		{"dk", 1225, 2500, kvitt.DKK, 245, 1250, 25},  // half of 50 øre rounds up
		{"is", 1255, 2400, kvitt.ISK, 243, 1260, 5},   // krónur, cash in tens
	} {
		s, err := h.CreateSale(ctx, SaleInput{TillID: tc.till, Lines: []kvitt.SaleLine{line("x", 1000, tc.price, tc.rate)}})
		if err != nil {
			t.Fatalf("%s: %v", tc.till, err)
		}
		if s.Currency != tc.wantCur || s.VAT[0].VAT != tc.wantVAT {
			t.Errorf("%s: sale %s VAT %+v", tc.till, s.Currency, s.VAT)
		}
		p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: tc.price})
		if err != nil || p.Amount != tc.wantAmount || p.Rounding != tc.wantRounds || p.Currency != tc.wantCur {
			t.Errorf("%s: cash %+v %v; want amount %d rounding %d", tc.till, p, err, tc.wantAmount, tc.wantRounds)
			continue
		}
		if _, err := h.CompleteSale(ctx, s.ID); err != nil {
			t.Errorf("%s: complete: %v", tc.till, err)
		}
	}
	// A Swedish VAT rate is refused in Finland.
	_, err := h.CreateSale(ctx, SaleInput{TillID: "fi", Lines: []kvitt.SaleLine{line("x", 1000, 100, 2500)}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "lines[0].vat_rate")
	_, err = h.CreateSale(ctx, SaleInput{TillID: "fi", Currency: kvitt.SEK, Lines: []kvitt.SaleLine{line("x", 1000, 100, 2550)}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "currency")
}
