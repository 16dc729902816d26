package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// Provider faults through the simulators (issue 15): a plain TCP relay
// between kvitt's Swish client and the simulator's HTTPS port (no TLS
// termination: kvitt's handshake is with the simulator, or with whatever
// server the relay leads to) injects what a network does: latency, an answer
// that never comes back, a reset in the middle of a create, a refused
// connection, a server with a certificate from another CA. Each row ends on
// money: the simulator's own book holds one payment request at most, created
// once, and kvitt's payment is in the state the row says.

// faultMode is what the relay does to a connection.
type faultMode int32

const (
	relayClean faultMode = iota
	// relayLatency delays every chunk, in both directions, by the proxy's delay.
	relayLatency
	// relayHoldAnswer: once the create has taken effect at the simulator
	// (trigger), the simulator's bytes on that connection are held for hold,
	// then the connection is closed: the answer is lost. Once.
	relayHoldAnswer
	// relayResetAnswer: once the create has taken effect, the connection is
	// reset (RST to kvitt) instead of relaying the answer. Once.
	relayResetAnswer
	// relayGateAnswer: once the request has taken effect, the simulator's
	// bytes on that connection wait until the test opens the gate, then go
	// on: the answer arrives late, but it arrives (a callback overtakes it).
	// Once.
	relayGateAnswer
)

// faultProxy is a TCP relay on a fixed loopback address.
type faultProxy struct {
	t        *testing.T
	addr     string
	upstream atomic.Pointer[string]
	mode     atomic.Int32
	fired    atomic.Bool
	delay    time.Duration
	hold     time.Duration
	trigger  func() bool // the request has taken effect at the provider
	gate     chan struct{}
	gateOnce sync.Once

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	p := &faultProxy{t: t, conns: map[net.Conn]struct{}{}, gate: make(chan struct{})}
	p.upstream.Store(&upstream)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.openGate(); p.down(); p.wg.Wait() })
	return p
}

// openGate lets an answer held by relayGateAnswer go on.
func (p *faultProxy) openGate() { p.gateOnce.Do(func() { close(p.gate) }) }

func (p *faultProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.relay(c) }()
		}
	}()
}

