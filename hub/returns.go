package hub

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Returns. A refund on a completed sale takes goods back: once the money is
// back with the customer, kvitt issues a return receipt (its own serial,
// "RETUR", registered with the control unit with the VAT negative). The
// goods are named by line and quantity; without lines, the refund is split
// over what is left of the sale per VAT rate, in proportion.
//
// What a refund gives back, in this order (docs/api.md, "Refunds"):
//
//   - goods, never more than the payment paid of the sale (Applied) less the
//     goods of its earlier refunds, and on a completed sale never more than
//     is left of the sale per VAT rate and per line;
//   - then the tip: a refund above the goods left gives back the tip (a tip
//     refund, no VAT, shown and counted apart from the goods);
//   - in cash, the drawer pays what coins can pay: the goods returned so
//     far, rounded like a payment (Currency.RoundCash), less what the drawer
//     has paid out already. The difference is the refund's Rounding, on the
//     refund and on the return receipt. The refund that takes the last goods
//     of a cash payment gives back exactly what is left of the money paid.
//
// Refunds in progress (created, pending, unknown) count as taken.

// refundPlan is what a new refund gives back: Amount in all, of which Tip
// and Rounding; the goods are Amount − Tip − Rounding. Lines carry their totals.
type refundPlan struct {
	Amount, Tip, Rounding int64
	Lines                 []kvitt.ReturnLine
}

// planRefund checks a refund request against what is left of the payment
// (and of the sale, when it is completed) and decides its parts. amount is
// the goods and tip to give back (for cash: the goods' value, or what the
// drawer pays for all the goods left); with lines it may be 0.
func planRefund(tx kvitt.Tx, p *kvitt.Payment, s *kvitt.Sale, amount int64, lines []kvitt.ReturnLine) (refundPlan, error) {
	var plan refundPlan
	cur := p.Currency
	rs, err := tx.ListRefunds(p.ID)
	if err != nil {
		return plan, err
	}
	var goodsOut, tipOut, moneyOut, inProgress int64
	for _, x := range rs {
		switch x.State {
		case kvitt.RefundFailed:
			continue
		case kvitt.RefundCreated, kvitt.RefundPending, kvitt.RefundUnknown:
			inProgress += x.Amount
		}
		goodsOut, tipOut, moneyOut = goodsOut+x.Goods(), tipOut+x.Tip, moneyOut+x.Amount
	}
	goodsLeft := max(p.Applied()-goodsOut, 0)
	tipLeft := max(p.Tip-tipOut, 0)
	moneyLeft := max(p.Refundable()-inProgress, 0)
	cash := p.Method == "cash"
	// drawer is what the drawer pays out in cash for goods more of the
	// payment's goods: the goods returned so far rounded, less what it has
	// paid out already; for the last goods, all the money that is left.
	drawer := func(goods int64) int64 {
		if goods == goodsLeft {
			return moneyLeft
		}
		return min(max(cur.RoundCash(goodsOut+goods)-moneyOut, 0), moneyLeft)
	}
	var goods, tip int64
	late := p.Attention != "" // money that arrived after kvitt had ended the payment: it bought nothing
	if len(lines) > 0 {
		if late {
			return plan, kvitt.FieldError("lines", "payment %s took money after kvitt had ended it; it paid for no goods: refund it without lines", p.ID)
		}
		if s.State != kvitt.SaleCompleted {
			return plan, kvitt.FieldError("lines", "goods are returned from a completed sale; this one is %s", s.State)
		}
		if plan.Lines, goods, err = returnLines(tx, s, lines); err != nil {
			return plan, err
		}
		switch {
		case goods <= 0:
			return plan, kvitt.FieldError("lines", "the goods named are worth %s: there is nothing to give back", kvitt.FormatAmount(goods, cur))
		case goods > goodsLeft:
			return plan, kvitt.FieldError("lines", "the goods named are worth %s; this payment has %s of goods left to refund",
				kvitt.FormatAmount(goods, cur), kvitt.FormatAmount(goodsLeft, cur))
		case amount != 0 && amount != goods && !(cash && amount == drawer(goods)):
			return plan, kvitt.FieldError("amount", "%s does not match the returned lines' %s; leave it out or correct it",
				kvitt.FormatAmount(amount, cur), kvitt.FormatAmount(goods, cur))
		}
	} else {
		left := min(goodsLeft+tipLeft, moneyLeft)
		if cash {
			left = goodsLeft
		}
		switch {
		case amount <= 0:
			return plan, kvitt.FieldError("amount", "must be above zero (minor units)")
		case left <= 0:
			return plan, kvitt.Errorf(kvitt.ECONFLICT, "payment %s has nothing left to refund", p.ID)
		case cash && amount == drawer(goodsLeft):
			goods = goodsLeft // all the goods left, as the drawer pays them
		case amount > left:
			return plan, kvitt.FieldError("amount", "%s is more than the %s left to refund", kvitt.FormatAmount(amount, cur), kvitt.FormatAmount(left, cur))
		default:
			// The goods first, then the tip.
			goods = min(amount, goodsLeft)
			tip = amount - goods
		}
	}
	if s.State == kvitt.SaleCompleted && goods > 0 && !late {
		if err := checkSaleLeft(tx, s, goods, plan.Lines); err != nil {
			return plan, err
		}
	}
	plan.Tip, plan.Amount = tip, goods+tip
	if cash {
		plan.Amount = drawer(goods)
		plan.Rounding = plan.Amount - goods
	}
	return plan, nil
}

