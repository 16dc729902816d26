package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Staff sessions: the screens (the till, the back office) sign a user in
// with a password and then call this same API with a session cookie
// instead of a bearer key. The user's role gives the principal the scope of
// an API key (admin, backoffice, till for a cashier's tills), so every
// action is authorised by the one rule the API applies to keys.
//
// The cookie is HttpOnly and SameSite=Strict (Secure when kvitt is reached
// over https); it holds a random token of which only the SHA-256 is stored.
// A request that changes anything (not GET/HEAD) with the cookie must also
// send the session's CSRF token in X-CSRF-Token: a page of kvitt has it, a
// page elsewhere cannot read it.

// SessionCookie is the name of the session cookie.
const SessionCookie = "kvitt_session"

// CSRFHeader carries the session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// sessionPrincipal returns the principal of the request's session cookie;
// ok is false when there is no cookie. An unknown or expired session, or a
// disabled user, is EUNAUTHORIZED.
func (s *Server) sessionPrincipal(r *http.Request) (p Principal, ok bool, err error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Principal{}, false, nil
	}
	var u *kvitt.User
	var sess *kvitt.Session
	err = s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) {
		if sess, err = tx.GetSession(sessionID(c.Value), s.Hub.Now()); err != nil {
			return err
		}
		u, err = tx.GetUser(sess.UserID)
		return err
	})
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND || (err == nil && u.Disabled) {
		return Principal{}, true, kvitt.Errorf(kvitt.EUNAUTHORIZED, "your session has ended; sign in again")
	}
	if err != nil {
		return Principal{}, true, err
	}
	return userPrincipal(u, sess), true, nil
}

func userPrincipal(u *kvitt.User, sess *kvitt.Session) Principal {
	p := Principal{KeyID: u.ID, Scope: u.Role.Scope(), UserID: u.ID, Username: u.Username, Name: u.Name, Tills: u.Tills, CSRF: sess.CSRF, Session: true}
	if len(u.Tills) == 1 {
		p.TillID = u.Tills[0]
	}
	return p
}

// checkCSRF refuses a state-changing request of a session without its CSRF token.
func checkCSRF(r *http.Request, p Principal) error {
	if !p.Session || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
		return kvitt.Errorf(kvitt.EFORBIDDEN, "the request lacks this session's CSRF token (%s); reload the page and try again", CSRFHeader)
	}
	return nil
}

// displayRoutes are what a display key may call: its till's customer display.
var displayRoutes = []string{
	"GET /v1/tills/{id}/display",
	"GET /v1/tills/{id}/display/events",
	"GET /v1/tills/{id}/mobilepay/qr.svg",
	"GET /v1/tills/{id}/mobilepay/qr.png",
	"GET /v1/session",
}

func checkDisplay(r *http.Request, p Principal) error {
	if p.Scope == kvitt.ScopeDisplay && !slices.Contains(displayRoutes, r.Pattern) {
		return kvitt.Errorf(kvitt.EFORBIDDEN, "a display key may only read its till's display")
	}
	return nil
}

type signInRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type sessionJSON struct {
	User      userJSON `json:"user"`
	CSRFToken string   `json:"csrf_token,omitempty"`
	Expires   string   `json:"expires_at,omitempty"`
}

