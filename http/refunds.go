package http

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/kvitt-hub/kvitt"
)

// handleCancelRefund stops a refund still waiting for the customer (a card
// refund waiting for the card on the terminal).
func (s *Server) handleCancelRefund(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.refundFor(r); err != nil {
		return err
	}
	rf, err := s.Hub.CancelRefund(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRefundJSON(rf))
	return nil
}

// handleRefundEvents streams a refund as server-sent events: the refund as
// it is now, then again each time it changes, until it has succeeded or
// failed (event "end"). The id of each event is the refund's version, so a
// reconnecting client with Last-Event-ID gets only what it has not seen.
func (s *Server) handleRefundEvents(w http.ResponseWriter, r *http.Request) error {
	rf, err := s.refundFor(r)
	if err != nil {
		return err
	}
	var seen int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		fmt.Sscan(v, &seen)
	}
	return s.stream(w, r, rf.PaymentID, func(w io.Writer) bool {
		cur, err := s.Hub.GetRefund(r.Context(), rf.ID)
		if err != nil {
			return true // the client sees the stream end and reconnects
		}
		if cur.Version > seen {
			b, _ := json.Marshal(toRefundJSON(cur))
			fmt.Fprintf(w, "id: %d\nevent: refund\ndata: %s\n\n", cur.Version, b)
			seen = cur.Version
		}
		if cur.State == kvitt.RefundSucceeded || cur.State == kvitt.RefundFailed {
			fmt.Fprintf(w, "event: end\ndata: {\"state\":%q}\n\n", cur.State)
			return true
		}
		return false
	})
}