// checkSaleLeft refuses goods beyond what is left of a completed sale: per
// VAT rate for lines, and in all.
func checkSaleLeft(tx kvitt.Tx, s *kvitt.Sale, goods int64, lines []kvitt.ReturnLine) error {
	left, err := returnsLeft(tx, s, "")
	if err != nil {
		return err
	}
	if len(lines) > 0 {
		by := map[int64]int64{}
		for _, rl := range lines {
			by[s.Lines[rl.Line].VATRate] += rl.Total
		}
		for rate, g := range by {
			if g > left.gross[rate] {
				return kvitt.FieldError("lines", "the goods named at %s %% VAT are worth %s; only %s at that rate is left to return on the sale",
					kvitt.FormatRate(rate), kvitt.FormatAmount(g, s.Currency), kvitt.FormatAmount(max(left.gross[rate], 0), s.Currency))
			}
		}
	}
	if total := left.total(); goods > total {
		return kvitt.FieldError("amount", "%s is more than the %s of goods left to return on the sale",
			kvitt.FormatAmount(goods, s.Currency), kvitt.FormatAmount(max(total, 0), s.Currency))
	}
	return nil
}

// saleLeft is what is left to return of a completed sale.
type saleLeft struct {
	gross map[int64]int64 // per VAT rate, goods not yet taken back
	vat   map[int64]int64 // per VAT rate, VAT not yet on a return receipt
	// busy marks the rates that refunds in progress with lines take from.
	busy map[int64]bool
	// unsplit is the goods of refunds in progress without lines: they are
	// split over the rates when they succeed, over what is left then.
	unsplit int64
}

func (l saleLeft) total() int64 {
	var t int64
	for _, g := range l.gross {
		t += max(g, 0)
	}
	return t - l.unsplit
}

