package http

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
)

// The back office's lists (issue 12; docs/api.md "Lists"): payments,
// refunds and receipts, newest first, a page at a time. Admin and
// back-office keys see every till; a till key, or a cashier, sees its own
// tills only, as GET /v1/payments/{id} does (another till is "no such
// till", as if it did not exist). A filter value that cannot be read is
// 422 naming the parameter.

// Page sizes of the lists.
const (
	defaultListLimit = 50
	maxListLimit     = 200
)

// listParams reads the query parameters every list shares, and those of
// its own (extra lists what else it takes), into a store filter.
type listParams struct {
	f       kvitt.ListFilter
	visible bool // false: the caller may see no till at all (an empty list)
}

func splitParam(q map[string][]string, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseListTime reads a from/to bound: a date (YYYY-MM-DD, a day in
// Swedish time, to inclusive) or an RFC 3339 time (to exclusive).
func parseListTime(v, name string, end bool) (time.Time, error) {
	if d, err := time.ParseInLocation("2006-01-02", v, receipt.Location); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, kvitt.FieldError(name, "%q is neither a date (YYYY-MM-DD) nor an RFC 3339 time", v)
}

func (s *Server) listFilter(r *http.Request, states []string, methods bool, extra ...string) (listParams, error) {
	p := principalOf(r.Context())
	if err := require(p, kvitt.ScopeAdmin, kvitt.ScopeBackOffice, kvitt.ScopeTill); err != nil {
		return listParams{}, err
	}
	q := r.URL.Query()
	known := append([]string{"till", "from", "to", "q", "limit", "after"}, extra...)
	if states != nil {
		known = append(known, "state")
	}
	if methods {
		known = append(known, "method")
	}
	for name := range q {
		if !slices.Contains(known, name) {
			return listParams{}, kvitt.FieldError(name, "is not a filter of this list (filters: %s)", strings.Join(known, ", "))
		}
	}
	lp := listParams{visible: true, f: kvitt.ListFilter{Limit: defaultListLimit}}
	f := &lp.f
	f.Tills = splitParam(q, "till")
	if len(f.Tills) > 0 {
		err := s.Store.View(r.Context(), func(tx kvitt.Tx) error {
			for _, id := range f.Tills {
				if _, err := tx.GetTill(id); err != nil || canTill(p, id) != nil {
					if err != nil && kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
						return err
					}
					return kvitt.FieldError("till", "no till %q", id)
				}
			}
			return nil
		})
		if err != nil {
			return listParams{}, err
		}
	} else if p.Scope == kvitt.ScopeTill {
		f.Tills = p.tills()
		lp.visible = len(f.Tills) > 0
	}
	if states != nil {
		f.States = splitParam(q, "state")
		for _, st := range f.States {
			if !slices.Contains(states, st) {
				return listParams{}, kvitt.FieldError("state", "%q is not a state (one of %s)", st, strings.Join(states, ", "))
			}
		}
	}
	if methods {
		f.Methods = splitParam(q, "method")
		all := s.Hub.Methods()
		slices.Sort(all)
		for _, m := range f.Methods {
			if !slices.Contains(all, m) {
				return listParams{}, kvitt.FieldError("method", "%q is not a payment method here (one of %s)", m, strings.Join(all, ", "))
			}
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if f.From, err = parseListTime(v, "from", false); err != nil {
			return listParams{}, err
		}
	}
	if v := q.Get("to"); v != "" {
		if f.To, err = parseListTime(v, "to", true); err != nil {
			return listParams{}, err
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return listParams{}, kvitt.FieldError("to", "is before from")
	}
	f.Query = strings.TrimSpace(q.Get("q"))
	if len(f.Query) > 200 {
		return listParams{}, kvitt.FieldError("q", "is longer than 200 characters")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return listParams{}, kvitt.FieldError("limit", "must be a whole number from 1 to %d", maxListLimit)
		}
		f.Limit = n
	}
	f.After = q.Get("after")
	return lp, nil
}

// afterError turns the store's "not in this list" into a 422 on after.
func afterError(err error) error {
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return kvitt.FieldError("after", "is not a row of this list (give the id of the last row of the previous page, with the same filters)")
	}
	return err
}

// nextAfter trims a page fetched one row long and returns the cursor of
// the next page ("" when this is the last).
func nextAfter[T any](rows []T, limit int, id func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, id(rows[limit-1])
}

var paymentStateNames = func() []string {
	var out []string
	for _, s := range kvitt.PaymentStates {
		out = append(out, string(s))
	}
	return out
}()

var refundStateNames = []string{string(kvitt.RefundCreated), string(kvitt.RefundPending), string(kvitt.RefundSucceeded), string(kvitt.RefundFailed), string(kvitt.RefundUnknown)}

type paymentListJSON struct {
	Payments  []paymentJSON `json:"payments"`
	NextAfter string        `json:"next_after,omitempty"`
}

// handleFindPayments is GET /v1/payments?till=&state=&method=&from=&to=&q=&limit=&after=.
func (s *Server) handleFindPayments(w http.ResponseWriter, r *http.Request) error {
	lp, err := s.listFilter(r, paymentStateNames, true)
	if err != nil {
		return err
	}
	out := paymentListJSON{Payments: []paymentJSON{}}
	if lp.visible {
		limit := lp.f.Limit
		lp.f.Limit++
		var ps []*kvitt.Payment
		if err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { ps, err = tx.FindPayments(lp.f); return err }); err != nil {
			return afterError(err)
		}
		ps, out.NextAfter = nextAfter(ps, limit, func(p *kvitt.Payment) string { return p.ID })
		for _, p := range ps {
			out.Payments = append(out.Payments, s.paymentJSON(r, p))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// refundListItemJSON is a refund with the till and method of its payment.
type refundListItemJSON struct {
	refundJSON
	TillID string `json:"till_id"`
	Method string `json:"method"`
	SaleID string `json:"sale_id"`
}

type refundListJSON struct {
	Refunds   []refundListItemJSON `json:"refunds"`
	NextAfter string               `json:"next_after,omitempty"`
}

// handleFindRefunds is GET /v1/refunds?till=&state=&method=&from=&to=&q=&limit=&after=.
func (s *Server) handleFindRefunds(w http.ResponseWriter, r *http.Request) error {
	lp, err := s.listFilter(r, refundStateNames, true)
	if err != nil {
		return err
	}
	out := refundListJSON{Refunds: []refundListItemJSON{}}
	if !lp.visible {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	limit := lp.f.Limit
	lp.f.Limit++
	var rs []*kvitt.Refund
	payments := map[string]*kvitt.Payment{}
	err = s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) {
		if rs, err = tx.FindRefunds(lp.f); err != nil {
			return err
		}
		for _, x := range rs {
			if payments[x.PaymentID] == nil {
				if payments[x.PaymentID], err = tx.GetPayment(x.PaymentID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return afterError(err)
	}
	rs, out.NextAfter = nextAfter(rs, limit, func(x *kvitt.Refund) string { return x.ID })
	for _, x := range rs {
		p := payments[x.PaymentID]
		out.Refunds = append(out.Refunds, refundListItemJSON{refundJSON: toRefundJSON(x), TillID: p.TillID, Method: p.Method, SaleID: p.SaleID})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type receiptListJSON struct {
	Receipts  []*receipt.JSONReceipt `json:"receipts"`
	NextAfter string                 `json:"next_after,omitempty"`
}

// handleFindReceipts is GET /v1/receipts?till=&from=&to=&serial=&q=&limit=&after=.
func (s *Server) handleFindReceipts(w http.ResponseWriter, r *http.Request) error {
	lp, err := s.listFilter(r, nil, false, "serial")
	if err != nil {
		return err
	}
	if v := r.URL.Query().Get("serial"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return kvitt.FieldError("serial", "must be a receipt number (a whole number from 1)")
		}
		lp.f.Serial = n
	}
	out := receiptListJSON{Receipts: []*receipt.JSONReceipt{}}
	if lp.visible {
		limit := lp.f.Limit
		lp.f.Limit++
		var rs []*kvitt.Receipt
		if err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { rs, err = tx.FindReceipts(lp.f); return err }); err != nil {
			return afterError(err)
		}
		rs, out.NextAfter = nextAfter(rs, limit, func(x *kvitt.Receipt) string { return x.ID })
		for _, x := range rs {
			out.Receipts = append(out.Receipts, receipt.ToJSON(x))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
