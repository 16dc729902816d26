package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

// Provider faults for the card terminal (issue 15), as TestProviderFaults
// does for Swish. kvitt dials the terminal (nexo over HTTPS, one request and
// its answer per connection at a time), so the faults sit between kvitt's
// nexo client and sim/nexo:
//   - the TCP relays of e2e/faults_test.go (faultProxy) and
//     e2e/faults_relay_test.go (faultRelay), which leave the TLS handshake
//     to kvitt and the terminal: latency, the approval's answer held past
//     kvitt's timeout, a reset instead of it, the link dropping while the
//     terminal waits for the card, a refused connection, a terminal with a
//     certificate from another root, the link down while the customer pays
//     (kvitt gives up: unknown; or the cashier's abort cannot reach the
//     terminal), the approval reported twice;
//   - a terminal-side gateway (nexoGateway) that kvitt trusts as the
//     terminal and that answers a PaymentRequest with an answer that is not
//     its own: another payment's (another ServiceID), or another till's
//     (another SaleID).
//
// Each row has its own kvitt and terminal, with a 2 s terminal timeout
// (kvitt waits 3 s for a payment's answer), all rows at once, and ends on
// money: the terminal's own ledger (at most one charge per payment, none
// that kvitt does not know) and kvitt's payment and sale (checkCardBook).
//
// Proven elsewhere, not repeated here: a terminal certificate with the
// wrong name (nexo TestTerminalCertificateName, TestLegacyAdyenCertificate,
// TestCardCAFileWithName), a Westpay terminal that aborts when the link
// drops (nexo TestWestpayDroppedLinkAbortsAndLogsOut, e2e
// TestCardProfilesLinkDropsWhileAuthorising), an abort that comes too late
// (TestCardAbortTooLate), a paid answer after kvitt booked the payment
// failed or cancelled (TestCardPaidAfterEnded), kill -9 mid-payment
// (TestKill9CardProfiles).

// The card fault rows' timeouts: the terminal's payment timeout, and how
// long kvitt waits for a payment's answer.
const (
	cardFaultTimeout = 2 * time.Second
	cardFaultWait    = 3 * time.Second
)

// cardFault is one row's world: kvitt (newEnv) whose till 1 reaches its
// terminal at another address (a relay, a gateway).
type cardFault struct {
	*env
	ctx      context.Context
	host     string // the terminal's host:port
	nexoCard *nexo.Card
}

func newCardFault(t *testing.T) *cardFault {
	e := newEnv(t, options{}, false)
	return &cardFault{env: e, ctx: ctxT(t), host: e.term.Addr()}
}

// start points till 1 at the terminal through addr (trusting roots, the
// terminal's CA when nil), registers a card provider with the short
// timeouts, and runs the worker.
func (f *cardFault) start(addr string, roots *x509.CertPool) {
	t := f.t
	t.Helper()
	if roots == nil {
		roots = f.term.CertPool()
	}
	err := f.db.Update(context.Background(), func(tx kvitt.Tx) error {
		till, err := tx.GetTill(till1)
		if err != nil {
			return err
		}
		till.Terminal.URL = "https://" + addr + "/nexo"
		return tx.UpdateTill(till)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.nexoCard = nexo.New(nexo.Config{RootCAs: roots, Timeout: cardFaultTimeout, Grace: cardFaultTimeout, Retry: 200 * time.Millisecond,
		CancelWait: time.Second})
	f.h.Register(f.nexoCard, f.term.Customer())
	f.h.LongRunningTimeout = cardFaultWait
	f.h.InFlightGrace = time.Second
	f.h.SyncGrace = time.Second
	f.runWorker()
}

// startPay opens a sale on till 1 and starts a card payment of amount:
// pending at once, the terminal asking for the card.
func (f *cardFault) startPay(amount int64) (*kvitt.Sale, *kvitt.Payment) {
	f.t.Helper()
	s := f.sale(f.ctx, till1, amount)
	p := f.pay(f.ctx, s.ID, "card", amount)
	if p.State != kvitt.PaymentPending {
		f.t.Fatalf("card payment after create: %s (%s %q), want pending", p.State, p.ErrorCode, p.Message)
	}
	ctx, cancel := context.WithTimeout(f.ctx, waitLimit)
	defer cancel()
	if err := f.term.WaitFor(ctx, p.Reference); err != nil {
		f.t.Fatalf("the terminal never asked for the card: %v (payment %s %s %q)", err, f.payment(p.ID).State, f.payment(p.ID).ErrorCode, f.payment(p.ID).Message)
	}
	return s, p
}

func (f *cardFault) card(s simnexo.Scenario) {
	f.t.Helper()
	if err := f.term.PresentCard(s); err != nil {
		f.t.Fatal(err)
	}
}

// lastCause is the cause of the payment's last transition.
func (f *cardFault) lastCause(id string) string {
	es := f.events(id)
	return es[len(es)-1].Cause
}

// checkCardBook ends each row: the terminal's ledger and kvitt agree. Each
// payment was charged at most once; a charge kvitt books as paid is its
// amount; a charge kvitt does not book paid is unknown or flagged for a
// person (never silently dropped); the terminal holds no charge of a
// payment kvitt does not know; each sale counts exactly its payments paid
// without attention.
func (f *cardFault) checkCardBook(ps ...*kvitt.Payment) {
	t := f.t
	t.Helper()
	known := map[string]bool{}
	owed := map[string]int64{}
	for _, p := range ps {
		p = f.payment(p.ID)
		known[p.Reference] = true
		n := f.term.Charges(p.Reference)
		switch {
		case n > 1:
			t.Errorf("payment %s charged %d times at the terminal", p.ID, n)
		case n == 1 && p.State != kvitt.PaymentPaid && p.State != kvitt.PaymentUnknown:
			t.Errorf("payment %s charged at the terminal, %s at kvitt (%s %q): the money is dropped", p.ID, p.State, p.ErrorCode, p.Message)
		case n == 0 && (p.State == kvitt.PaymentPaid || p.Card != nil):
			t.Errorf("payment %s is %s at kvitt with card data %+v; the terminal never charged it", p.ID, p.State, p.Card)
		}
		for _, en := range f.term.Ledger() {
			if en.Kind == "payment" && en.ServiceID == p.Reference && p.State == kvitt.PaymentPaid && en.Amount != p.Amount+p.Tip {
				t.Errorf("payment %s: the terminal charged %d, kvitt books %d (tip %d)", p.ID, en.Amount, p.Amount+p.Tip, p.Tip)
			}
		}
		if p.State == kvitt.PaymentPaid && p.Attention == "" {
			owed[p.SaleID] += p.Amount
		} else if _, ok := owed[p.SaleID]; !ok {
			owed[p.SaleID] = 0
		}
	}
	for _, en := range f.term.Ledger() {
		if !known[en.ServiceID] {
			t.Errorf("the terminal holds %s %d for ServiceID %s, which is none of kvitt's payments", en.Kind, en.Amount, en.ServiceID)
		}
	}
	for sale, want := range owed {
		if got := f.salePaid(sale); got != want {
			t.Errorf("sale %s counts %d as paid, want %d", sale, got, want)
		}
	}
}

// TestProviderFaultsCard runs card payments through each fault, each row
// with its own kvitt and terminal, all at once.
func TestProviderFaultsCard(t *testing.T) {
	if testing.Short() {
		t.Skip("network faults take seconds of terminal timeouts")
	}
	rows := []struct {
		name string
		run  func(t *testing.T, f *cardFault)
	}{
		// Every chunk both ways 100 ms late: the Start's own answer brings
		// the approval.
		{"latency_below_timeout", func(t *testing.T, f *cardFault) {
			px := newFaultProxy(t, f.host)
			px.delay = 100 * time.Millisecond
			px.mode.Store(int32(relayLatency))
			f.start(px.addr, nil)
			_, p := f.startPay(4200)
			f.card(simnexo.Approve)
			p = f.waitState(p.ID, kvitt.PaymentPaid)
			if c := f.lastCause(p.ID); c != hub.CauseProvider {
				t.Errorf("paid by %s, want the Start's own answer", c)
			}
			f.checkCardBook(p)
		}},

		// The approval's answer is held past kvitt's wait, then the
		// connection closes. The payment stays pending (never a second
		// PaymentRequest); TransactionStatus by its ServiceID finds it paid.
		{"answer_beyond_timeout", func(t *testing.T, f *cardFault) {
			px := newFaultProxy(t, f.host)
			px.trigger = func() bool { return len(f.term.Ledger()) > 0 }
			px.hold = cardFaultWait + time.Second
			px.mode.Store(int32(relayHoldAnswer))
			f.start(px.addr, nil)
			f.lostApproval(func() bool { return px.fired.Load() })
		}},

		// The link drops just as the approval comes back: a reset (RST)
		// instead of the answer. As above.
		{"reset_after_approval", func(t *testing.T, f *cardFault) {
			px := newFaultProxy(t, f.host)
			px.trigger = func() bool { return len(f.term.Ledger()) > 0 }
			px.mode.Store(int32(relayResetAnswer))
			f.start(px.addr, nil)
			f.lostApproval(func() bool { return px.fired.Load() })
		}},

		// The link drops while the terminal waits for the card (kvitt's
		// connection reset, the terminal's closed); the terminal goes on
		// (Adyen's do; a Westpay aborts: TestWestpayDroppedLinkAbortsAndLogsOut).
		// kvitt asks TransactionStatus: in progress, then paid once the
		// customer pays.
		{"link_drops_waiting_for_card", func(t *testing.T, f *cardFault) {
			r := newFaultRelay(t, f.host)
			f.start(r.addr, nil)
			_, p := f.startPay(4300)
			r.cut()
			if p = f.payment(p.ID); p.State != kvitt.PaymentPending {
				t.Fatalf("after the link dropped: %s (%s %q), want pending", p.State, p.ErrorCode, p.Message)
			}
			f.card(simnexo.Approve)
			p = f.waitState(p.ID, kvitt.PaymentPaid)
			if c := f.lastCause(p.ID); c != hub.CausePoller {
				t.Errorf("paid by %s, want the poller (TransactionStatus)", c)
			}
			f.checkCardBook(p)
		}},

		// The terminal cannot be reached at the payment's start (kvitt's
		// first request to it, the Login, is refused): nothing reached the
		// terminal, so the payment fails at once, saying so. The link back,
		// the next payment is paid.
		{"connection_refused_at_login", func(t *testing.T, f *cardFault) {
			px := newFaultProxy(t, f.host)
			f.start(px.addr, nil)
			px.down()
			f.refusedThenPaid(func() { px.up() })
		}},

		// The same once kvitt is logged in to the terminal: the
		// PaymentRequest itself meets a refused connection. No connection,
		// no byte of the request left kvitt: failed at once, not left
		// pending (or unknown) while the terminal is off.
		{"connection_refused_at_payment", func(t *testing.T, f *cardFault) {
			px := newFaultProxy(t, f.host)
			f.start(px.addr, nil)
			s, p := f.startPay(1000)
			f.card(simnexo.Approve)
			f.waitState(p.ID, kvitt.PaymentPaid)
			if _, err := f.h.CompleteSale(f.ctx, s.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.term.WaitIdle(f.ctx); err != nil {
				t.Fatal(err)
			}
			px.down()
			// kvitt's client has noticed its kept-alive connection close
			// (else the request may be written into the dead connection:
			// EOF after the write, an outcome kvitt cannot know).
			f.nexoCard.Client().HTTP.CloseIdleConnections()
			f.refusedThenPaid(func() { px.up() }, p)
		}},

		// The relay leads to another terminal, whose certificate is from
		// another root: the handshake is refused, nothing reaches either
		// terminal, the payment fails naming the setting to check.
		{"tls_other_root", func(t *testing.T, f *cardFault) {
			impostor, err := simnexo.New(simnexo.Options{POIID: f.term.POIID(), Auto: simnexo.Approve})
			if err != nil {
				t.Fatal(err)
			}
			if err := impostor.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { impostor.Close() })
			px := newFaultProxy(t, impostor.Addr())
			f.start(px.addr, nil)
			s := f.sale(f.ctx, till1, 4400)
			p := f.pay(f.ctx, s.ID, "card", 4400)
			p = f.waitState(p.ID, kvitt.PaymentFailed)
			if p.ErrorCode != "TerminalCertificate" || !strings.Contains(p.Message, "certificate") || !strings.Contains(p.Message, "card.ca_file") {
				t.Errorf("failed with %s %q, want the terminal's certificate refused, naming card.ca_file", p.ErrorCode, p.Message)
			}
			if n := len(impostor.Ledger()); n != 0 {
				t.Errorf("the impostor charged %d times", n)
			}
			f.checkCardBook(p)
		}},

		// kvitt gives up: the link goes down once the terminal has the
		// payment, the customer pays meanwhile, and kvitt cannot ask until
		// the payment's deadline is past: unknown, in the recovery list,
		// never failed. With the link back, asking again (the till's "ask
		// the terminal") finds it paid: one charge, counted once.
		{"paid_after_kvitt_gave_up", func(t *testing.T, f *cardFault) {
			r := newFaultRelay(t, f.host)
			f.start(r.addr, nil)
			s, p := f.startPay(4500)
			r.refuse()
			r.cut()
			f.card(simnexo.Approve)
			p = f.waitState(p.ID, kvitt.PaymentUnknown)
			if p.Message == "" || f.recoveryItem(p.ID, "") == nil {
				t.Errorf("unknown payment with message %q, in the recovery list: %v; want both", p.Message, f.recoveryItem(p.ID, "") != nil)
			}
			if v := f.salePaid(s.ID); v != 0 {
				t.Errorf("the sale counts %d while the payment is unknown", v)
			}
			r.up()
			p, err := f.h.SyncPayment(f.ctx, p.ID, hub.CauseAPI)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != kvitt.PaymentPaid || p.Card == nil || entered(f.events(p.ID), kvitt.PaymentPaid) != 1 {
				t.Fatalf("after asking again: %s, card %+v, events %v; want paid once with its card data", p.State, p.Card, transitions(f.events(p.ID)))
			}
			if _, err := f.h.CompleteSale(f.ctx, s.ID); err != nil {
				t.Errorf("completing the sale with the payment found paid: %v", err)
			}
			f.checkCardBook(p)
		}},

		// The cashier cancels while the link is down: the abort cannot
		// reach the terminal, and the customer pays. The cancel is kept
		// (the poller sends it when the link is back), but the terminal's
		// approval wins: paid, charged once, never cancelled.
		{"abort_lost_customer_pays", func(t *testing.T, f *cardFault) {
			r := newFaultRelay(t, f.host)
			f.start(r.addr, nil)
			s, p := f.startPay(4600)
			r.refuse()
			r.cut()
			if cp, err := f.h.CancelPayment(f.ctx, p.ID); err == nil && cp.State == kvitt.PaymentCancelled {
				t.Fatalf("the cancel reported cancelled though the abort never reached the terminal")
			}
			f.card(simnexo.Approve)
			r.up()
			p = f.waitState(p.ID, kvitt.PaymentPaid)
			if n := countState(f.events(p.ID), kvitt.PaymentCancelled); n != 0 {
				t.Errorf("events %v: cancelled appears", transitions(f.events(p.ID)))
			}
			if _, err := f.h.CompleteSale(f.ctx, s.ID); err != nil {
				t.Errorf("completing the sale: %v", err)
			}
			f.checkCardBook(p)
		}},

		// The approval reported twice: the Start's answer is slow, and
		// meanwhile the till asks the terminal (TransactionStatus) and books
		// the payment paid. The Start's answer then brings the same approval
		// again: one transition to paid, one charge, counted once.
		{"duplicate_answer", func(t *testing.T, f *cardFault) {
			r := newFaultRelay(t, f.host)
			var held atomic.Bool
			release := make(chan struct{})
			var freed sync.Once
			free := func() { freed.Do(func() { close(release) }) }
			t.Cleanup(free) // before the relay's own cleanup waits for its goroutines
			r.onAnswer(func() time.Duration {
				if len(f.term.Ledger()) > 0 && held.CompareAndSwap(false, true) {
					<-release // the approval's answer waits here
				}
				return 0
			})
			f.start(r.addr, nil)
			s, p := f.startPay(4700)
			f.card(simnexo.Approve)
			eventually(t, "the approval's answer held", func() string {
				if !held.Load() {
					return "not yet"
				}
				return ""
			})
			got, err := f.h.SyncPayment(f.ctx, p.ID, hub.CauseAPI)
			if err != nil || got.State != kvitt.PaymentPaid {
				t.Fatalf("asking the terminal while the answer is on its way: %v %v", got, err)
			}
			free()
			eventually(t, "the Start's own answer applied (it ends the payment's in-flight window)", func() string {
				if p := f.payment(p.ID); !p.InFlightUntil.IsZero() {
					return "in flight until " + p.InFlightUntil.String()
				}
				return ""
			})
			p = f.payment(p.ID)
			if n := countState(f.events(p.ID), kvitt.PaymentPaid); n != 1 || p.State != kvitt.PaymentPaid || p.Tip != 0 || p.Card == nil {
				t.Errorf("after the second report: %s tip %d card %+v, %d transitions to paid (%v)", p.State, p.Tip, p.Card, n, transitions(f.events(p.ID)))
			}
			if _, err := f.h.CompleteSale(f.ctx, s.ID); err != nil {
				t.Errorf("completing the sale: %v", err)
			}
			f.checkCardBook(p)
		}},

		// Out of order: the terminal (or a gateway in front of it) answers a
		// PaymentRequest with another payment's answer, an approval of an
		// earlier ServiceID; the customer actually declines. kvitt takes no
		// answer that is not for its request: the poller asks
		// TransactionStatus by the right ServiceID: declined. One charge at
		// the terminal, the first payment's.
		{"answer_for_another_service_id", func(t *testing.T, f *cardFault) {
			f.foreignAnswer(func(first, second *kvitt.Payment, answer map[string]any) {})
		}},

		// The same with an answer for another till: the approval carries
		// this payment's ServiceID but another SaleID (kvitt-2's). It is not
		// this till's answer: kvitt asks TransactionStatus: declined.
		{"answer_for_another_sale_id", func(t *testing.T, f *cardFault) {
			f.foreignAnswer(func(first, second *kvitt.Payment, answer map[string]any) {
				h := answer["SaleToPOIResponse"].(map[string]any)["MessageHeader"].(map[string]any)
				h["ServiceID"], h["SaleID"] = second.Reference, "kvitt-"+till2
			})
		}},
	}
	var wg sync.WaitGroup
	for _, r := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(r.name, func(t *testing.T) { r.run(t, newCardFault(t)) })
		}()
	}
	wg.Wait()
}

