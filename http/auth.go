package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// An API key is "<id>.<secret>": the id finds the stored key, the secret is
// checked against its SHA-256 hash in constant time.

// NewAPIKey returns a new key record and the secret string to hand out once.
func NewAPIKey(scope kvitt.Scope, tillID, name string) (*kvitt.APIKey, string) {
	id := kvitt.NewID("key")
	secret := kvitt.RandomToken(32)
	sum := sha256.Sum256([]byte(secret))
	return &kvitt.APIKey{ID: id, Hash: sum[:], Scope: scope, TillID: tillID, Name: name}, id + "." + secret
}

// Principal is who is calling.
type Principal struct {
	// KeyID is the API key's id, or the user's for a session: it scopes
	// idempotency keys.
	KeyID string
	Scope kvitt.Scope
	// TillID is the till of a till or display key, and a cashier's till
	// when the cashier has only one.
	TillID string
	// A session's user (Session is true): their tills (a cashier's), and
	// the CSRF token its state-changing requests must carry.
	Session  bool
	UserID   string
	Username string
	Name     string
	Tills    []string
	CSRF     string
}

// tills lists the tills a till-bound principal may work at.
func (p Principal) tills() []string {
	if p.Session {
		return p.Tills
	}
	return []string{p.TillID}
}

type principalKey struct{}

func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authenticate checks the bearer key and puts the principal in the context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err == nil {
			err = checkCSRF(r, p)
		}
		if err == nil {
			err = checkDisplay(r, p)
		}
		if ri := requestInfoOf(r.Context()); ri != nil && p.KeyID != "" {
			ri.caller = p.KeyID // an API key's or a user's id, never a secret
		}
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

var errBadKey = kvitt.Errorf(kvitt.EUNAUTHORIZED, "the API key is missing, unknown or revoked; send Authorization: Bearer <key> (or sign in)")

func (s *Server) principal(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if p, ok, err := s.sessionPrincipal(r); ok {
			return p, err
		}
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return Principal{}, errBadKey
	}
	sum := sha256.Sum256([]byte(tok))
	if s.AdminKeyHash != nil && subtle.ConstantTimeCompare(sum[:], s.AdminKeyHash) == 1 {
		return Principal{KeyID: "env-admin", Scope: kvitt.ScopeAdmin}, nil
	}
	id, secret, ok := strings.Cut(tok, ".")
	if !ok {
		return Principal{}, errBadKey
	}
	var k *kvitt.APIKey
	err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { k, err = tx.GetAPIKey(id); return err })
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return Principal{}, errBadKey
	}
	if err != nil {
		return Principal{}, err
	}
	ss := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(ss[:], k.Hash) != 1 || (k.Revoked != nil && !k.Revoked.After(time.Now())) {
		return Principal{}, errBadKey
	}
	return Principal{KeyID: k.ID, Scope: k.Scope, TillID: k.TillID}, nil
}

// require refuses a principal whose scope is not one of scopes.
func require(p Principal, scopes ...kvitt.Scope) error {
	for _, s := range scopes {
		if p.Scope == s {
			return nil
		}
	}
	return kvitt.Errorf(kvitt.EFORBIDDEN, "this API key (%s scope) may not do that", p.Scope)
}

// canTill refuses a till key acting on another till. Other scopes see every till.
func canTill(p Principal, tillID string) error {
	if (p.Scope == kvitt.ScopeTill || p.Scope == kvitt.ScopeDisplay) && !slices.Contains(p.tills(), tillID) {
		// Not found rather than forbidden: a till does not learn other tills' ids.
		return kvitt.Errorf(kvitt.ENOTFOUND, "not found")
	}
	return nil
}

// actor names who made a request, for the event log: the user, or the API key's id.
func actor(r *http.Request) string {
	p := principalOf(r.Context())
	if p.Session {
		return "user " + p.Username
	}
	return "API key " + p.KeyID
}
