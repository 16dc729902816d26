package simhold

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The HTTP side of the hooks. Each simulator registers its own routes and
// keeps its own query parameters and messages; these are the parts they
// share.

// ServeHold is POST /sim/hold/{op}: 204, or 400 for an op that cannot be held.
func (s *Set[T]) ServeHold(w http.ResponseWriter, r *http.Request) {
	Reply(w, s.Hold(r.PathValue("op")), http.StatusBadRequest)
}

// ServeHeld is GET /sim/held[?op=…&n=…&wait=…]: the requests held, written
// with writeJSON; with wait (a duration, at most a minute), it first waits
// until n (default 1) requests of op (default any) are held, and answers
// 408 with the list if they are not in time. A bad wait, n or op (checked
// in that order, and only with wait) is answered 400.
func (s *Set[T]) ServeHeld(w http.ResponseWriter, r *http.Request, writeJSON func(http.ResponseWriter, int, any)) {
	q := r.URL.Query()
	if q.Get("wait") == "" {
		writeJSON(w, http.StatusOK, s.Held())
		return
	}
	wait, err := time.ParseDuration(q.Get("wait"))
	if err != nil || wait < 0 || wait > time.Minute {
		http.Error(w, "wait is a duration of at most 1m", http.StatusBadRequest)
		return
	}
	n := 1
	if v := q.Get("n"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			http.Error(w, "n is a count", http.StatusBadRequest)
			return
		}
	}
	op := q.Get("op")
	if op != "" {
		if err := s.ValidOp(op); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	held, err := s.WaitHeld(ctx, op, n)
	status := http.StatusOK
	if err != nil {
		status = http.StatusRequestTimeout
	}
	writeJSON(w, status, held)
}

// Action reads a release route's action: "process" (or one of
// alsoProcess) lets the request take effect, "drop" drops it. Any other
// is answered 400, and ok is false.
func Action(w http.ResponseWriter, action string, alsoProcess ...string) (process, ok bool) {
	if action == "process" || action == "drop" {
		return action == "process", true
	}
	for _, a := range alsoProcess {
		if a == action {
			return true, true
		}
	}
	http.Error(w, "release with process or drop", http.StatusBadRequest)
	return false, false
}

// Reply answers a hook: 204 if err is nil, else err's text with status.
func Reply(w http.ResponseWriter, err error, status int) {
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// KeepBody reads r's body (at most limit bytes) and puts it back, so that
// a request released after its client died can still be handled; it
// returns what it read.
func KeepBody(r *http.Request, limit int64) []byte {
	if r.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, limit))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// OnStatus wraps w so that status is called with the first status written
// (200 if the handler writes a body first): how a simulator counts what a
// request did. status must not take a lock the handler answers holding.
func OnStatus(w http.ResponseWriter, status func(code int)) http.ResponseWriter {
	return &statusWriter{ResponseWriter: w, status: status}
}

type statusWriter struct {
	http.ResponseWriter
	status func(int)
	wrote  bool
}

func (sw *statusWriter) WriteHeader(code int) {
	if !sw.wrote {
		sw.wrote = true
		sw.status(code)
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if !sw.wrote {
		sw.WriteHeader(http.StatusOK)
	}
	return sw.ResponseWriter.Write(b)
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }
