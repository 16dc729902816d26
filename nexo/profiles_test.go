package nexo_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

const adyenPOIID = "P400Plus-123456789"

// newNamedTerminal: an Adyen-style terminal that presents a certificate
// named name, from an intermediate of its own fleet root, and nothing else.
func newNamedTerminal(t *testing.T, name string) (*simnexo.Terminal, string) {
	t.Helper()
	term, err := simnexo.New(simnexo.Options{POIID: adyenPOIID, Profile: simnexo.ProfileAdyen, Keys: []simnexo.Key{testKey},
		RequireEncryption: true, CertificateName: name, Auto: simnexo.Approve})
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	root := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(root, term.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return term, root
}

func adyenTill(term *simnexo.Terminal, root string) *kvitt.Till {
	return &kvitt.Till{ID: "1", Terminal: &kvitt.Terminal{POIID: term.POIID(), URL: term.URL(), Profile: nexo.ProfileAdyen,
		Passphrase: testKey.Passphrase, KeyIdentifier: testKey.Identifier, KeyVersion: testKey.Version,
		RootCAFile: root, Environment: "test"}}
}

func newPayment(card *nexo.Card, amount int64) *kvitt.Payment {
	return &kvitt.Payment{ID: kvitt.NewID("pay"), Method: "card", Amount: amount, Currency: kvitt.SEK,
		Reference: card.NewReference(), Created: time.Now()}
}

// TestTerminalCertificateName: the terminal is reached by IP address but
// its certificate is named <POIID>.<env>.terminal.adyen.com and chains,
// through an intermediate, to the fleet root. kvitt takes it with the
// right root and name, and refuses a wrong name or an unknown root with a
// message naming the setting; nothing reaches the terminal then.
func TestTerminalCertificateName(t *testing.T) {
	term, root := newNamedTerminal(t, adyenPOIID+".test.terminal.adyen.com")
	_, otherRoot := newNamedTerminal(t, adyenPOIID+".test.terminal.adyen.com")

	tests := []struct {
		name    string
		mod     func(tm *kvitt.Terminal)
		setting string // "" = accepted
	}{
		{"derived from POIID and environment", func(tm *kvitt.Terminal) {}, ""},
		{"trailing slash", func(tm *kvitt.Terminal) { tm.URL += "/" }, ""},
		{"configured name", func(tm *kvitt.Terminal) {
			tm.Environment, tm.CertificateName = "", adyenPOIID+".test.terminal.adyen.com"
		}, ""},
		{"live terminal expected", func(tm *kvitt.Terminal) { tm.Environment = "live" }, "terminal.poiid and terminal.environment"},
		{"another terminal's name", func(tm *kvitt.Terminal) { tm.CertificateName = "P400Plus-999999999.test.terminal.adyen.com" }, "terminal.certificate_name"},
		{"unknown root", func(tm *kvitt.Terminal) { tm.RootCAFile = otherRoot }, "terminal.root_ca_file"},
		{"no name: the IP address is checked", func(tm *kvitt.Terminal) { tm.Environment = "" }, "terminal.certificate_name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			card := nexo.New(nexo.Config{})
			till := adyenTill(term, root)
			tc.mod(till.Terminal)
			before := len(term.Ledger())
			p := newPayment(card, 4200)
			u, err := card.Start(testCtx(t), till, p)
			if tc.setting == "" {
				if err != nil || u.State != kvitt.PaymentPaid || term.Charges(p.Reference) != 1 {
					t.Fatalf("%+v %v", u, err)
				}
				return
			}
			if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "TerminalCertificate" ||
				!strings.Contains(u.Message, tc.setting) || !strings.Contains(u.Message, "nothing was charged") {
				t.Errorf("%+v %v", u, err)
			}
			if len(term.Ledger()) != before {
				t.Errorf("charged through a refused certificate: %+v", term.Ledger())
			}
			// The status query is refused the same way: the payment stays
			// open with the reason, not failed.
			s, err := card.Status(testCtx(t), till, p)
			if err != nil || s.State != "" || s.ErrorCode != "TerminalCertificate" || s.Retry == 0 {
				t.Errorf("status %+v %v", s, err)
			}
		})
	}
}