// lostApproval: the customer approves; the answer is lost (fired says the
// fault fired). kvitt keeps the payment pending and finds it paid by
// TransactionStatus: one charge.
func (f *cardFault) lostApproval(fired func() bool) {
	t := f.t
	t.Helper()
	_, p := f.startPay(4100)
	f.card(simnexo.Approve)
	p = f.waitState(p.ID, kvitt.PaymentPaid)
	if !fired() {
		t.Fatalf("the fault never fired: the approval's answer went through")
	}
	es := f.events(p.ID)
	if c := es[len(es)-1].Cause; c != hub.CausePoller || countState(es, kvitt.PaymentPaid) != 1 {
		t.Errorf("events %v: want pending → paid once, by the poller (TransactionStatus)", transitions(es))
	}
	if p.Card == nil || p.Card.AuthCode == "" {
		t.Errorf("paid without its card data: %+v", p.Card)
	}
	f.checkCardBook(p)
}

// refusedThenPaid: the terminal cannot be reached (the relay is down) when
// a payment starts: it fails at once, nothing charged; with the link back
// (up), a new payment of the same sale is paid once.
func (f *cardFault) refusedThenPaid(up func(), earlier ...*kvitt.Payment) {
	t := f.t
	t.Helper()
	s := f.sale(f.ctx, till1, 4800)
	p := f.pay(f.ctx, s.ID, "card", 4800)
	p = f.waitState(p.ID, kvitt.PaymentFailed)
	if p.ErrorCode != "Unreachable" || !strings.Contains(p.Message, "nothing was charged") {
		t.Errorf("failed with %s %q, want Unreachable saying nothing was charged", p.ErrorCode, p.Message)
	}
	if n := countState(f.events(p.ID), kvitt.PaymentUnknown); n != 0 {
		t.Errorf("events %v: the refused payment was unknown on the way", transitions(f.events(p.ID)))
	}
	up()
	p2 := f.pay(f.ctx, s.ID, "card", 4800)
	if err := f.term.WaitFor(f.ctx, p2.Reference); err != nil {
		t.Fatal(err)
	}
	f.card(simnexo.Approve)
	p2 = f.waitState(p2.ID, kvitt.PaymentPaid)
	f.checkCardBook(append(earlier, p, p2)...)
}

