package kvitt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validOrder() *Order {
	return &Order{
		Number:   "100234",
		Customer: CustomerCard{Name: "Anna Svensson", MobileNumber: "070-123 45 67", Country: "SE", Email: "anna@example.se"},
		Lines: []OrderLine{
			{ArticleNumber: "A1", Name: "Stol", Quantity: 200, UnitPrice: 49900, VATRate: 2500, DiscountPercent: 1000},
			{Name: "Frakt", Quantity: 100, UnitPrice: 9900, VATRate: 2500, Unit: "st"},
		},
	}
}

func TestOrderComputeTotals(t *testing.T) {
	o := validOrder()
	if err := o.ComputeTotals(); err != nil {
		t.Fatal(err)
	}
	// 2 × 499.00 less 10 % = 898.20; + 99.00.
	if o.Lines[0].Total != 89820 || o.Total != 89820+9900 {
		t.Fatalf("totals %d, %d", o.Lines[0].Total, o.Total)
	}
	if o.Currency != SEK || o.Customer.MobileNumber != "0701234567" || o.Lines[0].Unit != "st" || o.Lines[1].RowNumber != 2 {
		t.Fatalf("defaults not filled: %+v", o)
	}
}

// TestOrderValidation: bad input is refused naming the field, before
// anything is sent (issue 10's list).
func TestOrderValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(o *Order)
		field string
	}{
		{"missing mobile number", func(o *Order) { o.Customer.MobileNumber = "" }, "customer.mobile_number"},
		{"malformed mobile number", func(o *Order) { o.Customer.MobileNumber = "08-123 456" }, "customer.mobile_number"},
		{"foreign mobile number", func(o *Order) { o.Customer.MobileNumber = "+4520031801" }, "customer.mobile_number"},
		{"missing country", func(o *Order) { o.Customer.Country = "" }, "customer.country"},
		{"unknown country", func(o *Order) { o.Customer.Country = "DE" }, "customer.country"},
		{"empty order", func(o *Order) { o.Lines = nil }, "lines"},
		{"VAT rate not valid in SE", func(o *Order) { o.Lines[1].VATRate = 2550 }, "lines[1].vat_rate"},
		{"name over 40", func(o *Order) { o.Lines[0].Name = strings.Repeat("å", 41) }, "lines[0].name"},
		{"unit over 4", func(o *Order) { o.Lines[0].Unit = "styck" }, "lines[0].unit"},
		{"negative total", func(o *Order) { o.Lines[1].UnitPrice = -200000 }, "lines"},
		{"zero quantity", func(o *Order) { o.Lines[0].Quantity = 0 }, "lines[0].quantity"},
		{"discount over 100 %", func(o *Order) { o.Lines[0].DiscountPercent = 10001 }, "lines[0].discount_percent"},
		{"order number too long for the reference", func(o *Order) { o.Number = "123456789012345" }, "number"},
		{"order number with a space", func(o *Order) { o.Number = "10 23" }, "number"},
		{"currency of another country", func(o *Order) { o.Currency = EUR }, "currency"},
		{"duplicate row number", func(o *Order) { o.Lines[0].RowNumber, o.Lines[1].RowNumber = 3, 3 }, "lines[1].row_number"},
		{"bad e-mail", func(o *Order) { o.Customer.Email = "anna" }, "customer.email"},
		{"control character in name", func(o *Order) { o.Lines[0].Name = "Stol\x1bp" }, "lines[0].name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOrder()
			tc.edit(o)
			err := o.ComputeTotals()
			if ErrorCode(err) != EUNPROCESSABLE || ErrorField(err) != tc.field {
				t.Fatalf("err = %v (field %q), want 422 naming %q", err, ErrorField(err), tc.field)
			}
		})
	}
}

func TestOrderNegativeRowAllowed(t *testing.T) {
	o := validOrder()
	o.Lines = append(o.Lines, OrderLine{Name: "Rabatt", Quantity: 100, UnitPrice: -5000, VATRate: 2500})
	if err := o.ComputeTotals(); err != nil {
		t.Fatalf("a negative row with a positive total is refused: %v", err)
	}
}

func TestMerchantOrderNumber(t *testing.T) {
	now := time.Date(2024, 3, 5, 14, 7, 9, 123_456_789, time.UTC)
	a := NewMerchantOrderNumber("12345678901234", now, "")
	if a != "12345678901234-20240305140709123" || len(a) != MaxMerchantOrderNumLn {
		t.Fatalf("reference %q (%d characters)", a, len(a))
	}
	b := NewMerchantOrderNumber("12345678901234", now, a)
	if b <= a || len(b) > MaxMerchantOrderNumLn {
		t.Fatalf("second reference in the same millisecond %q, after %q", b, a)
	}
}

