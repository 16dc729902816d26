package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/postgres"
	"github.com/kvitt-hub/kvitt/postgres/pgtest"
	"github.com/kvitt-hub/kvitt/storetest"
)

var ctx = context.Background()

func serverDSN(t *testing.T) string { return pgtest.ServerDSN(t) }

func freshDatabase(t *testing.T) string { return pgtest.FreshDatabase(t) }

func withDatabase(t *testing.T, dsn, name string) string { return pgtest.WithDatabase(t, dsn, name) }

func open(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	serverDSN(t)
	storetest.Run(t, func(t *testing.T) kvitt.Store { return open(t, freshDatabase(t)) })
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5432/postgres?sslmode=disable": "postgres://u:p@h:5432/x?sslmode=disable",
		"postgresql://h/":               "postgresql://h/x",
		"host=h user=u dbname=postgres": "host=h user=u dbname=postgres dbname=x",
	} {
		if got := withDatabase(t, in, "x"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}

// Nodes starting at once against an empty database migrate it once, without
// failing on each other's half-made tables.
func TestConcurrentMigrations(t *testing.T) {
	dsn := freshDatabase(t)
	const nodes = 6
	dbs := make([]*sqlstore.DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		} else {
			dbs[i].Close()
		}
	}
	db := open(t, dsn) // and again, on a migrated database
	files, _ := sqlstore.MigrationNames()
	var n int
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) || n == 0 {
		t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, len(files))
	}
}

