package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testJobStats: the queue per kind as /metrics shows it. Queued counts the
// live jobs whatever their time; Due and OldestDue only those a worker
// would claim now (due, not leased); dead jobs are counted apart; a kind
// with no job is not listed.
func testJobStats(t *testing.T, s kvitt.Store) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	stats := func(now time.Time) []kvitt.JobStats {
		t.Helper()
		var out []kvitt.JobStats
		view(t, s, func(tx kvitt.Tx) (err error) {
			out, err = tx.JobStats(now)
			return err
		})
		return out
	}
	if got := stats(t0); len(got) != 0 {
		t.Fatalf("empty queue: %+v", got)
	}
	update(t, s, func(tx kvitt.Tx) error {
		for _, j := range []*kvitt.Job{
			{Kind: "payment.sync", Ref: "pay_1", RunAt: t0.Add(-3 * time.Minute)}, // due the longest
			{Kind: "payment.sync", Ref: "pay_2", RunAt: t0.Add(-time.Minute)},
			{Kind: "payment.sync", Ref: "pay_3", RunAt: t0.Add(time.Minute)}, // not yet due
			{Kind: "receipt.register", Ref: "rcp_1", RunAt: t0.Add(-2 * time.Minute)},
			{Kind: "webhook.deliver", Ref: "wh_1", RunAt: t0.Add(-10 * time.Minute)}, // to be leased
		} {
			if err := tx.EnqueueJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	// The webhook job runs (leased until t0+1m); the receipt job is given up.
	update(t, s, func(tx kvitt.Tx) error {
		js, err := tx.ClaimJobs("w1", t0.Add(-5*time.Minute), t0.Add(time.Minute), 10)
		if err != nil {
			return err
		}
		if len(js) != 1 || js[0].Kind != "webhook.deliver" {
			t.Fatalf("claimed %+v", js)
		}
		js, err = tx.ClaimJobs("w1", t0.Add(-2*time.Minute), t0.Add(-time.Minute), 1)
		if err != nil {
			return err
		}
		if len(js) != 1 || js[0].Kind != "payment.sync" {
			t.Fatalf("claimed %+v", js)
		}
		// pay_1 back in the queue as it was (its lease given up).
		if err := tx.RetryJob(js[0].ID, "w1", t0.Add(-3*time.Minute), "no answer", false); err != nil {
			return err
		}
		return nil
	})
	update(t, s, func(tx kvitt.Tx) error {
		j, err := tx.JobFor("receipt.register", "rcp_1")
		if err != nil {
			return err
		}
		js, err := tx.ClaimJobs("w2", j.RunAt, j.RunAt.Add(time.Second), 10)
		if err != nil {
			return err
		}
		for _, c := range js {
			if c.ID == j.ID {
				return tx.RetryJob(c.ID, "w2", t0.Add(time.Hour), "refused", true)
			}
		}
		t.Fatalf("receipt job not claimed: %+v", js)
		return nil
	})
	want := []kvitt.JobStats{
		{Kind: "payment.sync", Queued: 3, Due: 2, OldestDue: t0.Add(-3 * time.Minute)},
		{Kind: "receipt.register", Dead: 1},
		{Kind: "webhook.deliver", Queued: 1}, // leased: running, not waiting
	}
	if got := stats(t0); !reflect.DeepEqual(got, want) {
		t.Errorf("at t0:\n got %+v\nwant %+v", got, want)
	}
	// Later: pay_3 is due as well, and the webhook job's lease ran out.
	want = []kvitt.JobStats{
		{Kind: "payment.sync", Queued: 3, Due: 3, OldestDue: t0.Add(-3 * time.Minute)},
		{Kind: "receipt.register", Dead: 1},
		{Kind: "webhook.deliver", Queued: 1, Due: 1, OldestDue: t0.Add(-10 * time.Minute)},
	}
	if got := stats(t0.Add(2 * time.Minute)); !reflect.DeepEqual(got, want) {
		t.Errorf("at t0+2m:\n got %+v\nwant %+v", got, want)
	}
}
