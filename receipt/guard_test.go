package receipt_test

import (
	"reflect"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// handled lists, per domain type, every field the renderers were written
// for. A field added to the type fails this test until someone decides how
// the receipt shows it (or that it does not).
var handled = map[reflect.Type][]string{
	reflect.TypeFor[kvitt.Receipt](): {"ID", "MerchantID", "TillID", "SaleID", "Serial", "Type", "Kind",
		"CopyOf", "CopySerial", "CopyTime", "Issued", "MerchantName", "OrgNr", "StoreName", "Address",
		"RegisterID", "Currency", "Lines", "Total", "VAT", "Tenders", "Tip", "Registration",
		"ControlUnitID", "ControlCode",
		"Created", "Version"}, // storage bookkeeping: not printed
	reflect.TypeFor[kvitt.Tender](): {"PaymentID", "Method", "Amount", "Tip", "Tendered", "Change", "Rounding", "Reference", "Card"},
	reflect.TypeFor[kvitt.CardData](): {"MaskedPAN", "Brand", "ApplicationLabel", "AID", "EntryMode", "Verification",
		"AuthCode", "TerminalID", "TransactionRef", "ResultText", "SignatureRequired"},
	reflect.TypeFor[kvitt.SaleLine](): {"ArticleNumber", "Name", "QuantityMilli", "UnitPrice", "VATRate", "Discount", "Total"},
	reflect.TypeFor[kvitt.VATTotal](): {"Rate", "Gross", "Net", "VAT"},
}

func TestGuardFields(t *testing.T) {
	for typ, names := range handled {
		known := map[string]bool{}
		for _, n := range names {
			known[n] = true
		}
		for f := range typ.Fields() {
			if !known[f.Name] {
				t.Errorf("%s.%s is new: show it on the receipt (text, HTML, JSON) or list it here as not shown", typ.Name(), f.Name)
			}
		}
	}
}
