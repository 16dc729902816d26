package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/nexo"
	"github.com/kvitt-hub/kvitt/receipt"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
	"github.com/kvitt-hub/kvitt/sqlite"
)

// The card suite for each terminal profile: the terminal as Westpay's
// behave (Login first; a dropped link aborts a payment still waiting for
// the card and logs the till out) and as Adyen's (no Login; every message
// encrypted; a certificate named after the terminal, from an intermediate
// of the fleet root, checked by name against the POIID and environment).

// termProfile is how one kind of terminal is simulated and configured.
type termProfile struct {
	name string
	sim  simnexo.Options
	term kvitt.Terminal // the till's terminal settings, without POIID, URL and tip
}

var e2eKey = simnexo.Key{Identifier: "KvittE2E", Version: 2, Passphrase: "e2e shared terminal passphrase"}

func termProfiles() []termProfile {
	return []termProfile{
		{name: "westpay",
			sim:  simnexo.Options{POIID: "WP-CARBON-0042", Profile: simnexo.ProfileWestpay, AbortOnDrop: true},
			term: kvitt.Terminal{Profile: nexo.ProfileWestpay}},
		{name: "adyen",
			sim: simnexo.Options{POIID: "P400Plus-275008565", Profile: simnexo.ProfileAdyen, Keys: []simnexo.Key{e2eKey},
				RequireEncryption: true, CertificateName: "P400Plus-275008565.test.terminal.adyen.com"},
			term: kvitt.Terminal{Profile: nexo.ProfileAdyen, Passphrase: e2eKey.Passphrase, KeyIdentifier: e2eKey.Identifier,
				KeyVersion: e2eKey.Version, Environment: "test"}},
	}
}

// forProfiles runs f once per terminal profile.
func forProfiles(t *testing.T, f func(t *testing.T, prof termProfile)) {
	for _, prof := range termProfiles() {
		t.Run(prof.name, func(t *testing.T) { f(t, prof) })
	}
}

// newProfileEnv is newEnv with the terminal of prof: the simulator is
// replaced and both tills are paired with it before kvitt starts for good.
func newProfileEnv(t *testing.T, prof termProfile, opts options, worker bool) *env {
	t.Helper()
	e := newEnv(t, opts, false)
	e.stop()
	so := prof.sim
	so.Tip = opts.tip
	term, err := simnexo.New(so)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	e.term.Close()
	e.term = term // closed by newEnv's cleanup
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx kvitt.Tx) error {
		for _, id := range []string{till1, till2} {
			tl, err := tx.GetTill(id)
			if err != nil {
				return err
			}
			tm := prof.term
			tm.POIID, tm.URL, tm.Tip = term.POIID(), term.URL(), opts.tip
			tl.Terminal = &tm
			if err := tx.UpdateTill(tl); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	e.start(worker)
	return e
}

// shortFlight makes a payment whose Start was lost decidable a few seconds
// after it was created (the hub waits until no request of kvitt's can still
// be served before it takes "nothing was charged" for an answer).
func (e *env) shortFlight() {
	e.h.LongRunningTimeout = 5 * time.Second
	e.h.InFlightGrace = 100 * time.Millisecond
}

// TestCardProfilesApproveWithTip: "Extra" on the terminal; paid with the
// tip on top, one charge, and the receipt carries the card data and tip.
func TestCardProfilesApproveWithTip(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{tip: true}, true)
		ctx := ctxT(t)
		s, p := e.startCard(ctx, 10000)
		if st := e.term.Screen().Stage; st != simnexo.StageTip {
			t.Fatalf("terminal shows %s, want the tip screen", st)
		}
		if _, err := e.h.ActAsCustomer(ctx, p.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{Tip: 1500}); err != nil {
			t.Fatal(err)
		}
		p = e.waitState(p.ID, kvitt.PaymentPaid)
		if p.Amount != 10000 || p.Tip != 1500 || p.Card == nil || p.Card.TerminalID != e.term.POIID() || p.Card.AuthCode == "" {
			t.Errorf("paid amount %d tip %d card %+v", p.Amount, p.Tip, p.Card)
		}
		if l := e.term.Ledger(); len(l) != 1 || l[0].Amount != 11500 || l[0].Tip != 1500 {
			t.Errorf("terminal ledger %+v, want one charge of 11500 with tip 1500", l)
		}
		rc, err := e.h.CompleteSale(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		text := receipt.Text(rc, 42)
		for _, w := range []string{"115,00", "Dricks", "15,00", "************9999", e.term.POIID(), "Godkänd"} {
			if !strings.Contains(text, w) {
				t.Errorf("receipt text lacks %q:\n%s", w, text)
			}
		}
	})
}

