package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt/receipt"
)

type page struct {
	w  int
	sb strings.Builder
}

func (p *page) line(s string) { p.sb.WriteString(strings.TrimRight(s, " ") + "\n") }
func (p *page) rule()         { p.line(strings.Repeat("-", p.w)) }

func (p *page) centre(s string) {
	if n := utf8.RuneCountInString(s); n < p.w {
		s = strings.Repeat(" ", (p.w-n)/2) + s
	}
	p.line(s)
}

func (p *page) lr(left, right string) {
	n := p.w - utf8.RuneCountInString(left) - utf8.RuneCountInString(right)
	if n < 1 {
		p.line(left)
		p.line(strings.Repeat(" ", max(0, p.w-utf8.RuneCountInString(right))) + right)
		return
	}
	p.line(left + strings.Repeat(" ", n) + right)
}

// Text renders rep for a receipt printer width characters wide (42 or 48).
func Text(rep *Report, width int) string {
	if width < 32 {
		width = 32
	}
	p := &page{w: width}
	cur := rep.Currency
	amt := func(v int64) string { return receipt.Amount(v, cur) }
	title := "X RAPPORT"
	if rep.Kind == Z {
		title = "Z RAPPORT"
	}
	p.centre(title)
	if rep.Kind == X {
		p.centre("(avläsning, nollställer inget)")
	}
	p.centre(rep.MerchantName)
	if rep.StoreName != "" && rep.StoreName != rep.MerchantName {
		p.centre(rep.StoreName)
	}
	if rep.Address != "" {
		p.centre(rep.Address)
	}
	p.centre("Org.nr " + receipt.OrgNr(rep.OrgNr))
	p.line("")
	if rep.Kind == Z {
		p.lr("Z-rapport nr", fmt.Sprint(rep.Serial))
	}
	p.lr("Kassa", rep.RegisterID)
	if !rep.PeriodStart.IsZero() {
		p.lr("Period från", receipt.Time(rep.PeriodStart))
	}
	if !rep.PeriodEnd.IsZero() {
		p.lr("Period till", receipt.Time(rep.PeriodEnd))
	}
	if !rep.Generated.IsZero() {
		p.lr("Utskriven", receipt.Time(rep.Generated))
	}
	if rep.Receipts > 0 {
		p.lr("Kvitton nr", fmt.Sprintf("%d–%d", rep.FirstSerial, rep.LastSerial))
	}
	p.lr("Antal kvitton", fmt.Sprint(rep.Receipts))
	p.rule()

	p.line("FÖRSÄLJNING")
	p.lr("Antal", fmt.Sprint(rep.Sales.Count))
	p.lr("Försäljning inkl. moms", amt(rep.Sales.Amount))
	p.lr("Försäljning exkl. moms", amt(rep.SalesNet))
	p.vat(rep.VATSales, amt)
	p.lr("Sålda artiklar", receipt.Quantity(rep.ItemsSoldMilli))
	p.lr(fmt.Sprintf("Rabatter (%d)", rep.Discounts.Count), amt(rep.Discounts.Amount))
	p.rule()

	p.line("RETURER")
	p.lr("Antal", fmt.Sprint(rep.Returns.Count))
	p.lr("Returer inkl. moms", amt(rep.Returns.Amount))
	p.lr("Returer exkl. moms", amt(rep.ReturnsNet))
	p.vat(rep.VATReturns, amt)
	p.lr("Returnerade artiklar", receipt.Quantity(rep.ItemsReturnedMilli))
	p.rule()

	p.line("NETTO")
	p.lr("Netto inkl. moms", amt(rep.NetSales))
	p.lr("Netto exkl. moms", amt(rep.NetSalesExclVAT))
	p.vat(rep.VATNet, amt)
	p.rule()

	p.line("BETALMEDEL")
	for _, pt := range rep.Payments {
		p.lr(fmt.Sprintf("%s (%d)", receipt.MethodLabel(pt.Method), pt.Count), amt(pt.Amount))
		if pt.Tip != 0 {
			p.lr("  därtill dricks", amt(pt.Tip))
		}
	}
	p.lr("Öresavrundning", amt(rep.Rounding))
	p.lr(fmt.Sprintf("Dricks (%d)", rep.Tips.Count), amt(rep.Tips.Amount))
	p.rule()

	p.lr(fmt.Sprintf("Kvittokopior (%d)", rep.Copies.Count), amt(rep.Copies.Amount))
	p.lr(fmt.Sprintf("Övningskvitton (%d)", rep.Training.Count), amt(rep.Training.Amount))
	p.lr(fmt.Sprintf("Proformakvitton (%d)", rep.ProForma.Count), amt(rep.ProForma.Amount))
	if rep.Unregistered > 0 {
		p.lr("EJ REGISTRERADE KVITTON", fmt.Sprint(rep.Unregistered))
	}
	p.rule()

	p.line("GRAND TOTAL")
	p.lr("Försäljning", amt(rep.GrandTotals.Sales))
	p.lr("Returer", amt(rep.GrandTotals.Returns))
	p.lr("Netto", amt(rep.GrandTotals.Net))
	p.rule()
	if rep.Kind == Z {
		p.centre("Dagen är avslutad")
	}
	return p.sb.String()
}

func (p *page) vat(lines []VATLine, amt func(int64) string) {
	if len(lines) == 0 {
		return
	}
	col := (p.w - 8) / 3
	row := func(a, b, c, d string) {
		p.line(pad(a, 8, false) + pad(b, col, true) + pad(c, col, true) + pad(d, p.w-8-2*col, true))
	}
	row("Moms %", "Moms", "Netto", "Brutto")
	for _, l := range lines {
		row(receipt.Rate(l.Rate), amt(l.VAT), amt(l.Net), amt(l.Gross))
	}
}

func pad(s string, n int, left bool) string {
	k := n - utf8.RuneCountInString(s)
	if k <= 0 {
		return s
	}
	if left {
		return strings.Repeat(" ", k) + s
	}
	return s + strings.Repeat(" ", k)
}
