package sqlstore

import (
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// The back office's lists (kvitt.Tx FindPayments, FindRefunds,
// FindReceipts): newest first by (time, id), a page at a time. The cursor
// is the last row's id; its time is read under the same filter, so a
// cursor from another list, or another till's, is not found.

// listQuery builds one list's WHERE clause.
type listQuery struct {
	conds []string
	args  []any
}

func (q *listQuery) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + itoa(len(q.args))
}

func (q *listQuery) in(col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	ph := make([]string, len(vals))
	for i, v := range vals {
		ph[i] = q.arg(v)
	}
	q.conds = append(q.conds, col+" IN ("+strings.Join(ph, ",")+")")
}

func (q *listQuery) add(cond string, vals ...any) {
	for _, v := range vals {
		cond = strings.Replace(cond, "?", q.arg(v), 1)
	}
	q.conds = append(q.conds, cond)
}

func (q *listQuery) where() string {
	if len(q.conds) == 0 {
		return "1=1"
	}
	return strings.Join(q.conds, " AND ")
}

// clone copies q, so the cursor's lookup and the page share the filter.
func (q *listQuery) clone() *listQuery {
	return &listQuery{conds: append([]string(nil), q.conds...), args: append([]any(nil), q.args...)}
}

func listLimit(n int) int {
	if n <= 0 || n > 1000 {
		return 100
	}
	return n
}

// page runs the list: from and where pick the rows, tcol and icol are the
// time and id columns it is ordered by, newest first.
func page[T any](t *tx, scan func(interface{ Scan(...any) error }) (*T, error), cols, from string, q *listQuery, tcol, icol, what string, f kvitt.ListFilter) ([]*T, error) {
	if !f.From.IsZero() {
		q.add(tcol+" >= ?", micros(f.From))
	}
	if !f.To.IsZero() {
		q.add(tcol+" < ?", micros(f.To))
	}
	if f.After != "" {
		c := q.clone()
		c.add(icol+" = ?", f.After)
		var at int64
		if err := t.row(`SELECT `+tcol+` FROM `+from+` WHERE `+c.where(), c.args...).Scan(&at); err != nil {
			return nil, notFound(err, "%s %q is not in this list", what, f.After)
		}
		q.add("("+tcol+" < ? OR ("+tcol+" = ? AND "+icol+" < ?))", at, at, f.After)
	}
	sql := `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + q.where() + ` ORDER BY ` + tcol + ` DESC, ` + icol + ` DESC LIMIT ` + q.arg(listLimit(f.Limit))
	return scanAll(t, scan, sql, q.args...)
}

func (t *tx) FindPayments(f kvitt.ListFilter) ([]*kvitt.Payment, error) {
	q := &listQuery{}
	q.in("till_id", f.Tills)
	q.in("state", f.States)
	q.in("method", f.Methods)
	if f.Query != "" {
		q.add("(id = ? OR sale_id = ? OR reference IN (?, ?, ?))", f.Query, f.Query, f.Query, strings.ToUpper(f.Query), strings.ToLower(f.Query))
	}
	return page(t, scanPayment, paymentCols, "payments", q, "created", "id", "payment", f)
}

func (t *tx) FindRefunds(f kvitt.ListFilter) ([]*kvitt.Refund, error) {
	q := &listQuery{}
	from := "refunds r"
	if len(f.Tills) > 0 || len(f.Methods) > 0 {
		from = "refunds r JOIN payments p ON p.id = r.payment_id"
		q.in("p.till_id", f.Tills)
		q.in("p.method", f.Methods)
	}
	q.in("r.state", f.States)
	if f.Query != "" {
		q.add("(r.id = ? OR r.payment_id = ? OR r.reference IN (?, ?, ?))", f.Query, f.Query, f.Query, strings.ToUpper(f.Query), strings.ToLower(f.Query))
	}
	cols := "r." + strings.ReplaceAll(refundCols, ", ", ", r.")
	return page(t, scanRefund, cols, from, q, "r.created", "r.id", "refund", f)
}

func (t *tx) FindReceipts(f kvitt.ListFilter) ([]*kvitt.Receipt, error) {
	q := &listQuery{}
	q.in("till_id", f.Tills)
	if f.Serial != 0 {
		q.add("serial = ?", f.Serial)
	}
	if f.Query != "" {
		q.add("(id = ? OR sale_id = ?)", f.Query, f.Query)
	}
	return page(t, scanReceipt, receiptCols, "receipts", q, "issued", "id", "receipt", f)
}
