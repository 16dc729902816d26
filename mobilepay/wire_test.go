package mobilepay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
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

// The client encodes exactly the documented requests.
func TestRequestsMatchFixtures(t *testing.T) {
	ref := "acme-shop-123-order123abc"
	for name, v := range map[string]any{
		"create_push.json": &CreatePaymentRequest{Amount: Amount{"NOK", 49900}, Customer: &Customer{PhoneNumber: "4791234567"},
			CustomerInteraction: CustomerPresent, PaymentMethod: PaymentMethod{"WALLET"}, Reference: ref, UserFlow: FlowPushMessage,
			PaymentDescription: "Two pairs of socks"},
		"create_static_qr.json": &CreatePaymentRequest{Amount: Amount{"DKK", 12500},
			Customer:            &Customer{CustomerToken: "wbA8ceVRKkoYiQAVELHeFCC3Sn5dtNCvvEtVPiOT77j6wx7uR965AG6Q+q0ATP4="},
			CustomerInteraction: CustomerPresent, PaymentMethod: PaymentMethod{"WALLET"}, Reference: ref, UserFlow: FlowPushMessage,
			PaymentDescription: "Kasse 1"},
		"create_qr.json": &CreatePaymentRequest{Amount: Amount{"EUR", 1000}, CustomerInteraction: CustomerPresent,
			PaymentMethod: PaymentMethod{"WALLET"}, Reference: ref, UserFlow: FlowQR, QRFormat: &QRFormat{Format: QRFormatTargetURL}},
		"capture_request.json":          &ModificationRequest{ModificationAmount: Amount{"NOK", 6000}},
		"refund_request.json":           &ModificationRequest{ModificationAmount: Amount{"NOK", 2000}},
		"cancel_request.json":           &CancelRequest{},
		"force_approve.json":            &ForceApprove{Customer: &Customer{PhoneNumber: "4791234567"}},
		"webhook_register_request.json": &RegisterWebhookRequest{URL: "https://example.com/mystore_website_backend", Events: []string{"epayments.payment.authorized.v1"}},
		"callback_qr_put.json":          &CallbackQRRequest{LocationDescription: "Kasse 1"},
	} {
		t.Run(name, func(t *testing.T) {
			if c, ok := v.(*CreatePaymentRequest); ok {
				if err := c.Validate(); err != nil {
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

// The client reads the documented answers; where a type holds every
// documented field, it writes them back unchanged.
func TestResponsesMatchFixtures(t *testing.T) {
	roundTrip := func(t *testing.T, name string, v any) {
		t.Helper()
		if err := json.Unmarshal(fixture(t, name), v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		sameJSON(t, b, fixture(t, name))
	}
	t.Run("token", func(t *testing.T) {
		var tr TokenResponse
		roundTrip(t, "token_response.json", &tr)
		if tr.ExpiresIn != "3600" || tr.TokenType != "Bearer" || tr.AccessToken == "" {
			t.Errorf("token: %+v", tr)
		}
	})
	t.Run("create", func(t *testing.T) {
		var push, qr CreatePaymentResponse
		roundTrip(t, "create_response_push.json", &push)
		roundTrip(t, "create_response_qr.json", &qr)
		if push.RedirectURL != "" || !strings.HasPrefix(qr.RedirectURL, "https://qr-image.vipps.no/") {
			t.Errorf("push %+v, qr %+v", push, qr)
		}
	})
	t.Run("payment", func(t *testing.T) {
		var p Payment
		if err := json.Unmarshal(fixture(t, "payment_authorized.json"), &p); err != nil {
			t.Fatal(err)
		}
		want := Payment{Aggregate: Aggregate{AuthorizedAmount: Amount{"NOK", 6000}, CancelledAmount: Amount{"NOK", 0},
			CapturedAmount: Amount{"NOK", 0}, RefundedAmount: Amount{"NOK", 0}}, Amount: Amount{"NOK", 6000}, State: StateAuthorized,
			PaymentMethod: PaymentMethod{"WALLET"}, PSPReference: "37c34d8c-2649-448e-864b-060d5d93e4c4", Reference: "acme-shop-123-1234589"}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("got %+v\nwant %+v", p, want)
		}
	})
	t.Run("modification", func(t *testing.T) {
		var m ModificationResponse
		roundTrip(t, "modification_response.json", &m)
		if m.Aggregate.CapturedAmount.Value != 6000 || m.State != StateAuthorized {
			t.Errorf("%+v", m)
		}
	})
	t.Run("events", func(t *testing.T) {
		var es []PaymentEvent
		if err := json.Unmarshal(fixture(t, "events.json"), &es); err != nil {
			t.Fatal(err)
		}
		if len(es) != 3 || es[2].Name != EventRefunded || es[2].IdempotencyKey != "refund-0f1e2d3c4b5a69788796a5b4c3d2e1f0" || !es[2].Success || es[1].IdempotencyKey != "" {
			t.Errorf("%+v", es)
		}
	})
	t.Run("webhooks", func(t *testing.T) {
		var r RegisterWebhookResponse
		roundTrip(t, "webhook_register_response.json", &r)
		var e EPaymentWebhook
		roundTrip(t, "webhook_epayment.json", &e)
		var c CheckedIn
		roundTrip(t, "webhook_checked_in.json", &c)
		if at, err := parseTime(c.InitiatedAt); err != nil || at.Year() != 2023 {
			t.Errorf("initiatedAt %q: %v", c.InitiatedAt, err)
		}
	})
	t.Run("qr", func(t *testing.T) {
		var q CallbackQR
		roundTrip(t, "callback_qr.json", &q)
	})
	t.Run("problems", func(t *testing.T) {
		for name, code := range map[string]string{"problem_400.json": "", "problem_domain.json": "6080"} {
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/problem+json")
			rec.WriteHeader(400)
			rec.Write(fixture(t, name))
			err := readAPIError(rec.Result()).(*APIError)
			if err.Problem == nil || err.Problem.ErrorCode() != code || err.Problem.TraceID == "" {
				t.Errorf("%s: %+v", name, err)
			}
			if !strings.Contains(err.Error(), "HTTP 400") {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// The documentation's sample delivery is signed as the documentation
// computes it, and the verifier accepts it (at its date) and nothing else.
func TestSignatureVector(t *testing.T) {
	var v struct {
		Secret, URL, Content string
		Date                 string `json:"x-ms-date"`
		Hash                 string `json:"x-ms-content-sha256"`
		Authorization        string
	}
	if err := json.Unmarshal(fixture(t, "signature_vector.json"), &v); err != nil {
		t.Fatal(err)
	}
	if got := ContentHash([]byte(v.Content)); got != v.Hash {
		t.Fatalf("content hash %s, want %s", got, v.Hash)
	}
	sig := Signature(v.Secret, "POST", "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63", v.Date, "webhook.site", v.Hash)
	if got := authPrefix + sig; got != v.Authorization {
		t.Fatalf("authorization\n got %s\nwant %s", got, v.Authorization)
	}
	at, _ := http.ParseTime(v.Date)
	request := func(auth, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, v.URL, strings.NewReader(body))
		r.Header.Set("x-ms-date", v.Date)
		r.Header.Set("x-ms-content-sha256", v.Hash)
		r.Header.Set("Authorization", auth)
		return r
	}
	ver, err := NewVerifier(v.Secret, v.URL, time.Minute, func() time.Time { return at.Add(30 * time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	if err := ver.Verify(request(v.Authorization, v.Content), []byte(v.Content)); err != nil {
		t.Fatalf("the documented delivery is refused: %v", err)
	}
	if err := ver.Verify(request(v.Authorization, v.Content), []byte(v.Content)); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Errorf("a replay is accepted: %v", err)
	}
	tampered := bytes.Replace([]byte(v.Content), []byte("hello"), []byte("HELLO"), 1)
	ver2, _ := NewVerifier(v.Secret, v.URL, time.Minute, func() time.Time { return at })
	if err := ver2.Verify(request(v.Authorization, string(tampered)), tampered); err == nil {
		t.Error("a changed body is accepted")
	}
	forged := authPrefix + Signature("another secret", "POST", "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63", v.Date, "webhook.site", v.Hash)
	if err := ver2.Verify(request(forged, v.Content), []byte(v.Content)); err == nil || !strings.Contains(err.Error(), "wrong signature") {
		t.Errorf("a forged signature is accepted: %v", err)
	}
	stale, _ := NewVerifier(v.Secret, v.URL, time.Minute, func() time.Time { return at.Add(2 * time.Minute) })
	if err := stale.Verify(request(v.Authorization, v.Content), []byte(v.Content)); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("a stale delivery is accepted: %v", err)
	}
	unsigned := request("", v.Content)
	if err := ver2.Verify(unsigned, []byte(v.Content)); err == nil {
		t.Error("an unsigned delivery is accepted")
	}
}
