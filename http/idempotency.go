package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/kvitt-hub/kvitt"
)

type idemKey struct{}

type noReplayKey struct{}

// noReplay marks the answer of this request as not to be stored for replay:
// it carries a secret (a new API key) that kvitt keeps only as a hash.
func noReplay(ctx context.Context) {
	if f, ok := ctx.Value(noReplayKey{}).(*bool); ok {
		*f = true
	}
}

// idempotencyKeyOf returns the caller-scoped Idempotency-Key of the request, if any.
func idempotencyKeyOf(ctx context.Context) string {
	k, _ := ctx.Value(idemKey{}).(string)
	return k
}

// idempotent makes every POST honour Idempotency-Key: the same key and body
// replay the stored first response; the same key with another body is a
// 409. The key is scoped to the API key, and also handed to the hub, which
// stores it on what it creates: a retry after a crash between the creation
// and the stored response finds the created sale, payment or refund instead
// of creating a second one.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			writeError(w, r, s.Logger, &kvitt.Error{Code: kvitt.EINVALID, Field: "Idempotency-Key", Message: "is longer than 255 characters"})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			writeError(w, r, s.Logger, kvitt.Errorf(kvitt.EINVALID, "reading the body: %v", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		scoped := principalOf(r.Context()).KeyID + ":" + key
		h := sha256.New()
		io.WriteString(h, r.Method+" "+r.URL.Path+"\n")
		h.Write(body)
		hash := hex.EncodeToString(h.Sum(nil))

		var rec *kvitt.IdempotencyRecord
		err = s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { rec, err = tx.GetIdempotency(scoped); return err })
		switch {
		case err == nil && rec.RequestHash != hash:
			writeError(w, r, s.Logger, &kvitt.Error{Code: kvitt.ECONFLICT, Field: "Idempotency-Key",
				Message: "this key was used for another request (different path or body); use a new key for a new request"})
			return
		case err == nil:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			w.Write(rec.Body)
			return
		case kvitt.ErrorCode(err) != kvitt.ENOTFOUND:
			writeError(w, r, s.Logger, err)
			return
		}
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		var secret bool
		ctx := context.WithValue(context.WithValue(r.Context(), idemKey{}, scoped), noReplayKey{}, &secret)
		next.ServeHTTP(rw, r.WithContext(ctx))
		// Store definite answers only: a 409 (state may change) or a 5xx
		// (try again) is not replayed, nor an answer that carries a secret.
		if rw.status >= 500 || rw.status == http.StatusConflict || secret {
			return
		}
		err = s.Store.Update(context.WithoutCancel(r.Context()), func(tx kvitt.Tx) error {
			return tx.PutIdempotency(&kvitt.IdempotencyRecord{Key: scoped, RequestHash: hash, Status: rw.status, Body: rw.body.Bytes()})
		})
		if err != nil && kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			s.Logger.Error("store idempotency record", "err", err)
		}
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
