package receipt_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var issued = time.Date(2026, 11, 23, 13, 5, 9, 0, time.UTC) // 14:05:09 in Stockholm

func lines(t *testing.T, ls ...kvitt.SaleLine) ([]kvitt.SaleLine, int64, []kvitt.VATTotal) {
	t.Helper()
	s := kvitt.Sale{Currency: kvitt.SEK, Lines: ls}
	if err := s.ComputeTotals(nil); err != nil {
		t.Fatal(err)
	}
	return s.Lines, s.Total, s.VAT
}

var visa = &kvitt.CardData{
	MaskedPAN: "************1234", Brand: "VISA", ApplicationLabel: "Visa Debit", AID: "A0000000031010",
	EntryMode: "Contactless", Verification: "PIN", AuthCode: "123456", TerminalID: "80012345",
	TransactionRef: "000123456789", ResultText: "Godkänd",
}

func base(t *testing.T) *kvitt.Receipt {
	ls, total, vat := lines(t,
		kvitt.SaleLine{ArticleNumber: "1001", Name: "Bryggkaffe", QuantityMilli: 2000, UnitPrice: 3500, VATRate: 1200},
		kvitt.SaleLine{ArticleNumber: "1002", Name: "Kanelbulle", QuantityMilli: 1000, UnitPrice: 3200, VATRate: 1200, Discount: 500},
		kvitt.SaleLine{ArticleNumber: "2001", Name: "Dagens Nyheter", QuantityMilli: 1000, UnitPrice: 4500, VATRate: 600},
		kvitt.SaleLine{ArticleNumber: "3001", Name: "Tygkasse", QuantityMilli: 1000, UnitPrice: 1990, VATRate: 2500},
		kvitt.SaleLine{ArticleNumber: "4001", Name: "Lösgodis, blandat, i påse med extra lång beskrivning", QuantityMilli: 350, UnitPrice: 12900, VATRate: 1200},
	)
	return &kvitt.Receipt{
		ID: "rcp_01", MerchantID: "mer_01", TillID: "till_1", SaleID: "sale_01",
		Serial: 1001, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Issued: issued,
		MerchantName: "Kvitt Demo AB", OrgNr: "5566778899", StoreName: "Kvitt Kiosk Odenplan",
		Address: "Odengatan 1, 113 22 Stockholm", RegisterID: "KASSA-0001",
		Currency: kvitt.SEK, Lines: ls, Total: total, VAT: vat,
		Tenders:      []kvitt.Tender{{PaymentID: "pay_01", Method: "swish", Amount: total, Reference: "A1B2C3D4E5F6"}},
		Registration: kvitt.RegistrationRegistered, ControlUnitID: "CU-SIM-0001",
		ControlCode: "TJIO4DMYRERE2R3PNPB3CN57TA6C5TXJ",
	}
}

func fixtures(t *testing.T) map[string]*kvitt.Receipt {
	normal := base(t)

	copy := base(t)
	copy.Type, copy.Serial, copy.CopyOf, copy.CopySerial, copy.CopyTime = kvitt.ReceiptCopy, 1007, "rcp_01", 1001, issued
	copy.Issued = issued.Add(2 * time.Hour)

	training := base(t)
	training.Type, training.Serial = kvitt.ReceiptTraining, 1002

	proforma := base(t)
	proforma.Type, proforma.Serial, proforma.Tenders, proforma.ControlCode = kvitt.ReceiptProForma, 1003, nil, ""

	ret := base(t)
	ls, total, vat := lines(t, kvitt.SaleLine{ArticleNumber: "3001", Name: "Tygkasse", QuantityMilli: 2000, UnitPrice: 1990, VATRate: 2500})
	ret.Kind, ret.Serial, ret.Lines, ret.Total, ret.VAT = kvitt.ReceiptReturn, 1004, ls, total, vat
	ret.Tenders = []kvitt.Tender{{PaymentID: "pay_02", Method: "card", Amount: total, Card: visa}}

	card := base(t)
	card.Serial = 1005
	card.Tenders = []kvitt.Tender{{PaymentID: "pay_03", Method: "card", Amount: card.Total, Tip: 2000, Card: visa}}
	card.Tip = 2000

	cash := base(t)
	cash.Serial = 1006
	rounded := kvitt.SEK.RoundCash(cash.Total)
	cash.Tenders = []kvitt.Tender{{PaymentID: "pay_04", Method: "cash", Amount: rounded, Rounding: rounded - cash.Total, Tendered: 50000, Change: 50000 - rounded}}

	pending := base(t)
	pending.Serial = 1008
	pending.Registration, pending.ControlUnitID, pending.ControlCode = kvitt.RegistrationPending, "", ""

	return map[string]*kvitt.Receipt{
		"normal": normal, "copy": copy, "training": training, "proforma": proforma,
		"return": ret, "card_tip": card, "cash_change": cash, "pending": pending,
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update and review the diff)\n%s", name, path, got)
	}
}

