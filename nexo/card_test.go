package nexo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

// rig is the adapter against the simulator over real HTTPS on loopback.
type rig struct {
	term *simnexo.Terminal
	cfg  nexo.Config
	card *nexo.Card
	till *kvitt.Till
}

func newRig(t *testing.T, opts simnexo.Options) *rig {
	t.Helper()
	term, err := simnexo.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	cfg := nexo.Config{RootCAs: term.CertPool(), CancelWait: time.Minute}
	return &rig{
		term: term,
		cfg:  cfg,
		card: nexo.New(cfg),
		till: &kvitt.Till{ID: "1", Terminal: &kvitt.Terminal{POIID: term.POIID(), URL: term.URL(), Tip: opts.Tip}},
	}
}

func (r *rig) payment(amount int64) *kvitt.Payment {
	return &kvitt.Payment{ID: kvitt.NewID("pay"), Method: "card", Amount: amount, Currency: kvitt.SEK,
		Reference: r.card.NewReference(), Created: time.Now()}
}

type result struct {
	u   kvitt.Update
	err error
}

// start runs Start in the background, as the hub does, and waits until the
// terminal shows the payment to the customer.
func (r *rig) start(t *testing.T, ctx context.Context, card *nexo.Card, p *kvitt.Payment) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	go func() {
		u, err := card.Start(ctx, r.till, p)
		ch <- result{u, err}
	}()
	if err := r.term.WaitFor(testCtx(t), p.Reference); err != nil {
		t.Fatalf("payment never reached the terminal: %v", err)
	}
	return ch
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPending(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p := r.payment(12500)
	u := r.card.Pending(r.till, p)
	if u.State != kvitt.PaymentPending || u.Action == nil || u.Action.Type != "follow_terminal" ||
		u.Action.Message != "Follow the instructions on the card terminal" || !u.Deadline.Equal(p.Created.Add(160*time.Second)) {
		t.Errorf("pending %+v %+v", u, u.Action)
	}
	if r.card.Method() != "card" {
		t.Error("method")
	}
}

func TestApprove(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	if s := r.term.Screen(); s.Amount != "125.00 SEK" || s.Stage != simnexo.StageCard {
		t.Errorf("screen %+v", s)
	}
	if err := r.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	res := <-ch
	if res.err != nil {
		t.Fatal(res.err)
	}
	u := res.u
	c := u.Card
	if u.State != kvitt.PaymentPaid || c == nil || c.MaskedPAN != "************9999" || c.Brand != "MasterCard" ||
		c.AID == "" || c.EntryMode != "Contactless" || c.Verification != "PIN" || c.AuthCode == "" ||
		c.TerminalID != r.term.POIID() || c.TransactionRef == "" || c.TransactionRef != u.Provider["poi_transaction_id"] ||
		c.ResultText != "Godkänd" || c.SignatureRequired || u.Provider["poi_timestamp"] == "" {
		t.Errorf("update %+v card %+v", u, c)
	}
	if n := r.term.Charges(p.Reference); n != 1 {
		t.Errorf("%d charges", n)
	}
}

func TestCardScenarios(t *testing.T) {
	tests := []struct {
		scenario simnexo.Scenario
		state    kvitt.PaymentState
		code     string
		message  string
	}{
		{simnexo.Decline, kvitt.PaymentDeclined, "Refusal", "declined"},
		{simnexo.WrongPIN, kvitt.PaymentDeclined, "WrongPIN", "Wrong PIN"},
		{simnexo.InsufficientFunds, kvitt.PaymentDeclined, "Refusal", "Insufficient funds"},
		{simnexo.CustomerCancel, kvitt.PaymentCancelled, "Cancel", "customer cancelled"},
		{simnexo.NoAnswer, kvitt.PaymentCancelled, "Cancel", "No card was presented"},
		{simnexo.ApproveSignature, kvitt.PaymentPaid, "", ""},
	}
	r := newRig(t, simnexo.Options{})
	for _, tc := range tests {
		t.Run(string(tc.scenario), func(t *testing.T) {
			p := r.payment(9900)
			ch := r.start(t, testCtx(t), r.card, p)
			if err := r.term.PresentCard(tc.scenario); err != nil {
				t.Fatal(err)
			}
			res := <-ch
			if res.err != nil {
				t.Fatal(res.err)
			}
			u := res.u
			if u.State != tc.state || u.ErrorCode != tc.code || !strings.Contains(u.Message, tc.message) {
				t.Errorf("update %+v", u)
			}
			want := 0
			if tc.state == kvitt.PaymentPaid {
				want = 1
				if !u.Card.SignatureRequired || u.Card.Verification != "Signature" || u.Card.EntryMode != "ICC" {
					t.Errorf("card %+v", u.Card)
				}
			}
			if n := r.term.Charges(p.Reference); n != want {
				t.Errorf("%d charges, want %d", n, want)
			}
			// Status tells the same story as Start.
			s, err := r.card.Status(testCtx(t), r.till, p)
			if err != nil || s.State != u.State || s.ErrorCode != u.ErrorCode {
				t.Errorf("status %+v %v", s, err)
			}
		})
	}
}

