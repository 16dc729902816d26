// Package pgtest gives tests a PostgreSQL database: KVITT_TEST_POSTGRES names
// the server (make test starts one); each test gets a fresh database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

var ctx = context.Background()

// ServerDSN returns the DSN of the test server from KVITT_TEST_POSTGRES. A
// run without one is skipped on a developer's machine and fails in CI, so CI
// can never pass without testing PostgreSQL.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("KVITT_TEST_POSTGRES")
	if dsn != "" {
		return dsn
	}
	const how = "KVITT_TEST_POSTGRES is not set. Run `make test`, which starts a throw-away PostgreSQL 15 server, " +
		"or `scripts/pg-test-server.sh go test ./postgres/`, or set KVITT_TEST_POSTGRES to the DSN of a server where this user may create databases " +
		"(e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)"
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but " + how)
	}
	t.Skip("PostgreSQL tests skipped: " + how)
	return ""
}

// FreshDatabase creates an empty database for one test, dropped when the
// test ends, and returns its DSN.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	dsn := ServerDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("KVITT_TEST_POSTGRES: %v", err)
	}
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	name := "kvitt_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return WithDatabase(t, dsn, name)
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(t testing.TB, dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("KVITT_TEST_POSTGRES: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // key=value form: the last setting wins
}