func TestTextGolden(t *testing.T) {
	for name, r := range fixtures(t) {
		for _, w := range []int{receipt.Width42, receipt.Width48} {
			t.Run(name+"_"+itoa(w), func(t *testing.T) {
				text := receipt.Text(r, w)
				for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
					if n := utf8.RuneCountInString(l); n > w {
						t.Errorf("line %d is %d wide: %q", i+1, n, l)
					}
				}
				golden(t, name+"_"+itoa(w), []byte(text))
			})
		}
	}
}

func itoa(n int) string {
	if n == 42 {
		return "42"
	}
	return "48"
}

func TestTextContent(t *testing.T) {
	fx := fixtures(t)
	has := func(name, text string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
	normal := receipt.Text(fx["normal"], 42)
	has("normal", normal, "Kvitt Demo AB", "Org.nr 556677-8899", "Odengatan 1, 113 22 Stockholm",
		"2026-11-23 14:05:09", "Kvitto nr", "1001", "Kassa", "KASSA-0001", "2 x 35,00", "Rabatt",
		"-5,00", "TOTALT SEK", "207,05", "Moms %", "Netto", "Brutto", "Kontrollenhet", "CU-SIM-0001",
		"TJIO4DMY RERE2R3P NPB3CN57 TA6C5TXJ", "Swish")
	for _, m := range []string{"K O P I A", "Ö V N I N G", "E J   K V I T T O", "RETUR", "EJ REGISTRERAT"} {
		if strings.Contains(normal, m) {
			t.Errorf("normal receipt has %q", m)
		}
	}
	for name, m := range map[string]string{"copy": "K O P I A", "training": "Ö V N I N G", "proforma": "E J   K V I T T O"} {
		text := receipt.Text(fx[name], 48)
		// Twice the size: repeated on two lines, top and bottom: four times in all.
		if n := strings.Count(text, m); n != 4 {
			t.Errorf("%s: mark %q %d times, want 4", name, m, n)
		}
	}
	ret := receipt.Text(fx["return"], 42)
	has("return", ret, "RETUR", "-39,80", "-7,96", "-31,84", "Återbetalt kort")
	card := receipt.Text(fx["card_tip"], 42)
	has("card", card, "VISA Visa Debit", "************1234", "A0000000031010", "Kontaktlös", "PIN",
		"123456", "80012345", "000123456789", "Godkänd", "varav dricks", "Dricks", "20,00", "Totalt debiterat", "227,05")
	if strings.Count(card, "227,05") != 2 {
		t.Error("card receipt: the tender and the total charged should both show 227,05")
	}
	cash := receipt.Text(fx["cash_change"], 42)
	has("cash", cash, "Kontant", "207,00", "Öresavrundning", "-0,05", "Mottaget", "500,00", "Växel", "293,00")
	pending := receipt.Text(fx["pending"], 42)
	has("pending", pending, "EJ REGISTRERAT I KONTROLLENHET")
	if strings.Contains(pending, "Kontrollkod") {
		t.Error("pending receipt shows a control code")
	}
	if strings.Contains(receipt.Text(fx["proforma"], 42), "Kontrollkod") {
		t.Error("pro forma receipt shows a control code")
	}
}

func TestHTMLAndJSONGolden(t *testing.T) {
	fx := fixtures(t)
	for _, name := range []string{"copy", "card_tip", "return"} {
		h, err := receipt.HTML(fx[name])
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name+".html", h)
		j, err := receipt.JSON(fx[name])
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name+".json", j)
	}
	h, _ := receipt.HTML(fx["copy"])
	if !bytes.Contains(h, []byte(`<div class="mark">KOPIA</div>`)) || !bytes.Contains(h, []byte(".mark{font-size:2em")) {
		t.Error("HTML copy lacks a double-size KOPIA mark")
	}
	if bytes.Contains(h, []byte("Elektroniskt")) {
		t.Error("printed HTML says electronic")
	}
	e, _ := receipt.HTMLWith(fx["normal"], receipt.HTMLOptions{Electronic: true})
	if !bytes.Contains(e, []byte("Elektroniskt kassakvitto")) {
		t.Error("electronic HTML lacks \"Elektroniskt kassakvitto\"")
	}
	var j map[string]any
	b, _ := receipt.JSON(fx["card_tip"])
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j["total"] != float64(20705) || j["tip"] != float64(2000) || j["total_charged"] != float64(22705) || j["currency"] != "SEK" {
		t.Errorf("JSON amounts: %v %v %v %v", j["total"], j["tip"], j["total_charged"], j["currency"])
	}
}

func TestESCPOS(t *testing.T) {
	fx := fixtures(t)
	b := receipt.ESCPOS(fx["copy"], 42)
	golden(t, "copy_42.escpos", b)
	if n := bytes.Count(b, []byte("\x1d!\x11KOPIA\n\x1d!\x00")); n != 2 {
		t.Errorf("double-size KOPIA %d times, want 2", n)
	}
	if !bytes.HasPrefix(b, []byte("\x1b@")) || !bytes.Contains(b, []byte("Tack f\x94r")) {
		t.Error("ESC/POS lacks init or PC437 Swedish letters")
	}
	if bytes.Contains(receipt.ESCPOS(fx["normal"], 42), []byte("\x1d!\x11")) {
		t.Error("normal receipt has double-size text")
	}
}
