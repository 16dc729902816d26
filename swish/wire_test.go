package swish

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, got []byte, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

func TestRequestsMatchFixtures(t *testing.T) {
	instore := PaymentRequest{
		PayeePaymentReference: "0123456789",
		CallbackURL:           "https://example.com/api/swishcb/paymentrequests",
		PayeeAlias:            "1234679304",
		Amount:                AmountOf(10000),
		Currency:              "SEK",
		Message:               "Kingston USB Flash Drive 8 GB",
	}
	ecom := instore
	ecom.PayerAlias = "46712345678"
	refund := Refund{
		OriginalPaymentReference: "6D6CD7406ECE4542A80152D909EF9F6B",
		PayerPaymentReference:    "0123456789",
		CallbackURL:              "https://example.com/api/swishcb/refunds",
		PayerAlias:               "1234679304",
		Amount:                   AmountOf(10000),
		Currency:                 "SEK",
		Message:                  "Refund for Kingston USB Flash Drive 8 GB",
	}
	patch := []PatchOperation{{Op: "replace", Path: "/status", Value: "cancelled"}}
	for name, v := range map[string]any{
		"create_instore.json":   &instore,
		"create_ecommerce.json": &ecom,
		"refund_create.json":    &refund,
		"cancel_patch.json":     patch,
	} {
		t.Run(name, func(t *testing.T) {
			if val, ok := v.(interface{ Validate() error }); ok {
				if err := val.Validate(); err != nil {
					t.Fatalf("the documented example does not validate: %v", err)
				}
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, b, fixture(t, name))
		})
	}
}

func TestResponsesFromFixtures(t *testing.T) {
	var paid PaymentRequest
	if err := json.Unmarshal(fixture(t, "payment_paid.json"), &paid); err != nil {
		t.Fatal(err)
	}
	if paid.Status != StatusPaid || paid.PaymentReference != "6D6CD7406ECE4542A80152D909EF9F6B" || paid.ID != "AB23D7406ECE4542A80152D909EF9F6B" {
		t.Errorf("paid: %+v", paid)
	}
	if ore, err := paid.Amount.Ore(); err != nil || ore != 10000 {
		t.Errorf("amount %q → %d, %v; want 10000 öre", paid.Amount, ore, err)
	}
	if want := time.Date(2019, 1, 2, 14, 29, 55, 93e6, time.UTC); !paid.DatePaid.Equal(want) {
		t.Errorf("datePaid %v, want %v", paid.DatePaid, want)
	}
	if u := mapPayment(&paid); u.State != kvitt.PaymentPaid || u.Provider[KeyPaymentReference] != paid.PaymentReference {
		t.Errorf("mapped %+v", u)
	}

	var failed PaymentRequest
	if err := json.Unmarshal(fixture(t, "payment_error.json"), &failed); err != nil {
		t.Fatal(err)
	}
	if u := mapPayment(&failed); u.State != kvitt.PaymentUnknown || u.ErrorCode != "DS24" {
		t.Errorf("DS24 mapped to %+v", u)
	}

	var rf Refund
	if err := json.Unmarshal(fixture(t, "refund_paid.json"), &rf); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2015, 2, 19, 21, 3, 53, 0, time.UTC); rf.Status != StatusPaid || !rf.DatePaid.Equal(want) || rf.OriginalPaymentReference == "" || rf.PayeeAlias != "46712345678" {
		t.Errorf("refund %+v", rf)
	}
	if u := mapRefund(&rf); u.State != kvitt.RefundSucceeded {
		t.Errorf("refund mapped to %+v", u)
	}

	resp := &http.Response{StatusCode: 422, Body: io.NopCloser(strings.NewReader(string(fixture(t, "error_422.json"))))}
	err := readAPIError(resp)
	ae, ok := err.(*APIError)
	if !ok || ae.Code() != "RP03" || ae.Details[0].ErrorMessage == "" || !ae.Definite() {
		t.Errorf("422 read as %#v", err)
	}
}