// handleSignIn is POST /v1/session: username and password in, a session
// cookie out. A wrong password and an unknown user get the same answer, in
// the same time; MaxFailedLogins wrong passwords in a row lock the user for
// LockoutDuration (counted under compare-and-set, so parallel guesses on
// several nodes all count).
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) error {
	// A form on another site cannot send JSON without a preflight that
	// kvitt never grants: this stops sign-in CSRF.
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return kvitt.Errorf(kvitt.EINVALID, "sign in with Content-Type: application/json")
	}
	var req signInRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Username == "" {
		return kvitt.FieldError("username", "is required")
	}
	if req.Password == "" {
		return kvitt.FieldError("password", "is required")
	}
	username := strings.ToLower(strings.TrimSpace(req.Username))
	now := s.Hub.Now()
	wrong := kvitt.Errorf(kvitt.EUNAUTHORIZED, "wrong username or password")
	var u *kvitt.User
	err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { u, err = tx.GetUserByUsername(username); return err })
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		kvitt.VerifyPassword("", req.Password) // the same time as a wrong password
		return wrong
	}
	if err != nil {
		return err
	}
	if u.LockedUntil.After(now) {
		return lockedError(u, now)
	}
	if !kvitt.VerifyPassword(u.PasswordHash, req.Password) {
		locked, err := s.countFailedLogin(r.Context(), u.ID, now)
		if err != nil {
			return err
		}
		s.Logger.Warn("sign-in: wrong password", "user", u.Username, "locked", locked)
		if locked != nil {
			return lockedError(locked, now)
		}
		return wrong
	}
	if u.Disabled {
		return kvitt.Errorf(kvitt.EFORBIDDEN, "user %s is disabled; ask an administrator", u.Username)
	}
	token := kvitt.RandomToken(32)
	sess := &kvitt.Session{ID: sessionID(token), UserID: u.ID, CSRF: kvitt.RandomToken(20), Created: now, Expires: now.Add(kvitt.SessionLifetime)}
	err = s.Store.Update(r.Context(), func(tx kvitt.Tx) error {
		cur, err := tx.GetUser(u.ID)
		if err != nil {
			return err
		}
		if cur.LockedUntil.After(now) { // locked by parallel guesses meanwhile
			return lockedError(cur, now)
		}
		if cur.FailedLogins != 0 {
			cur.FailedLogins, cur.LockedUntil = 0, time.Time{}
			if err := tx.UpdateUser(cur); err != nil {
				return err
			}
		}
		u = cur
		return tx.CreateSession(sess)
	})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.secureCookies(r), Expires: sess.Expires})
	noReplay(r.Context())
	writeJSON(w, http.StatusOK, sessionJSON{User: toUserJSON(u), CSRFToken: sess.CSRF, Expires: sess.Expires.UTC().Format(time.RFC3339)})
	return nil
}

func lockedError(u *kvitt.User, now time.Time) error {
	mins := int(u.LockedUntil.Sub(now).Minutes()) + 1
	return kvitt.Errorf(kvitt.EFORBIDDEN, "user %s is locked for %d more minutes after %d wrong passwords; an administrator can unlock it", u.Username, mins, kvitt.MaxFailedLogins)
}

// countFailedLogin adds a failure; it returns the user when this locked them.
func (s *Server) countFailedLogin(ctx context.Context, id string, now time.Time) (*kvitt.User, error) {
	for {
		var locked *kvitt.User
		err := s.Store.Update(ctx, func(tx kvitt.Tx) error {
			if err := tx.Lock("user:" + id); err != nil {
				return err
			}
			u, err := tx.GetUser(id)
			if err != nil {
				return err
			}
			u.FailedLogins++
			if u.FailedLogins >= kvitt.MaxFailedLogins {
				u.FailedLogins, u.LockedUntil = 0, now.Add(kvitt.LockoutDuration)
				locked = u
			}
			return tx.UpdateUser(u)
		})
		if kvitt.ErrorCode(err) == kvitt.ECONFLICT {
			continue // a parallel failure counted first; count this one on top
		}
		return locked, err
	}
}

func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.PublicURL, "https://")
}

// handleSignOut is DELETE /v1/session: the session ends here and on every device with ?everywhere=true.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r.Context())
	if !p.Session {
		return kvitt.Errorf(kvitt.EINVALID, "only a session signs out; an API key is revoked instead")
	}
	c, _ := r.Cookie(SessionCookie)
	err := s.Store.Update(r.Context(), func(tx kvitt.Tx) error {
		if r.URL.Query().Get("everywhere") == "true" {
			return tx.DeleteUserSessions(p.UserID)
		}
		return tx.DeleteSession(sessionID(c.Value))
	})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookies(r), MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleWhoAmI is GET /v1/session: who is calling, and a session's CSRF token.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r.Context())
	out := map[string]any{"scope": p.Scope}
	if p.Session {
		out["user"] = userJSON{ID: p.UserID, Username: p.Username, Name: p.Name, Role: string(roleOf(p.Scope)), Tills: p.Tills}
		out["csrf_token"] = p.CSRF
	} else {
		out["api_key_id"] = p.KeyID
		if p.TillID != "" {
			out["till_id"] = p.TillID
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func roleOf(s kvitt.Scope) kvitt.Role {
	for _, r := range kvitt.Roles {
		if r.Scope() == s {
			return r
		}
	}
	return ""
}

// WhoIs returns the principal of a page request's session cookie (for the
// screens, which call the API with it); ok is false without a valid session.
func (s *Server) WhoIs(r *http.Request) (Principal, bool) {
	p, ok, err := s.sessionPrincipal(r)
	return p, ok && err == nil
}

// CanTill reports whether p may work at the till: the API's own rule.
func CanTill(p Principal, tillID string) bool { return canTill(p, tillID) == nil }

// Can reports whether p has one of the scopes: the API's own rule.
func Can(p Principal, scopes ...kvitt.Scope) bool { return require(p, scopes...) == nil }
