package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kvitt-hub/kvitt"
)

// Group commit (SQLite). SQLite has one writer, so write transactions queue
// for it anyway. Instead of one durable commit each, the transactions that
// are queued when the writer frees up run together in one database
// transaction, each inside its own savepoint, and share one commit: one
// fsync, and index and journal pages that several of them touch are
// written to the WAL once. Each function still sees exactly the semantics
// of a transaction of its own:
//
//   - it runs after the functions before it in the group and sees their
//     writes, as it would had they committed just before it;
//   - if it returns an error (or panics), its writes are rolled back to its
//     savepoint and the others are not affected;
//   - its Update returns only after the group's commit, with the commit's
//     error if that fails (then nothing of the group is stored).
//
// Nothing waits for a group to fill: a group is what is already queued, so
// a lone writer commits as soon as it would have alone.

// maxGroup bounds the functions of one commit, so that a long queue still
// commits (and answers) in steps.
const maxGroup = 64

type groupReq struct {
	ctx  context.Context
	fn   func(kvitt.Tx) error
	done chan groupResult // buffered: the leader never blocks on it
	lead chan struct{}    // buffered: a token making this request the leader
}

type groupResult struct {
	err      error
	panicked bool
	panicVal any
}

type grouper struct {
	mu    sync.Mutex
	queue []*groupReq
	busy  bool // a leader is running (or about to run) a group

	commits, functions atomic.Uint64 // group commits made, functions they held
}

// GroupStats returns how many durable commits the group commit made and how
// many write transactions (Update calls whose function succeeded) they held.
func (db *DB) GroupStats() (commits, functions uint64) {
	return db.group.commits.Load(), db.group.functions.Load()
}

// updateGrouped runs fn in the next group commit. The request that finds no
// leader becomes it; a leader runs one group and hands over to the first
// request still queued, so that no caller waits for more than the groups
// queued before its own.
func (db *DB) updateGrouped(ctx context.Context, fn func(kvitt.Tx) error) error {
	g := &db.group
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan groupResult, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if !g.busy {
		g.busy = true
		r.lead <- struct{}{}
	}
	g.mu.Unlock()

	select {
	case res := <-r.done:
		return res.unwrap()
	case <-r.lead:
		return db.leadGroup(r)
	case <-ctx.Done():
	}
	// Cancelled while queued: leave the queue if the request is still in
	// it (then its function never runs); if a leader already took it, its
	// outcome decides and is waited for.
	g.mu.Lock()
	for i, q := range g.queue {
		if q != r {
			continue
		}
		g.queue = append(g.queue[:i], g.queue[i+1:]...)
		select {
		case <-r.lead: // it was made the leader meanwhile: pass that on
			g.passLead()
		default:
		}
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Unlock()
	select {
	case res := <-r.done:
		return res.unwrap()
	case <-r.lead:
		return db.leadGroup(r)
	}
}

// passLead makes the first queued request the leader, or marks the grouper
// idle. g.mu is held.
func (g *grouper) passLead() {
	if len(g.queue) == 0 {
		g.busy = false
		return
	}
	g.queue[0].lead <- struct{}{}
}

// leadGroup takes the queue's head (r first) as a group, runs and commits
// it, hands leadership on, and returns r's own outcome.
func (db *DB) leadGroup(r *groupReq) error {
	g := &db.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	group := make([]*groupReq, n)
	copy(group, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	db.runGroup(group)

	g.mu.Lock()
	g.passLead()
	g.mu.Unlock()
	return (<-r.done).unwrap()
}

// runGroup runs the group's functions in one transaction and commits it,
// then tells each its outcome.
func (db *DB) runGroup(group []*groupReq) {
	results := make([]groupResult, len(group))
	finish := func() {
		for i, r := range group {
			r.done <- results[i]
		}
	}
	defer finish()
	failAll := func(err error) {
		for i := range results {
			if results[i].err == nil && !results[i].panicked {
				results[i].err = err
			}
		}
	}
	// The transaction is the group's, not one caller's: a caller whose
	// context ends fails only its own statements.
	sqltx, err := db.Write.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(fmt.Errorf("begin: %w", err))
		return
	}
	defer sqltx.Rollback()
	alone := len(group) == 1
	committed := 0 // functions that returned nil
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if !alone {
			if _, err := db.execIn(sqltx, "SAVEPOINT kvitt_group"); err != nil {
				results[i].err = fmt.Errorf("savepoint: %w", err)
				failAll(results[i].err)
				return
			}
		}
		results[i] = runOne(r.fn, &tx{ctx: r.ctx, tx: sqltx, db: db, pool: db.Write})
		if results[i].err == nil && !results[i].panicked {
			committed++
			if !alone {
				if _, err := db.execIn(sqltx, "RELEASE kvitt_group"); err != nil {
					failAll(fmt.Errorf("release savepoint: %w", err))
					return
				}
			}
			continue
		}
		if alone {
			return // the deferred rollback undoes it
		}
		if _, err := db.execIn(sqltx, "ROLLBACK TO kvitt_group"); err != nil {
			failAll(fmt.Errorf("rollback to savepoint: %w", err))
			return
		}
		if _, err := db.execIn(sqltx, "RELEASE kvitt_group"); err != nil {
			failAll(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if committed == 0 {
		return
	}
	if err := sqltx.Commit(); err != nil {
		failAll(fmt.Errorf("commit: %w", err))
		return
	}
	db.group.commits.Add(1)
	db.group.functions.Add(uint64(committed))
}

// execIn runs q in the group's transaction, prepared once per connection.
func (db *DB) execIn(sqltx *sql.Tx, q string) (sql.Result, error) {
	if st := db.stmt(db.Write, q); st != nil {
		return sqltx.Stmt(st).Exec()
	}
	return sqltx.Exec(q)
}

// runOne runs fn, turning a panic into a result that its caller re-panics with.
func runOne(fn func(kvitt.Tx) error, t *tx) (res groupResult) {
	defer func() {
		if v := recover(); v != nil {
			res = groupResult{panicked: true, panicVal: v}
		}
	}()
	return groupResult{err: fn(t)}
}

func (r groupResult) unwrap() error {
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}
