package storetest

import (
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testUsers: users are unique by username, read back whole, changed by
// compare-and-set; sessions expire and are deleted per user.
func testUsers(t *testing.T, s kvitt.Store) {
	u := &kvitt.User{ID: "usr_1", Username: "kassa1", Name: "Kim Kassa", Role: kvitt.RoleCashier, Tills: []string{"1", "2"}, PasswordHash: "$argon2id$x"}
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateUser(u) })
	dup := &kvitt.User{ID: "usr_2", Username: "kassa1", Role: kvitt.RoleAdmin}
	if err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateUser(dup) }); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("duplicate username: %v", err)
	}
	var got *kvitt.User
	update(t, s, func(tx kvitt.Tx) (err error) { got, err = tx.GetUserByUsername("kassa1"); return err })
	if got.ID != u.ID || got.Role != kvitt.RoleCashier || len(got.Tills) != 2 || got.Tills[1] != "2" || got.PasswordHash != u.PasswordHash || got.Version != 1 {
		t.Fatalf("read back %+v", got)
	}
	stale := *got
	got.FailedLogins, got.LockedUntil = 5, time.Now().Add(time.Hour).Truncate(time.Microsecond)
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateUser(got) })
	stale.FailedLogins = 1
	if err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdateUser(&stale) }); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Fatalf("stale update: %v", err)
	}
	update(t, s, func(tx kvitt.Tx) (err error) { got, err = tx.GetUser("usr_1"); return err })
	if got.FailedLogins != 5 || got.LockedUntil.IsZero() {
		t.Fatalf("the stale update won: %+v", got)
	}
	now := time.Now()
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.CreateSession(&kvitt.Session{ID: "a", UserID: "usr_1", CSRF: "c", Expires: now.Add(time.Hour)}); err != nil {
			return err
		}
		return tx.CreateSession(&kvitt.Session{ID: "b", UserID: "usr_1", CSRF: "c", Expires: now.Add(-time.Second)})
	})
	view := func(id string) error {
		return s.View(ctx, func(tx kvitt.Tx) error { _, err := tx.GetSession(id, now); return err })
	}
	if err := view("a"); err != nil {
		t.Fatal(err)
	}
	if err := view("b"); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Fatalf("expired session: %v", err)
	}
	update(t, s, func(tx kvitt.Tx) error { return tx.DeleteUserSessions("usr_1") })
	if err := view("a"); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Fatalf("signed out everywhere, yet: %v", err)
	}
}
