// Package e2e holds kvitt's cross-component end-to-end tests: the hub on a
// real SQLite file, the provider adapters talking to the in-process
// simulators over real TLS on loopback, the HTTP API for callbacks, and
// "restarts" that close the hub and the store and open new ones on the same
// file. No test waits a fixed time: every wait is a poll for a condition
// with a generous upper bound, and no assertion is about elapsed time.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/controlunit"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/nexo"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/swish"
)

// waitLimit bounds every wait for a condition. It is an upper bound for a
// hung test, not an expectation: conditions are normally met in well under a second.
const waitLimit = 20 * time.Second

// Test data.
const (
	merchantID = "m1"
	shopID     = "s1"
	till1      = "1"
	till2      = "2"
	cuName     = "cu"
)

// options configure the simulators of one test environment.
type options struct {
	// swishMessage is the Swish provider's Message; the simulator reads a
	// forced outcome code ("DS24") from it, as Swish's MSS does.
	swishMessage  string
	dropCallbacks bool
	tip           bool // the till's terminal asks for a tip ("Extra")
}

// env is one kvitt installation: its data directory and simulators live for
// the whole test; the hub, the store and the worker ("the process") can be
// stopped and started again on the same SQLite file.
type env struct {
	t    *testing.T
	opts options
	dir  string
	log  *syncBuffer

	swish    *simswish.Sim
	secret   []byte
	cbURL    string                     // https://127.0.0.1:port, stable across restarts
	cbTarget atomic.Pointer[handlerBox] // the running process's API, or down
	term     *simnexo.Terminal
	cu       *simcontrolunit.Unit

	// The running process (nil while kvitt is down).
	db           *sqlstore.DB
	h            *hub.Hub
	api          *kvitthttp.Server
	stopWorker   func()
	workerOwners int
}

type handlerBox struct{ h http.Handler }

type downHandler struct{}

func (downHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "kvitt is down", http.StatusServiceUnavailable)
}

// newEnv starts the simulators and kvitt (with its job worker if worker).
func newEnv(t *testing.T, opts options, worker bool) *env {
	t.Helper()
	e := &env{t: t, opts: opts, dir: t.TempDir(), log: &syncBuffer{}, secret: []byte("e2e callback secret, 32 bytes long!")}
	e.cbTarget.Store(&handlerBox{downHandler{}})

	// Swish: its PKI, the simulator, and kvitt's HTTPS callback listener.
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cbSrv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.cbTarget.Load().h.ServeHTTP(w, r) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pki.ServerCertificate()}, MinVersion: tls.VersionTLS12},
		ErrorLog:  nil,
	}
	go cbSrv.ServeTLS(ln, "", "")
	e.cbURL = "https://" + ln.Addr().String()
	e.swish, err = simswish.New(simswish.Options{PKI: pki, CallbackTLS: &tls.Config{RootCAs: pki.RootPool()},
		DropCallbacks: opts.dropCallbacks})
	if err != nil {
		t.Fatal(err)
	}

	// The card terminal.
	e.term, err = simnexo.New(simnexo.Options{Tip: opts.tip})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.term.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}

	// The control unit, with its own journal file next to kvitt's data.
	e.cu, err = simcontrolunit.New(simcontrolunit.Config{JournalPath: filepath.Join(e.dir, "cu.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		e.stop()
		cbSrv.Close()
		e.swish.Close()
		e.term.Close()
		e.cu.Close()
		if t.Failed() {
			t.Logf("kvitt log:\n%s", e.log.String())
		}
	})
	e.start(worker)
	return e
}

