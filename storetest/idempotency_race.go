package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testIdempotencyRace checks the reservation protocol the HTTP layer runs
// an Idempotency-Key request under: of racing reservations of one key
// exactly one wins; the winner completes or releases it; a stale
// reservation is taken over by exactly one of racing processes, and the
// process it was taken from then changes nothing.
func testIdempotencyRace(t *testing.T, s kvitt.Store) {
	const n = 8
	race := func(f func(i int) error) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = f(i)
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}
	winner := func(errs []error) int {
		t.Helper()
		w := -1
		for i, err := range errs {
			switch kvitt.ErrorCode(err) {
			case "":
				if w >= 0 {
					t.Fatalf("both %d and %d won", w, i)
				}
				w = i
			case kvitt.ECONFLICT:
			default:
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		if w < 0 {
			t.Fatal("no racer won")
		}
		return w
	}
	get := func(key string) (*kvitt.IdempotencyRecord, error) {
		var r *kvitt.IdempotencyRecord
		err := s.View(ctx, func(tx kvitt.Tx) (err error) { r, err = tx.GetIdempotency(key); return err })
		return r, err
	}

	// Racing reservations, each for another request: exactly one holds the key.
	res := make([]*kvitt.IdempotencyRecord, n)
	w := winner(race(func(i int) error {
		res[i] = &kvitt.IdempotencyRecord{Key: "race:1", RequestHash: fmt.Sprintf("h%d", i)}
		return s.Update(ctx, func(tx kvitt.Tx) error { return tx.PutIdempotency(res[i]) })
	}))
	got, err := get("race:1")
	if err != nil || got.Status != 0 || got.RequestHash != res[w].RequestHash || !got.Created.Equal(res[w].Created) {
		t.Fatalf("reservation = %+v, %v; want the winner's %+v", got, err, res[w])
	}
	// Only the holder completes it, once.
	for i := range n {
		if i == w {
			continue
		}
		loser := *res[i]
		loser.Status, loser.Body = 201, []byte("other")
		wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.CompleteIdempotency(&loser) }), kvitt.ECONFLICT)
	}
	done := *res[w]
	done.Status, done.Body = 201, []byte(`{"id":"sale_1"}`)
	update(t, s, func(tx kvitt.Tx) error { return tx.CompleteIdempotency(&done) })
	again := done
	again.Status, again.Body = 422, []byte("later")
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.CompleteIdempotency(&again) }), kvitt.ECONFLICT)
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.ReleaseIdempotency(&again) }), kvitt.ECONFLICT)
	if got, err := get("race:1"); err != nil || got.Status != 201 || !bytes.Equal(got.Body, done.Body) || got.RequestHash != done.RequestHash {
		t.Fatalf("completed = %+v, %v", got, err)
	}

	// A released reservation frees the key for the next request.
	r2 := &kvitt.IdempotencyRecord{Key: "race:2", RequestHash: "h"}
	update(t, s, func(tx kvitt.Tx) error { return tx.PutIdempotency(r2) })
	update(t, s, func(tx kvitt.Tx) error { return tx.ReleaseIdempotency(r2) })
	if _, err := get("race:2"); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Fatalf("released reservation still there: %v", err)
	}
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.ReleaseIdempotency(r2) }), kvitt.ECONFLICT)
	update(t, s, func(tx kvitt.Tx) error {
		return tx.PutIdempotency(&kvitt.IdempotencyRecord{Key: "race:2", RequestHash: "h"})
	})

	// A stale reservation (its process crashed) is taken over by exactly one
	// of racing processes; the crashed process's completion then fails.
	crashed := &kvitt.IdempotencyRecord{Key: "race:3", RequestHash: "h", Created: time.Now().Add(-3 * time.Minute).UTC().Truncate(time.Microsecond)}
	update(t, s, func(tx kvitt.Tx) error { return tx.PutIdempotency(crashed) })
	read, err := get("race:3")
	if err != nil {
		t.Fatal(err)
	}
	takers := make([]*kvitt.IdempotencyRecord, n)
	w = winner(race(func(i int) error {
		r := *read
		takers[i] = &r
		return s.Update(ctx, func(tx kvitt.Tx) error { return tx.TakeOverIdempotency(takers[i]) })
	}))
	if !takers[w].Created.After(crashed.Created) {
		t.Errorf("take-over kept the old time %v", takers[w].Created)
	}
	old := *crashed
	old.Status = 201
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.CompleteIdempotency(&old) }), kvitt.ECONFLICT)
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.ReleaseIdempotency(crashed) }), kvitt.ECONFLICT)
	taken := *takers[w]
	taken.Status, taken.Body = 200, []byte("ok")
	update(t, s, func(tx kvitt.Tx) error { return tx.CompleteIdempotency(&taken) })
	if got, err := get("race:3"); err != nil || got.Status != 200 || string(got.Body) != "ok" {
		t.Fatalf("taken over and completed = %+v, %v", got, err)
	}
	// A completed record, or another request's, is never taken over.
	done3 := *takers[w]
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.TakeOverIdempotency(&done3) }), kvitt.ECONFLICT)
	stale := &kvitt.IdempotencyRecord{Key: "race:4", RequestHash: "h", Created: time.Now().Add(-3 * time.Minute).UTC().Truncate(time.Microsecond)}
	update(t, s, func(tx kvitt.Tx) error { return tx.PutIdempotency(stale) })
	other := *stale
	other.RequestHash = "other"
	wantCode(t, s.Update(ctx, func(tx kvitt.Tx) error { return tx.TakeOverIdempotency(&other) }), kvitt.ECONFLICT)
}
