package hub

import (
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// Tills retry and double-click: many simultaneous payments on one sale take
// the money once; the others are refused with a conflict.
func TestConcurrentPaymentsOnOneSale(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 10000)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case kvitt.ErrorCode(err) != kvitt.ECONFLICT:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || countRows(t, h, "payments") != 1 {
		t.Fatalf("%d payments succeeded, %d stored; want 1", ok, countRows(t, h, "payments"))
	}
}

// Simultaneous completes of one sale issue one receipt; different sales get
// different serials with no gap.
func TestConcurrentCompletes(t *testing.T) {
	h, _, _ := newHub(t)
	var sales []*kvitt.Sale
	for range 6 {
		s := sale(t, h, 1000)
		if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 1000}); err != nil {
			t.Fatal(err)
		}
		sales = append(sales, s)
	}
	var mu sync.Mutex
	receipts := map[string]map[string]int64{} // sale → receipt id → serial
	var wg sync.WaitGroup
	for _, s := range sales {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rc, err := h.CompleteSale(ctx, s.ID)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if receipts[s.ID] == nil {
					receipts[s.ID] = map[string]int64{}
				}
				receipts[s.ID][rc.ID] = rc.Serial
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	seen := map[int64]bool{}
	for sid, rs := range receipts {
		if len(rs) != 1 {
			t.Errorf("sale %s got %d receipts", sid, len(rs))
		}
		for _, serial := range rs {
			seen[serial] = true
		}
	}
	for i := int64(1); i <= 6; i++ {
		if !seen[i] {
			t.Errorf("serial %d missing; serials %v", i, seen)
		}
	}
	if n := countRows(t, h, "receipts"); n != 6 {
		t.Errorf("%d receipts stored, want 6", n)
	}
}

// A cancel whose answer is lost is a question too: the payment stays as it
// was, the till hears "unavailable" and the sync job asks later.
func TestCancelLostAnswer(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.mu.Lock()
	fp.cancel = []answer{{err: errLost}}
	fp.mu.Unlock()
	s := sale(t, h, 10000)
	p, _ := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	_, err := h.CancelPayment(ctx, p.ID)
	if kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Fatalf("cancel with a lost answer: %v; want unavailable", err)
	}
	if got := mustPayment(t, h, p.ID); got.State != kvitt.PaymentPending {
		t.Fatalf("state %s, want pending", got.State)
	}
	if js := jobsOf(t, h, jobPaymentSync); len(js) != 1 || js[0].Ref != p.ID {
		t.Fatalf("sync jobs %+v", js)
	}
}