func TestOrderCallbackToken(t *testing.T) {
	o := &Order{ID: "ord_x"}
	l := &OrderLink{Seq: 3, Secret: "s3cr3t"}
	id, seq, secret, ok := ParseOrderCallbackToken(OrderCallbackToken(o, l))
	if !ok || id != "ord_x" || seq != 3 || secret != "s3cr3t" {
		t.Fatal(id, seq, secret, ok)
	}
	for _, bad := range []string{"", "ord_x.3", "ord_x.03.s", "ord_x.0.s", "ord_x.-1.s", ".1.s", "ord_x.1."} {
		if _, _, _, ok := ParseOrderCallbackToken(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestOrderUpdateState(t *testing.T) {
	o := &Order{Total: 100}
	o.UpdateState()
	if o.State != OrderCreating {
		t.Fatal(o.State)
	}
	o.Links = []OrderLink{{Seq: 1, State: PaymentPending, URL: "u1"}}
	o.UpdateState()
	if o.State != OrderAwaitingPayment || o.State.Icon() != "waiting" {
		t.Fatal(o.State)
	}
	o.Links[0].State = PaymentFailed
	o.Links[0].Message = "Invalid vat"
	o.UpdateState()
	if o.State != OrderLinkFailed || o.Message != "Invalid vat" || o.State.Icon() != "red" {
		t.Fatal(o.State, o.Message)
	}
	o.Links[0].State = PaymentExpired
	o.UpdateState()
	if o.State.Icon() != "grey" {
		t.Fatal(o.State)
	}
	o.Links[0].State = PaymentCancelled
	o.UpdateState()
	if o.State.Icon() != "black" {
		t.Fatal(o.State)
	}
	// A paid earlier link wins over a later one.
	o.Links = append(o.Links, OrderLink{Seq: 2, State: PaymentPending})
	o.Links[0].State, o.Links[0].ProviderRef, o.PaidLink = PaymentPaid, "8812", 1
	o.UpdateState()
	if o.State != OrderPaid || o.Reference != "8812" {
		t.Fatal(o.State, o.Reference)
	}
	o.Credited = 100
	o.UpdateState()
	if o.State != OrderCredited {
		t.Fatal(o.State)
	}
}

// TestOrderAdminState: a delivered paid order stays paid (on the picking
// list); an annulled one is cancelled (black); an annulment asked for but
// not done changes nothing yet.
func TestOrderAdminState(t *testing.T) {
	o := &Order{Total: 100, PaidLink: 1, Links: []OrderLink{{Seq: 1, State: PaymentPaid, ProviderRef: "8000001"}}}
	o.Delivery = AdminAction{State: AdminDone}
	o.UpdateState()
	if o.State != OrderPaid || o.State.Icon() != "paid" {
		t.Fatal(o.State)
	}
	o.Delivery = AdminAction{}
	for _, s := range []AdminActionState{AdminRequested, AdminSent, AdminAccepted, AdminRefused} {
		o.Annulment = AdminAction{State: s}
		o.UpdateState()
		if o.State != OrderPaid {
			t.Fatalf("annulment %s: %s", s, o.State)
		}
		if got, want := o.Annulment.Pending(), s != AdminRefused; got != want {
			t.Fatalf("%s pending %v", s, got)
		}
	}
	o.Annulment = AdminAction{State: AdminDone}
	o.UpdateState()
	if o.State != OrderCancelled || o.State.Icon() != "black" {
		t.Fatal(o.State)
	}
}

// TestOrderJSONKeepsFields: the stored JSON of an order keeps the names of
// its existing fields; the admin state is added beside them.
func TestOrderJSONKeepsFields(t *testing.T) {
	b, err := json.Marshal(&Order{ID: "ord_x", PaidLink: 1, Credited: 5, CancelRequested: true, Delivery: AdminAction{State: AdminSent, Sends: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"ID":"ord_x"`, `"PaidLink":1`, `"Credited":5`, `"CancelRequested":true`, `"Delivery":{"state":"sent","sends":1}`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s not in %s", k, b)
		}
	}
	var back Order
	if err := json.Unmarshal([]byte(`{"ID":"ord_y","PaidLink":2}`), &back); err != nil || back.PaidLink != 2 || back.Delivery.State != "" {
		t.Fatal(back, err)
	}
}
