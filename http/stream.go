package http

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// stream serves server-sent events. step writes what is new and reports
// whether the stream is done; it runs at once, then after each wake-up for
// wakeKey (a change on this node), every two seconds (a change made by
// another node), until it is done or the client leaves. A comment line
// keeps idle connections open.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, wakeKey string, step func(w io.Writer) (done bool)) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return kvitt.Errorf(kvitt.EINTERNAL, "streaming unsupported")
	}
	wake, unsub := s.Hub.Subscribe(wakeKey)
	defer unsub()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")
	flusher.Flush()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	recheck := time.NewTicker(2 * time.Second)
	defer recheck.Stop()
	for {
		done := step(w)
		flusher.Flush()
		if done {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-wake:
		case <-recheck.C:
		case <-heartbeat.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
			flusher.Flush()
		}
	}
}