// TestCardProfilesRefusals: each refusal on the terminal gives its state
// and sentence; nothing is charged.
func TestCardProfilesRefusals(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{}, true)
		ctx := ctxT(t)
		for _, tc := range []struct {
			scenario simnexo.Scenario
			state    kvitt.PaymentState
			code     string
			message  string
		}{
			{simnexo.Decline, kvitt.PaymentDeclined, "Refusal", "The card was declined."},
			{simnexo.WrongPIN, kvitt.PaymentDeclined, "WrongPIN", "Wrong PIN."},
			{simnexo.InsufficientFunds, kvitt.PaymentDeclined, "Refusal", "Insufficient funds"},
			{simnexo.CustomerCancel, kvitt.PaymentCancelled, "Cancel", "The customer cancelled"},
			{simnexo.NoAnswer, kvitt.PaymentCancelled, "Cancel", "No card was presented in time"},
		} {
			_, p := e.startCard(ctx, 6000)
			if err := e.term.PresentCard(tc.scenario); err != nil {
				t.Fatal(err)
			}
			p = e.waitState(p.ID, tc.state)
			if p.ErrorCode != tc.code || !strings.Contains(p.Message, tc.message) {
				t.Errorf("%s: code %q message %q", tc.scenario, p.ErrorCode, p.Message)
			}
			if err := e.term.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if l := e.term.Ledger(); len(l) != 0 {
			t.Errorf("terminal ledger %+v after refusals, want empty", l)
		}
	})
}

// TestCardProfilesCashierAbortAndRefund: the cashier aborts one payment;
// the next is paid and partly refunded card-present.
func TestCardProfilesCashierAbortAndRefund(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{}, true)
		ctx := ctxT(t)
		s, p := e.startCard(ctx, 10000)
		if _, err := e.h.CancelPayment(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.term.WaitAborts(ctx, 1); err != nil {
			t.Fatal(err)
		}
		e.waitState(p.ID, kvitt.PaymentCancelled)
		if err := e.term.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		p2 := e.pay(ctx, s.ID, "card", 10000)
		if err := e.term.WaitFor(ctx, p2.Reference); err != nil {
			t.Fatal(err)
		}
		if err := e.term.PresentCard(simnexo.Approve); err != nil {
			t.Fatal(err)
		}
		e.waitState(p2.ID, kvitt.PaymentPaid)
		if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.term.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := e.h.CreateRefund(ctx, p2.ID, hub.RefundInput{Amount: 3000})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.term.WaitFor(ctx, r.Reference); err != nil {
			t.Fatal(err)
		}
		if err := e.term.PresentCard(simnexo.Approve); err != nil {
			t.Fatal(err)
		}
		e.waitRefund(r.ID, kvitt.RefundSucceeded)
		if p2 = e.waitState(p2.ID, kvitt.PaymentPartiallyRefunded); p2.Refunded != 3000 {
			t.Errorf("refunded %d", p2.Refunded)
		}
		if e.term.Charges(p.Reference) != 0 || e.term.Charges(p2.Reference) != 1 || len(e.ledger("refund")) != 1 {
			t.Errorf("ledger %+v", e.term.Ledger())
		}
	})
}