// down closes the listener and every relayed connection: new connections
// are refused.
func (p *faultProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// up listens again on the same address.
func (p *faultProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("relay back up on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *faultProxy) relay(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", *p.upstream.Load(), 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client, false); done <- struct{}{} }()
	go func() { p.pipe(client, server, true); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

// pipe copies src to dst; answer is the simulator's direction.
func (p *faultProxy) pipe(dst, src net.Conn, answer bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			switch faultMode(p.mode.Load()) {
			case relayLatency:
				time.Sleep(p.delay)
			case relayHoldAnswer:
				if answer && p.trigger() && p.fired.CompareAndSwap(false, true) {
					time.Sleep(p.hold)
					return
				}
			case relayResetAnswer:
				if answer && p.trigger() && p.fired.CompareAndSwap(false, true) {
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.SetLinger(0) // close with RST
					}
					return
				}
			case relayGateAnswer:
				if answer && p.trigger() && p.fired.CompareAndSwap(false, true) {
					<-p.gate
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// TestProviderFaults runs an in-store Swish payment through the relay with
// each fault, each row with its own kvitt and simulator, all at once.
func TestProviderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("network faults take seconds of provider timeouts")
	}
	const providerTimeout = 2 * time.Second
	cases := []struct {
		name string
		// fault sets the relay up before the create; after runs once the
		// create returned (the relay back up, ...).
		fault func(e *env, px *faultProxy)
		after func(e *env, px *faultProxy)
		// created: the create's answer leaves the payment created (its
		// outcome not known); otherwise pending with the QR code.
		created bool
		// lostAnswer: the request reached Swish, its answer did not reach
		// kvitt: kvitt learns of it by status and cannot show its QR code.
		lostAnswer bool
		// failed: the payment ends failed with a message holding this.
		failed string
	}{
		{name: "latency_below_timeout",
			fault: func(e *env, px *faultProxy) {
				px.delay = 100 * time.Millisecond
				px.mode.Store(int32(relayLatency))
			}},
		{name: "latency_beyond_timeout_on_create", created: true, lostAnswer: true,
			fault: func(e *env, px *faultProxy) {
				px.hold = providerTimeout + time.Second
				px.mode.Store(int32(relayHoldAnswer))
			}},
		{name: "reset_mid_create", created: true, lostAnswer: true,
			fault: func(e *env, px *faultProxy) { px.mode.Store(int32(relayResetAnswer)) }},
		{name: "connection_refused", created: true,
			fault: func(e *env, px *faultProxy) { px.down() },
			after: func(e *env, px *faultProxy) {
				// The till has its answer; the network comes back later.
				time.Sleep(time.Second)
				px.up()
			}},
		{name: "5xx_before_create", created: true,
			fault: func(e *env, px *faultProxy) {
				// Swish's load balancer answers 503: the create never
				// reached the API.
				swishFront(e, px, simswish.OpCreate, http.StatusServiceUnavailable, false)
			}},
		{name: "5xx_after_create", created: true, lostAnswer: true,
			fault: func(e *env, px *faultProxy) {
				// The API made the payment request, then answered 500.
				swishFront(e, px, simswish.OpCreate, http.StatusInternalServerError, true)
			}},
		{name: "tls_other_ca", failed: "server certificate",
			fault: func(e *env, px *faultProxy) {
				other, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
				if err != nil {
					e.t.Fatal(err)
				}
				impostor, err := simswish.New(simswish.Options{PKI: other})
				if err != nil {
					e.t.Fatal(err)
				}
				e.t.Cleanup(func() {
					if n := impostor.PaymentCount(); n != 0 {
						e.t.Errorf("the impostor server holds %d payment requests", n)
					}
					impostor.Close()
				})
				host := strings.TrimSuffix(strings.TrimPrefix(impostor.RootURL(), "https://"), "/")
				px.upstream.Store(&host)
			}},
	}
	t.Run("callback_before_create_answer", func(t *testing.T) {
		t.Parallel()
		testSwishCallbackBeforeCreateAnswer(t, providerTimeout)
	})
	t.Run("callback_late_after_poller", func(t *testing.T) {
		t.Parallel()
		testSwishCallbackLateAfterPoller(t)
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, options{}, false)
			ctx := ctxT(t)
			host := strings.TrimSuffix(strings.TrimPrefix(e.swish.RootURL(), "https://"), "/")
			px := newFaultProxy(t, host)
			px.trigger = func() bool { return e.swish.PaymentCount() > 0 }

			e.swishThrough(px, providerTimeout)
			e.runWorker()

			s := e.sale(ctx, till1, 4200)
			c.fault(e, px)
			p := e.pay(ctx, s.ID, "swish", 4200)
			if c.after != nil {
				c.after(e, px)
			}
			if m := faultMode(px.mode.Load()); (m == relayHoldAnswer || m == relayResetAnswer) && !px.fired.Load() {
				t.Fatalf("the fault never fired: the create's answer went through (payment %s)", p.State)
			}

			if c.failed != "" {
				if p.State != kvitt.PaymentFailed || !strings.Contains(p.Message, c.failed) {
					t.Fatalf("payment %s (%s %q), want failed naming the %s", p.State, p.ErrorCode, p.Message, c.failed)
				}
				if n := e.swish.PaymentCount(); n != 0 {
					t.Errorf("simulator holds %d payment requests, want none", n)
				}
				if v := e.salePaid(s.ID); v != 0 {
					t.Errorf("the sale counts %d as paid", v)
				}
				return
			}
			if c.created {
				if p.State != kvitt.PaymentCreated {
					t.Fatalf("payment after the fault: %s (%s %q), want created (outcome not known)", p.State, p.ErrorCode, p.Message)
				}
			} else if p.State != kvitt.PaymentPending {
				t.Fatalf("payment: %s (%s %q), want pending", p.State, p.ErrorCode, p.Message)
			}

			// The poller settles it: pending at Swish under the stored reference.
			eventually(t, "the payment request known at Swish", func() string {
				p = e.payment(p.ID)
				if p.State != kvitt.PaymentPending {
					return fmt.Sprintf("%s (%s %q)", p.State, p.ErrorCode, p.Message)
				}
				if st, _, ok := e.swish.PaymentStatus(p.Reference); !ok || st != "CREATED" {
					return fmt.Sprintf("simulator: %q %v", st, ok)
				}
				return ""
			})
			if c.lostAnswer && !strings.Contains(p.Message, "QR") {
				t.Errorf("pending after a lost answer with message %q, want one saying the QR code cannot be shown", p.Message)
			}
			if !c.lostAnswer && p.Provider[swish.KeyToken] == "" {
				t.Errorf("pending without a QR token")
			}
			// The customer approves (by the token on the QR code, or by the
			// payment's id when its answer and token were lost).
			who := p.Provider[swish.KeyToken]
			if who == "" {
				who = p.Reference
			}
			if err := e.swish.Customer().Do(ctx, who, "approve"); err != nil {
				t.Fatal(err)
			}
			p = e.waitState(p.ID, kvitt.PaymentPaid)
			if n := countState(e.events(p.ID), kvitt.PaymentPaid); n != 1 {
				t.Errorf("%d transitions to paid, want 1: %v", n, transitions(e.events(p.ID)))
			}
			if v := e.salePaid(s.ID); v != 4200 {
				t.Errorf("the sale counts %d as paid, want 4200", v)
			}
			if n := e.swish.PaymentCount(); n != 1 {
				t.Errorf("simulator holds %d payment requests, want 1", n)
			}
			for _, lp := range e.swish.Ledger().PaymentRequests {
				if lp.InstructionID != p.Reference || lp.Creates != 1 || lp.Status != "PAID" {
					t.Errorf("simulator ledger %+v: want one create, under %s, paid", lp, p.Reference)
				}
			}
		})
	}
}

