package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
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
	KeyID  string
	Scope  kvitt.Scope
	TillID string
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
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

var errBadKey = kvitt.Errorf(kvitt.EUNAUTHORIZED, "the API key is missing, unknown or revoked; send Authorization: Bearer <key>")

func (s *Server) principal(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
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
	if p.Scope == kvitt.ScopeTill && p.TillID != tillID {
		// Not found rather than forbidden: a till does not learn other tills' ids.
		return kvitt.Errorf(kvitt.ENOTFOUND, "not found")
	}
	return nil
}

// actor names who made a request, for the event log: the API key's id.
func actor(r *http.Request) string {
	return "API key " + principalOf(r.Context()).KeyID
}
