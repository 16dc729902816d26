package bench_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// countingStore wraps the real store and counts durable commits: Update
// calls whose function returned nil after at least one write through the Tx
// (a read-only Update, like the job worker's claim when no job is due,
// writes no WAL frame and syncs nothing, so it is counted apart). It also
// times the commit itself (from the function's return to Update's return:
// COMMIT, i.e. the WAL append and its fsync).
type countingStore struct {
	kvitt.Store

	mu        sync.Mutex
	updates   int // every Update call
	commits   int // Update calls that committed at least one write
	commitDur time.Duration
	sigs      map[string]int // the write methods of each commit → how many
}

func newCountingStore(s kvitt.Store) *countingStore {
	return &countingStore{Store: s, sigs: map[string]int{}}
}

type storeTotals struct {
	Updates, Commits int
	CommitDur        time.Duration
}

func (s *countingStore) totals() storeTotals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return storeTotals{s.updates, s.commits, s.commitDur}
}

func (s *countingStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates, s.commits, s.commitDur = 0, 0, 0
	s.sigs = map[string]int{}
}

// signatures lists what the commits wrote, most frequent first.
func (s *countingStore) signatures() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range s.sigs {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].k < l[j].k })
	var b strings.Builder
	for _, e := range l {
		b.WriteString("\n\t")
		b.WriteString(e.k)
		b.WriteString(" ×")
		b.WriteString(itoa(e.n))
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

func (s *countingStore) Update(ctx context.Context, fn func(kvitt.Tx) error) error {
	var w *countingTx
	var fnEnd time.Time
	err := s.Store.Update(ctx, func(tx kvitt.Tx) error {
		w = &countingTx{Tx: tx} // a retried attempt starts over
		err := fn(w)
		fnEnd = time.Now()
		return err
	})
	end := time.Now()
	s.mu.Lock()
	s.updates++
	if err == nil && w != nil && len(w.writes) > 0 {
		s.commits++
		s.commitDur += end.Sub(fnEnd)
		s.sigs[strings.Join(w.writes, "+")]++
	}
	s.mu.Unlock()
	return err
}

// countingTx notes the write methods that succeeded.
type countingTx struct {
	kvitt.Tx
	writes []string
}

func (t *countingTx) note(name string, err error) error {
	if err == nil {
		t.writes = append(t.writes, name)
	}
	return err
}

func (t *countingTx) CreateMerchant(m *kvitt.Merchant) error {
	return t.note("CreateMerchant", t.Tx.CreateMerchant(m))
}
func (t *countingTx) CreateShop(s *kvitt.Shop) error { return t.note("CreateShop", t.Tx.CreateShop(s)) }
func (t *countingTx) CreateTill(x *kvitt.Till) error { return t.note("CreateTill", t.Tx.CreateTill(x)) }
func (t *countingTx) UpdateTill(x *kvitt.Till) error { return t.note("UpdateTill", t.Tx.UpdateTill(x)) }
func (t *countingTx) CreateSale(s *kvitt.Sale) error { return t.note("CreateSale", t.Tx.CreateSale(s)) }
func (t *countingTx) UpdateSale(s *kvitt.Sale) error { return t.note("UpdateSale", t.Tx.UpdateSale(s)) }
func (t *countingTx) CreatePayment(p *kvitt.Payment) error {
	return t.note("CreatePayment", t.Tx.CreatePayment(p))
}
func (t *countingTx) UpdatePayment(p *kvitt.Payment) error {
	return t.note("UpdatePayment", t.Tx.UpdatePayment(p))
}
func (t *countingTx) AppendPaymentEvent(e *kvitt.PaymentEvent) error {
	return t.note("AppendPaymentEvent", t.Tx.AppendPaymentEvent(e))
}
func (t *countingTx) CreateRefund(r *kvitt.Refund) error {
	return t.note("CreateRefund", t.Tx.CreateRefund(r))
}
func (t *countingTx) UpdateRefund(r *kvitt.Refund) error {
	return t.note("UpdateRefund", t.Tx.UpdateRefund(r))
}
func (t *countingTx) NextReceiptSerial(till string) (int64, error) {
	n, err := t.Tx.NextReceiptSerial(till)
	return n, t.note("NextReceiptSerial", err)
}
func (t *countingTx) CreateReceipt(r *kvitt.Receipt) error {
	return t.note("CreateReceipt", t.Tx.CreateReceipt(r))
}
func (t *countingTx) UpdateReceipt(r *kvitt.Receipt) error {
	return t.note("UpdateReceipt", t.Tx.UpdateReceipt(r))
}
func (t *countingTx) CreateAPIKey(k *kvitt.APIKey) error {
	return t.note("CreateAPIKey", t.Tx.CreateAPIKey(k))
}
func (t *countingTx) UpdateAPIKey(k *kvitt.APIKey) error {
	return t.note("UpdateAPIKey", t.Tx.UpdateAPIKey(k))
}
func (t *countingTx) PutIdempotency(r *kvitt.IdempotencyRecord) error {
	return t.note("PutIdempotency", t.Tx.PutIdempotency(r))
}
func (t *countingTx) CompleteIdempotency(r *kvitt.IdempotencyRecord) error {
	return t.note("CompleteIdempotency", t.Tx.CompleteIdempotency(r))
}
func (t *countingTx) ReleaseIdempotency(r *kvitt.IdempotencyRecord) error {
	return t.note("ReleaseIdempotency", t.Tx.ReleaseIdempotency(r))
}
func (t *countingTx) DeleteIdempotencyBefore(before time.Time) (int, error) {
	n, err := t.Tx.DeleteIdempotencyBefore(before)
	if n > 0 {
		t.note("DeleteIdempotencyBefore", err)
	}
	return n, err
}
func (t *countingTx) EnqueueJob(j *kvitt.Job) error {
	return t.note("EnqueueJob("+j.Kind+")", t.Tx.EnqueueJob(j))
}
func (t *countingTx) ClaimJobs(owner string, now, leaseUntil time.Time, limit int) ([]*kvitt.Job, error) {
	js, err := t.Tx.ClaimJobs(owner, now, leaseUntil, limit)
	if len(js) > 0 {
		t.note("ClaimJobs", err)
	}
	return js, err
}
func (t *countingTx) FinishJob(id int64, owner string) error {
	return t.note("FinishJob", t.Tx.FinishJob(id, owner))
}
func (t *countingTx) RetryJob(id int64, owner string, runAt time.Time, lastErr string, dead bool) error {
	return t.note("RetryJob", t.Tx.RetryJob(id, owner, runAt, lastErr, dead))
}
func (t *countingTx) AppendJournal(e *kvitt.JournalEntry) error {
	return t.note("AppendJournal", t.Tx.AppendJournal(e))
}
