package hub

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/sqlite"
)

// blockingJob is a job handler that blocks on its first run (until its
// context ends: the worker "crashes") and completes on later runs.
type blockingJob struct {
	mu        sync.Mutex
	runs      int
	completed int
	owners    []string
	started   chan struct{}
	done      chan struct{}
}

func (b *blockingJob) handler(owner string) JobFunc {
	return func(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
		b.mu.Lock()
		b.runs++
		run := b.runs
		b.owners = append(b.owners, owner)
		b.mu.Unlock()
		if run == 1 {
			close(b.started)
			<-ctx.Done() // stuck until the worker dies
			return 0, ctx.Err()
		}
		b.mu.Lock()
		b.completed++
		b.mu.Unlock()
		select {
		case b.done <- struct{}{}:
		default:
		}
		return 0, nil
	}
}

// Principle 6: a job claimed by a worker that dies mid-job (its lease not
// released) is run by the next worker once the lease has run out, exactly
// once to completion.
func TestWorkerRestartMidJob(t *testing.T) {
	path := t.TempDir() + "/kvitt.db"
	db1, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	bj := &blockingJob{started: make(chan struct{}), done: make(chan struct{}, 1)}

	// Process A claims the job and is killed while the handler runs.
	hA := New(db1, testLogger())
	hA.Now = clk.Now
	hA.HandleJob("test.block", bj.handler("A"))
	if err := hA.Enqueue(ctx, "test.block", "thing-1", []byte(`{"n":1}`), clk.Now()); err != nil {
		t.Fatal(err)
	}
	ctxA, crashA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); hA.RunWorker(ctxA, "worker-A") }()
	<-bj.started
	// A crash: the process loses its database mid-job, so it can write
	// nothing more (no release of the lease), then its goroutines end.
	db1.Close()
	crashA()
	<-doneA
	hA.Close()

	// Process B starts on the same file. While A's lease is live the job is not claimable.
	db2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	js := listJobs(t, db2, "test.block")
	if len(js) != 1 || js[0].LeaseOwner != "worker-A" || js[0].LeaseUntil.Before(clk.Now().Add(jobLease-time.Second)) {
		t.Fatalf("after the crash: jobs %+v; want one still leased to worker-A for the lease time", js)
	}
	var early []*kvitt.Job
	if err := db2.Update(ctx, func(tx kvitt.Tx) (err error) {
		early, err = tx.ClaimJobs("probe", clk.Now().Add(jobLease/2), clk.Now().Add(jobLease), 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, j := range early {
		if j.Kind == "test.block" {
			t.Fatalf("the job was claimable while worker-A's lease was live: %+v", j)
		}
	}

	clk.Advance(jobLease + time.Second)
	hB := New(db2, testLogger())
	hB.Now = clk.Now
	hB.HandleJob("test.block", bj.handler("B"))
	stopB := startWorker(hB, "worker-B")
	select {
	case <-bj.done:
	case <-time.After(30 * time.Second): // a safety bound, not a timed assertion
		stopB()
		t.Fatal("worker B never ran the job")
	}
	stopB()
	hB.Close()

	bj.mu.Lock()
	defer bj.mu.Unlock()
	if bj.completed != 1 || bj.runs != 2 {
		t.Errorf("runs %d, completed %d; want 2 runs, 1 completion", bj.runs, bj.completed)
	}
	if len(bj.owners) != 2 || bj.owners[0] != "A" || bj.owners[1] != "B" {
		t.Errorf("run by %v, want [A B]", bj.owners)
	}
	if js := listJobs(t, db2, "test.block"); len(js) != 0 {
		t.Errorf("the completed job is still queued: %+v", js)
	}
}

func listJobs(t *testing.T, s kvitt.Store, kind string) []*kvitt.Job {
	t.Helper()
	var out []*kvitt.Job
	if err := s.View(ctx, func(tx kvitt.Tx) error {
		js, err := tx.ListJobs()
		for _, j := range js {
			if j.Kind == kind {
				out = append(out, j)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// A failing job is retried with backoff and its error kept; a job of an
// unknown kind is marked dead, not retried for ever.
func TestJobRetryAndDead(t *testing.T) {
	h, _, clk := newHub(t)
	calls := 0
	h.HandleJob("test.fail", func(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
		calls++
		return 0, kvitt.Errorf(kvitt.EUNAVAILABLE, "down")
	})
	h.Enqueue(ctx, "test.fail", "a", nil, clk.Now())
	h.Enqueue(ctx, "test.nohandler", "b", nil, clk.Now())
	var js []*kvitt.Job
	h.Store.Update(ctx, func(tx kvitt.Tx) (err error) {
		js, err = tx.ClaimJobs("w", clk.Now(), clk.Now().Add(jobLease), 10)
		return err
	})
	if len(js) != 2 {
		t.Fatalf("claimed %d jobs", len(js))
	}
	for _, j := range js {
		h.runJob(ctx, "w", j)
	}
	if calls != 1 {
		t.Fatalf("handler ran %d times", calls)
	}
	fail := jobsOf(t, h, "test.fail")
	if len(fail) != 1 || fail[0].Dead || fail[0].LastError == "" || !fail[0].RunAt.After(clk.Now()) || fail[0].LeaseOwner != "" {
		t.Errorf("failed job: %+v; want rescheduled later with its error, lease released", fail)
	}
	dead := jobsOf(t, h, "test.nohandler")
	if len(dead) != 1 || !dead[0].Dead {
		t.Errorf("job without handler: %+v; want dead", dead)
	}
}

// A graceful shutdown hands a running job back at once: the next process
// runs it without waiting for the lease to run out.
func TestGracefulShutdownReleasesJob(t *testing.T) {
	path := t.TempDir() + "/kvitt.db"
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &clock{}
	bj := &blockingJob{started: make(chan struct{}), done: make(chan struct{}, 1)}
	hA := New(db, testLogger())
	hA.Now = clk.Now
	hA.HandleJob("test.block", bj.handler("A"))
	if err := hA.Enqueue(ctx, "test.block", "thing-1", nil, clk.Now()); err != nil {
		t.Fatal(err)
	}
	ctxA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { defer close(doneA); hA.RunWorker(ctxA, "worker-A") }()
	<-bj.started
	stopA()
	<-doneA
	hA.Close()
	js := listJobs(t, db, "test.block")
	if len(js) != 1 || js[0].LeaseOwner != "" || js[0].RunAt.After(clk.Now()) || js[0].LastError != "interrupted by shutdown" {
		t.Fatalf("after a graceful shutdown: jobs %+v; want one released, due now", js)
	}
	hB := New(db, testLogger())
	hB.Now = clk.Now // the clock has not moved: no lease to wait out
	hB.HandleJob("test.block", bj.handler("B"))
	stopB := startWorker(hB, "worker-B")
	defer stopB()
	select {
	case <-bj.done:
	case <-time.After(30 * time.Second): // a safety bound, not a timed assertion
		t.Fatal("worker B never ran the released job")
	}
}
