package receipt_test

import (
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
)

// A return receipt shows a tip given back as a tip refund, apart from the
// goods, and the cash rounding of a refund like a payment's.
func TestReturnTipAndRounding(t *testing.T) {
	card := base(t)
	card.Kind, card.Serial = kvitt.ReceiptReturn, 1010
	card.Lines = []kvitt.SaleLine{{Name: "Middag", QuantityMilli: 1000, UnitPrice: 10000, VATRate: 2500, Total: 10000}}
	card.Total, card.Tip = 10000, 1000
	card.VAT = []kvitt.VATTotal{{Rate: 2500, Gross: 10000, Net: 8000, VAT: 2000}}
	card.Tenders = []kvitt.Tender{{PaymentID: "pay_05", Method: "card", Amount: 10000, Tip: 1000, Card: visa}}
	text := receipt.Text(card, receipt.Width42)
	for _, want := range []string{"Återbetald dricks", "-10,00", "Totalt återbetalt", "-110,00"} {
		if !strings.Contains(text, want) {
			t.Errorf("card return lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"Totalt debiterat", "\nDricks"} {
		if strings.Contains(text, not) {
			t.Errorf("card return shows %q:\n%s", not, text)
		}
	}
	html, err := receipt.HTML(card)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "Återbetald dricks") || !strings.Contains(string(html), "Totalt återbetalt") {
		t.Errorf("HTML card return:\n%s", html)
	}

	cash := base(t)
	cash.Kind, cash.Serial = kvitt.ReceiptReturn, 1011
	cash.Lines = []kvitt.SaleLine{{Name: "Vara", QuantityMilli: 1000, UnitPrice: 3247, VATRate: 2500, Total: 3247}}
	cash.Total = 3247
	cash.VAT = []kvitt.VATTotal{{Rate: 2500, Gross: 3247, Net: 2598, VAT: 649}}
	cash.Tenders = []kvitt.Tender{{PaymentID: "pay_06", Method: "cash", Amount: 3200, Rounding: -47}}
	text = receipt.Text(cash, receipt.Width42)
	for _, want := range []string{"Återbetalt kontant", "-32,00", "Öresavrundning", "0,47", "-32,47"} {
		if !strings.Contains(text, want) {
			t.Errorf("cash return lacks %q:\n%s", want, text)
		}
	}
}
