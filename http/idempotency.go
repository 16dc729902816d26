package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

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

// Waiting for the same request under one key.
var (
	// idempotencyWait is how long a request waits for the same request,
	// running under its key, to answer before it answers 409 itself.
	idempotencyWait = 10 * time.Second
	// idempotencyStale is the age past which a reservation is taken to be
	// left by a crashed process: the same request may then take it over.
	// It is well above how long a request runs: a provider call in a
	// request is bounded by the hub's ProviderTimeout (20 s).
	idempotencyStale = 2 * time.Minute
)

var (
	errOtherRequest = &kvitt.Error{Code: kvitt.ECONFLICT, Field: "Idempotency-Key",
		Message: "this key was used for another request (different path or body); use a new key for a new request"}
	errInProgress = &kvitt.Error{Code: kvitt.ECONFLICT, Field: "Idempotency-Key",
		Message: "a request with this Idempotency-Key is still in progress; retry"}
)

// idempotent makes every POST honour Idempotency-Key: the same key and body
// replay the stored first response; the same key with another body is a
// 409. The key is scoped to the API key.
//
// The key is reserved before the handler runs: a record in progress
// (status 0) with the request's hash, inserted atomically, so of racing
// requests under one key exactly one runs. The others get 409 if they are
// another request, and otherwise wait for its answer and replay it (or, if
// it is not stored, run themselves). The answer is stored in the record
// before it is sent, so a client that got an answer and retries gets it
// again; an answer that is not stored releases the key.
//
// The key is also handed to the hub, which stores it on what it creates: a
// retry after a crash between the creation and the stored response finds
// the created sale, payment or refund instead of creating a second one.
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

		mine, stored, err := s.reserveIdempotency(r.Context(), scoped, hash)
		switch {
		case err != nil:
			writeError(w, r, s.Logger, err)
			return
		case stored != nil:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(stored.Status)
			w.Write(stored.Body)
			return
		}
		// This request holds the key. Whatever happens, even a panic, the
		// reservation is completed or released.
		bg := context.WithoutCancel(r.Context())
		finished := false
		defer func() {
			if !finished {
				s.releaseIdempotency(bg, mine)
			}
		}()
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		var secret bool
		ctx := context.WithValue(context.WithValue(r.Context(), idemKey{}, scoped), noReplayKey{}, &secret)
		next.ServeHTTP(rw, r.WithContext(ctx))
		// Store definite answers only: a 409 (state may change) or a 5xx
		// (try again) is not replayed, nor an answer that carries a secret.
		if rw.status >= 500 || rw.status == http.StatusConflict || secret {
			s.releaseIdempotency(bg, mine)
		} else {
			mine.Status, mine.Body = rw.status, rw.body.Bytes()
			if err := s.Store.Update(bg, func(tx kvitt.Tx) error { return tx.CompleteIdempotency(mine) }); err != nil {
				s.Logger.Error("store idempotency record", "key", scoped, "err", err)
			}
		}
		finished = true
		rw.send()
	})
}

// reserveIdempotency reserves key for the request with hash: it returns
// the reservation the caller now holds, or the stored answer of the same
// request to replay, or a 409: the key is another request's, or the same
// request is still running (after waiting idempotencyWait for it).
func (s *Server) reserveIdempotency(ctx context.Context, key, hash string) (mine, stored *kvitt.IdempotencyRecord, err error) {
	deadline := time.Now().Add(idempotencyWait)
	delay := 5 * time.Millisecond
	for {
		res := &kvitt.IdempotencyRecord{Key: key, RequestHash: hash} // status 0: in progress
		err := s.Store.Update(ctx, func(tx kvitt.Tx) error { return tx.PutIdempotency(res) })
		if err == nil {
			return res, nil, nil
		}
		if kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			return nil, nil, err
		}
		var rec *kvitt.IdempotencyRecord
		err = s.Store.View(ctx, func(tx kvitt.Tx) (err error) { rec, err = tx.GetIdempotency(key); return err })
		switch {
		case kvitt.ErrorCode(err) == kvitt.ENOTFOUND:
			// Released in between: try to reserve it again (below, after the deadline check).
		case err != nil:
			return nil, nil, err
		case rec.RequestHash != hash:
			return nil, nil, errOtherRequest
		case rec.Status != 0:
			return nil, rec, nil
		case time.Since(rec.Created) > idempotencyStale:
			// Left by a crashed process: take it over, if no one else does first.
			err := s.Store.Update(ctx, func(tx kvitt.Tx) error { return tx.TakeOverIdempotency(rec) })
			if err == nil {
				return rec, nil, nil
			}
			if kvitt.ErrorCode(err) != kvitt.ECONFLICT {
				return nil, nil, err
			}
			continue
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, nil, errInProgress
		}
		select {
		case <-ctx.Done():
			return nil, nil, errInProgress
		case <-time.After(min(delay, wait)):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// releaseIdempotency deletes the reservation res: the answer is not kept.
func (s *Server) releaseIdempotency(ctx context.Context, res *kvitt.IdempotencyRecord) {
	err := s.Store.Update(ctx, func(tx kvitt.Tx) error { return tx.ReleaseIdempotency(res) })
	if err != nil {
		s.Logger.Error("release idempotency key", "key", res.Key, "err", err)
	}
}

// recorder keeps the handler's answer until it is stored, so that a retry
// after the answer arrived replays it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code }

func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// send writes the kept answer.
func (r *recorder) send() {
	r.ResponseWriter.WriteHeader(r.status)
	r.ResponseWriter.Write(r.body.Bytes())
}
