package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/http/ui"
)

// ui returns the screens: sign-in, the till, the customer display, the back
// office, the older display pages, and in the sandbox the simulated card
// terminal's screen. whoIs is the API server's session check (set once the
// server exists).
func (m *Main) ui(whoIs func(r *http.Request) (kvitthttp.Principal, bool)) http.Handler {
	var terminal http.Handler
	if m.sandbox != nil {
		terminal = m.sandbox.terminalUI
	}
	return ui.Handler(ui.Options{Terminal: terminal, Sandbox: m.sandbox != nil, WhoIs: whoIs})
}

// demoUser is the sandbox's staff user: an admin, made at the first start
// with a random password kept in the data directory (demo-user.txt, 0600)
// so that every sandbox start can print it with the URL.
const demoUser = "demo"

func (m *Main) ensureDemoUser(ctx context.Context) (password string, err error) {
	path := filepath.Join(m.Config.Data, "demo-user.txt")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var users []*kvitt.User
	if err := m.db.View(ctx, func(tx kvitt.Tx) (err error) { users, err = tx.ListUsers(); return err }); err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Username == demoUser {
			return "", nil // made earlier, its password file removed: not shown again
		}
	}
	password = strings.ToLower(kvitt.RandomToken(10))
	u := &kvitt.User{ID: kvitt.NewID("usr"), Username: demoUser, Name: "Demo", Role: kvitt.RoleAdmin, PasswordHash: kvitt.HashPassword(password)}
	if err := u.Validate(); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo user: %w", err)
	}
	if err := m.db.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateUser(u) }); err != nil {
		os.Remove(path)
		return "", err
	}
	return password, nil
}