// start opens the store and a new hub on the data directory, registers the
// providers and the control unit, creates the merchant and tills on first
// start, serves callbacks, and runs the job worker (with a new owner) if worker.
func (e *env) start(worker bool) {
	t := e.t
	t.Helper()
	if e.h != nil {
		t.Fatal("start: kvitt is running")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := hub.New(db, logger)
	h.Sandbox = true
	h.Register(cash.Provider{}, nil)

	client, err := swish.NewClient(swish.ClientConfig{BaseURL: e.swish.URL(), TLS: e.swish.PKI().ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: e.swish.PayeeAlias(), CallbackBaseURL: e.cbURL,
		CallbackSecret: e.secret, Message: e.opts.swishMessage})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(sp, e.swish.Customer())
	h.Register(nexo.New(nexo.Config{RootCAs: e.term.CertPool()}), e.term.Customer())

	cuc, err := controlunit.New(controlunit.Config{URL: e.cu.URL(), TLS: e.cu.ClientTLS(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.ControlUnits[cuName] = cuc

	err = db.Update(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetMerchant(merchantID); err == nil {
			return nil
		}
		if err := tx.CreateMerchant(&kvitt.Merchant{ID: merchantID, Name: "Testbutiken AB", OrgNr: "5560997982", Country: "SE",
			Currency: kvitt.SEK, VATRates: kvitt.DefaultVATRates("SE")}); err != nil {
			return err
		}
		if err := tx.CreateShop(&kvitt.Shop{ID: shopID, MerchantID: merchantID, Name: "Testbutiken", Address: "Storgatan 1, 111 22 Stockholm"}); err != nil {
			return err
		}
		for _, id := range []string{till1, till2} {
			if err := tx.CreateTill(&kvitt.Till{ID: id, StoreID: shopID, Name: "Kassa " + id, RegisterID: "REG-E2E-" + id,
				ControlUnit: cuName, Terminal: &kvitt.Terminal{POIID: e.term.POIID(), URL: e.term.URL(), Tip: e.opts.tip}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	e.db, e.h = db, h
	e.api = kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger})
	e.cbTarget.Store(&handlerBox{e.api})
	if worker {
		e.runWorker()
	}
}

// runWorker runs the hub's job worker until stop.
func (e *env) runWorker() {
	if e.stopWorker != nil {
		e.t.Fatal("worker already running")
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.workerOwners++
	owner := fmt.Sprintf("e2e-worker-%d", e.workerOwners)
	h := e.h
	go func() {
		defer close(done)
		h.RunWorker(wctx, owner)
	}()
	e.stopWorker = func() { cancel(); <-done }
}

// stop shuts kvitt down as Main.Close does: callbacks are refused, the
// worker stops, background provider calls are cancelled, the store closes.
// The simulators keep running.
func (e *env) stop() {
	if e.h == nil {
		return
	}
	e.cbTarget.Store(&handlerBox{downHandler{}})
	if e.stopWorker != nil {
		e.stopWorker()
		e.stopWorker = nil
	}
	e.h.Close()
	if err := e.db.Close(); err != nil {
		e.t.Errorf("closing the store: %v", err)
	}
	e.h, e.db, e.api = nil, nil, nil
}

// restart stops kvitt and starts it again on the same data.
func (e *env) restart(worker bool) {
	e.stop()
	e.start(worker)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it returns "" (met), failing the test with
// the last reason after waitLimit.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v: %s", what, waitLimit, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sale opens a sale of one line at price (incl. 25 % VAT) on till.
func (e *env) sale(ctx context.Context, till string, price int64) *kvitt.Sale {
	e.t.Helper()
	s, err := e.h.CreateSale(ctx, saleInput(till, price))
	if err != nil {
		e.t.Fatalf("create sale: %v", err)
	}
	if s.Total != price {
		e.t.Fatalf("sale total %d, want %d", s.Total, price)
	}
	return s
}

func (e *env) pay(ctx context.Context, saleID, method string, amount int64) *kvitt.Payment {
	e.t.Helper()
	p, err := e.h.CreatePayment(ctx, saleID, hub.PaymentInput{Method: method, Amount: amount})
	if err != nil {
		e.t.Fatalf("create %s payment: %v", method, err)
	}
	return p
}

// payment reads the payment from the store.
func (e *env) payment(id string) *kvitt.Payment {
	e.t.Helper()
	p, err := e.h.GetPayment(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get payment %s: %v", id, err)
	}
	return p
}

// waitState waits until the stored payment is in state.
func (e *env) waitState(id string, state kvitt.PaymentState) *kvitt.Payment {
	e.t.Helper()
	var p *kvitt.Payment
	eventually(e.t, "payment "+id+" "+string(state), func() string {
		var err error
		if p, err = e.h.GetPayment(context.Background(), id); err != nil {
			return err.Error()
		}
		if p.State != state {
			return fmt.Sprintf("state %s (%s %s)", p.State, p.ErrorCode, p.Message)
		}
		return ""
	})
	return p
}

func (e *env) events(id string) []*kvitt.PaymentEvent {
	e.t.Helper()
	es, err := e.h.PaymentEvents(context.Background(), id, 0)
	if err != nil {
		e.t.Fatalf("payment events: %v", err)
	}
	return es
}

// transitions renders a payment's events as "from>to/cause" strings.
func transitions(es []*kvitt.PaymentEvent) []string {
	out := make([]string, len(es))
	for i, ev := range es {
		out[i] = fmt.Sprintf("%s>%s/%s", ev.From, ev.To, ev.Cause)
	}
	return out
}

func (e *env) receipt(id string) *kvitt.Receipt {
	e.t.Helper()
	r, err := e.h.GetReceipt(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get receipt %s: %v", id, err)
	}
	return r
}

// waitRegistered waits until the receipt is registered with the control unit.
func (e *env) waitRegistered(id string) *kvitt.Receipt {
	e.t.Helper()
	var r *kvitt.Receipt
	eventually(e.t, "receipt "+id+" registered", func() string {
		var err error
		if r, err = e.h.GetReceipt(context.Background(), id); err != nil {
			return err.Error()
		}
		if r.Registration != kvitt.RegistrationRegistered {
			return "registration " + string(r.Registration)
		}
		return ""
	})
	return r
}

// jobs lists the queued jobs of kind for ref.
func (e *env) jobs(kind, ref string) []*kvitt.Job {
	e.t.Helper()
	var out []*kvitt.Job
	err := e.db.View(context.Background(), func(tx kvitt.Tx) error {
		js, err := tx.ListJobs()
		for _, j := range js {
			if j.Kind == kind && (ref == "" || j.Ref == ref) {
				out = append(out, j)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// verifyJournal checks kvitt's hash chain from the first entry and returns its length.
func (e *env) verifyJournal() int64 {
	e.t.Helper()
	var v kvitt.JournalVerifier
	err := e.db.View(context.Background(), func(tx kvitt.Tx) error {
		var after int64
		for {
			es, err := tx.ListJournal(after, 500)
			if err != nil {
				return err
			}
			if len(es) == 0 {
				return nil
			}
			for _, je := range es {
				if err := v.Check(je); err != nil {
					return err
				}
				after = je.Seq
			}
		}
	})
	if err != nil {
		e.t.Fatalf("journal: %v", err)
	}
	return v.Count
}

// journalKinds counts kvitt's journal entries by kind (for ref, if given).
func (e *env) journalKinds(ref string) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	err := e.db.View(context.Background(), func(tx kvitt.Tx) error {
		es, err := tx.ListJournal(0, 100000)
		for _, je := range es {
			if ref == "" || je.Ref == ref {
				out[je.Kind]++
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// syncBuffer collects kvitt's log; it is printed when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// saleInput is a sale of one line at price (incl. 25 % VAT) on till.
func saleInput(till string, price int64) hub.SaleInput {
	return hub.SaleInput{TillID: till, Currency: kvitt.SEK, Lines: []kvitt.SaleLine{
		{ArticleNumber: "A-1", Name: "Kaffe", QuantityMilli: 1000, UnitPrice: price, VATRate: 2500}}}
}

func cashInput(amount int64) hub.PaymentInput {
	return hub.PaymentInput{Method: "cash", Amount: amount}
}