func TestAmountNeverFloat(t *testing.T) {
	for in, want := range map[string]int64{`"0.01"`: 1, `12.50`: 1250, `999999999999.99`: 99999999999999, `"7"`: 700} {
		var a Amount
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			t.Fatal(err)
		}
		got, err := a.Ore()
		if in == `999999999999.99` {
			// Above kvitt.MaxAmount: refused rather than rounded.
			if err == nil {
				t.Errorf("%s: accepted %d beyond kvitt's maximum", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s → %d, %v; want %d", in, got, err, want)
		}
	}
}

// TestEveryCodeHasAMessage is the guard: each code in the provider notes
// (../shared/providers/swish.md) must have its own cashier sentence.
func TestEveryCodeHasAMessage(t *testing.T) {
	documented := strings.Fields("FF08 RP03 BE18 RP01 PA02 AM02 AM03 AM06 RP02 RP06 ACMT03 ACMT01 ACMT07 VR01 VR02 RP04 RF07 BANKIDCL BANKIDONGOING BANKIDUNKN FF10 TM01 DS24 RF02 RF03 RF04 RF06 RF08 PA01")
	listed := map[string]bool{}
	for _, c := range Codes {
		listed[c] = true
	}
	seen := map[string]string{}
	for _, c := range documented {
		if !listed[c] {
			t.Errorf("code %s is not in Codes", c)
		}
	}
	for _, c := range Codes {
		m, ok := codeMessages[c]
		if !ok || m == "" {
			t.Errorf("code %s has no cashier message", c)
			continue
		}
		if other, dup := seen[m]; dup {
			t.Errorf("codes %s and %s share a message", c, other)
		}
		seen[m] = c
	}
	if len(codeMessages) != len(Codes) {
		t.Errorf("codeMessages has %d entries, Codes %d", len(codeMessages), len(Codes))
	}
	if CodeMessage("XX99") == "" || !strings.Contains(CodeMessage("XX99"), "XX99") {
		t.Error("an unknown code must still be named")
	}
}

func TestValidation(t *testing.T) {
	valid := func() *PaymentRequest {
		return &PaymentRequest{
			PayeePaymentReference: "pay-0123",
			CallbackURL:           "https://kvitt.example/v1/callbacks/swish/x",
			PayeeAlias:            "1234679304",
			Amount:                "12.50",
			Currency:              "SEK",
			Message:               "Kvitto 42: åäö ÅÄÖ é!?",
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*PaymentRequest)
		field string
	}{
		{"amount with one decimal", func(r *PaymentRequest) { r.Amount = "12.5" }, "amount"},
		{"amount with comma", func(r *PaymentRequest) { r.Amount = "12,50" }, "amount"},
		{"amount zero", func(r *PaymentRequest) { r.Amount = "0.00" }, "amount"},
		{"amount negative", func(r *PaymentRequest) { r.Amount = "-1.00" }, "amount"},
		{"amount missing", func(r *PaymentRequest) { r.Amount = "" }, "amount"},
		{"amount too large", func(r *PaymentRequest) { r.Amount = "1000000000000.00" }, "amount"},
		{"currency", func(r *PaymentRequest) { r.Currency = "NOK" }, "currency"},
		{"message too long", func(r *PaymentRequest) { r.Message = strings.Repeat("a", 51) }, "message"},
		{"message bad char", func(r *PaymentRequest) { r.Message = "50% off [sale]" }, "message"},
		{"message emoji", func(r *PaymentRequest) { r.Message = "tack 🙂" }, "message"},
		{"reference too long", func(r *PaymentRequest) { r.PayeePaymentReference = strings.Repeat("A", 36) }, "payeePaymentReference"},
		{"reference underscore", func(r *PaymentRequest) { r.PayeePaymentReference = "pay_01" }, "payeePaymentReference"},
		{"payer alias leading 0", func(r *PaymentRequest) { r.PayerAlias = "0701234567" }, "payerAlias"},
		{"payer alias short", func(r *PaymentRequest) { r.PayerAlias = "4670123" }, "payerAlias"},
		{"payer alias long", func(r *PaymentRequest) { r.PayerAlias = "4670123456789012" }, "payerAlias"},
		{"payer alias plus", func(r *PaymentRequest) { r.PayerAlias = "+46701234567" }, "payerAlias"},
		{"callback http", func(r *PaymentRequest) { r.CallbackURL = "http://kvitt.example/cb" }, "callbackUrl"},
		{"callback missing", func(r *PaymentRequest) { r.CallbackURL = "" }, "callbackUrl"},
		{"payee alias", func(r *PaymentRequest) { r.PayeeAlias = "0701234567" }, "payeeAlias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.edit(r)
			err := r.Validate()
			if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != tt.field {
				t.Errorf("got %v, want a field error on %s", err, tt.field)
			}
			if FieldCodes[tt.field] == "" {
				t.Errorf("field %s has no Swish code", tt.field)
			}
		})
	}
	for _, ok := range []string{"46701234567", "4512345678", "35812345678901"} {
		if err := ValidatePayerAlias(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

func TestInstructionUUID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		u := NewInstructionUUID()
		if !ValidInstructionUUID(u) || seen[u] {
			t.Fatalf("bad or repeated instructionUUID %q", u)
		}
		seen[u] = true
	}
	for _, bad := range []string{"", "11a1b2c3d4e5f60718293a4b5c6d7e8f", "11A1B2C3-D4E5-F607-1829-3A4B5C6D7E8F", "11A1B2C3D4E5F60718293A4B5C6D7E8"} {
		if ValidInstructionUUID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDocsListEveryCode keeps docs/swish.md's table in step with the code.
func TestDocsListEveryCode(t *testing.T) {
	b, err := os.ReadFile("../docs/swish.md")
	if err != nil {
		t.Skip("docs not present:", err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 5 {
			rows[strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[3])
		}
	}
	for _, c := range Codes {
		got, ok := rows[c]
		if !ok {
			t.Errorf("docs/swish.md has no row for %s", c)
			continue
		}
		if !strings.HasPrefix(got, CodeMessage(c)) {
			t.Errorf("docs/swish.md says %q for %s; the code says %q", got, c, CodeMessage(c))
		}
	}
}