// swishThrough registers a Swish provider whose client goes through the
// relay px, with a short provider timeout.
func (e *env) swishThrough(px *faultProxy, timeout time.Duration) {
	e.t.Helper()
	host := strings.TrimSuffix(strings.TrimPrefix(e.swish.RootURL(), "https://"), "/")
	base := strings.Replace(e.swish.URL(), host, px.addr, 1)
	client, err := swish.NewClient(swish.ClientConfig{BaseURL: base, TLS: e.swish.PKI().ClientTLSConfig(), Timeout: timeout})
	if err != nil {
		e.t.Fatal(err)
	}
	sp, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: e.swish.PayeeAlias(), CallbackBaseURL: e.cbURL,
		CallbackSecret: e.secret})
	if err != nil {
		e.t.Fatal(err)
	}
	e.h.Register(sp, e.swish.Customer())
	e.h.ProviderTimeout = timeout
	e.h.InFlightGrace = time.Second
}

// callbacksOnNode2 starts a second kvitt node on the same database, with
// its own Swish client straight to the simulator, and sends Swish's
// callbacks to it (the load balancer's choice): what it reads at Swish
// does not wait behind the first node's connection through the relay.
func (e *env) callbacksOnNode2() *hub.Hub {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", "2")
	h := hub.New(e.db, logger)
	client, err := swish.NewClient(swish.ClientConfig{BaseURL: e.swish.URL(), TLS: e.swish.PKI().ClientTLSConfig()})
	if err != nil {
		e.t.Fatal(err)
	}
	sp, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: e.swish.PayeeAlias(), CallbackBaseURL: e.cbURL,
		CallbackSecret: e.secret})
	if err != nil {
		e.t.Fatal(err)
	}
	h.Register(sp, e.swish.Customer())
	e.t.Cleanup(h.Close)
	e.cbTarget.Store(&handlerBox{kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: e.db, Logger: logger})})
	return h
}

// storedPayment waits until the sale has one payment (stored before its
// create left) and returns it.
func (e *env) storedPayment(saleID string) *kvitt.Payment {
	e.t.Helper()
	var p *kvitt.Payment
	eventually(e.t, "the sale's payment stored", func() string {
		v, err := e.h.ViewSale(context.Background(), saleID)
		if err != nil {
			return err.Error()
		}
		if len(v.Payments) != 1 {
			return fmt.Sprintf("%d payments", len(v.Payments))
		}
		p = v.Payments[0]
		return ""
	})
	return p
}