// foreignAnswer: a first payment is approved through a gateway that
// records its answer; a second payment's customer declines, and the gateway
// answers the second PaymentRequest with the first's recorded approval,
// changed by edit. kvitt must not book it: declined, by TransactionStatus.
func (f *cardFault) foreignAnswer(edit func(first, second *kvitt.Payment, answer map[string]any)) {
	t := f.t
	t.Helper()
	gw := newNexoGateway(t, f.term)
	f.start(gw.addr(), gw.roots())
	_, first := f.startPay(4900)
	f.card(simnexo.Approve)
	first = f.waitState(first.ID, kvitt.PaymentPaid)
	if err := f.term.WaitIdle(f.ctx); err != nil {
		t.Fatal(err)
	}
	recorded := gw.answer(first.Reference)
	if recorded == nil {
		t.Fatal("the gateway recorded no answer of the first payment")
	}

	s := f.sale(f.ctx, till1, 4900)
	var second *kvitt.Payment
	var swapped atomic.Bool
	gw.rewrite(func(category, serviceID string, answer []byte) []byte {
		if category != "Payment" || second == nil || serviceID != second.Reference {
			return answer
		}
		var m map[string]any
		if err := json.Unmarshal(recorded, &m); err != nil {
			t.Error(err)
			return answer
		}
		edit(first, second, m)
		b, _ := json.Marshal(m)
		swapped.Store(true)
		return b
	})
	gw.mu.Lock() // second is read by the gateway's rewrite
	second = f.pay(f.ctx, s.ID, "card", 4900)
	gw.mu.Unlock()
	if err := f.term.WaitFor(f.ctx, second.Reference); err != nil {
		t.Fatal(err)
	}
	f.card(simnexo.Decline)
	second = f.waitState(second.ID, kvitt.PaymentDeclined)
	if !swapped.Load() {
		t.Fatal("the gateway never swapped the answer")
	}
	if c := f.lastCause(second.ID); c != hub.CausePoller {
		t.Errorf("declined by %s, want the poller (the foreign answer refused)", c)
	}
	if second.Card != nil || f.salePaid(s.ID) != 0 {
		t.Errorf("the declined payment carries card data %+v; the sale counts %d", second.Card, f.salePaid(s.ID))
	}
	f.checkCardBook(first, second)
}

