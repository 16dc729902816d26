package receipt

import (
	"bytes"
	"html/template"

	"github.com/kvitt-hub/kvitt"
)

// HTML renders r as a self-contained, printable HTML page (inline CSS, no
// scripts or outside resources). Amounts are set at 1em; a mark (KOPIA,
// ÖVNING, EJ KVITTO) at 2em, twice the amount text, at the top and bottom.
func HTML(r *kvitt.Receipt) ([]byte, error) { return HTMLWith(r, HTMLOptions{}) }

// HTMLOptions adjusts the HTML rendering.
type HTMLOptions struct {
	// Electronic marks the page as an electronic receipt sent to the customer
	// instead of a printed one: SKVFS 2014:9 7 kap. 1 § then requires the
	// words "Elektroniskt kassakvitto".
	Electronic bool
}

// HTMLWith renders r as HTML with options.
func HTMLWith(r *kvitt.Receipt, o HTMLOptions) ([]byte, error) {
	v := view(r)
	v.Electronic = o.Electronic
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type htmlRow struct {
	Left, Right string
	Sub         bool
}

type htmlLine struct {
	Name, Detail, Amount, Discount string
}

type htmlVAT struct{ Rate, VAT, Net, Gross string }

type htmlView struct {
	Title, Mark, MerchantName, StoreName, Address, OrgNr string
	Return, Pending, Registered, Electronic              bool
	Head                                                 []htmlRow
	Lines                                                []htmlLine
	Currency, Total                                      string
	VAT                                                  []htmlVAT
	VATSum                                               *htmlVAT
	Payments                                             []htmlRow
	Tip, TotalCharged, TipLabel, ChargedLabel            string
	UnitID, Code, Footer                                 string
}

func view(r *kvitt.Receipt) *htmlView {
	r = safe(r)
	cur := r.Currency
	v := &htmlView{
		Title: sprintf("Kvitto %d – %s", r.Serial, r.MerchantName), Mark: Mark(r.Type),
		MerchantName: r.MerchantName, Address: r.Address, OrgNr: OrgNr(r.OrgNr),
		Return: r.Kind == kvitt.ReceiptReturn, Pending: r.Registration == kvitt.RegistrationPending,
		Registered: r.Registration == kvitt.RegistrationRegistered,
		Currency:   string(cur), Total: Amount(signed(r, r.Total), cur),
		UnitID: r.ControlUnitID, Code: groups(r.ControlCode),
	}
	if r.StoreName != r.MerchantName {
		v.StoreName = r.StoreName
	}
	v.Head = []htmlRow{{Left: "Datum", Right: Time(r.Issued)}, {Left: "Kvitto nr", Right: sprintf("%d", r.Serial)}, {Left: "Kassa", Right: r.RegisterID}}
	if r.Type == kvitt.ReceiptCopy && r.CopySerial != 0 {
		v.Head = append(v.Head, htmlRow{Left: "Kopia av kvitto nr", Right: sprintf("%d", r.CopySerial)})
		if !r.CopyTime.IsZero() {
			v.Head = append(v.Head, htmlRow{Left: "Originalets tid", Right: Time(r.CopyTime)})
		}
	}
	for _, l := range r.Lines {
		hl := htmlLine{Name: l.Name, Amount: Amount(signed(r, l.Total+l.Discount), cur)}
		if l.QuantityMilli != 1000 || l.Discount != 0 {
			hl.Detail = Quantity(l.QuantityMilli) + " × " + Amount(l.UnitPrice, cur)
		}
		if l.Discount != 0 {
			hl.Discount = Amount(-signed(r, l.Discount), cur)
		}
		v.Lines = append(v.Lines, hl)
	}
	var vat, net, gross int64
	for _, x := range r.VAT {
		v.VAT = append(v.VAT, htmlVAT{Rate(x.Rate), Amount(signed(r, x.VAT), cur), Amount(signed(r, x.Net), cur), Amount(signed(r, x.Gross), cur)})
		vat, net, gross = vat+abs(x.VAT), net+abs(x.Net), gross+abs(x.Gross)
	}
	if len(r.VAT) > 1 {
		v.VATSum = &htmlVAT{"Summa", Amount(sign(r)*vat, cur), Amount(sign(r)*net, cur), Amount(sign(r)*gross, cur)}
	}
	// The payment rows are the text layout's: one source for what is shown.
	b := &builder{w: 1 << 10, rows: &v.Payments}
	b.tenders(r)
	if r.Tip != 0 {
		v.Tip, v.TotalCharged = Amount(signed(r, r.Tip), cur), Amount(signed(r, totalCharged(r)), cur)
		v.TipLabel, v.ChargedLabel = tipLabels(r)
	}
	switch {
	case r.Type == kvitt.ReceiptProForma:
		v.Footer = "Detta är inte ett kassakvitto"
	case r.Type == kvitt.ReceiptTraining:
		v.Footer = "Övningskvitto, ingen försäljning"
	case r.Kind == kvitt.ReceiptReturn:
		v.Footer = "Spara kvittot"
	default:
		v.Footer = "Tack för ditt köp!"
	}
	return v
}

var htmlTemplate = template.Must(template.New("receipt").Parse(`<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{margin:0;background:#eee;font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:14px;color:#000}
.receipt{max-width:24em;margin:1em auto;padding:1em 1.2em;background:#fff}
.amount,td,th{font-size:1em}
.mark{font-size:2em;font-weight:bold;text-align:center;letter-spacing:.2em;border:3px solid #000;margin:.3em 0;padding:.1em}
.pending{border:2px dashed #000;padding:.4em;text-align:center;font-weight:bold}
h1{font-size:1.2em;text-align:center;margin:.2em 0}
h2{font-size:1.2em;text-align:center;margin:.5em 0}
.center{text-align:center;margin:0}
table{width:100%;border-collapse:collapse}
td.r,th.r{text-align:right;white-space:nowrap}
th{font-weight:normal;text-align:left;border-bottom:1px solid #000}
.sub td:first-child{padding-left:1.2em}
.total td{font-weight:bold;border-top:1px dashed #000;border-bottom:1px dashed #000;padding:.2em 0}
hr{border:0;border-top:1px dashed #000}
.code{word-spacing:.3em}
@media print{body{background:#fff}.receipt{margin:0;max-width:none;padding:0}}
</style>
</head>
<body>
<main class="receipt">
{{with .Mark}}<div class="mark">{{.}}</div>{{end}}
{{if .Pending}}<p class="pending">EJ REGISTRERAT I KONTROLLENHET<br>Kvittot är inte registrerat ännu och får inte lämnas ut som kassakvitto.</p>{{end}}
<h1>{{.MerchantName}}</h1>
{{with .StoreName}}<p class="center">{{.}}</p>{{end}}
{{with .Address}}<p class="center">{{.}}</p>{{end}}
<p class="center">Org.nr {{.OrgNr}}</p>
{{if .Electronic}}<p class="center"><strong>Elektroniskt kassakvitto</strong></p>{{end}}
{{if .Return}}<h2>RETUR</h2>{{end}}
<table>{{range .Head}}<tr><td>{{.Left}}</td><td class="r">{{.Right}}</td></tr>{{end}}</table>
<hr>
<table>
{{range .Lines}}<tr><td>{{.Name}}{{with .Detail}}<br>&nbsp;&nbsp;{{.}}{{end}}</td><td class="r amount">{{.Amount}}</td></tr>
{{with .Discount}}<tr class="sub"><td>Rabatt</td><td class="r amount">{{.}}</td></tr>{{end}}{{end}}
<tr class="total"><td>TOTALT {{.Currency}}</td><td class="r amount">{{.Total}}</td></tr>
</table>
{{if .VAT}}<table>
<tr><th>Moms %</th><th class="r">Moms</th><th class="r">Netto</th><th class="r">Brutto</th></tr>
{{range .VAT}}<tr><td>{{.Rate}}</td><td class="r">{{.VAT}}</td><td class="r">{{.Net}}</td><td class="r">{{.Gross}}</td></tr>{{end}}
{{with .VATSum}}<tr><td>{{.Rate}}</td><td class="r">{{.VAT}}</td><td class="r">{{.Net}}</td><td class="r">{{.Gross}}</td></tr>{{end}}
</table>{{end}}
<hr>
<table>
{{range .Payments}}<tr{{if .Sub}} class="sub"{{end}}><td>{{.Left}}</td><td class="r amount">{{.Right}}</td></tr>{{end}}
{{with .Tip}}<tr><td>{{$.TipLabel}}</td><td class="r amount">{{.}}</td></tr>{{end}}
{{with .TotalCharged}}<tr class="total"><td>{{$.ChargedLabel}}</td><td class="r amount">{{.}}</td></tr>{{end}}
</table>
<hr>
{{if .Registered}}<table><tr><td>Kontrollenhet</td><td class="r">{{.UnitID}}</td></tr>{{with .Code}}<tr><td>Kontrollkod</td><td class="r code">{{.}}</td></tr>{{end}}</table>{{end}}
{{if .Pending}}<p class="pending">EJ REGISTRERAT I KONTROLLENHET</p>{{end}}
<p class="center">{{.Footer}}</p>
{{with .Mark}}<div class="mark">{{.}}</div>{{end}}
</main>
</body>
</html>
`))
