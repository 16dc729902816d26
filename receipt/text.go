package receipt

import (
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// style says how a printer line is emphasised.
type style int

const (
	plain   style = iota
	heading       // bold, centred
	mark          // KOPIA / ÖVNING / EJ KVITTO: twice the amount text size
	big           // the total: bold
)

type line struct {
	text  string
	style style
}

// builder lays a receipt out in lines of a fixed width.
type builder struct {
	w     int
	lines []line
	// rows, when set, collects lr's pairs as they are (for HTML).
	rows *[]htmlRow
}

func (b *builder) add(s string, st style) { b.lines = append(b.lines, line{s, st}) }
func (b *builder) blank()                 { b.add("", plain) }
func (b *builder) rule(c string)          { b.add(strings.Repeat(c, b.w), plain) }

func (b *builder) centre(s string, st style) {
	for _, l := range wrap(s, b.w) {
		b.add(center(l, b.w), st)
	}
}

// lr puts left and right on one line, right-aligned; a left text too long
// for that wraps, with right on its last line (or a line of its own).
func (b *builder) lr(left, right string, st style) {
	if b.rows != nil {
		*b.rows = append(*b.rows, htmlRow{Left: strings.TrimSpace(left), Right: right, Sub: strings.HasPrefix(left, "  ")})
		return
	}
	if textWidth(left)+1+textWidth(right) <= b.w {
		b.add(padRight(left, b.w-textWidth(right))+right, st)
		return
	}
	ls := wrap(left, b.w)
	for _, l := range ls[:len(ls)-1] {
		b.add(l, st)
	}
	last := ls[len(ls)-1]
	if textWidth(last)+1+textWidth(right) <= b.w {
		b.add(padRight(last, b.w-textWidth(right))+right, st)
	} else {
		b.add(last, st)
		b.add(padLeft(right, b.w), st)
	}
}

// Text renders r for a receipt printer width characters wide (42 or 48; any
// width from 32 up works). Marks are printed as a framed block of spaced
// capitals repeated on two lines, twice the amount text's width and height,
// at the top and the bottom of the receipt.
func Text(r *kvitt.Receipt, width int) string {
	var sb strings.Builder
	for _, l := range layout(r, width) {
		if l.style == mark {
			for _, m := range textMark(l.text, width) {
				sb.WriteString(m)
				sb.WriteByte('\n')
			}
			continue
		}
		sb.WriteString(strings.TrimRight(l.text, " "))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// textMark draws a mark in plain text: a frame of '#', the mark's letters
// spaced (double width) on two lines (double height).
func textMark(m string, width int) []string {
	var sp []string
	for _, r := range m {
		if r == ' ' {
			sp = append(sp, " ")
			continue
		}
		sp = append(sp, string(r))
	}
	spaced := strings.Join(sp, " ")
	inner := width - 4
	row := "# " + padRight(center(spaced, inner), inner) + " #"
	frame := strings.Repeat("#", width)
	return []string{frame, row, row, frame}
}

func layout(r *kvitt.Receipt, width int) []line {
	r = safe(r)
	if width < 32 {
		width = 32
	}
	b := &builder{w: width}
	cur := r.Currency
	m := Mark(r.Type)
	if m != "" {
		b.add(m, mark)
	}
	if r.Registration == kvitt.RegistrationPending {
		b.pending()
	}
	b.centre(r.MerchantName, heading)
	if r.StoreName != "" && r.StoreName != r.MerchantName {
		b.centre(r.StoreName, plain)
	}
	if r.Address != "" {
		b.centre(r.Address, plain)
	}
	b.centre("Org.nr "+OrgNr(r.OrgNr), plain)
	b.blank()
	if r.Kind == kvitt.ReceiptReturn {
		b.centre("RETUR", heading)
		b.blank()
	}
	b.lr("Datum", Time(r.Issued), plain)
	b.lr("Kvitto nr", sprintf("%d", r.Serial), plain)
	b.lr("Kassa", r.RegisterID, plain)
	if r.Type == kvitt.ReceiptCopy && r.CopySerial != 0 {
		b.lr("Kopia av kvitto nr", sprintf("%d", r.CopySerial), plain)
		if !r.CopyTime.IsZero() {
			b.lr("Originalets tid", Time(r.CopyTime), plain)
		}
	}
	b.rule("-")
	for _, l := range r.Lines {
		gross := l.Total + l.Discount
		if l.QuantityMilli == 1000 && l.Discount == 0 {
			b.lr(l.Name, Amount(signed(r, l.Total), cur), plain)
		} else {
			b.lr(l.Name, "", plain)
			b.lr("  "+Quantity(l.QuantityMilli)+" x "+Amount(l.UnitPrice, cur), Amount(signed(r, gross), cur), plain)
		}
		if l.Discount != 0 {
			b.lr("  Rabatt", Amount(-signed(r, l.Discount), cur), plain)
		}
	}
	b.rule("-")
	b.lr("TOTALT "+string(cur), Amount(signed(r, r.Total), cur), big)
	b.blank()
	b.vat(r)
	b.rule("-")
	b.tenders(r)
	if r.Tip != 0 {
		tip, charged := tipLabels(r)
		b.lr(tip, Amount(signed(r, r.Tip), cur), plain)
		b.lr(charged, Amount(signed(r, totalCharged(r)), cur), big)
	}
	b.rule("-")
	switch r.Registration {
	case kvitt.RegistrationRegistered:
		b.lr("Kontrollenhet", r.ControlUnitID, plain)
		if r.ControlCode != "" {
			b.lr("Kontrollkod", "", plain)
			b.lr("  "+groups(r.ControlCode), "", plain)
		}
	case kvitt.RegistrationPending:
		b.pending()
	}
	b.blank()
	switch {
	case r.Type == kvitt.ReceiptProForma:
		b.centre("Detta är inte ett kassakvitto", plain)
	case r.Type == kvitt.ReceiptTraining:
		b.centre("Övningskvitto, ingen försäljning", plain)
	case r.Kind == kvitt.ReceiptReturn:
		b.centre("Spara kvittot", plain)
	default:
		b.centre("Tack för ditt köp!", plain)
	}
	if m != "" {
		b.add(m, mark)
	}
	return b.lines
}

func (b *builder) pending() {
	b.rule("!")
	b.centre("EJ REGISTRERAT I KONTROLLENHET", heading)
	b.centre("Kvittot är inte registrerat ännu och får inte lämnas ut som kassakvitto.", plain)
	b.rule("!")
}

// vat prints the VAT split as a table: Moms %, Moms, Netto, Brutto.
func (b *builder) vat(r *kvitt.Receipt) {
	if len(r.VAT) == 0 {
		return
	}
	cur := r.Currency
	col := (b.w - 8) / 3
	row := func(a, c, d, e string) {
		b.add(padRight(a, 8)+padLeft(c, col)+padLeft(d, col)+padLeft(e, b.w-8-2*col), plain)
	}
	row("Moms %", "Moms", "Netto", "Brutto")
	var vat, net, gross int64
	for _, v := range r.VAT {
		row(Rate(v.Rate), Amount(signed(r, v.VAT), cur), Amount(signed(r, v.Net), cur), Amount(signed(r, v.Gross), cur))
		vat, net, gross = vat+abs(v.VAT), net+abs(v.Net), gross+abs(v.Gross)
	}
	if len(r.VAT) > 1 {
		row("Summa", Amount(sign(r)*vat, cur), Amount(sign(r)*net, cur), Amount(sign(r)*gross, cur))
	}
}

// tipLabels name a receipt's tip and its total with the tip: a return
// gives the tip back (a tip refund, apart from the goods and without VAT).
func tipLabels(r *kvitt.Receipt) (tip, charged string) {
	if r.Kind == kvitt.ReceiptReturn {
		return "Återbetald dricks", "Totalt återbetalt"
	}
	return "Dricks", "Totalt debiterat"
}

func (b *builder) tenders(r *kvitt.Receipt) {
	cur := r.Currency
	for _, t := range r.Tenders {
		label := MethodLabel(t.Method)
		if r.Kind == kvitt.ReceiptReturn {
			label = "Återbetalt " + strings.ToLower(label[:1]) + label[1:]
		}
		// A tip is paid on top of the tender's share of the sale: the
		// tender line shows what was charged, with the tip "varav dricks".
		b.lr(label, Amount(signed(r, t.Amount+t.Tip), cur), plain)
		if t.Rounding != 0 {
			// Rounding is included in Amount; shown with its own sign.
			b.lr("  Öresavrundning", Amount(sign(r)*t.Rounding, cur), plain)
		}
		if t.Tendered != 0 {
			b.lr("  Mottaget", Amount(t.Tendered, cur), plain)
		}
		if t.Change != 0 {
			b.lr("  Växel", Amount(t.Change, cur), plain)
		}
		if t.Tip != 0 {
			b.lr("  varav dricks", Amount(signed(r, t.Tip), cur), plain)
		}
		if c := t.Card; c != nil {
			b.card(t)
			if c.SignatureRequired {
				b.lr("  Signeras på butikens exemplar", "", plain)
			}
		} else if t.Reference != "" && t.Method != "cash" {
			b.lr("  Referens", t.Reference, plain)
		}
	}
}

// groups splits a control code into groups of eight for reading aloud.
func groups(code string) string {
	var parts []string
	for len(code) > 8 {
		parts = append(parts, code[:8])
		code = code[8:]
	}
	return strings.Join(append(parts, code), " ")
}

// card prints the card data of a tender, indented under its tender line.
func (b *builder) card(t kvitt.Tender) {
	c := t.Card
	brand := c.Brand
	if c.ApplicationLabel != "" && c.ApplicationLabel != brand {
		brand = strings.TrimSpace(brand + " " + c.ApplicationLabel)
	}
	b.lr("  "+brand, c.MaskedPAN, plain)
	if c.AID != "" {
		b.lr("  AID", c.AID, plain)
	}
	if c.EntryMode != "" {
		b.lr("  Läsmetod", translate(entryModes, c.EntryMode), plain)
	}
	if c.Verification != "" {
		b.lr("  Verifiering", translate(verifications, c.Verification), plain)
	}
	if c.AuthCode != "" {
		b.lr("  Auth.kod", c.AuthCode, plain)
	}
	if c.TerminalID != "" {
		b.lr("  Terminal", c.TerminalID, plain)
	}
	ref := c.TransactionRef
	if ref == "" {
		ref = t.Reference
	}
	if ref != "" {
		b.lr("  Referens", ref, plain)
	}
	if c.ResultText != "" {
		b.lr("  "+c.ResultText, "", plain)
	}
}

// MerchantCopy renders the card slip the merchant keeps when the terminal
// asked for the cardholder's signature ("butikens exemplar"), and reports
// whether one is needed. Without a signature request no merchant copy is
// printed: the customer's receipt carries all the card data.
func MerchantCopy(r *kvitt.Receipt, width int) (string, bool) {
	r = safe(r)
	var signed []kvitt.Tender
	for _, t := range r.Tenders {
		if t.Card != nil && t.Card.SignatureRequired {
			signed = append(signed, t)
		}
	}
	if len(signed) == 0 {
		return "", false
	}
	if width < 32 {
		width = 32
	}
	b := &builder{w: width}
	b.centre(r.MerchantName, heading)
	if r.Address != "" {
		b.centre(r.Address, plain)
	}
	b.centre("Org.nr "+OrgNr(r.OrgNr), plain)
	b.blank()
	b.centre("BUTIKENS EXEMPLAR", heading)
	b.blank()
	b.lr("Datum", Time(r.Issued), plain)
	b.lr("Kvitto nr", sprintf("%d", r.Serial), plain)
	b.lr("Kassa", r.RegisterID, plain)
	for _, t := range signed {
		b.rule("-")
		what := "KÖP"
		if r.Kind == kvitt.ReceiptReturn {
			what = "ÅTERKÖP"
		}
		b.lr(what, Amount(t.Amount+t.Tip, r.Currency)+" "+string(r.Currency), big)
		if t.Tip != 0 {
			b.lr("  varav dricks", Amount(t.Tip, r.Currency), plain)
		}
		b.card(t)
		b.blank()
		b.blank()
		b.add("Signatur: "+strings.Repeat("_", max(width-10, 10)), plain)
		b.blank()
		b.add("Namnförtydligande: "+strings.Repeat("_", max(width-19, 10)), plain)
	}
	b.blank()
	b.centre("Spara detta exemplar", plain)
	var sb strings.Builder
	for _, l := range b.lines {
		sb.WriteString(strings.TrimRight(l.text, " "))
		sb.WriteByte('\n')
	}
	return sb.String(), true
}
