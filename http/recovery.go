package http

import (
	"net/http"
	"strconv"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/receipt"
)

// handleRecovery lists, a page at a time, what on a till needs a person's
// decision: money taken for a sale without a receipt, money that arrived
// after kvitt had ended a payment, payments and refunds whose outcome is
// unknown or that kvitt no longer follows, and unregistered receipts.
// ?limit= (1–200, default 200) and ?after= (the previous page's "next").
func (s *Server) handleRecovery(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := canTill(principalOf(r.Context()), id); err != nil {
		return kvitt.Errorf(kvitt.ENOTFOUND, "till %q not found", id)
	}
	q := r.URL.Query()
	limit := hub.MaxRecoveryPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > hub.MaxRecoveryPage {
			return kvitt.FieldError("limit", "must be a whole number from 1 to %d", hub.MaxRecoveryPage)
		}
		limit = n
	}
	page, err := s.Hub.Recovery(r.Context(), id, q.Get("after"), limit)
	if err != nil {
		return err
	}
	type item struct {
		Sale    saleJSON     `json:"sale"`
		Payment *paymentJSON `json:"payment,omitempty"`
		Refund  *refundJSON  `json:"refund,omitempty"`
		Receipt any          `json:"receipt,omitempty"`
		Reason  string       `json:"reason"`
	}
	out := []item{}
	for _, it := range page.Items {
		x := item{Sale: toSaleJSON(it.Sale), Reason: it.Reason}
		if it.Payment != nil {
			pj := s.paymentJSON(r, it.Payment)
			x.Payment = &pj
		}
		if it.Refund != nil {
			rj := toRefundJSON(it.Refund)
			x.Refund = &rj
		}
		if it.Receipt != nil {
			x.Receipt = receipt.ToJSON(it.Receipt)
		}
		out = append(out, x)
	}
	body := map[string]any{"items": out}
	if page.Next != "" {
		body["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// handleResolveRefund settles by hand a refund whose outcome kvitt cannot
// know: {"state":"succeeded"|"failed","note":"how it was established"}.
func (s *Server) handleResolveRefund(w http.ResponseWriter, r *http.Request) error {
	var req resolveRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	if _, err := s.refundFor(r); err != nil {
		return err
	}
	rf, err := s.Hub.ResolveRefund(r.Context(), r.PathValue("id"), kvitt.RefundState(req.State), req.Note, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRefundJSON(rf))
	return nil
}
