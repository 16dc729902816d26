// Package report computes and renders the X and Z daily reports of a Swedish
// cash register (SKVFS 2014:9; see docs/receipts.md): a pure function over a
// period's receipts. An X report is read-only and may be taken any time; a Z
// report has its own serial number and closes the period. Numbering Z
// reports, choosing the period and "resetting the day" are the hub's: it
// fills Options and stores the result.
package report

import (
	"sort"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Kind tells an X report from a Z report.
type Kind string

const (
	X Kind = "X" // a reading: resets nothing, has no serial
	Z Kind = "Z" // the day's closing report, with its own serial
)

// Counter is a number of receipts (or items) and their amount in minor units.
type Counter struct {
	Count  int64 `json:"count"`
	Amount int64 `json:"amount"`
}

func (c *Counter) add(amount int64) { c.Count++; c.Amount += amount }

// VATLine is the VAT for one rate: gross (incl. VAT), net and VAT, in minor units.
type VATLine struct {
	Rate  int64 `json:"rate"` // basis points
	Gross int64 `json:"gross"`
	Net   int64 `json:"net"`
	VAT   int64 `json:"vat"`
}

// PaymentTotal is what one means of payment took in a period: sales minus
// returns, including cash rounding (what the drawer or the account really
// moved) and excluding tips, which are counted apart.
type PaymentTotal struct {
	Method string `json:"method"`
	Count  int64  `json:"count"`  // tenders on sales and returns
	Amount int64  `json:"amount"` // sales − returns
	Tip    int64  `json:"tip"`
}

// GrandTotals are the register's running totals since it was put in use
// (försäljning, returer and netto, all positive except Net which may be negative).
type GrandTotals struct {
	Sales   int64 `json:"sales"`
	Returns int64 `json:"returns"`
	Net     int64 `json:"net"`
}

// Options is what the hub knows about the report beyond the receipts.
type Options struct {
	Kind   Kind
	Serial int64 // Z serial number (0 for an X report)
	// The period the receipts cover; the hub picks the receipts.
	PeriodStart, PeriodEnd time.Time
	Generated              time.Time
	TillID, RegisterID     string
	MerchantName, OrgNr    string
	StoreName, Address     string
	Currency               kvitt.Currency
	// GrandTotalsBefore are the running totals at the start of the period
	// (the previous Z report's GrandTotals); the report adds the period to them.
	GrandTotalsBefore GrandTotals
}

// Report is an X or Z report. Amounts are integers in minor units of
// Currency; returns are counted as positive amounts in their own counters.
type Report struct {
	Kind        Kind      `json:"kind"`
	Serial      int64     `json:"serial,omitempty"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Generated   time.Time `json:"generated"`

	TillID       string         `json:"till_id,omitempty"`
	RegisterID   string         `json:"register_id"`
	MerchantName string         `json:"merchant_name"`
	OrgNr        string         `json:"org_nr"`
	StoreName    string         `json:"store_name,omitempty"`
	Address      string         `json:"address,omitempty"`
	Currency     kvitt.Currency `json:"currency"`

	// Sales and Returns count normal receipts only: copies, training and pro
	// forma receipts are in their own counters and in no total.
	Sales           Counter   `json:"sales"`
	Returns         Counter   `json:"returns"`
	SalesNet        int64     `json:"sales_net"`   // sales excl. VAT
	ReturnsNet      int64     `json:"returns_net"` // returns excl. VAT
	NetSales        int64     `json:"net_sales"`   // sales − returns, incl. VAT
	NetSalesExclVAT int64     `json:"net_sales_excl_vat"`
	VATSales        []VATLine `json:"vat_sales"`
	VATReturns      []VATLine `json:"vat_returns"`
	VATNet          []VATLine `json:"vat_net"` // sales − returns per rate

	// Copies, Training and ProForma amounts are their receipts' totals, a
	// return's counted negative.
	Copies   Counter `json:"copies"`
	Training Counter `json:"training"`
	ProForma Counter `json:"pro_forma"`

	Payments  []PaymentTotal `json:"payments"`
	Tips      Counter        `json:"tips"`     // sale receipts with a tip, and the tips less the tips refunded
	Rounding  int64          `json:"rounding"` // öresavrundning, sum over cash tenders (on returns subtracted)
	Discounts Counter        `json:"discounts"`
	// TipRefunds are the return receipts that give a tip back, and the tips
	// given back (positive): a tip refund is no return of goods and has no VAT.
	TipRefunds Counter `json:"tip_refunds"`
	// ReturnRounding is the öresavrundning on returns, as recorded on the
	// refunds (negative: the drawer paid out less than the goods); Rounding
	// has it subtracted.
	ReturnRounding int64 `json:"return_rounding"`
	// Quantities of goods and services, in thousandths (as SaleLine.QuantityMilli).
	ItemsSoldMilli     int64 `json:"items_sold_milli"`
	ItemsReturnedMilli int64 `json:"items_returned_milli"`

	Receipts    int64 `json:"receipts"` // every receipt in the period, all types
	FirstSerial int64 `json:"first_serial"`
	LastSerial  int64 `json:"last_serial"`
	// Unregistered counts receipts still pending with the control unit.
	Unregistered int64 `json:"unregistered"`

	GrandTotals GrandTotals `json:"grand_totals"`
}

// Compute builds the report for receipts, the period's receipts of one
// register. It does not look at the period: the caller selects receipts.
func Compute(receipts []*kvitt.Receipt, opts Options) *Report {
	rep := &Report{
		Kind: opts.Kind, Serial: opts.Serial, PeriodStart: opts.PeriodStart, PeriodEnd: opts.PeriodEnd,
		Generated: opts.Generated, TillID: opts.TillID, RegisterID: opts.RegisterID,
		MerchantName: opts.MerchantName, OrgNr: opts.OrgNr, StoreName: opts.StoreName,
		Address: opts.Address, Currency: opts.Currency,
		VATSales: []VATLine{}, VATReturns: []VATLine{}, VATNet: []VATLine{}, Payments: []PaymentTotal{},
	}
	if rep.Kind == "" {
		rep.Kind = X
	}
	if rep.Kind == X {
		rep.Serial = 0
	}
	vatSales, vatReturns := map[int64]*VATLine{}, map[int64]*VATLine{}
	payments := map[string]*PaymentTotal{}
	for _, r := range receipts {
		if r == nil {
			continue
		}
		if rep.Currency == "" {
			rep.Currency = r.Currency
		}
		rep.Receipts++
		if rep.FirstSerial == 0 || r.Serial < rep.FirstSerial {
			rep.FirstSerial = r.Serial
		}
		if r.Serial > rep.LastSerial {
			rep.LastSerial = r.Serial
		}
		if r.Registration == kvitt.RegistrationPending {
			rep.Unregistered++
		}
		ret := r.Kind == kvitt.ReceiptReturn
		total := abs(r.Total)
		sign := int64(1)
		if ret {
			sign = -1
		}
		switch r.Type {
		case kvitt.ReceiptCopy:
			rep.Copies.add(sign * total)
			continue
		case kvitt.ReceiptTraining:
			rep.Training.add(sign * total)
			continue
		case kvitt.ReceiptProForma:
			rep.ProForma.add(sign * total)
			continue
		}
		vats := vatSales
		if ret {
			if total != 0 || len(r.Lines) > 0 { // a refund of only a tip returns no goods
				rep.Returns.add(total)
			}
			vats = vatReturns
		} else {
			rep.Sales.add(total)
		}
		for _, v := range r.VAT {
			l := vats[v.Rate]
			if l == nil {
				l = &VATLine{Rate: v.Rate}
				vats[v.Rate] = l
			}
			l.Gross += abs(v.Gross)
			l.Net += abs(v.Net)
			l.VAT += abs(v.VAT)
		}
		for _, l := range r.Lines {
			if ret {
				rep.ItemsReturnedMilli += l.QuantityMilli
			} else {
				rep.ItemsSoldMilli += l.QuantityMilli
				if l.Discount != 0 {
					rep.Discounts.add(l.Discount)
				}
			}
		}
		switch {
		case r.Tip != 0 && ret:
			rep.TipRefunds.add(abs(r.Tip))
			rep.Tips.Amount -= abs(r.Tip)
		case r.Tip != 0:
			rep.Tips.add(abs(r.Tip))
		}
		for _, t := range r.Tenders {
			p := payments[t.Method]
			if p == nil {
				p = &PaymentTotal{Method: t.Method}
				payments[t.Method] = p
			}
			p.Count++
			p.Amount += sign * abs(t.Amount)
			p.Tip += sign * abs(t.Tip)
			rep.Rounding += sign * t.Rounding
			if ret {
				rep.ReturnRounding += t.Rounding
			}
		}
	}
	rep.VATSales = sorted(vatSales)
	rep.VATReturns = sorted(vatReturns)
	for _, l := range rep.VATSales {
		rep.SalesNet += l.Net
	}
	for _, l := range rep.VATReturns {
		rep.ReturnsNet += l.Net
	}
	net := map[int64]*VATLine{}
	for _, l := range rep.VATSales {
		c := l
		net[l.Rate] = &c
	}
	for _, l := range rep.VATReturns {
		n := net[l.Rate]
		if n == nil {
			n = &VATLine{Rate: l.Rate}
			net[l.Rate] = n
		}
		n.Gross -= l.Gross
		n.Net -= l.Net
		n.VAT -= l.VAT
	}
	rep.VATNet = sorted(net)
	rep.NetSales = rep.Sales.Amount - rep.Returns.Amount
	rep.NetSalesExclVAT = rep.SalesNet - rep.ReturnsNet
	for _, p := range payments {
		rep.Payments = append(rep.Payments, *p)
	}
	sort.Slice(rep.Payments, func(i, j int) bool { return rep.Payments[i].Method < rep.Payments[j].Method })
	g := opts.GrandTotalsBefore
	rep.GrandTotals = GrandTotals{Sales: g.Sales + rep.Sales.Amount, Returns: g.Returns + rep.Returns.Amount}
	rep.GrandTotals.Net = rep.GrandTotals.Sales - rep.GrandTotals.Returns
	return rep
}

func sorted(m map[int64]*VATLine) []VATLine {
	out := make([]VATLine, 0, len(m))
	for _, l := range m {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rate > out[j].Rate })
	return out
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
