package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kvitt-hub/kvitt/sqlite"
)

// Two nodes on one database key callback URLs with one secret, so a
// callback reaching either node is recognised; a data directory's secret
// from before is kept. Before, each node made its own in its data
// directory, and the other node's callbacks got 401.
func TestCallbackSecretIsShared(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kvitt.db")
	var secrets [][]byte
	for _, node := range []string{"a", "b"} {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), node)
		os.MkdirAll(dir, 0o700)
		s, err := callbackSecret(ctx, db, dir)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) < 32 {
			t.Fatalf("secret of %d bytes", len(s))
		}
		secrets = append(secrets, s)
	}
	if !bytes.Equal(secrets[0], secrets[1]) {
		t.Fatal("two nodes on one database have different callback secrets")
	}

	// An installation from before: its data directory's secret is taken over.
	dir := t.TempDir()
	legacy := bytes.Repeat([]byte("k"), 40)
	if err := os.WriteFile(filepath.Join(dir, "callback.secret"), legacy, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := callbackSecret(ctx, db, dir)
	if err != nil || !bytes.Equal(s, legacy) {
		t.Fatalf("secret %q %v, want the data directory's", s, err)
	}
}
