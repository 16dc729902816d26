package hub

import (
	"context"

	"github.com/kvitt-hub/kvitt"
)

// update runs fn in one write transaction of the store (Store.Update).
// What fn hands to afterCommit runs once that transaction is committed:
// never for an attempt the store rolled back and ran again (a busy
// database, a serialization failure), nor for one that failed. Counters and
// other effects outside the database belong there, so that each counts
// what was stored, once.
func (h *Hub) update(ctx context.Context, fn func(kvitt.Tx) error) error {
	var after []func()
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		after = after[:0] // an attempt run again starts afresh
		return fn(&commitTx{Tx: tx, after: &after})
	})
	if err == nil {
		for _, f := range after {
			f()
		}
	}
	return err
}

// commitTx is a transaction opened by Hub.update: it keeps what is to run
// after its commit.
type commitTx struct {
	kvitt.Tx
	after *[]func()
}

// afterCommit runs f once tx is committed; in a transaction not opened by
// Hub.update, at once.
func afterCommit(tx kvitt.Tx, f func()) {
	if ct, ok := tx.(*commitTx); ok {
		*ct.after = append(*ct.after, f)
		return
	}
	f()
}