// TestLegacyAdyenCertificate: Adyen's older terminals present
// legacy-terminal-certificate.<env>.terminal.adyen.com; it is taken for
// the environment.
func TestLegacyAdyenCertificate(t *testing.T) {
	term, root := newNamedTerminal(t, "legacy-terminal-certificate.test.terminal.adyen.com")
	card := nexo.New(nexo.Config{})
	p := newPayment(card, 100)
	if u, err := card.Start(testCtx(t), adyenTill(term, root), p); err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v %v", u, err)
	}
	till := adyenTill(term, root)
	till.Terminal.Environment = "live"
	if u, err := card.Start(testCtx(t), till, newPayment(card, 100)); err != nil || u.ErrorCode != "TerminalCertificate" {
		t.Errorf("legacy test certificate taken for live: %+v %v", u, err)
	}
}

// TestCardCAFileWithName: the root may also come from card.ca_file
// (Config.RootCAs) with the name per terminal.
func TestCardCAFileWithName(t *testing.T) {
	term, _ := newNamedTerminal(t, "terminal-7.example.se")
	card := nexo.New(nexo.Config{RootCAs: term.CertPool()})
	till := adyenTill(term, "")
	till.Terminal.Environment, till.Terminal.CertificateName = "", "terminal-7.example.se"
	if u, err := card.Start(testCtx(t), till, newPayment(card, 100)); err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("%+v %v", u, err)
	}
}

// westpayRig: a Westpay-profile terminal: Login required, and a dropped
// link aborts a transaction waiting for the card and logs the till out.
func westpayRig(t *testing.T, opts simnexo.Options) *rig {
	opts.Profile, opts.AbortOnDrop = simnexo.ProfileWestpay, true
	r := newRig(t, opts)
	r.till.Terminal.Profile = nexo.ProfileWestpay
	return r
}

// TestWestpayDroppedLinkAbortsAndLogsOut: the link drops while the
// terminal waits for the card: the terminal aborts and logs the till out.
// kvitt does not know the outcome; its status query is refused LoggedOut,
// so it logs in again and asks once more: Aborted, nothing charged.
func TestWestpayDroppedLinkAbortsAndLogsOut(t *testing.T) {
	r := westpayRig(t, simnexo.Options{})
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	if !r.term.DropLink() {
		t.Fatal("no transaction to drop")
	}
	res := <-ch
	if !errors.Is(res.err, nexo.ErrTransport) {
		t.Fatalf("Start after a dropped link: %+v %v, want an unknown outcome", res.u, res.err)
	}
	if r.term.LoggedIn("kvitt-1") {
		t.Fatal("the terminal kept the till logged in after the link dropped")
	}
	u, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentCancelled || u.ErrorCode != "Aborted" {
		t.Fatalf("status %+v %v", u, err)
	}
	if !r.term.LoggedIn("kvitt-1") || len(r.term.Ledger()) != 0 {
		t.Errorf("logged in %v, ledger %+v", r.term.LoggedIn("kvitt-1"), r.term.Ledger())
	}
	// The till takes the next payment as usual.
	r.term.SetAuto(simnexo.Approve)
	if u, err := r.card.Start(testCtx(t), r.till, r.payment(100)); err != nil || u.State != kvitt.PaymentPaid {
		t.Errorf("next payment %+v %v", u, err)
	}
}

// TestWestpayDroppedLinkDuringAuthorisation: the card is being authorised
// when the link drops: the payment completes on the terminal; kvitt logs
// in again and finds it paid by TransactionStatus. One charge.
func TestWestpayDroppedLinkDuringAuthorisation(t *testing.T) {
	r := westpayRig(t, simnexo.Options{ProcessingTime: time.Hour})
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	if err := r.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	r.term.DropLink()
	if res := <-ch; !errors.Is(res.err, nexo.ErrTransport) {
		t.Fatalf("%+v %v", res.u, res.err)
	}
	if u, err := r.card.Status(testCtx(t), r.till, p); err != nil || u.State != kvitt.PaymentPending {
		t.Fatalf("status while authorising %+v %v", u, err)
	}
	if err := r.term.CompleteProcessing(); err != nil {
		t.Fatal(err)
	}
	u, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPaid || r.term.Charges(p.Reference) != 1 {
		t.Fatalf("status %+v %v, charges %d", u, err, r.term.Charges(p.Reference))
	}
}

