package hub

import (
	"fmt"
	"sort"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Returns. A refund on a completed sale takes goods back: once the money is
// back with the customer, kvitt issues a return receipt (its own serial,
// "RETUR", registered with the control unit with the VAT negative). The
// goods are named by line and quantity; without lines, the refund is split
// over the sale's VAT rates in proportion.

// returnLines checks the requested lines against what was sold and not yet
// returned (refunds in progress count) and returns the receipt lines and
// their total.
func returnLines(tx kvitt.Tx, s *kvitt.Sale, in []kvitt.ReturnLine) ([]kvitt.SaleLine, int64, error) {
	returned := map[int]int64{}
	ps, err := tx.ListSalePayments(s.ID)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range ps {
		rs, err := tx.ListRefunds(p.ID)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rs {
			if r.State == kvitt.RefundFailed {
				continue
			}
			for _, l := range r.Lines {
				returned[l.Line] += l.QuantityMilli
			}
		}
	}
	seen := map[int]bool{}
	for i, rl := range in {
		field := fmt.Sprintf("lines[%d]", i)
		if rl.Line < 0 || rl.Line >= len(s.Lines) {
			return nil, 0, kvitt.FieldError(field+".line", "the sale has lines 0 to %d", len(s.Lines)-1)
		}
		if seen[rl.Line] {
			return nil, 0, kvitt.FieldError(field+".line", "line %d is named twice", rl.Line)
		}
		seen[rl.Line] = true
		sold := s.Lines[rl.Line]
		left := sold.QuantityMilli - returned[rl.Line]
		if rl.QuantityMilli <= 0 {
			return nil, 0, kvitt.FieldError(field+".quantity", "must be above zero")
		}
		if rl.QuantityMilli > left {
			return nil, 0, kvitt.FieldError(field+".quantity", "%s is more than the %s of %q left to return",
				kvitt.FormatQuantity(rl.QuantityMilli), kvitt.FormatQuantity(left), sold.Name)
		}
	}
	return returnLinesOf(s, in)
}

// returnedLine is qty of a sold line, at the line's own price after its
// discount, in proportion and rounded half up.
func returnedLine(sold kvitt.SaleLine, qty int64) kvitt.SaleLine {
	l := sold
	l.QuantityMilli = qty
	if qty == sold.QuantityMilli {
		return l
	}
	l.Total = (sold.Total*qty*2 + sold.QuantityMilli) / (2 * sold.QuantityMilli)
	l.Discount = 0
	return l
}

// vatSplit computes the VAT per rate of lines.
func vatSplit(lines []kvitt.SaleLine) []kvitt.VATTotal {
	by := map[int64]int64{}
	for _, l := range lines {
		by[l.VATRate] += l.Total
	}
	var out []kvitt.VATTotal
	for rate, gross := range by {
		vat := kvitt.VATOf(gross, rate)
		out = append(out, kvitt.VATTotal{Rate: rate, Gross: gross, Net: gross - vat, VAT: vat})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rate > out[j].Rate })
	return out
}

// proportionalVAT splits amount over the sale's VAT rates in proportion to
// their gross; the last rate takes the rounding rest, so the split adds up.
func proportionalVAT(s *kvitt.Sale, amount int64) []kvitt.VATTotal {
	var out []kvitt.VATTotal
	left := amount
	for i, v := range s.VAT {
		gross := left
		if i < len(s.VAT)-1 && s.Total > 0 {
			gross = (amount*v.Gross*2 + s.Total) / (2 * s.Total)
		}
		left -= gross
		vat := kvitt.VATOf(gross, v.Rate)
		out = append(out, kvitt.VATTotal{Rate: v.Rate, Gross: gross, Net: gross - vat, VAT: vat})
	}
	return out
}

// issueReturn issues the return receipt of a succeeded refund on a completed
// sale, in the refund's transaction.
func (h *Hub) issueReturn(tx kvitt.Tx, s *kvitt.Sale, p *kvitt.Payment, r *kvitt.Refund, now time.Time) (*kvitt.Receipt, error) {
	rc, err := h.newReceipt(tx, s, kvitt.ReceiptNormal, nil, now)
	if err != nil {
		return nil, err
	}
	rc.Kind = kvitt.ReceiptReturn
	rc.Total = r.Amount
	if len(r.Lines) > 0 {
		lines, _, err := returnLinesOf(s, r.Lines)
		if err != nil {
			return nil, err
		}
		rc.Lines, rc.VAT = lines, vatSplit(lines)
	} else {
		rc.Lines = []kvitt.SaleLine{{Name: "Återbetalning", QuantityMilli: 1000, UnitPrice: r.Amount, Total: r.Amount}}
		rc.VAT = proportionalVAT(s, r.Amount)
		if len(rc.VAT) == 1 {
			rc.Lines[0].VATRate = rc.VAT[0].Rate
		}
	}
	rc.Tenders = []kvitt.Tender{{PaymentID: p.ID, Method: p.Method, Amount: r.Amount, Reference: r.Reference, Card: p.Card}}
	if err := h.issue(tx, rc, now); err != nil {
		return nil, err
	}
	return rc, nil
}

// returnLinesOf builds the receipt lines of return lines that name lines of s.
func returnLinesOf(s *kvitt.Sale, in []kvitt.ReturnLine) ([]kvitt.SaleLine, int64, error) {
	var out []kvitt.SaleLine
	var total int64
	for _, rl := range in {
		if rl.Line < 0 || rl.Line >= len(s.Lines) {
			return nil, 0, kvitt.Errorf(kvitt.EINTERNAL, "return line %d is not on sale %s", rl.Line, s.ID)
		}
		l := returnedLine(s.Lines[rl.Line], rl.QuantityMilli)
		total += l.Total
		out = append(out, l)
	}
	return out, total, nil
}
