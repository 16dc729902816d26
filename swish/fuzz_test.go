package swish

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// FuzzPaymentRequestJSON reads a Swish answer (payment request and refund
// objects, a 422 error list). An accepted object maps to a kvitt state
// without panicking, re-encodes to JSON that reads back the same, and
// if it validates its amount is within Swish's limits.
func FuzzPaymentRequestJSON(f *testing.F) {
	f.Add([]byte(`{"id":"AB23D7406ECE4542A80152D909EF9F6B","payeePaymentReference":"0123456789","paymentReference":"1E2FC19E5E5E4E18916609B7F8911C12","callbackUrl":"https://example.com/api/swishcb/paymentrequests","payerAlias":"4671234768","payeeAlias":"1231181189","amount":100.00,"currency":"SEK","message":"Kingston USB Flash Drive 8 GB","status":"PAID","dateCreated":"2019-01-02T14:29:51.092Z","datePaid":"2019-01-02T14:29:55.093Z"}`))
	f.Add([]byte(`{"status":"ERROR","errorCode":"TM01","amount":"12.5","dateCreated":"2019-01-02T14:29:51","datePaid":null}`))
	f.Add([]byte(`[{"errorCode":"RP03","errorMessage":"Callback URL is missing or does not use HTTPS","additionalInformation":null}]`))
	f.Add([]byte(`{"amount":1e2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var pr PaymentRequest
		if decode(bytes.NewReader(b), &pr) == nil {
			u := mapPayment(&pr)
			if u.State == "" {
				t.Fatalf("status %q mapped to no state", pr.Status)
			}
			if u.State == kvitt.PaymentPaid && pr.Status != StatusPaid {
				t.Fatalf("status %q mapped to paid", pr.Status)
			}
			// Known, reported: Time.MarshalJSON writes a time that falls
			// before year 1 in UTC ("0000-01-01T00:00:00+01:00") as
			// "-0001-12-31T23:00:00.000Z", which UnmarshalJSON refuses.
			if !beforeYear1(pr.DateCreated) && !beforeYear1(pr.DatePaid) {
				var again PaymentRequest
				out, err := json.Marshal(&pr)
				if err != nil {
					t.Fatalf("re-encoding %+v: %v", pr, err)
				}
				if err := json.Unmarshal(out, &again); err != nil {
					t.Fatalf("re-encoded %s does not read back: %v", out, err)
				}
				if !samePayment(pr, again) {
					t.Fatalf("re-encoding changed the request:\n%+v\n%+v", pr, again)
				}
			}
			if pr.Validate() == nil {
				ore, err := pr.Amount.Ore()
				if err != nil || ore < MinAmountOre || ore > MaxAmountOre {
					t.Fatalf("valid request with amount %q = %d, %v", pr.Amount, ore, err)
				}
			}
		}
		var rf Refund
		if decode(bytes.NewReader(b), &rf) == nil {
			u := mapRefund(&rf)
			if u.State == "" || u.State == kvitt.RefundSucceeded && rf.Status != StatusPaid {
				t.Fatalf("refund status %q mapped to %q", rf.Status, u.State)
			}
			_ = rf.Validate()
		}
		resp := &http.Response{StatusCode: 422, Body: httpBody(b)}
		var ae *APIError
		if !errors.As(readAPIError(resp), &ae) || len(ae.Body) > 200 {
			t.Fatalf("readAPIError: %+v", ae)
		}
		_ = ae.Error() + ae.CashierMessage()
	})
}

func httpBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func beforeYear1(t Time) bool { return !t.IsZero() && t.UTC().Year() < 1 }

// samePayment compares two payment requests; times to the millisecond,
// which is what Swish writes and MarshalJSON keeps.
func samePayment(a, b PaymentRequest) bool {
	for _, p := range [][2]*Time{{&a.DateCreated, &b.DateCreated}, {&a.DatePaid, &b.DatePaid}} {
		if !p[0].Truncate(time.Millisecond).Equal(p[1].Time) {
			return false
		}
		*p[0], *p[1] = Time{}, Time{}
	}
	return a == b
}

// FuzzCallback posts a callback to ParseCallback: only the token made for
// the reference authenticates, the reference returned is the token's, and
// a body naming another payment is refused. The body is never trusted
// further than that.
func FuzzCallback(f *testing.F) {
	f.Add("", []byte(`{"id":"11A86BE70EA346E4B1C39C874173F088","status":"PAID"}`), true)
	f.Add("11A86BE70EA346E4B1C39C874173F088-AAAAAAAAAAAAAAAAAAAAAAAAAA", []byte(`{}`), false)
	f.Add("", []byte(`{"id":"22A86BE70EA346E4B1C39C874173F088"}`), true)
	f.Add("", []byte(`not json`), true)
	a := &Provider{cfg: Config{CallbackSecret: []byte("0123456789abcdef0123456789abcdef")}}
	const ref = "11A86BE70EA346E4B1C39C874173F088"
	f.Fuzz(func(t *testing.T, token string, body []byte, valid bool) {
		if valid {
			token = a.CallbackToken(ref)
		}
		r := httptest.NewRequest("POST", "/v1/callbacks/swish/x", bytes.NewReader(body))
		r.SetPathValue("token", token)
		got, err := a.ParseCallback(r)
		if err != nil {
			var ke *kvitt.Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %T %v is no kvitt error", err, err)
			}
			if valid && ke.Code == kvitt.EUNAUTHORIZED {
				t.Fatalf("the right token refused: %v", err)
			}
			return
		}
		if token != a.CallbackToken(got) {
			t.Fatalf("token %q accepted for %q", token, got)
		}
		var v struct{ ID string }
		if json.Unmarshal(body, &v) == nil && v.ID != "" && !strings.EqualFold(v.ID, got) {
			t.Fatalf("body for %q accepted as a callback for %q", v.ID, got)
		}
	})
}

// FuzzValidators: a payer alias, message or amount the validators take is
// one Swish takes, and one that can go on a receipt.
func FuzzValidators(f *testing.F) {
	f.Add("46701234567")
	f.Add("0701234567")
	f.Add("Kaffe & bulle: 2 st (åäö)")
	f.Add("12.50")
	f.Add("1231181189")
	f.Add("x\x1bp")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidatePayerAlias(s) == nil && (len(s) < 8 || len(s) > 15 || !digits(s) || s[0] == '0') {
			t.Fatalf("payer alias %q accepted", s)
		}
		if ValidateMerchantNumber("f", s) == nil && (len(s) != 10 || !digits(s) || !strings.HasPrefix(s, "123")) {
			t.Fatalf("merchant number %q accepted", s)
		}
		if ValidateMessage(s) == nil {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxMessageLength || kvitt.CheckText("m", s) != nil {
				t.Fatalf("message %q accepted", s)
			}
		}
		if validateAmount(Amount(s)) == nil {
			ore, err := Amount(s).Ore()
			if err != nil || ore < MinAmountOre || ore > MaxAmountOre {
				t.Fatalf("amount %q accepted as %d, %v", s, ore, err)
			}
			if back, err := AmountOf(ore).Ore(); err != nil || back != ore || validateAmount(AmountOf(ore)) != nil {
				t.Fatalf("amount %q: AmountOf(%d) = %q does not read back", s, ore, AmountOf(ore))
			}
		}
		if validateReference("r", s, false) == nil && (len(s) > MaxReferenceLen || strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		})) {
			t.Fatalf("reference %q accepted", s)
		}
	})
}
