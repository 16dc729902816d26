package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/sqlite"
)

// RawResult is the rate of bare durable commits SQLite reaches on a disk.
type RawResult struct {
	Commits  int
	Elapsed  time.Duration
	P50, P99 time.Duration // per commit (BEGIN IMMEDIATE, one INSERT, COMMIT)
}

// PerSecond is commits per second.
func (r RawResult) PerSecond() float64 { return float64(r.Commits) / r.Elapsed.Seconds() }

func (r RawResult) String() string {
	return fmt.Sprintf("raw commits=%d elapsed=%s commits/s=%.0f p50=%.3fms p99=%.3fms",
		r.Commits, r.Elapsed.Round(time.Millisecond), r.PerSecond(), float64(r.P50)/1e6, float64(r.P99)/1e6)
}

// RawDB is a database file for measuring the raw durable commit rate of
// SQLite, opened exactly as kvitt opens its own (sqlite.Open: the same
// modernc.org/sqlite driver, WAL, synchronous=FULL, busy_timeout,
// _txlock=immediate, one writer connection), with a table that takes one
// small INSERT per transaction.
type RawDB struct {
	dir string
	db  *sqlstore.DB
	seq int
}

// OpenRaw creates the file in a new directory under dir and makes warm
// commits first: a WAL that is still growing costs more per fsync (the file
// system journals the new size) than one that is reused after a checkpoint,
// as kvitt's own WAL is once it has been running a while.
func OpenRaw(ctx context.Context, dir string, warm int) (*RawDB, error) {
	d, err := os.MkdirTemp(dir, "raw-commits-")
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(d, "raw.db"))
	if err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	r := &RawDB{dir: d, db: db}
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, ref TEXT NOT NULL, at BIGINT NOT NULL)`); err != nil {
		r.Close()
		return nil, err
	}
	if warm > 0 {
		if _, err := r.Run(ctx, warm, 0); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close closes and removes the file.
func (r *RawDB) Close() error {
	err := r.db.Close()
	os.RemoveAll(r.dir)
	return err
}

// Run makes commits until n are made or d has passed, whichever comes first
// (0 = no bound; one of them must be set).
func (r *RawDB) Run(ctx context.Context, n int, d time.Duration) (RawResult, error) {
	if n <= 0 && d <= 0 {
		return RawResult{}, fmt.Errorf("raw commits: bound n or d")
	}
	db := r.db
	lat := make([]time.Duration, 0, max(n, 4096))
	start := time.Now()
	var deadline time.Time
	if d > 0 {
		deadline = start.Add(d)
	}
	for i := 0; n <= 0 || i < n; i++ {
		t0 := time.Now()
		if !deadline.IsZero() && t0.After(deadline) {
			break
		}
		r.seq++
		tx, err := db.Write.BeginTx(ctx, nil)
		if err != nil {
			return RawResult{}, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO bench_raw (ref, at) VALUES ($1, $2)`, fmt.Sprintf("pay_%026d", r.seq), t0.UnixMicro()); err != nil {
			tx.Rollback()
			return RawResult{}, err
		}
		if err := tx.Commit(); err != nil {
			return RawResult{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	res := RawResult{Commits: len(lat), Elapsed: time.Since(start)}
	res.P99 = Percentile(lat, 0.99)
	res.P50 = Percentile(lat, 0.5)
	return res, nil
}

// RawWarm is the number of warm-up commits RawCommits makes: enough for the
// WAL to reach its size and be checkpointed (wal_autocheckpoint = 1000 pages).
const RawWarm = 3000

// RawCommits measures the raw commit rate in a new warm file under dir (see
// RawDB), for n commits or d.
func RawCommits(ctx context.Context, dir string, n int, d time.Duration) (RawResult, error) {
	r, err := OpenRaw(ctx, dir, RawWarm)
	if err != nil {
		return RawResult{}, err
	}
	defer r.Close()
	return r.Run(ctx, n, d)
}