// returnsLeft computes what is left to return of a completed sale s: the
// sale less its return receipts and its refunds in progress (except one).
// Money given back while the sale was still open returned no goods.
func returnsLeft(tx kvitt.Tx, s *kvitt.Sale, except string) (saleLeft, error) {
	l := saleLeft{gross: map[int64]int64{}, vat: map[int64]int64{}, busy: map[int64]bool{}}
	for _, v := range s.VAT {
		l.gross[v.Rate] += v.Gross
		l.vat[v.Rate] += v.VAT
	}
	ps, err := tx.ListSalePayments(s.ID)
	if err != nil {
		return l, err
	}
	for _, p := range ps {
		if p.Attention != "" {
			continue // its refunds give back late money, not goods of the sale
		}
		rs, err := tx.ListRefunds(p.ID)
		if err != nil {
			return l, err
		}
		for _, r := range rs {
			switch {
			case r.ID == except || r.State == kvitt.RefundFailed:
			case r.ReceiptID != "":
				rc, err := tx.GetReceipt(r.ReceiptID)
				if err != nil {
					return l, err
				}
				for _, v := range rc.VAT {
					l.gross[v.Rate] -= abs(v.Gross)
					l.vat[v.Rate] -= abs(v.VAT)
				}
			case r.State == kvitt.RefundSucceeded:
				// Given back before the sale was completed: no goods returned.
			case len(r.Lines) > 0:
				for _, rl := range r.Lines {
					if rl.Line >= 0 && rl.Line < len(s.Lines) {
						sold := s.Lines[rl.Line]
						l.gross[sold.VATRate] -= lineValue(sold, rl)
						l.busy[sold.VATRate] = true
					}
				}
			default:
				l.unsplit += r.Goods()
			}
		}
	}
	return l, nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// returnLines checks the requested lines against what was sold and not yet
// returned (refunds in progress count) and returns them with their totals,
// and the sum. A line's returns add up to its total, never more: each takes
// its share of the line rounded on what was returned before (the part that
// takes the last of the line takes what is left of its total).
func returnLines(tx kvitt.Tx, s *kvitt.Sale, in []kvitt.ReturnLine) ([]kvitt.ReturnLine, int64, error) {
	type use struct{ qty, amount int64 }
	returned := map[int]use{}
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
				if l.Line < 0 || l.Line >= len(s.Lines) {
					continue
				}
				u := returned[l.Line]
				u.qty += l.QuantityMilli
				u.amount += lineValue(s.Lines[l.Line], l)
				returned[l.Line] = u
			}
		}
	}
	seen := map[int]bool{}
	var out []kvitt.ReturnLine
	var total int64
	for i, rl := range in {
		field := fmt.Sprintf("lines[%d]", i)
		if rl.Line < 0 || rl.Line >= len(s.Lines) {
			return nil, 0, kvitt.FieldError(field+".line", "the sale has lines 0 to %d", len(s.Lines)-1)
		}
		if seen[rl.Line] {
			return nil, 0, kvitt.FieldError(field+".line", "line %d is named twice", rl.Line)
		}
		seen[rl.Line] = true
		sold, u := s.Lines[rl.Line], returned[rl.Line]
		left := sold.QuantityMilli - u.qty
		if rl.QuantityMilli <= 0 {
			return nil, 0, kvitt.FieldError(field+".quantity", "must be above zero")
		}
		if rl.QuantityMilli > left {
			return nil, 0, kvitt.FieldError(field+".quantity", "%s is more than the %s of %q left to return",
				kvitt.FormatQuantity(rl.QuantityMilli), kvitt.FormatQuantity(left), sold.Name)
		}
		amountLeft := max(sold.Total-u.amount, 0)
		rl.Total = amountLeft
		if rl.QuantityMilli < left {
			rl.Total = min(lineShare(sold, u.qty+rl.QuantityMilli)-lineShare(sold, u.qty), amountLeft)
		}
		total += rl.Total
		out = append(out, rl)
	}
	return out, total, nil
}

// lineShare is what qty of a sold line is worth at the line's own price
// after its discount, in proportion and rounded half up.
func lineShare(sold kvitt.SaleLine, qty int64) int64 {
	if qty == sold.QuantityMilli || sold.QuantityMilli <= 0 {
		return sold.Total
	}
	n := new(big.Int).Mul(big.NewInt(sold.Total), big.NewInt(2*qty))
	n.Add(n, big.NewInt(sold.QuantityMilli))
	return n.Quo(n, big.NewInt(2*sold.QuantityMilli)).Int64()
}

// lineValue is what a return line is worth: its total, fixed when its
// refund was created (refunds from before totals were kept: in proportion).
func lineValue(sold kvitt.SaleLine, rl kvitt.ReturnLine) int64 {
	if rl.Total != 0 {
		return rl.Total
	}
	return lineShare(sold, rl.QuantityMilli)
}