// TestCardProfilesLostAnswer: the terminal approves but the link drops
// before its answer (a Westpay terminal then logs the till out): kvitt logs
// in again where needed and finds the payment paid by TransactionStatus.
// One charge.
func TestCardProfilesLostAnswer(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{}, true)
		ctx := ctxT(t)
		s, p := e.startCard(ctx, 25000)
		e.term.DropNextAnswer()
		if err := e.term.PresentCard(simnexo.Approve); err != nil {
			t.Fatal(err)
		}
		p = e.waitState(p.ID, kvitt.PaymentPaid)
		es := e.events(p.ID)
		if last := es[len(es)-1]; last.Cause != hub.CausePoller {
			t.Errorf("paid by %q, want the poller (TransactionStatus): %v", last.Cause, transitions(es))
		}
		if n := e.term.Charges(p.Reference); n != 1 || len(e.term.Ledger()) != 1 {
			t.Errorf("terminal charged %d times (%+v), want exactly 1", n, e.term.Ledger())
		}
		if prof.term.Profile == nexo.ProfileWestpay && !e.term.LoggedIn("kvitt-1") {
			t.Error("kvitt did not log in again after the terminal logged it out")
		}
		if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCardProfilesLinkDropsWhileAuthorising: the link breaks while the
// card is being authorised: on both terminals the payment completes, and
// kvitt finds it paid. One charge.
func TestCardProfilesLinkDropsWhileAuthorising(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{}, true)
		ctx := ctxT(t)
		e.term.SetProcessingTime(time.Hour)
		_, p := e.startCard(ctx, 4400)
		if err := e.term.PresentCard(simnexo.Approve); err != nil {
			t.Fatal(err)
		}
		e.term.DropLink()
		if err := e.term.CompleteProcessing(); err != nil {
			t.Fatal(err)
		}
		e.waitState(p.ID, kvitt.PaymentPaid)
		if n := e.term.Charges(p.Reference); n != 1 {
			t.Errorf("terminal charged %d times, want 1", n)
		}
	})
}

// TestCardProfilesRestartMidPayment: kvitt goes down while the terminal
// waits for the card. Adyen's terminal goes on: the customer pays, and the
// new process finds the payment paid. Westpay's aborts the payment and logs
// the till out: the new process logs in again and finds it cancelled with
// nothing charged.
func TestCardProfilesRestartMidPayment(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{}, false)
		e.shortFlight()
		ctx := ctxT(t)
		s, p := e.startCard(ctx, 7900)
		e.stop()
		want, charges := kvitt.PaymentPaid, 1
		if prof.term.Profile == nexo.ProfileWestpay {
			want, charges = kvitt.PaymentCancelled, 0
			if err := e.term.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			if e.term.LoggedIn("kvitt-1") {
				t.Error("the terminal kept the till logged in after the link dropped")
			}
		} else if err := e.term.PresentCard(simnexo.Approve); err != nil {
			t.Fatal(err)
		}
		e.start(true)
		e.shortFlight()
		p = e.waitState(p.ID, want)
		if n := e.term.Charges(p.Reference); n != charges || len(e.term.Ledger()) != charges {
			t.Errorf("terminal charged %d times (%+v), want %d", n, e.term.Ledger(), charges)
		}
		if want == kvitt.PaymentPaid {
			if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
		}
		e.verifyJournal()
	})
}

// TestCardProfilesAbortTooLate: the cashier cancels while the card is
// being authorised; the approval wins. One charge.
func TestCardProfilesAbortTooLate(t *testing.T) {
	forProfiles(t, func(t *testing.T, prof termProfile) {
		e := newProfileEnv(t, prof, options{}, true)
		ctx := ctxT(t)
		e.term.SetProcessingTime(time.Hour)
		_, p := e.startCard(ctx, 4200)
		if err := e.term.PresentCard(simnexo.Approve); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := e.h.CancelPayment(ctx, p.ID); done <- err }()
		if err := e.term.WaitAborts(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := e.term.CompleteProcessing(); err != nil {
			t.Fatal(err)
		}
		<-done
		e.waitState(p.ID, kvitt.PaymentPaid)
		if n := e.term.Charges(p.Reference); n != 1 {
			t.Errorf("terminal charged %d times, want 1", n)
		}
	})
}
