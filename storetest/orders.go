package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

func newOrder(id, number, name, mobile string) *kvitt.Order {
	o := &kvitt.Order{ID: id, MerchantID: "m1", Number: number, Method: "svea", Currency: kvitt.SEK,
		Customer: kvitt.CustomerCard{Name: name, MobileNumber: mobile, Country: "SE", Email: number + "@example.se"},
		Lines:    []kvitt.OrderLine{{RowNumber: 1, Name: "Stol", Quantity: 100, UnitPrice: 49900, VATRate: 2500, Unit: "st", Total: 49900}},
		Total:    49900, State: kvitt.OrderCreating}
	o.Links = []kvitt.OrderLink{{Seq: 1, MerchantOrderNumber: number + "-20240305140709123", Secret: "s", State: kvitt.PaymentCreated,
		Lines: o.Lines, Customer: o.Customer, Total: o.Total, ExpiresAt: time.Date(2024, 3, 7, 14, 7, 9, 0, time.UTC)}}
	return o
}

// testOrders: orders read back as written (links included), numbers are
// unique per merchant, updates compare and set, and the list filters by
// state and searches number and customer; of racing updates of one read
// exactly one wins.
func testOrders(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	a := newOrder("ord_a", "1001", "Anna Åberg", "0701234567")
	a.IdempotencyKey = "k:1"
	b := newOrder("ord_b", "1002", "Bo Ek", "0709876543")
	c := newOrder("ord_c", "2003", "Cecilia 50%_rabatt", "0701112233")
	update(t, s, func(tx kvitt.Tx) error {
		for _, o := range []*kvitt.Order{a, b, c} {
			if err := tx.CreateOrder(o); err != nil {
				return err
			}
		}
		return nil
	})
	if a.Version != 1 || a.Created.IsZero() {
		t.Fatalf("created order: version %d, created %v", a.Version, a.Created)
	}
	update(t, s, func(tx kvitt.Tx) error {
		wantCode(t, tx.CreateOrder(newOrder("ord_dup", "1001", "X", "0700000000")), kvitt.ECONFLICT)
		return nil
	})
	var got *kvitt.Order
	update(t, s, func(tx kvitt.Tx) (err error) {
		if got, err = tx.GetOrder("ord_a"); err != nil {
			return err
		}
		if o, err := tx.OrderByNumber("m1", "1001"); err != nil || o.ID != "ord_a" {
			t.Fatalf("by number: %v %v", o, err)
		}
		if o, err := tx.OrderByIdempotencyKey("k:1"); err != nil || o.ID != "ord_a" {
			t.Fatalf("by idempotency key: %v %v", o, err)
		}
		_, err = tx.GetOrder("nope")
		wantCode(t, err, kvitt.ENOTFOUND)
		_, err = tx.OrderByNumber("m2", "1001")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
	if got.Customer.Name != "Anna Åberg" || len(got.Links) != 1 || got.Links[0].MerchantOrderNumber != "1001-20240305140709123" ||
		!got.Links[0].ExpiresAt.Equal(a.Links[0].ExpiresAt) || got.Lines[0].UnitPrice != 49900 || got.Total != 49900 {
		t.Fatalf("order read back as %+v", got)
	}

	// Compare and set.
	stale := *got
	got.State = kvitt.OrderPaid
	got.Links[0].State, got.PaidLink, got.Reference = kvitt.PaymentPaid, 1, "8812"
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateOrder(got) })
	if got.Version != 2 {
		t.Fatalf("version after update %d", got.Version)
	}
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdateOrder(&stale) })
	wantCode(t, err, kvitt.ECONFLICT)

	list := func(f kvitt.OrderFilter) []string {
		t.Helper()
		var out []string
		err := s.View(ctx, func(tx kvitt.Tx) error {
			os, err := tx.ListOrders(f)
			for _, o := range os {
				out = append(out, o.ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		f    kvitt.OrderFilter
		want string
	}{
		{kvitt.OrderFilter{}, "[ord_c ord_b ord_a]"},
		{kvitt.OrderFilter{States: []kvitt.OrderState{kvitt.OrderPaid}}, "[ord_a]"},
		{kvitt.OrderFilter{States: []kvitt.OrderState{kvitt.OrderCreating, kvitt.OrderExpired}}, "[ord_c ord_b]"},
		{kvitt.OrderFilter{Query: "100"}, "[ord_b ord_a]"},
		{kvitt.OrderFilter{Query: "åBERG"}, "[ord_a]"},
		{kvitt.OrderFilter{Query: "0709876"}, "[ord_b]"},
		{kvitt.OrderFilter{Query: "2003@example"}, "[ord_c]"},
		{kvitt.OrderFilter{Query: "%_"}, "[ord_c]"},
		{kvitt.OrderFilter{Query: "_"}, "[ord_c]"},
		{kvitt.OrderFilter{MerchantID: "m2"}, "[]"},
		{kvitt.OrderFilter{Limit: 1}, "[ord_c]"},
	} {
		if got := fmt.Sprint(list(tc.f)); got != tc.want && !(tc.want == "[]" && got == "[]") {
			t.Errorf("ListOrders(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}

	// Racing updates of one read: one wins, the others conflict.
	var base *kvitt.Order
	update(t, s, func(tx kvitt.Tx) (err error) { base, err = tx.GetOrder("ord_b"); return err })
	const n = 6
	var wg sync.WaitGroup
	wins := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := *base
			o.Message = fmt.Sprint("writer ", i)
			err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdateOrder(&o) })
			if err == nil {
				wins <- i
			} else if kvitt.ErrorCode(err) != kvitt.ECONFLICT {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	if len(wins) != 1 {
		t.Fatalf("%d racing updates won, want 1", len(wins))
	}
}