// returnedLine is the receipt line of a return line: the sold line with the
// quantity and value taken back; a discounted line shows its share of the
// discount.
func returnedLine(sold kvitt.SaleLine, rl kvitt.ReturnLine) kvitt.SaleLine {
	l := sold
	total := lineValue(sold, rl)
	if rl.QuantityMilli == sold.QuantityMilli && total == sold.Total {
		return l
	}
	l.QuantityMilli, l.Total, l.Discount = rl.QuantityMilli, total, 0
	if gross, ok := kvitt.MulAmount(sold.UnitPrice, rl.QuantityMilli); ok && sold.Discount != 0 && gross > total {
		l.Discount = gross - total
	}
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

// proportionalVAT splits amount over the rates in proportion to the goods
// left at each (the sale's own split when nothing is recorded as left), by
// largest remainder: the split adds up to amount, and no rate gets more
// than is left at it when amount is not more than is left in all.
func proportionalVAT(s *kvitt.Sale, left map[int64]int64, amount int64) []kvitt.VATTotal {
	var rates []int64
	weight := map[int64]int64{}
	var sum int64
	for _, v := range s.VAT {
		if w := left[v.Rate]; w > 0 {
			weight[v.Rate] += w
			sum += w
		}
	}
	if sum == 0 {
		for _, v := range s.VAT {
			weight[v.Rate] += max(v.Gross, 0)
			sum += max(v.Gross, 0)
		}
	}
	for rate, w := range weight {
		if w > 0 {
			rates = append(rates, rate)
		}
	}
	sort.Slice(rates, func(i, j int) bool { return rates[i] > rates[j] })
	if len(rates) == 0 {
		return nil
	}
	share := map[int64]int64{}
	rem := map[int64]int64{}
	rest := amount
	for _, rate := range rates {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(big.NewInt(amount), big.NewInt(weight[rate])), big.NewInt(sum), new(big.Int))
		share[rate], rem[rate] = q.Int64(), r.Int64()
		rest -= share[rate]
	}
	byRem := append([]int64(nil), rates...)
	sort.SliceStable(byRem, func(i, j int) bool { return rem[byRem[i]] > rem[byRem[j]] })
	for i := 0; rest > 0; i = (i + 1) % len(byRem) {
		share[byRem[i]]++
		rest--
	}
	var out []kvitt.VATTotal
	for _, rate := range rates {
		if g := share[rate]; g != 0 {
			vat := kvitt.VATOf(g, rate)
			out = append(out, kvitt.VATTotal{Rate: rate, Gross: g, Net: g - vat, VAT: vat})
		}
	}
	return out
}

// issueReturn issues the return receipt of a succeeded refund on a completed
// sale, in the refund's transaction: the goods with their VAT, the tip
// refund (no VAT) and the cash rounding on the tender. A refund of only the
// tip has a receipt without goods.
func (h *Hub) issueReturn(tx kvitt.Tx, s *kvitt.Sale, p *kvitt.Payment, r *kvitt.Refund, now time.Time) (*kvitt.Receipt, error) {
	typ := kvitt.ReceiptNormal
	if s.Training {
		typ = kvitt.ReceiptTraining
	}
	rc, err := h.newReceipt(tx, s, typ, nil, now)
	if err != nil {
		return nil, err
	}
	left, err := returnsLeft(tx, s, r.ID)
	if err != nil {
		return nil, err
	}
	goods := r.Goods()
	rc.Kind = kvitt.ReceiptReturn
	rc.Total, rc.Tip, rc.Lines, rc.VAT = goods, r.Tip, nil, nil
	switch {
	case len(r.Lines) > 0:
		for _, rl := range r.Lines {
			if rl.Line < 0 || rl.Line >= len(s.Lines) {
				return nil, kvitt.Errorf(kvitt.EINTERNAL, "return line %d is not on sale %s", rl.Line, s.ID)
			}
			rc.Lines = append(rc.Lines, returnedLine(s.Lines[rl.Line], rl))
		}
		rc.VAT = vatSplit(rc.Lines)
	case goods != 0:
		rc.Lines = []kvitt.SaleLine{{Name: "Återbetalning", QuantityMilli: 1000, UnitPrice: goods, Total: goods}}
		rc.VAT = proportionalVAT(s, left.gross, goods)
		if len(rc.VAT) == 1 {
			rc.Lines[0].VATRate = rc.VAT[0].Rate
		}
	}
	// The return that takes the last goods of a rate takes the rest of its
	// VAT, so that returns never carry more VAT than the sale (nor less),
	// when the rest is within one öre of the rate's VAT on its gross (what
	// the control unit accepts).
	for i, v := range rc.VAT {
		if v.Gross == left.gross[v.Rate] && !left.busy[v.Rate] && left.unsplit == 0 {
			rest, den := left.vat[v.Rate], 10000+v.Rate
			if rest >= 0 && rest <= v.Gross && abs(rest*den-v.Gross*v.Rate) <= den {
				rc.VAT[i].VAT, rc.VAT[i].Net = rest, v.Gross-rest
			}
		}
	}
	rc.Tenders = []kvitt.Tender{{PaymentID: p.ID, Method: p.Method, Amount: r.Amount - r.Tip, Tip: r.Tip, Rounding: r.Rounding,
		Reference: r.Reference, Card: p.Card}}
	if err := h.issue(tx, rc, now); err != nil {
		return nil, err
	}
	return rc, nil
}
