package mobilepay

import (
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

func TestParseBeaconID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"3fa85f64-5717-4562-b3fc-2c963f66afa6", "3fa85f64-5717-4562-b3fc-2c963f66afa6", true},
		{" 3FA85F64-5717-4562-B3FC-2C963F66AFA6 ", "3fa85f64-5717-4562-b3fc-2c963f66afa6", true},
		{"123456789012345", "123456789012345", true},
		{"mobilepaypos://pos?id=3fa85f64-5717-4562-b3fc-2c963f66afa6&source=qr", "3fa85f64-5717-4562-b3fc-2c963f66afa6", true},
		{"mobilepaypos://pos?id=123456789012345&source=qr", "123456789012345", true},
		{"", "", false},
		{"12345678901234", "", false},   // 14 digits
		{"1234567890123456", "", false}, // 16 digits
		{"3fa85f64-5717-4562-b3fc-2c963f66afa", "", false},
		{"3fa85f64571745 62b3fc2c963f66afa6", "", false},
		{"kasse-1", "", false},
		{"mobilepaypos://pos?source=qr", "", false},
		{"https://qr.vipps.no/anything", "", false},
	}
	for _, tt := range tests {
		got, err := ParseBeaconID(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseBeaconID(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && (kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != "beacon_id" || !strings.Contains(err.Error(), "GUID")) {
			t.Errorf("ParseBeaconID(%q): the error must name the field and the rule: %v", tt.in, err)
		}
	}
}

func TestPhoneNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"+45 12 34 56 78": "4512345678", "0047-912 34 567": "4791234567", "358401234567": "358401234567", "(+45) 12345678": "4512345678",
	} {
		got := NormalizePhoneNumber(in)
		if got != want || ValidatePhoneNumber(got) != nil {
			t.Errorf("%q → %q (%v), want %q", in, got, ValidatePhoneNumber(got), want)
		}
	}
	for _, bad := range []string{"12345678", "45 1234 abcd", "4512345678901234", ""} {
		if err := ValidatePhoneNumber(NormalizePhoneNumber(bad)); err == nil || kvitt.ErrorField(err) != "payer_alias" {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	ok := func() *CreatePaymentRequest {
		return &CreatePaymentRequest{Amount: Amount{"DKK", 100}, Customer: &Customer{PhoneNumber: "4512345678"},
			CustomerInteraction: CustomerPresent, PaymentMethod: PaymentMethod{"WALLET"}, Reference: strings.Repeat("a", 32), UserFlow: FlowPushMessage}
	}
	if err := ok().Validate(); err != nil {
		t.Fatal(err)
	}
	for field, edit := range map[string]func(*CreatePaymentRequest){
		"amount.currency":      func(r *CreatePaymentRequest) { r.Amount.Currency = "SEK" },
		"amount.value":         func(r *CreatePaymentRequest) { r.Amount = Amount{"NOK", 99} },
		"reference":            func(r *CreatePaymentRequest) { r.Reference = "short" },
		"customer":             func(r *CreatePaymentRequest) { r.Customer = nil },
		"customer.phoneNumber": func(r *CreatePaymentRequest) { r.Customer.PhoneNumber = "+4512345678" },
		"userFlow":             func(r *CreatePaymentRequest) { r.UserFlow = "WEB_REDIRECT" },
		"paymentMethod.type":   func(r *CreatePaymentRequest) { r.PaymentMethod.Type = "CARD" },
		"paymentDescription":   func(r *CreatePaymentRequest) { r.PaymentDescription = "ab" },
	} {
		r := ok()
		edit(r)
		if err := r.Validate(); kvitt.ErrorField(err) != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func TestNewReferenceFitsEveryKey(t *testing.T) {
	var a Provider
	ref := a.NewReference()
	if err := ValidateReference(ref); err != nil || len(ref) > 50 {
		t.Fatalf("%q: %v", ref, err)
	}
	for _, k := range []string{createKey(ref), captureKey(ref), cancelKey(ref), refundKey(ref)} {
		if err := ValidateIdempotencyKey(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}

// Guard: every ePayment state maps to a kvitt state other than unknown.
func TestEveryStateMapped(t *testing.T) {
	a, _ := NewProvider(Config{Client: &Client{cfg: ClientConfig{MSN: "123456"}}, Now: time.Now})
	p := &kvitt.Payment{Amount: 6000, Currency: kvitt.NOK, Created: time.Now()}
	for _, s := range States {
		u := a.mapPayment(p, &Payment{State: s, Amount: Amount{"NOK", 6000}, Aggregate: Aggregate{AuthorizedAmount: Amount{"NOK", 6000}}})
		if u.State == "" || u.State == kvitt.PaymentUnknown {
			t.Errorf("state %s maps to %q", s, u.State)
		}
	}
}

func TestValidatePayment(t *testing.T) {
	a, _ := NewProvider(Config{Client: &Client{cfg: ClientConfig{MSN: "123456"}}})
	tests := []struct {
		p     kvitt.Payment
		field string
	}{
		{kvitt.Payment{Currency: kvitt.DKK, Amount: 100}, ""},
		{kvitt.Payment{Currency: kvitt.SEK, Amount: 100}, "method"},
		{kvitt.Payment{Currency: kvitt.NOK, Amount: 50}, "amount"},
		{kvitt.Payment{Currency: kvitt.DKK, Amount: 100, Provider: map[string]string{KeyPhone: "+45 12 34 56 78"}}, ""},
		{kvitt.Payment{Currency: kvitt.DKK, Amount: 100, Provider: map[string]string{KeyPhone: "12 34 56 78"}}, "payer_alias"},
		{kvitt.Payment{Currency: kvitt.DKK, Amount: 100, Provider: map[string]string{KeyFlow: FlowPush}}, "payer_alias"},
		{kvitt.Payment{Currency: kvitt.DKK, Amount: 100, Provider: map[string]string{KeyFlow: "nfc"}}, KeyFlow},
	}
	for i, tt := range tests {
		err := a.ValidatePayment(&tt.p)
		if kvitt.ErrorField(err) != tt.field || (tt.field != "" && kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE) {
			t.Errorf("%d: got %v, want field %q", i, err, tt.field)
		}
	}
	p := kvitt.Payment{Currency: kvitt.EUR, Amount: 100, Provider: map[string]string{KeyPhone: "+358 40 123 4567"}}
	if err := a.ValidatePayment(&p); err != nil || p.Provider[KeyPhone] != "358401234567" {
		t.Errorf("the number is not stored as MSISDN: %q %v", p.Provider[KeyPhone], err)
	}
}