// TestWestpayLostAnswerLogsOut: the answer is lost after approval; the
// terminal logged the till out with the link; recovery logs in and finds
// the payment. One charge.
func TestWestpayLostAnswerLogsOut(t *testing.T) {
	r := westpayRig(t, simnexo.Options{Auto: simnexo.Approve})
	r.term.DropNextAnswer()
	p := r.payment(9900)
	if _, err := r.card.Start(testCtx(t), r.till, p); !errors.Is(err, nexo.ErrTransport) {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	if r.term.LoggedIn("kvitt-1") {
		t.Error("still logged in")
	}
	u, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPaid || r.term.Charges(p.Reference) != 1 || len(r.term.Ledger()) != 1 {
		t.Fatalf("status %+v %v ledger %+v", u, err, r.term.Ledger())
	}
}

// doubler delivers each Payment request twice, as an attacker replaying
// kvitt's message would, and returns the second answer.
type doubler struct{ next http.RoundTripper }

func (d doubler) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	if !bytes.Contains(body, []byte(`"MessageCategory":"Payment"`)) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		return d.next.RoundTrip(r)
	}
	first := r.Clone(r.Context())
	first.Body = io.NopCloser(bytes.NewReader(body))
	res, err := d.next.RoundTrip(first)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return d.next.RoundTrip(r)
}

// TestReplayedNonceIsNoRefusal: a protected message refused as a replay
// was delivered before, and may have been processed: kvitt books no
// failure, and the status query finds the payment paid once.
func TestReplayedNonceIsNoRefusal(t *testing.T) {
	r, _ := newAdyenRig(t, simnexo.Options{Auto: simnexo.Approve})
	r.card.Client().HTTP.Transport = doubler{next: r.card.Client().HTTP.Transport}
	p := r.payment(5000)
	u, err := r.card.Start(testCtx(t), r.till, p)
	var cr *nexo.CryptoRefusal
	if !errors.As(err, &cr) || !cr.Replay || !errors.Is(err, nexo.ErrTransport) || u.State != "" {
		t.Fatalf("replay refusal taken as definite: %+v %v", u, err)
	}
	if u, err := r.card.Status(testCtx(t), r.till, p); err != nil || u.State != kvitt.PaymentPaid || r.term.Charges(p.Reference) != 1 {
		t.Errorf("status %+v %v", u, err)
	}
}

// TestKeyChangedAfterPayment: the key no longer matches when kvitt asks
// what became of a payment (the configuration changed over a restart):
// the terminal may have charged it, so the payment stays open with the
// key's message, and past the deadline it is left to a person.
func TestKeyChangedAfterPayment(t *testing.T) {
	r, _ := newAdyenRig(t, simnexo.Options{Auto: simnexo.Approve})
	r.term.DropNextAnswer()
	p := r.payment(5000)
	if _, err := r.card.Start(testCtx(t), r.till, p); !errors.Is(err, nexo.ErrTransport) {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	r.till.Terminal.KeyVersion++
	u, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil || u.State != "" || u.ErrorCode != "CryptoError" || !strings.Contains(u.Message, "encryption key does not match") || u.Retry == 0 {
		t.Fatalf("status %+v %v", u, err)
	}
	p.Created = time.Now().Add(-time.Hour)
	if u, err := r.card.Status(testCtx(t), r.till, p); err != nil || u.State != kvitt.PaymentUnknown {
		t.Errorf("past the deadline %+v %v", u, err)
	}
	r.till.Terminal.KeyVersion--
	if u, err := r.card.Status(testCtx(t), r.till, p); err != nil || u.State != kvitt.PaymentPaid {
		t.Errorf("with the right key %+v %v", u, err)
	}
}
