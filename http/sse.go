package http

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// handlePaymentEvents streams a payment's events as server-sent events: every
// transition from the start (or after Last-Event-ID), then each new one as it
// happens, until the payment is decided. Events are read from the store, so a
// reconnecting till misses nothing and changes made by another kvitt node are
// seen by the periodic re-read.
func (s *Server) handlePaymentEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := s.paymentFor(r)
	if err != nil {
		return err
	}
	var after int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	}
	return s.stream(w, r, p.ID, func(w io.Writer) bool {
		// The payment is read before its events: a transition committed
		// between the two reads is then in the events, so a final state is
		// never announced with "end" before its own event was sent.
		cur, err := s.Hub.GetPayment(r.Context(), p.ID)
		if err != nil {
			return true // the client sees the stream end and reconnects
		}
		events, err := s.Hub.PaymentEvents(r.Context(), p.ID, after)
		if err != nil {
			return true
		}
		for _, e := range events {
			b, _ := json.Marshal(eventJSON{Seq: e.Seq, From: string(e.From), To: string(e.To), Cause: e.Cause, Message: e.Message, At: e.At,
				Payment: toPaymentJSON(cur, s.qrURL)})
			fmt.Fprintf(w, "id: %d\nevent: payment\ndata: %s\n\n", e.Seq, b)
			after = e.Seq
		}
		if !cur.State.Open() {
			fmt.Fprintf(w, "event: end\ndata: {\"state\":%q}\n\n", cur.State)
			return true
		}
		return false
	})
}
