package hub

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// countingMetrics records payment transitions.
type countingMetrics struct {
	nopMetrics
	mu          sync.Mutex
	transitions map[kvitt.PaymentState]int
}

func (m *countingMetrics) PaymentTransition(method string, to kvitt.PaymentState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.transitions[to]++
}

func (m *countingMetrics) count(s kvitt.PaymentState) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.transitions[s]
}

// retryingStore runs every write transaction's function once more than
// the store does, rolling the first run back, as a store does after a busy
// database or a serialization failure.
type retryingStore struct{ kvitt.Store }

var errRolledBack = errors.New("first attempt rolled back")

func (s retryingStore) Update(ctx context.Context, fn func(kvitt.Tx) error) error {
	err := s.Store.Update(ctx, func(tx kvitt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errRolledBack
	})
	if !errors.Is(err, errRolledBack) {
		return err
	}
	return s.Store.Update(ctx, fn)
}

// kvitt_payment_transitions_total counts what was committed, once: not a
// transition of an attempt the store ran again, nor one of a transaction
// that failed. Before, it was counted inside the transaction's function,
// so a retried transaction counted twice and a failed one once.
func TestTransitionsCountedAfterCommit(t *testing.T) {
	h, _, _ := newHub(t)
	m := &countingMetrics{transitions: map[kvitt.PaymentState]int{}}
	h.SetMetrics(m)
	h.Store = retryingStore{h.Store}
	ctx := context.Background()
	sale, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{{Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.CreatePayment(ctx, sale.ID, PaymentInput{Method: "cash", Amount: sale.Total})
	if err != nil || p.State != kvitt.PaymentPaid {
		t.Fatal(p, err)
	}
	if n := m.count(kvitt.PaymentPaid); n != 1 {
		t.Errorf("a cash payment whose transaction ran twice counted %d transitions to paid, want 1", n)
	}
	if n := m.count(kvitt.PaymentCreated); n != 1 {
		t.Errorf("%d transitions to created, want 1", n)
	}
	// A transaction that fails after recording a transition counts nothing.
	boom := errors.New("boom")
	err = h.update(ctx, func(tx kvitt.Tx) error {
		if err := h.recordTransition(tx, p, kvitt.PaymentPaid, kvitt.PaymentRefunded, CauseOperator, ""); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := m.count(kvitt.PaymentRefunded); n != 0 {
		t.Errorf("a failed transaction counted %d transitions to refunded, want 0", n)
	}
}
