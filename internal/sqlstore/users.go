package sqlstore

import (
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Staff users and sessions.

const userCols = `id, username, name, role, tills, password_hash, failed_logins, locked_until, disabled, created, version`

func scanUser(sc interface{ Scan(...any) error }) (*kvitt.User, error) {
	var u kvitt.User
	var role, tills string
	var locked, created, disabled int64
	if err := sc.Scan(&u.ID, &u.Username, &u.Name, &role, &tills, &u.PasswordHash, &u.FailedLogins, &locked, &disabled, &created, &u.Version); err != nil {
		return nil, err
	}
	u.Role, u.Disabled = kvitt.Role(role), disabled != 0
	u.LockedUntil, u.Created = fromMicros(locked), fromMicros(created)
	if err := fromJSON(tills, &u.Tills); err != nil {
		return nil, err
	}
	return &u, nil
}

func (t *tx) CreateUser(u *kvitt.User) error {
	if u.Created.IsZero() {
		u.Created = t.db.now()
	}
	u.Version = 1
	return t.insert("user "+u.Username, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		u.ID, u.Username, u.Name, string(u.Role), toJSON(u.Tills), u.PasswordHash, u.FailedLogins, micros(u.LockedUntil), b2i(u.Disabled), micros(u.Created), u.Version)
}

func (t *tx) GetUser(id string) (*kvitt.User, error) {
	u, err := scanUser(t.row(`SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "user not found")
	}
	return u, nil
}

func (t *tx) GetUserByUsername(username string) (*kvitt.User, error) {
	u, err := scanUser(t.row(`SELECT `+userCols+` FROM users WHERE username = $1`, username))
	if err != nil {
		return nil, notFound(err, "user not found")
	}
	return u, nil
}

func (t *tx) ListUsers() ([]*kvitt.User, error) {
	return scanAll(t, scanUser, `SELECT `+userCols+` FROM users ORDER BY username`)
}

func (t *tx) UpdateUser(u *kvitt.User) error {
	err := t.casUpdate("user "+u.Username, `UPDATE users SET name=$3, role=$4, tills=$5, password_hash=$6, failed_logins=$7, locked_until=$8, disabled=$9, version=version+1 WHERE id=$1 AND version=$2`,
		u.ID, u.Version, u.Name, string(u.Role), toJSON(u.Tills), u.PasswordHash, u.FailedLogins, micros(u.LockedUntil), b2i(u.Disabled))
	if err == nil {
		u.Version++
	}
	return err
}

func (t *tx) CreateSession(s *kvitt.Session) error {
	if s.Created.IsZero() {
		s.Created = t.db.now()
	}
	return t.insert("session", `INSERT INTO sessions (id, user_id, csrf, created, expires) VALUES ($1,$2,$3,$4,$5)`,
		s.ID, s.UserID, s.CSRF, micros(s.Created), micros(s.Expires))
}

func (t *tx) GetSession(id string, now time.Time) (*kvitt.Session, error) {
	var s kvitt.Session
	var created, expires int64
	err := t.row(`SELECT id, user_id, csrf, created, expires FROM sessions WHERE id = $1 AND expires > $2`, id, micros(now)).
		Scan(&s.ID, &s.UserID, &s.CSRF, &created, &expires)
	if err != nil {
		return nil, notFound(err, "session not found")
	}
	s.Created, s.Expires = fromMicros(created), fromMicros(expires)
	return &s, nil
}

func (t *tx) DeleteSession(id string) error {
	_, err := t.exec(`DELETE FROM sessions WHERE id = $1`, id)
	return err
}

func (t *tx) DeleteUserSessions(userID string) error {
	_, err := t.exec(`DELETE FROM sessions WHERE user_id = $1`, userID)
	return err
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