func TestTip(t *testing.T) {
	r := newRig(t, simnexo.Options{Tip: true})
	t.Run("total entered", func(t *testing.T) {
		p := r.payment(12500)
		ch := r.start(t, testCtx(t), r.card, p)
		if r.term.Screen().Stage != simnexo.StageTip {
			t.Fatalf("screen %+v", r.term.Screen())
		}
		below := int64(12499)
		if err := r.term.EnterTotal(&below); !errors.Is(err, simnexo.ErrTotalBelowAmount) {
			t.Fatalf("total below amount accepted: %v", err)
		}
		total := int64(15000)
		if err := r.term.EnterTotal(&total); err != nil {
			t.Fatal(err)
		}
		r.term.PresentCard(simnexo.Approve)
		res := <-ch
		if res.err != nil || res.u.State != kvitt.PaymentPaid || res.u.Tip != 2500 || res.u.Provider["authorized_amount"] != "150.00" {
			t.Errorf("update %+v %v", res.u, res.err)
		}
		if l := r.term.Ledger(); l[len(l)-1].Amount != 15000 || l[len(l)-1].Tip != 2500 {
			t.Errorf("ledger %+v", l)
		}
	})
	t.Run("OK without a total", func(t *testing.T) {
		p := r.payment(12500)
		ch := r.start(t, testCtx(t), r.card, p)
		if err := r.term.EnterTotal(nil); err != nil {
			t.Fatal(err)
		}
		r.term.PresentCard(simnexo.Approve)
		res := <-ch
		if res.err != nil || res.u.State != kvitt.PaymentPaid || res.u.Tip != 0 {
			t.Errorf("update %+v %v", res.u, res.err)
		}
	})
	t.Run("sandbox customer", func(t *testing.T) {
		p := r.payment(12500)
		ch := r.start(t, testCtx(t), r.card, p)
		if err := r.term.Customer().Act(testCtx(t), r.till, p, kvitt.CustomerApprove, kvitt.CustomerOptions{Tip: 1250}); err != nil {
			t.Fatal(err)
		}
		res := <-ch
		if res.err != nil || res.u.State != kvitt.PaymentPaid || res.u.Tip != 1250 {
			t.Errorf("update %+v %v", res.u, res.err)
		}
	})
}

func TestSandboxCustomerActions(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	for action, want := range map[kvitt.CustomerAction]kvitt.PaymentState{
		kvitt.CustomerApprove: kvitt.PaymentPaid,
		kvitt.CustomerDecline: kvitt.PaymentDeclined,
		kvitt.CustomerCancel:  kvitt.PaymentCancelled,
		kvitt.CustomerTimeout: kvitt.PaymentCancelled,
	} {
		p := r.payment(1000)
		ch := make(chan result, 1)
		go func() { u, err := r.card.Start(testCtx(t), r.till, p); ch <- result{u, err} }()
		// Act waits for the payment to reach the terminal by itself.
		if err := r.term.Customer().Act(testCtx(t), r.till, p, action, kvitt.CustomerOptions{}); err != nil {
			t.Fatal(action, err)
		}
		if res := <-ch; res.err != nil || res.u.State != want {
			t.Errorf("%s: %+v %v", action, res.u, res.err)
		}
	}
}

func TestAbort(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p := r.payment(5000)
	ch := r.start(t, testCtx(t), r.card, p)
	u, err := r.card.Cancel(testCtx(t), r.till, p)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != kvitt.PaymentCancelled || u.ErrorCode != "Aborted" {
		t.Errorf("cancel %+v", u)
	}
	if res := <-ch; res.err != nil || res.u.State != kvitt.PaymentCancelled {
		t.Errorf("start %+v %v", res.u, res.err)
	}
	if len(r.term.Ledger()) != 0 {
		t.Errorf("ledger %+v", r.term.Ledger())
	}
	if r.term.Screen().Stage != simnexo.StageIdle {
		t.Errorf("terminal still busy: %+v", r.term.Screen())
	}
}

