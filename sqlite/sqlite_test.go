package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) kvitt.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestDurableSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kvitt.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var sync, fk int
	db.Write.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	db.Write.QueryRow(`PRAGMA synchronous`).Scan(&sync)
	db.Write.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
	if mode != "wal" || sync != 2 || fk != 1 {
		t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d; want wal, 2 (FULL), 1", mode, sync, fk)
	}
	// Reopening runs no migration twice and keeps data.
	storetest.Seed(t, db)
	db.Close()
	db2, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.View(context.Background(), func(tx kvitt.Tx) error { _, err := tx.GetTill("1"); return err }); err != nil {
		t.Fatal(err)
	}
}

func TestJournalTamperDetected(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		db.Update(ctx, func(tx kvitt.Tx) error { return tx.AppendJournal(&kvitt.JournalEntry{Kind: "k", Ref: "r", Data: `{}`}) })
	}
	verify := func() error {
		var v kvitt.JournalVerifier
		return db.View(ctx, func(tx kvitt.Tx) error {
			es, err := tx.ListJournal(0, 100)
			if err != nil {
				return err
			}
			for _, e := range es {
				if err := v.Check(e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	for _, tamper := range []string{
		`UPDATE journal SET data = '{"x":1}' WHERE seq = 2`,
		`DELETE FROM journal WHERE seq = 3`,
		`UPDATE journal SET seq = seq + 10 WHERE seq = 1`,
	} {
		t.Run(tamper, func(t *testing.T) {
			tx, _ := db.Write.Begin()
			defer tx.Rollback()
			if _, err := tx.Exec(tamper); err != nil {
				t.Fatal(err)
			}
			var v kvitt.JournalVerifier
			rows, _ := tx.Query(`SELECT seq, at, kind, ref, data, prev_hash, hash FROM journal ORDER BY seq`)
			defer rows.Close()
			var failed error
			for rows.Next() {
				var e kvitt.JournalEntry
				var at int64
				rows.Scan(&e.Seq, &at, &e.Kind, &e.Ref, &e.Data, &e.PrevHash, &e.Hash)
				e.At = fromMicros(at)
				if err := v.Check(&e); err != nil && failed == nil {
					failed = err
				}
			}
			if failed == nil {
				t.Error("tampering not detected")
			}
		})
	}
}
