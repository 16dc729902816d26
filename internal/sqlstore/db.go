// Package sqlstore implements kvitt.Store over database/sql with SQL that
// both SQLite and PostgreSQL run. The sqlite and postgres packages open it
// with their driver and dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect holds what differs between the databases.
type Dialect struct {
	Name string
	// Replace maps schema placeholders ({{BLOB}}, {{SERIAL}}) to types.
	Replace map[string]string
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(err error) bool
	// IsBusy reports whether err is a lock/serialization failure worth retrying.
	IsBusy func(err error) bool
	// CacheStatements keeps each query prepared per connection (SQLite's
	// driver parses every statement anew otherwise; pgx caches by itself).
	CacheStatements bool
	// LockJournal is run before reading the journal's head in a write transaction ("" = none needed).
	LockJournal string
	// LockMigrations is run first in every migration transaction, so that
	// nodes starting at once migrate one after the other ("" = the
	// database's write lock already serializes them).
	LockMigrations string
	// LockKey takes a transaction-scoped exclusive lock on the name in $1
	// ("" = the database's single writer already serializes write transactions).
	LockKey string
	// ClaimLock is appended to the SELECT that picks due jobs in ClaimJobs,
	// e.g. "FOR UPDATE SKIP LOCKED" ("" = none).
	ClaimLock string
	// GroupCommit runs the write transactions queued for the single writer
	// together, each in a savepoint, under one commit (group.go).
	GroupCommit bool
}

// DB is a kvitt.Store. Writes go through Write (for SQLite a single
// connection, so writers queue in Go instead of spinning on the file lock);
// reads go through Read.
type DB struct {
	Write, Read *sql.DB
	Dialect     Dialect
	// Now is the clock; tests replace it.
	Now func() time.Time

	stmts sync.Map // stmtKey → *sql.Stmt: each query is parsed once per connection
	want  sync.Map // stmtKey → true: to prepare
	group grouper  // with Dialect.GroupCommit
}

type stmtKey struct {
	pool *sql.DB
	q    string
}

// stmt returns the pool's prepared statement for q, if it has one. A query
// seen for the first time runs unprepared and is prepared after the
// transaction (preparing inside it would wait for the one writer connection
// the transaction holds).
func (db *DB) stmt(pool *sql.DB, q string) *sql.Stmt {
	if !db.Dialect.CacheStatements {
		return nil
	}
	k := stmtKey{pool, q}
	if s, ok := db.stmts.Load(k); ok {
		return s.(*sql.Stmt)
	}
	db.want.Store(k, true)
	return nil
}

// prepareWanted prepares the queries seen since the last call; it runs with no transaction open.
func (db *DB) prepareWanted(ctx context.Context) {
	db.want.Range(func(k, _ any) bool {
		db.want.Delete(k)
		sk := k.(stmtKey)
		if _, ok := db.stmts.Load(sk); ok {
			return true
		}
		if s, err := sk.pool.PrepareContext(ctx, sk.q); err == nil {
			if _, loaded := db.stmts.LoadOrStore(sk, s); loaded {
				s.Close()
			}
		}
		return true
	})
}

var _ kvitt.Store = (*DB)(nil)

// Migrate runs the embedded migrations not yet applied, each in its own transaction.
func (db *DB) Migrate(ctx context.Context) error {
	err := db.inMigrationTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := MigrationNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := db.inMigrationTx(ctx, func(tx *sql.Tx) error { return db.migrate(ctx, tx, name) }); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// MigrationNames lists the embedded migrations in the order they run.
func MigrationNames() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	return names, err
}

