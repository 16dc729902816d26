package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/sqlite"
)

// Group commit: write transactions queued for the one writer share a
// commit, each in its own savepoint. Each must keep the semantics of a
// transaction of its own: a failing or panicking one leaves no trace and
// takes none of the others with it, and an Update returns only once its
// writes are committed.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	// Hold the writer, so that everything below queues behind it and runs
	// as one group once it is let go.
	db, release, first := heldWriter(t)
	commits0, _ := db.GroupStats()

	const n = 30
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make([]any, n)
	boom := errors.New("boom")
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = db.Update(ctx, func(tx kvitt.Tx) error {
				if err := tx.PutSetting(fmt.Sprintf("k%d", i), "v"); err != nil {
					return err
				}
				switch i % 5 {
				case 1: // fails after writing: its write must not stay
					return boom
				case 2: // panics after writing: the same, and its caller panics
					panic(fmt.Sprintf("panic %d", i))
				case 3: // sees the writes of those before it in its group, as after their commit
					if _, err := tx.GetSetting("first"); err != nil {
						return fmt.Errorf("the first transaction's write is not visible: %w", err)
					}
				}
				return nil
			})
		}()
	}
	// Let them all queue, then free the writer.
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var want error
		switch i % 5 {
		case 1:
			want = boom
		case 2:
			if panics[i] != fmt.Sprintf("panic %d", i) {
				t.Errorf("k%d: recovered %v, want its own panic", i, panics[i])
			}
			continue
		}
		if !errors.Is(errs[i], want) || panics[i] != nil {
			t.Errorf("k%d: err %v, panic %v; want %v", i, errs[i], panics[i], want)
		}
	}
	// What is stored: exactly the writes of the transactions that succeeded.
	err := db.View(ctx, func(tx kvitt.Tx) error {
		for i := range n {
			_, err := tx.GetSetting(fmt.Sprintf("k%d", i))
			stored := err == nil
			if err != nil && kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
				return err
			}
			if want := i%5 != 1 && i%5 != 2; stored != want {
				t.Errorf("k%d stored %v, want %v", i, stored, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// They did share commits: far fewer than one per transaction.
	commits, _ := db.GroupStats()
	if c := commits - commits0; c < 1 || c > 4 {
		t.Errorf("%d commits for the %d queued transactions (and the first), want them grouped into a few", c, n)
	}
}

// A caller whose context ends while its transaction is queued gets the
// context's error, and its function never runs.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	ctx := context.Background()
	db, release, first := heldWriter(t)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	ran := false
	err := db.Update(cctx, func(tx kvitt.Tx) error {
		ran = true
		return tx.PutSetting("cancelled", "1")
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled while queued: %v, want the context's error", err)
	}
	// The queue still works after the cancelled one left it.
	after := make(chan error, 1)
	go func() { after <- db.Update(ctx, func(tx kvitt.Tx) error { return tx.PutSetting("after", "1") }) }()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-after:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a transaction queued after a cancelled one never ran: the group commit lost its leader")
	}
	if ran {
		t.Error("the cancelled transaction's function ran")
	}
	db.View(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetSetting("cancelled"); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
			t.Errorf("the cancelled transaction's write: %v, want none", err)
		}
		return nil
	})
}

// heldWriter opens a store whose one writer is held by a transaction (it
// writes the setting "first") until release is closed; first then gets
// its outcome.
func heldWriter(t *testing.T) (db *sqlstore.DB, release chan struct{}, first chan error) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	release, first = make(chan struct{}), make(chan error, 1)
	holding := make(chan struct{})
	go func() {
		first <- db.Update(ctx, func(tx kvitt.Tx) error {
			close(holding)
			<-release
			return tx.PutSetting("first", "1")
		})
	}()
	<-holding
	return db, release, first
}