// TestAbortTooLate: the card was being authorised when the cashier
// cancelled; the terminal approves it and Cancel reports paid.
func TestAbortTooLate(t *testing.T) {
	r := newRig(t, simnexo.Options{ProcessingTime: time.Hour})
	p := r.payment(5000)
	ch := r.start(t, testCtx(t), r.card, p)
	r.term.PresentCard(simnexo.Approve)
	cancelled := make(chan result, 1)
	go func() { u, err := r.card.Cancel(testCtx(t), r.till, p); cancelled <- result{u, err} }()
	if err := r.term.WaitAborts(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := r.term.CompleteProcessing(); err != nil {
		t.Fatal(err)
	}
	c := <-cancelled
	if c.err != nil || c.u.State != kvitt.PaymentPaid || c.u.Card == nil {
		t.Errorf("cancel %+v %v", c.u, c.err)
	}
	if res := <-ch; res.err != nil || res.u.State != kvitt.PaymentPaid {
		t.Errorf("start %+v %v", res.u, res.err)
	}
	if n := r.term.Charges(p.Reference); n != 1 {
		t.Errorf("%d charges", n)
	}
}

func TestRefund(t *testing.T) {
	r := newRig(t, simnexo.Options{Auto: simnexo.Approve})
	p := r.payment(12500)
	u, err := r.card.Start(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v %v", u, err)
	}
	p.State = kvitt.PaymentPaid
	ref := &kvitt.Refund{ID: kvitt.NewID("ref"), PaymentID: p.ID, Amount: 5000, Currency: kvitt.SEK, Reference: r.card.NewReference()}
	ru, err := r.card.Refund(testCtx(t), r.till, p, ref)
	if err != nil || ru.State != kvitt.RefundSucceeded || ru.Provider["poi_transaction_id"] == "" {
		t.Fatalf("refund %+v %v", ru, err)
	}
	rs, err := r.card.RefundStatus(testCtx(t), r.till, p, ref)
	if err != nil || rs.State != kvitt.RefundSucceeded || rs.Provider["poi_transaction_id"] != ru.Provider["poi_transaction_id"] {
		t.Errorf("refund status %+v %v", rs, err)
	}
	l := r.term.Ledger()
	if len(l) != 2 || l[1].Kind != "refund" || l[1].Amount != 5000 || l[1].ServiceID != ref.Reference {
		t.Errorf("ledger %+v", l)
	}
	// A refund the terminal never saw.
	lost := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 100, Currency: kvitt.SEK, Reference: r.card.NewReference()}
	if rs, err := r.card.RefundStatus(testCtx(t), r.till, p, lost); err != nil || rs.State != kvitt.RefundFailed {
		t.Errorf("lost refund %+v %v", rs, err)
	}
	// A declined refund.
	r.term.SetAuto(simnexo.Decline)
	ru, err = r.card.Refund(testCtx(t), r.till, p, &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 100, Currency: kvitt.SEK, Reference: r.card.NewReference()})
	if err != nil || ru.State != kvitt.RefundFailed || ru.ErrorCode != "Refusal" {
		t.Errorf("declined refund %+v %v", ru, err)
	}
}

// TestDroppedAfterApproval: the terminal approves, the connection drops
// before the answer; Start reports an unknown outcome and Status recovers
// the approval from TransactionStatus. One charge, never two.
func TestDroppedAfterApproval(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	r.term.DropNextAnswer()
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	r.term.PresentCard(simnexo.Approve)
	res := <-ch
	if !errors.Is(res.err, nexo.ErrTransport) {
		t.Fatalf("want a transport error, got %+v %v", res.u, res.err)
	}
	u, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != kvitt.PaymentPaid || u.Card == nil || u.Card.AuthCode == "" || u.Provider["poi_transaction_id"] == "" {
		t.Errorf("status %+v", u)
	}
	if n := len(r.term.Ledger()); n != 1 || r.term.Charges(p.Reference) != 1 {
		t.Errorf("ledger %+v", r.term.Ledger())
	}
}