// testSwishCallbackBeforeCreateAnswer: the create reaches Swish, its answer
// is held in the network, the customer scans and pays meanwhile (by the
// payment request's id, as the app does), and Swish's callback overtakes
// the create's answer. kvitt books paid from the callback (the re-read);
// the create's answer (pending, with a QR code), arriving after, must not
// move it back. One payment request, paid once; the sale counts it once.
func testSwishCallbackBeforeCreateAnswer(t *testing.T, providerTimeout time.Duration) {
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	host := strings.TrimSuffix(strings.TrimPrefix(e.swish.RootURL(), "https://"), "/")
	px := newFaultProxy(t, host)
	px.trigger = func() bool { return e.swish.PaymentCount() > 0 }
	px.mode.Store(int32(relayGateAnswer))
	e.swishThrough(px, providerTimeout)
	e.callbacksOnNode2()

	s := e.sale(ctx, till1, 4200)
	created := make(chan *kvitt.Payment, 1)
	go func() {
		p, err := e.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: "swish", Amount: 4200})
		if err != nil {
			t.Errorf("create payment: %v", err)
		}
		created <- p
	}()
	eventually(t, "the create's answer held in the network", func() string {
		return map[bool]string{true: "", false: "not yet"}[px.fired.Load()]
	})
	p := e.storedPayment(s.ID)
	if err := e.swish.Customer().Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	px.openGate()
	var answered *kvitt.Payment
	select {
	case answered = <-created:
	case <-time.After(waitLimit):
		t.Fatal("the create never answered")
	}
	if answered == nil || answered.State != kvitt.PaymentPaid {
		t.Fatalf("the create's late answer left the payment %v, want paid", answered)
	}
	p = e.payment(p.ID)
	want := []string{">created/api", "created>paid/callback"}
	if got := transitions(e.events(p.ID)); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v: the create's answer must not move a paid payment", got, want)
	}
	if p.State != kvitt.PaymentPaid || p.Action != nil {
		t.Errorf("payment %s with action %+v, want paid with nothing for the till to show", p.State, p.Action)
	}
	if v := e.salePaid(s.ID); v != 4200 {
		t.Errorf("the sale counts %d as paid, want 4200", v)
	}
	l := e.swish.Ledger().PaymentRequests
	if len(l) != 1 || l[0].InstructionID != p.Reference || l[0].Creates != 1 || l[0].Status != "PAID" {
		t.Errorf("simulator ledger %+v: want one payment request, created once, paid", l)
	}
	cbs := e.swish.Callbacks()
	if len(cbs) != 1 || cbs[0].StatusCode != http.StatusOK {
		t.Errorf("callbacks %+v, want one, answered 200", cbs)
	}
}

// testSwishCallbackLateAfterPoller: Swish's callback is lost when the
// customer pays; the poller finds the payment paid. Swish's retry of the
// callback then arrives: taken (200), and nothing changes: the same
// events, version and journal, one payment request paid once.
func testSwishCallbackLateAfterPoller(t *testing.T) {
	e := newEnv(t, options{dropCallbacks: true}, true)
	ctx := ctxT(t)
	s, p := e.startSwish(ctx, 4200)
	if err := e.swish.Customer().Do(ctx, p.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	es := e.events(p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CausePoller {
		t.Fatalf("paid by %s, want the poller: %v", last.Cause, transitions(es))
	}
	cbs := e.swish.Callbacks()
	if len(cbs) != 1 || !cbs[0].Dropped {
		t.Fatalf("callbacks %+v, want the one, lost", cbs)
	}
	journal := e.verifyJournal()
	if code, resp := e.postCallback(cbs[0].URL, string(cbs[0].Body)); code != http.StatusOK {
		t.Errorf("late callback: %d %s, want 200", code, resp)
	}
	if after := transitions(e.events(p.ID)); !slices.Equal(transitions(es), after) {
		t.Errorf("the late callback changed the events: %v → %v", transitions(es), after)
	}
	if got := e.payment(p.ID); got.State != kvitt.PaymentPaid || got.Version != p.Version {
		t.Errorf("payment %s version %d, want paid version %d (unchanged)", got.State, got.Version, p.Version)
	}
	if n := e.verifyJournal(); n != journal {
		t.Errorf("the journal grew from %d to %d entries on a late callback", journal, n)
	}
	if v := e.salePaid(s.ID); v != 4200 {
		t.Errorf("the sale counts %d as paid, want 4200", v)
	}
	if l := e.swish.Ledger().PaymentRequests; len(l) != 1 || l[0].Creates != 1 || l[0].Status != "PAID" {
		t.Errorf("simulator ledger %+v, want one payment request, created once, paid", l)
	}
}

// swishFront puts the simulator's failing front door (Swish's load
// balancer) behind the relay and makes it fail the next request of op
// with status, before or after the API carried it out; the test fails
// unless it did so exactly once.
func swishFront(e *env, px *faultProxy, op string, status int, after bool) {
	e.t.Helper()
	front, err := e.swish.StartFaultFront()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { front.Close() })
	e.t.Cleanup(func() {
		if n := front.Failed(op); n != 1 {
			e.t.Errorf("the front failed %d %s requests, want 1: the fault never fired", n, op)
		}
	})
	if err := front.FailNext(op, status, after); err != nil {
		e.t.Fatal(err)
	}
	addr := front.Addr()
	px.upstream.Store(&addr)
}