// Two nodes, each with several workers, claim a queue of jobs at once: every
// job goes to exactly one owner. Run with the dialect as shipped (FOR UPDATE
// SKIP LOCKED) and without its claim lock, where only the re-checked lease
// condition stands between two claimers.
func TestConcurrentClaimJobs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		claimLock string
	}{{"SkipLocked", postgres.Dialect.ClaimLock}, {"RecheckOnly", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := freshDatabase(t)
			nodes := []*sqlstore.DB{open(t, dsn), open(t, dsn)}
			for _, db := range nodes {
				db.Dialect.ClaimLock = tc.claimLock
			}
			const jobs = 300
			now := time.Now()
			err := nodes[0].Update(ctx, func(tx kvitt.Tx) error {
				for i := range jobs {
					if err := tx.EnqueueJob(&kvitt.Job{Kind: "payment.sync", Ref: fmt.Sprint("pay_", i), RunAt: now.Add(-time.Second)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			owners := map[int64][]string{}
			var wg sync.WaitGroup
			for n, db := range nodes {
				for w := range 4 {
					owner := fmt.Sprintf("node%d/w%d", n, w)
					wg.Go(func() {
						for {
							var got []*kvitt.Job
							err := db.Update(ctx, func(tx kvitt.Tx) (err error) {
								got, err = tx.ClaimJobs(owner, time.Now(), time.Now().Add(time.Hour), 7)
								return err
							})
							if err != nil {
								t.Errorf("%s: %v", owner, err)
								return
							}
							if len(got) == 0 {
								return
							}
							mu.Lock()
							for _, j := range got {
								owners[j.ID] = append(owners[j.ID], owner)
								if j.LeaseOwner != owner || j.Attempts != 1 {
									t.Errorf("job %d claimed by %s: owner %q, attempts %d", j.ID, owner, j.LeaseOwner, j.Attempts)
								}
							}
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			if len(owners) != jobs {
				t.Errorf("%d jobs claimed, want %d", len(owners), jobs)
			}
			perOwner := map[string]int{}
			for id, os := range owners {
				if len(os) != 1 {
					t.Errorf("job %d handed to %v", id, os)
				}
				perOwner[os[0]]++
			}
			t.Logf("jobs per owner: %v", perOwner)
			// What is stored agrees.
			nodes[1].View(ctx, func(tx kvitt.Tx) error {
				all, err := tx.ListJobs()
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range all {
					if os := owners[j.ID]; len(os) != 1 || j.LeaseOwner != os[0] || j.Attempts != 1 {
						t.Errorf("stored job %d: owner %q attempts %d; claimed by %v", j.ID, j.LeaseOwner, j.Attempts, owners[j.ID])
					}
				}
				return nil
			})
		})
	}
}

// Two nodes append to the journal at once: the entries form one unbroken
// chain, 1…n, each linked to the one before.
func TestConcurrentAppendJournal(t *testing.T) {
	dsn := freshDatabase(t)
	nodes := []*sqlstore.DB{open(t, dsn), open(t, dsn)}
	const workers, each = 4, 20
	var wg sync.WaitGroup
	for n, db := range nodes {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					err := db.Update(ctx, func(tx kvitt.Tx) error {
						// Some transactions append two entries.
						for k := range 1 + i%2 {
							if err := tx.AppendJournal(&kvitt.JournalEntry{Kind: "payment.state", Ref: fmt.Sprintf("n%d/w%d/%d/%d", n, w, i, k), Data: `{"to":"paid"}`}); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := len(nodes) * workers * (each + each/2)
	nodes[0].View(ctx, func(tx kvitt.Tx) error {
		es, err := tx.ListJournal(0, 10*want)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != want {
			t.Errorf("journal has %d entries, want %d", len(es), want)
		}
		var v kvitt.JournalVerifier
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
			if err := v.Check(e); err != nil {
				t.Fatalf("chain broken at %d: %v", e.Seq, err)
			}
		}
		return nil
	})
}

// Values at the edges of their types survive the round trip: BYTEA with
// every byte value, BIGINT at its limits, INTEGER columns scanned into int.
func TestRoundTrip(t *testing.T) {
	db := open(t, freshDatabase(t))
	storetest.Seed(t, db)
	blob := make([]byte, 256)
	for i := range blob {
		blob[i] = byte(i)
	}
	err := db.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.CreateAPIKey(&kvitt.APIKey{ID: "key_1", Hash: blob, Scope: kvitt.ScopeAdmin}); err != nil {
			return err
		}
		if err := tx.PutIdempotency(&kvitt.IdempotencyRecord{Key: "k", RequestHash: "h", Status: 409, Body: blob}); err != nil {
			return err
		}
		if err := tx.EnqueueJob(&kvitt.Job{Kind: "k", Ref: "r", Payload: blob, RunAt: time.Now()}); err != nil {
			return err
		}
		s := &kvitt.Sale{ID: "sale_1", MerchantID: "m1", TillID: "1", Currency: kvitt.SEK, State: kvitt.SaleOpen, Total: math.MaxInt64}
		if err := tx.CreateSale(s); err != nil {
			return err
		}
		return tx.CreatePayment(&kvitt.Payment{ID: "pay_1", SaleID: "sale_1", TillID: "1", Method: "cash", Amount: math.MaxInt64, Refunded: math.MinInt64, Currency: kvitt.SEK, State: kvitt.PaymentPaid})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx kvitt.Tx) error {
		k, err := tx.GetAPIKey("key_1")
		if err != nil || !bytes.Equal(k.Hash, blob) {
			t.Errorf("api key hash = %x, %v", k.Hash, err)
		}
		r, err := tx.GetIdempotency("k")
		if err != nil || !bytes.Equal(r.Body, blob) || r.Status != 409 {
			t.Errorf("idempotency = %+v, %v", r, err)
		}
		js, err := tx.ListJobs()
		if err != nil || len(js) != 1 || !bytes.Equal(js[0].Payload, blob) || js[0].ID <= 0 {
			t.Errorf("jobs = %+v, %v", js, err)
		}
		s, err := tx.GetSale("sale_1")
		if err != nil || s.Total != math.MaxInt64 {
			t.Errorf("sale = %+v, %v", s, err)
		}
		p, err := tx.GetPayment("pay_1")
		if err != nil || p.Amount != math.MaxInt64 || p.Refunded != math.MinInt64 {
			t.Errorf("payment = %+v, %v", p, err)
		}
		return nil
	})
}

// The dialect classifies the server's own errors.
func TestDialectErrors(t *testing.T) {
	db := open(t, freshDatabase(t))
	_, err := db.Write.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied) VALUES ('migrations/001_init.sql', 0)`)
	if !postgres.Dialect.IsUniqueViolation(err) {
		t.Errorf("duplicate key: IsUniqueViolation(%v) = false", err)
	}
	if postgres.Dialect.IsBusy(err) {
		t.Errorf("duplicate key: IsBusy(%v) = true", err)
	}
	// A serialization failure: two serializable transactions that each read what the other writes.
	tx1, _ := db.Write.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	defer tx1.Rollback()
	tx2, _ := db.Write.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	defer tx2.Rollback()
	var n int
	tx1.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal`).Scan(&n)
	tx2.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal`).Scan(&n)
	_, err1 := tx1.ExecContext(ctx, `INSERT INTO journal (seq, at, kind, ref, data, prev_hash, hash) VALUES (1, 0, 'k', 'r', '', '', '')`)
	if err1 == nil {
		err1 = tx1.Commit()
	}
	// The server may refuse the second transaction at its insert or at its commit.
	_, err2 := tx2.ExecContext(ctx, `INSERT INTO journal (seq, at, kind, ref, data, prev_hash, hash) VALUES (2, 0, 'k', 'r', '', '', '')`)
	if err2 == nil {
		err2 = tx2.Commit()
	}
	if err1 != nil || !postgres.Dialect.IsBusy(err2) {
		t.Errorf("serialization failure: first = %v, second = %v (IsBusy %v)", err1, err2, postgres.Dialect.IsBusy(err2))
	}
}