// inMigrationTx runs fn in a write transaction that holds the migration lock.
func (db *DB) inMigrationTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.Dialect.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, db.Dialect.LockMigrations); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (db *DB) migrate(ctx context.Context, tx *sql.Tx, name string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	b, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	q := stripComments(string(b))
	for k, v := range db.Dialect.Replace {
		q = strings.ReplaceAll(q, k, v)
	}
	for _, stmt := range strings.Split(q, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w in %s", err, strings.TrimSpace(stmt))
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied) VALUES ($1, $2)`, name, db.now().UnixMicro())
	return err
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// now is the clock at the precision times are stored with (microseconds,
// UTC), so an object reads back exactly as it was returned when created.
func (db *DB) now() time.Time {
	t := time.Now()
	if db.Now != nil {
		t = db.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(kvitt.Tx) error) error {
	sqltx, err := db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	err = fn(&tx{ctx: ctx, tx: sqltx, db: db, pool: db.Read, readOnly: true})
	sqltx.Rollback()
	db.prepareWanted(ctx)
	return err
}

// Update runs fn in one durable read-write transaction. A lock or
// serialization failure of the database (not of fn's logic) is retried a few
// times with the whole function.
func (db *DB) Update(ctx context.Context, fn func(kvitt.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.update(ctx, fn)
		db.prepareWanted(ctx)
		if err == nil || attempt >= 4 || db.Dialect.IsBusy == nil || !db.Dialect.IsBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

func (db *DB) update(ctx context.Context, fn func(kvitt.Tx) error) error {
	if db.Dialect.GroupCommit {
		return db.updateGrouped(ctx, fn)
	}
	sqltx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqltx.Rollback()
	if err := fn(&tx{ctx: ctx, tx: sqltx, db: db, pool: db.Write}); err != nil {
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	db.stmts.Range(func(k, v any) bool { v.(*sql.Stmt).Close(); return true })
	err := db.Write.Close()
	if db.Read != db.Write {
		if e := db.Read.Close(); err == nil {
			err = e
		}
	}
	return err
}

// tx implements kvitt.Tx.
type tx struct {
	ctx      context.Context
	tx       *sql.Tx
	db       *DB
	pool     *sql.DB
	readOnly bool
}

var errReadOnly = kvitt.Errorf(kvitt.EINTERNAL, "write in a read-only transaction")

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	if t.readOnly {
		return nil, errReadOnly
	}
	if st := t.db.stmt(t.pool, q); st != nil {
		return t.tx.StmtContext(t.ctx, st).ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	if st := t.db.stmt(t.pool, q); st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

func (t *tx) row(q string, args ...any) *sql.Row {
	if st := t.db.stmt(t.pool, q); st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

// Lock takes the named lock until the transaction ends (see kvitt.Tx).
func (t *tx) Lock(key string) error {
	if t.readOnly {
		return errReadOnly
	}
	if t.db.Dialect.LockKey == "" {
		return nil
	}
	if _, err := t.exec(t.db.Dialect.LockKey, key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	return nil
}

// insert runs an INSERT and turns a unique violation into ECONFLICT.
func (t *tx) insert(what, q string, args ...any) error {
	_, err := t.exec(q, args...)
	if err != nil && t.db.Dialect.IsUniqueViolation(err) {
		return kvitt.Errorf(kvitt.ECONFLICT, "%s already exists", what)
	}
	if err != nil {
		return fmt.Errorf("insert %s: %w", what, err)
	}
	return nil
}

// casUpdate runs an UPDATE … WHERE id = ? AND version = ? and reports ECONFLICT when no row matched.
func (t *tx) casUpdate(what, q string, args ...any) error {
	res, err := t.exec(q, args...)
	if err != nil {
		return fmt.Errorf("update %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return kvitt.Errorf(kvitt.ECONFLICT, "%s was changed concurrently", what)
	}
	return nil
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return kvitt.Errorf(kvitt.ENOTFOUND, format, args...)
	}
	return err
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// nullable stores "" as NULL, for UNIQUE columns that are optional.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanAll runs a query and scans every row with scan.
func scanAll[T any](t *tx, scan func(interface{ Scan(...any) error }) (*T, error), q string, args ...any) ([]*T, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