// nexoGateway is a terminal-side gateway that kvitt trusts as its
// terminal: it terminates TLS (its own certificate), passes each nexo
// request on to the terminal, records each Payment answer by ServiceID,
// and can rewrite an answer before kvitt gets it.
type nexoGateway struct {
	t   *testing.T
	srv *httptest.Server
	up  *http.Client
	url string // the terminal's nexo URL

	mu       sync.Mutex
	answers  map[string][]byte
	rewriter func(category, serviceID string, answer []byte) []byte
}

func newNexoGateway(t *testing.T, term *simnexo.Terminal) *nexoGateway {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: term.CertPool(), MinVersion: tls.VersionTLS12}
	g := &nexoGateway{t: t, up: &http.Client{Transport: tr}, url: term.URL(), answers: map[string][]byte{}}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *nexoGateway) addr() string { return strings.TrimPrefix(g.srv.URL, "https://") }

func (g *nexoGateway) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(g.srv.Certificate())
	return pool
}

func (g *nexoGateway) rewrite(f func(category, serviceID string, answer []byte) []byte) {
	g.mu.Lock()
	g.rewriter = f
	g.mu.Unlock()
}

func (g *nexoGateway) answer(serviceID string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.answers[serviceID]
}

func (g *nexoGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var m struct {
		SaleToPOIRequest struct {
			MessageHeader struct{ MessageCategory, ServiceID string }
		}
	}
	json.Unmarshal(body, &m)
	h := m.SaleToPOIRequest.MessageHeader
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, g.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := g.up.Do(req)
	if err != nil {
		panic(http.ErrAbortHandler) // the link to the terminal broke: so does kvitt's
	}
	answer, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	g.mu.Lock()
	if h.MessageCategory == "Payment" && res.StatusCode == http.StatusOK {
		g.answers[h.ServiceID] = answer
	}
	rw := g.rewriter
	g.mu.Unlock()
	if rw != nil && res.StatusCode == http.StatusOK {
		answer = rw(h.MessageCategory, h.ServiceID, answer)
	}
	for k, vs := range res.Header {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(res.StatusCode)
	w.Write(answer)
}