// TestRestartMidPayment: kvitt dies while the customer is at the terminal;
// a fresh adapter recovers the payment by its stored reference.
func TestRestartMidPayment(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p := r.payment(7000)
	ctx, kill := context.WithCancel(context.Background())
	ch := r.start(t, ctx, r.card, p)
	kill() // the process dies: its connection goes away
	if res := <-ch; res.err == nil {
		t.Fatalf("start after kill: %+v", res.u)
	}
	fresh := nexo.New(r.cfg)
	u, err := fresh.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPending || u.Retry <= 0 || u.Deadline.IsZero() {
		t.Fatalf("status while the customer is at the terminal: %+v %v", u, err)
	}
	r.term.PresentCard(simnexo.Approve)
	if err := r.term.WaitIdle(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	u, err = fresh.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("status after approval: %+v %v", u, err)
	}
	if r.term.Charges(p.Reference) != 1 || len(r.term.Ledger()) != 1 {
		t.Errorf("ledger %+v", r.term.Ledger())
	}
	// The fresh adapter logs in on first use of the terminal and takes the next payment.
	r.term.SetAuto(simnexo.Approve)
	if u, err := fresh.Start(testCtx(t), r.till, r.payment(100)); err != nil || u.State != kvitt.PaymentPaid {
		t.Errorf("next payment %+v %v", u, err)
	}
}

func TestNotFound(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	u, err := r.card.Status(testCtx(t), r.till, r.payment(100))
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "NotFound" || !strings.Contains(u.Message, "never received") {
		t.Errorf("%+v %v", u, err)
	}
}

// TestBusy: another till holds the terminal; the second payment is refused
// unprocessed (and its status is NotFound), the first one goes on.
func TestBusy(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p1 := r.payment(1000)
	ch := r.start(t, testCtx(t), r.card, p1)

	other := nexo.New(r.cfg)
	till2 := &kvitt.Till{ID: "2", Terminal: r.till.Terminal}
	p2 := r.payment(2000)
	u, err := other.Start(testCtx(t), till2, p2)
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "Busy" || !strings.Contains(u.Message, "busy") {
		t.Errorf("second till: %+v %v", u, err)
	}
	if s, err := other.Status(testCtx(t), till2, p2); err != nil || s.ErrorCode != "NotFound" {
		t.Errorf("status of the refused payment: %+v %v", s, err)
	}
	r.term.PresentCard(simnexo.Approve)
	if res := <-ch; res.err != nil || res.u.State != kvitt.PaymentPaid {
		t.Errorf("first till: %+v %v", res.u, res.err)
	}
	if len(r.term.Ledger()) != 1 {
		t.Errorf("ledger %+v", r.term.Ledger())
	}
}

// TestSerialisedPerTerminal: two payments of one kvitt for one terminal
// queue in the client instead of meeting Busy.
func TestSerialisedPerTerminal(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p1, p2 := r.payment(1000), r.payment(2000)
	ch1 := r.start(t, testCtx(t), r.card, p1)
	ch2 := make(chan result, 1)
	go func() { u, err := r.card.Start(testCtx(t), r.till, p2); ch2 <- result{u, err} }()
	r.term.PresentCard(simnexo.Approve)
	if res := <-ch1; res.err != nil || res.u.State != kvitt.PaymentPaid {
		t.Errorf("p1 %+v %v", res.u, res.err)
	}
	if err := r.term.WaitFor(testCtx(t), p2.Reference); err != nil {
		t.Fatal(err)
	}
	r.term.PresentCard(simnexo.Approve)
	if res := <-ch2; res.err != nil || res.u.State != kvitt.PaymentPaid {
		t.Errorf("p2 %+v %v", res.u, res.err)
	}
}

// TestQueuedPaymentCancelled: a payment still queued in the client is
// cancelled without ever reaching the terminal.
func TestQueuedPaymentCancelled(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	p1, p2 := r.payment(1000), r.payment(2000)
	ch1 := r.start(t, testCtx(t), r.card, p1)
	ch2 := make(chan result, 1)
	go func() { u, err := r.card.Start(testCtx(t), r.till, p2); ch2 <- result{u, err} }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s, _ := r.card.Status(testCtx(t), r.till, p2); s.State == kvitt.PaymentPending {
			break // p2 is in flight in this process
		}
	}
	u, err := r.card.Cancel(testCtx(t), r.till, p2)
	if err != nil || u.State != kvitt.PaymentCancelled {
		t.Errorf("cancel queued %+v %v", u, err)
	}
	if res := <-ch2; res.err != nil || res.u.State != kvitt.PaymentCancelled {
		t.Errorf("p2 %+v %v", res.u, res.err)
	}
	r.term.PresentCard(simnexo.Approve)
	if res := <-ch1; res.err != nil || res.u.State != kvitt.PaymentPaid {
		t.Errorf("p1 %+v %v", res.u, res.err)
	}
	if r.term.Charges(p2.Reference) != 0 {
		t.Error("the cancelled payment was charged")
	}
}

