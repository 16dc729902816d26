package hub

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

var ctx = context.Background()

// clock is an injectable clock that tests move forward by hand.
type clock struct{ off atomic.Int64 }

var clockBase = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func (c *clock) Now() time.Time          { return clockBase.Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// openStore opens a real SQLite file in the test's temporary directory,
// seeded with merchant m1 (SEK, Swedish VAT rates), store s1, tills 1 and 2.
func openStore(t *testing.T) (kvitt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kvitt.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Seed(t, db)
	return db, path
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHub returns a hub over a fresh SQLite store with cash and the fake provider.
func newHub(t *testing.T) (*Hub, *fakeProvider, *clock) {
	t.Helper()
	store, _ := openStore(t)
	h := New(store, testLogger())
	clk := &clock{}
	h.Now = clk.Now
	fp := newFake(store)
	h.Register(cash.Provider{}, nil)
	h.Register(fp, nil)
	t.Cleanup(h.Close)
	return h, fp, clk
}

var errLost = errors.New("fake: connection reset (the answer was lost)")

type answer struct {
	u   kvitt.Update
	err error
}

// fakeProvider is a scripted provider: each method returns its queued
// answers in order (the last one repeats), and every call is counted with
// the reference it carried.
type fakeProvider struct {
	store kvitt.Store

	mu           sync.Mutex
	start        []answer
	status       []answer
	cancel       []answer
	refund       []kvitt.RefundUpdate
	calls        map[string]int
	refs         map[string][]string
	onStart      func(p *kvitt.Payment)
	refCounter   int
	startedState []kvitt.PaymentState // stored state of the payment when Start was called
}

func newFake(store kvitt.Store) *fakeProvider {
	return &fakeProvider{store: store, calls: map[string]int{}, refs: map[string][]string{},
		start:  []answer{{u: kvitt.Update{State: kvitt.PaymentPending, Action: &kvitt.Action{Type: "show_qr", QRData: "fake"}}}},
		status: []answer{{u: kvitt.Update{}}},
		cancel: []answer{{u: kvitt.Update{State: kvitt.PaymentCancelled}}},
		refund: []kvitt.RefundUpdate{{State: kvitt.RefundSucceeded}}}
}

func (f *fakeProvider) Method() string { return "fake" }

func (f *fakeProvider) NewReference() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refCounter++
	return kvitt.NewID("fakeref")
}

func (f *fakeProvider) next(q *[]answer) answer {
	a := (*q)[0]
	if len(*q) > 1 {
		*q = (*q)[1:]
	}
	return a
}

func (f *fakeProvider) record(call, ref string) {
	f.calls[call]++
	f.refs[call] = append(f.refs[call], ref)
}

func (f *fakeProvider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	// Persist before call: the payment, with this reference, is durable now.
	var stored kvitt.PaymentState = "<not stored>"
	f.store.View(ctx, func(tx kvitt.Tx) error {
		if sp, err := tx.PaymentByReference("fake", p.Reference); err == nil {
			stored = sp.State
		}
		return nil
	})
	f.mu.Lock()
	f.record("start", p.Reference)
	f.startedState = append(f.startedState, stored)
	a := f.next(&f.start)
	hook := f.onStart
	f.mu.Unlock()
	if hook != nil {
		hook(p)
	}
	return a.u, a.err
}

func (f *fakeProvider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("status", p.Reference)
	a := f.next(&f.status)
	return a.u, a.err
}

func (f *fakeProvider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("cancel", p.Reference)
	a := f.next(&f.cancel)
	return a.u, a.err
}

func (f *fakeProvider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("refund", r.Reference)
	u := f.refund[0]
	if len(f.refund) > 1 {
		f.refund = f.refund[1:]
	}
	return u, nil
}

func (f *fakeProvider) script(start, status []answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if start != nil {
		f.start = start
	}
	if status != nil {
		f.status = status
	}
}

func (f *fakeProvider) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[call]
}

func (f *fakeProvider) references(call string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.refs[call]...)
}

// Helpers.

func line(name string, qtyMilli, price, vat int64) kvitt.SaleLine {
	return kvitt.SaleLine{Name: name, QuantityMilli: qtyMilli, UnitPrice: price, VATRate: vat}
}

// sale creates an open sale on till 1 for total (one line at 25 %).
func sale(t *testing.T, h *Hub, total int64) *kvitt.Sale {
	t.Helper()
	s, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("Vara", 1000, total, 2500)}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantErr(t *testing.T, err error, code, field string) {
	t.Helper()
	if kvitt.ErrorCode(err) != code || kvitt.ErrorField(err) != field {
		t.Fatalf("err = %v; want code %q field %q", err, code, field)
	}
}

func mustPayment(t *testing.T, h *Hub, id string) *kvitt.Payment {
	t.Helper()
	p, err := h.GetPayment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eventStates(t *testing.T, h *Hub, id string) []kvitt.PaymentState {
	t.Helper()
	es, err := h.PaymentEvents(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []kvitt.PaymentState
	for _, e := range es {
		out = append(out, e.To)
	}
	return out
}

func statesEqual(a, b []kvitt.PaymentState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitState waits (with a generous safety bound, never a timed assertion)
// until the payment reaches one of the states.
func waitState(t *testing.T, h *Hub, id string, states ...kvitt.PaymentState) *kvitt.Payment {
	t.Helper()
	wake, unsub := h.Subscribe(id)
	defer unsub()
	bound := time.NewTimer(30 * time.Second)
	defer bound.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		p := mustPayment(t, h, id)
		for _, s := range states {
			if p.State == s {
				return p
			}
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-bound.C:
			t.Fatalf("payment %s stayed %s; waiting for %v", id, p.State, states)
		}
	}
}

func jobsOf(t *testing.T, h *Hub, kind string) []*kvitt.Job {
	t.Helper()
	var js []*kvitt.Job
	if err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		all, err := tx.ListJobs()
		for _, j := range all {
			if j.Kind == kind {
				js = append(js, j)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return js
}

// countRows counts a table's rows straight from the SQLite file.
func countRows(t *testing.T, h *Hub, table string) int {
	t.Helper()
	db, ok := h.Store.(*sqlstore.DB)
	if !ok {
		t.Fatalf("store is %T", h.Store)
	}
	var n int
	if err := db.Read.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// startWorker runs the job worker and returns a function that stops it and
// waits for it to return.
func startWorker(h *Hub, owner string) (stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); h.RunWorker(wctx, owner) }()
	return func() { cancel(); <-done }
}
