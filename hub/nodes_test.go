package hub

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/postgres"
	"github.com/kvitt-hub/kvitt/postgres/pgtest"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// node is one kvitt node: its own hub, its own connections to the shared
// database, its own (scripted) provider.
type node struct {
	*Hub
	fake *fakeProvider
	clk  *clock
}

// onEachStore runs fn on SQLite and on PostgreSQL (skipped outside CI when no
// server is given; make test gives one). connect opens another connection
// pool to the same, already seeded, database: a second node.
func onEachStore(t *testing.T, fn func(t *testing.T, connect func() kvitt.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kvitt.db")
		var once sync.Once
		fn(t, func() kvitt.Store {
			db, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			once.Do(func() { storetest.Seed(t, db) })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.FreshDatabase(t)
		var once sync.Once
		fn(t, func() kvitt.Store {
			db, err := postgres.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			once.Do(func() { storetest.Seed(t, db) })
			return db
		})
	})
}

// nodes starts n hubs on one database. They share one clock.
func nodes(t *testing.T, connect func() kvitt.Store, n int) []*node {
	clk := &clock{}
	var out []*node
	for range n {
		store := connect()
		h := New(store, testLogger())
		h.Now = clk.Now
		fp := newFake(store)
		h.Register(cash.Provider{}, nil)
		h.Register(fp, nil)
		t.Cleanup(h.Close)
		out = append(out, &node{Hub: h, fake: fp, clk: clk})
	}
	return out
}

func totalCalls(ns []*node, call string) int {
	n := 0
	for _, x := range ns {
		n += x.fake.count(call)
	}
	return n
}

// race runs fn(i) for i in [0, n) at once and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// accepted counts nil errors and fails the test on any error but a conflict
// or a refused amount.
func accepted(t *testing.T, errs []error) int {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch kvitt.ErrorCode(err) {
		case "":
			ok++
		case kvitt.ECONFLICT, kvitt.EUNPROCESSABLE:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok
}

// Eight tills' worth of simultaneous payments on one 100 SEK sale, spread
// over two nodes, send the provider one charge. Failed on PostgreSQL before
// the sale lock: all 8 were accepted and Start was called 8 times.
func TestRacingPaymentsTwoNodes(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		s := sale(t, ns[0].Hub, 10000)
		errs := race(8, func(i int) error {
			_, err := ns[i%2].CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
			return err
		})
		if ok, starts := accepted(t, errs), totalCalls(ns, "start"); ok != 1 || starts != 1 {
			t.Fatalf("%d payments accepted, provider Start called %d times; want 1 and 1", ok, starts)
		}
		// Cash racing for the rest of a partly paid sale: the sale is paid once.
		s2 := sale(t, ns[0].Hub, 10000)
		if _, err := ns[0].CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 4000}); err != nil {
			t.Fatal(err)
		}
		errs = race(8, func(i int) error {
			_, err := ns[i%2].CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 6000})
			return err
		})
		if ok := accepted(t, errs); ok != 1 {
			t.Fatalf("%d cash payments for the rest accepted; want 1", ok)
		}
		v, err := ns[1].ViewSale(ctx, s2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Paid != 10000 {
			t.Fatalf("sale paid %d, want 10000", v.Paid)
		}
	})
}

// paidFake creates a sale of total and pays it in full with the fake provider.
func paidFake(t *testing.T, n *node, total int64) *kvitt.Payment {
	t.Helper()
	s := sale(t, n.Hub, total)
	n.fake.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	p, err := n.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: total})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentPaid {
		t.Fatalf("payment %s, want paid", p.State)
	}
	return p
}

// Eight simultaneous full refunds of one 100 SEK payment over two nodes give
// back 100 SEK once. Failed on PostgreSQL before the sale lock: 4 accepted,
// 400 SEK refunded.
func TestRacingRefundsTwoNodes(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		p := paidFake(t, ns[0], 10000)
		errs := race(8, func(i int) error {
			_, err := ns[i%2].CreateRefund(ctx, p.ID, RefundInput{Amount: 10000})
			return err
		})
		if ok, calls := accepted(t, errs), totalCalls(ns, "refund"); ok != 1 || calls != 1 {
			t.Fatalf("%d refunds accepted, provider Refund called %d times; want 1 and 1", ok, calls)
		}
		// Partial refunds racing: never more than the payment in total.
		p2 := paidFake(t, ns[1], 10000)
		errs = race(8, func(i int) error {
			_, err := ns[i%2].CreateRefund(ctx, p2.ID, RefundInput{Amount: 3000})
			return err
		})
		if ok := accepted(t, errs); ok != 3 {
			t.Fatalf("%d refunds of 30 SEK accepted on a 100 SEK payment; want 3", ok)
		}
		got, err := ns[0].GetPayment(ctx, p2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Refunded != 9000 || got.State != kvitt.PaymentPartiallyRefunded {
			t.Fatalf("payment refunded %d (%s), want 9000 partially_refunded", got.Refunded, got.State)
		}
	})
}

// Completes racing over two nodes issue one receipt per sale, and serials
// stay unbroken.
func TestRacingCompletesTwoNodes(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		var sales []*kvitt.Sale
		for range 4 {
			s := sale(t, ns[0].Hub, 1000)
			if _, err := ns[0].CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 1000}); err != nil {
				t.Fatal(err)
			}
			sales = append(sales, s)
		}
		ids := make([]string, 4*4)
		errs := race(len(ids), func(i int) error {
			rc, err := ns[i%2].CompleteSale(ctx, sales[i/4].ID)
			if err == nil {
				ids[i] = fmt.Sprintf("%s#%d", rc.ID, rc.Serial)
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		serials := map[string]bool{}
		for i, id := range ids {
			if id != ids[i/4*4] {
				t.Fatalf("sale %d got two receipts: %s and %s", i/4, ids[i/4*4], id)
			}
			serials[id] = true
		}
		if len(serials) != 4 {
			t.Fatalf("receipts %v, want 4 different", serials)
		}
	})
}
