package swish_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/swish"
)

// TestHTTPAnswers: a definite refusal fails the payment with a nil error; an
// answer that leaves the outcome open returns an error, so the hub asks again
// with the same instructionUUID.
func TestHTTPAnswers(t *testing.T) {
	body422, err := os.ReadFile("testdata/error_422.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status  int
		body    string
		state   kvitt.PaymentState // "" = error expected
		code    string
		message string
	}{
		{400, "bad", kvitt.PaymentFailed, "HTTP400", "did not understand"},
		{401, "", kvitt.PaymentFailed, "HTTP401", "certificate"},
		{403, "", kvitt.PaymentFailed, "HTTP403", "does not match the merchant certificate"},
		{415, "", kvitt.PaymentFailed, "HTTP415", "format"},
		{422, string(body422), kvitt.PaymentFailed, "RP03", swish.CodeMessage("RP03")},
		{429, "", "", "", ""},
		{500, "oops", "", "", ""},
		{503, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s with %q", r.Method, r.Header.Get("Content-Type"))
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := swish.NewClient(swish.ClientConfig{BaseURL: srv.URL + "/swish-cpcapi/api", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := swish.NewProvider(swish.Config{Client: c, PayeeAlias: "1234679304", CallbackBaseURL: "https://kvitt.example", CallbackSecret: []byte("0123456789abcdef")})
			pay := &kvitt.Payment{ID: "pay_1", Amount: 100, Currency: kvitt.SEK, Reference: p.NewReference(), Provider: map[string]string{}}
			u, err := p.Start(context.Background(), nil, pay)
			if tt.state == "" {
				if err == nil {
					t.Fatalf("HTTP %d: no error, update %+v", tt.status, u)
				}
				return
			}
			if err != nil || u.State != tt.state || u.ErrorCode != tt.code || !strings.Contains(u.Message, tt.message) {
				t.Fatalf("HTTP %d: %+v, %v", tt.status, u, err)
			}
		})
	}
}

func TestStatusUnreadableIsError(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"500":     func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
		"garbage": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
		"403":     func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewTLSServer(h)
			defer srv.Close()
			c, _ := swish.NewClient(swish.ClientConfig{BaseURL: srv.URL, HTTPClient: srv.Client()})
			p, _ := swish.NewProvider(swish.Config{Client: c, PayeeAlias: "1234679304", CallbackBaseURL: "https://kvitt.example", CallbackSecret: []byte("0123456789abcdef")})
			pay := &kvitt.Payment{ID: "pay_1", Amount: 100, Currency: kvitt.SEK, Reference: p.NewReference(), Provider: map[string]string{}}
			if u, err := p.Status(context.Background(), nil, pay); err == nil {
				t.Fatalf("no error; update %+v", u)
			}
		})
	}
}

func TestTimeFormats(t *testing.T) {
	for in, want := range map[string]time.Time{
		`"2019-01-02T14:29:51.092Z"`:      time.Date(2019, 1, 2, 14, 29, 51, 92e6, time.UTC),
		`"2015-02-19T22:01:53.000+01:00"`: time.Date(2015, 2, 19, 21, 1, 53, 0, time.UTC),
		`"2019-01-02T15:29:51.092"`:       time.Date(2019, 1, 2, 14, 29, 51, 92e6, time.UTC), // Swedish winter time
		`"2019-07-02T16:29:51"`:           time.Date(2019, 7, 2, 14, 29, 51, 0, time.UTC),    // summer time
	} {
		var v struct {
			T swish.Time `json:"t"`
		}
		if err := json.Unmarshal([]byte(`{"t":`+in+`}`), &v); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !v.T.Equal(want) {
			t.Errorf("%s → %v, want %v", in, v.T.UTC(), want)
		}
	}
	var v struct {
		T swish.Time `json:"t"`
	}
	if err := json.Unmarshal([]byte(`{"t":"yesterday"}`), &v); err == nil {
		t.Error("nonsense time accepted")
	}
}

func TestNewProviderChecksConfig(t *testing.T) {
	c := &swish.Client{}
	ok := swish.Config{Client: c, PayeeAlias: "1234679304", CallbackBaseURL: "https://kvitt.example", CallbackSecret: []byte("0123456789abcdef")}
	if _, err := swish.NewProvider(ok); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*swish.Config){
		"no client":     func(c *swish.Config) { c.Client = nil },
		"payee":         func(c *swish.Config) { c.PayeeAlias = "46701234567" },
		"http callback": func(c *swish.Config) { c.CallbackBaseURL = "http://kvitt.example" },
		"short secret":  func(c *swish.Config) { c.CallbackSecret = []byte("short") },
		"message":       func(c *swish.Config) { c.Message = "<script>" + strings.Repeat("x", 50) },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := swish.NewProvider(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
