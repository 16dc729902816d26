package svea

import (
	"bytes"
	"encoding/json"
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

func sameJSON(t *testing.T, got, want []byte) {
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

func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("a field of Svea's JSON is not known: %v", err)
	}
}

func fixtureOrder() (*kvitt.Order, *kvitt.OrderLink, time.Time) {
	now := time.Date(2024, 3, 5, 14, 7, 9, 123e6, time.UTC)
	o := &kvitt.Order{ID: "ord_x", Number: "100234", Currency: kvitt.SEK,
		Customer: kvitt.CustomerCard{MobileNumber: "0701234567", Country: "SE", NationalID: "197001011234", Email: "anna@example.se", PostalCode: "11122"},
		Lines: []kvitt.OrderLine{
			{RowNumber: 1, ArticleNumber: "A1", Name: "Stol Ekbacken", Quantity: 200, UnitPrice: 49900, DiscountPercent: 1000, VATRate: 2500, Unit: "st"},
			{RowNumber: 2, Name: "Frakt", Quantity: 100, UnitPrice: 9900, VATRate: 2500, Unit: "st"},
		}}
	l := &kvitt.OrderLink{Seq: 1, MerchantOrderNumber: kvitt.NewMerchantOrderNumber(o.Number, now, ""), Secret: "s3cr3t",
		Lines: o.Lines, Customer: o.Customer, ExpiresAt: now.Add(DefaultLinkLifetime)}
	return o, l, now
}

// TestCreateRequestMatchesFixture pins every field name and unit of the
// create request: minor units, quantity and percentages in hundredths, the
// 48-hour link in minutes, the callback URI with the link's secret, the
// preset values with IsCompany beside NationalId.
func TestCreateRequestMatchesFixture(t *testing.T) {
	o, l, now := fixtureOrder()
	p, err := NewProvider(Config{Client: &Client{BaseURL: StageURL, MerchantID: "m", Password: "p"}, TermsURI: "https://butiken.example/villkor",
		CallbackBaseURL: "https://kvitt.example/", MerchantName: "Butiken", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(p.Request(o, l))
	sameJSON(t, got, fixture(t, "create_request.json"))
	if len(l.MerchantOrderNumber) > 32 {
		t.Fatalf("merchantOrderNumber %q is over 32", l.MerchantOrderNumber)
	}
}

func TestResponsesDecode(t *testing.T) {
	var active, done OrderResponse
	strict(t, fixture(t, "order_active.json"), &active)
	strict(t, fixture(t, "order_completed.json"), &done)
	u := update(&active)
	if u.State != kvitt.PaymentPending || u.URL == "" || u.SMSSent == nil || !*u.SMSSent || u.ProviderRef != "8012345" {
		t.Fatalf("active: %+v", u)
	}
	u = update(&done)
	if u.State != kvitt.PaymentPaid || u.PaymentType != "Invoice" || u.ProviderRef != "8012345" {
		t.Fatalf("completed: %+v", u)
	}
	// Svea's published return sample decodes with every field known.
	var ret ReturnOrderRequest
	strict(t, fixture(t, "return_request.json"), &ret)
	if len(ret.ReturnedItems) != 1 || ret.ReturnedItems[0].MerchantData != "Size: M" || ret.ReturnedItems[0].RowNumber != 3 {
		t.Fatalf("return sample: %+v", ret)
	}
}

// TestStatusMapping is a guard: every status Svea documents maps to a
// kvitt state; an unknown one changes nothing and says so.
func TestStatusMapping(t *testing.T) {
	for s, want := range map[string]kvitt.PaymentState{
		StatusActive: kvitt.PaymentPending, StatusCreated: kvitt.PaymentPending, StatusCompleted: kvitt.PaymentPaid,
		StatusDelivered: kvitt.PaymentPaid, StatusCanceled: kvitt.PaymentCancelled, "Cancelled": kvitt.PaymentCancelled,
	} {
		if got, ok := mapStatus(s); !ok || got != want {
			t.Errorf("%s → %q, want %q", s, got, want)
		}
	}
	u := update(&OrderResponse{OrderStatus: "Frozen"})
	if u.State != "" || !strings.Contains(u.Message, "Frozen") {
		t.Fatalf("unknown status: %+v", u)
	}
}

func TestNewProviderChecksConfig(t *testing.T) {
	c := &Client{BaseURL: StageURL, MerchantID: "m", Password: "p"}
	for name, cfg := range map[string]Config{
		"no terms":      {Client: c},
		"bad terms":     {Client: c, TermsURI: "villkor"},
		"no password":   {Client: &Client{BaseURL: StageURL, MerchantID: "m"}, TermsURI: "https://x"},
		"wrong country": {Client: c, TermsURI: "https://x", CountryCode: "DE"},
	} {
		if _, err := NewProvider(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
