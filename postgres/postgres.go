// Package postgres is kvitt's store on PostgreSQL (13 or later; tested on
// 15), through pgx's database/sql driver. It runs the same SQL as the SQLite
// store (internal/sqlstore) with PostgreSQL's types and error codes, so
// several kvitt nodes can share one database: migrations are serialized by an
// advisory lock, job claims skip rows another node is claiming, and journal
// appends take a table lock so the hash chain stays one chain.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
)

// MaxConns is the size of the connection pool Open creates.
const MaxConns = 16

// Open connects to the database named by dsn (a URL such as
// "postgres://user:pass@host:5432/kvitt?sslmode=verify-full", or libpq
// "key=value" pairs), checks that it answers, and migrates it.
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(MaxConns)
	pool.SetMaxIdleConns(MaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &sqlstore.DB{Write: pool, Read: pool, Dialect: Dialect}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// Ping checks the database answers.
func Ping(ctx context.Context, db *sqlstore.DB) error { return db.Write.PingContext(ctx) }

// migrationLock is the key of the advisory lock that migrations hold
// ("kvitt" in ASCII), so two nodes starting at once migrate one after the other.
const migrationLock = 0x6b76697474

// Dialect is PostgreSQL's.
var Dialect = sqlstore.Dialect{
	Name:    "postgres",
	Replace: map[string]string{"{{BLOB}}": "BYTEA", "{{SERIAL}}": "BIGSERIAL PRIMARY KEY"},
	IsUniqueViolation: func(err error) bool {
		return pgCode(err) == "23505" // unique_violation
	},
	IsBusy: func(err error) bool {
		switch pgCode(err) {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
		return false
	},
	// Appends are serialized; readers (ACCESS SHARE) are not blocked.
	LockJournal: `LOCK TABLE journal IN EXCLUSIVE MODE`,
	// Released when the migration's transaction ends, even if the node dies.
	LockMigrations: fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, migrationLock),
	// A 64-bit hash of the name: two names sharing a hash only wait for
	// each other, which costs time, never correctness.
	LockKey: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
	// Concurrent claimers take disjoint jobs instead of queuing on each other's rows.
	ClaimLock: `FOR UPDATE SKIP LOCKED`,
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