// TestLoginAgain: the terminal restarted and forgot the login; the client
// logs in again and sends the same request once more (it was refused unprocessed).
func TestLoginAgain(t *testing.T) {
	r := newRig(t, simnexo.Options{Auto: simnexo.Approve})
	if u, err := r.card.Start(testCtx(t), r.till, r.payment(100)); err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v %v", u, err)
	}
	r.term.LogOut()
	p := r.payment(200)
	if u, err := r.card.Start(testCtx(t), r.till, p); err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v %v", u, err)
	}
	if r.term.Charges(p.Reference) != 1 {
		t.Error("charges")
	}
}

func TestNoTerminal(t *testing.T) {
	card := nexo.New(nexo.Config{})
	u, err := card.Start(context.Background(), &kvitt.Till{ID: "1"}, &kvitt.Payment{Amount: 100, Currency: kvitt.SEK})
	if err != nil || u.State != kvitt.PaymentFailed || !strings.Contains(u.Message, "no card terminal") {
		t.Errorf("%+v %v", u, err)
	}
}

// TestUnreachable: the terminal cannot be reached at all; the payment
// request never left, so the answer is a definite failure, not unknown.
func TestUnreachable(t *testing.T) {
	r := newRig(t, simnexo.Options{})
	r.term.Close()
	u, err := r.card.Start(testCtx(t), r.till, r.payment(100))
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "Unreachable" {
		t.Errorf("%+v %v", u, err)
	}
}

// TestPartialApprovalReversedOnTerminal: the terminal approves half; kvitt
// reverses it on the terminal and fails the payment.
func TestPartialApprovalReversedOnTerminal(t *testing.T) {
	r := newRig(t, simnexo.Options{Auto: simnexo.ApprovePartial})
	p := r.payment(12500)
	u, err := r.card.Start(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "Reversed" || !strings.Contains(u.Message, "only 62.50 of 125.00") {
		t.Fatalf("%+v %v", u, err)
	}
	l := r.term.Ledger()
	if len(l) != 2 || !l[0].Reversed || l[0].Amount != 6250 || l[1].Kind != "reversal" {
		t.Errorf("ledger %+v", l)
	}
	// Recovery says the same, and cannot reverse twice: the payment is
	// then left to a person rather than guessed.
	s, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil || s.State != kvitt.PaymentUnknown || s.ErrorCode != "ReversalFailed" {
		t.Errorf("status %+v %v", s, err)
	}
}

// TestVerifiesCertificate: without the simulator's CA the terminal is not
// trusted, and nothing is sent.
func TestVerifiesCertificate(t *testing.T) {
	r := newRig(t, simnexo.Options{Auto: simnexo.Approve})
	untrusting := nexo.New(nexo.Config{})
	u, err := untrusting.Start(testCtx(t), r.till, r.payment(100))
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "TerminalCertificate" || !strings.Contains(u.Message, "card.ca_file") {
		t.Errorf("%+v %v", u, err)
	}
	if _, err := untrusting.Client().Login(testCtx(t), nexo.Endpoint{URL: r.till.Terminal.URL, POIID: r.term.POIID(), SaleID: "x"}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("login without the CA: %v", err)
	}
	if len(r.term.Ledger()) != 0 {
		t.Error("charged through an untrusted connection")
	}
}

// TestOverAuthorisationWithoutTipReversed: the terminal asks for "Extra"
// (its own setting) but the till takes no tips; the customer's higher total
// is no tip: kvitt reverses it and fails the payment. Before, the extra
// was booked as a tip the till never offered.
func TestOverAuthorisationWithoutTipReversed(t *testing.T) {
	r := newRig(t, simnexo.Options{Tip: true})
	r.till.Terminal.Tip = false
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	total := int64(15000)
	if err := r.term.EnterTotal(&total); err != nil {
		t.Fatal(err)
	}
	r.term.PresentCard(simnexo.Approve)
	res := <-ch
	if res.err != nil || res.u.State != kvitt.PaymentFailed || res.u.ErrorCode != "Reversed" || res.u.Tip != 0 ||
		!strings.Contains(res.u.Message, "takes no tips") {
		t.Fatalf("update %+v %v", res.u, res.err)
	}
	l := r.term.Ledger()
	if len(l) != 2 || !l[0].Reversed || l[1].Kind != "reversal" {
		t.Errorf("ledger %+v", l)
	}
}
