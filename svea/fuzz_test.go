package svea

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// instore answers every request with one status and body.
type instore struct {
	status int
	body   string
}

func (s *instore) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
	}
	return &http.Response{StatusCode: s.status, Body: io.NopCloser(strings.NewReader(s.body)), Header: http.Header{}}, nil
}

// FuzzOrderAnswer feeds Svea's answer to a status read through the client
// and the state mapping. A non-2xx answer is an APIError (a refusal only
// for 4xx) whose message never panics; a 2xx answer is read or refused; a
// read order maps to a known state, or to none with a message saying so;
// paid only for Completed, Delivered or Confirmed.
func FuzzOrderAnswer(f *testing.F) {
	f.Add(200, `{"merchantOrderNumber":"1001-1741953600000","instoreUiUri":"https://webpayinstore.svea.com/x","orderStatus":"Completed","paymentMethodType":"Invoice","campaignCode":null,"paymentType":"Invoice","paymentOrderId":9123,"customerInformation":{"billingAddress":{"fullName":"Anna A"},"emailAddress":"a@example.com"},"tags":[],"orderItems":[{"name":"Stol","quantity":100,"unitPrice":49900,"discountPercent":0,"vatPercent":2500,"unit":"st"}],"smsSentSuccessfully":true}`)
	f.Add(200, `{"orderStatus":"Active","paymentOrderId":-1}`)
	f.Add(200, `{"orderStatus":"Refunded"}`)
	f.Add(403, `{"message":"Too many requests","errors":{"order":["wait 5 s"]}}`)
	f.Add(500, ``)
	f.Add(200, `{"orderStatus":1}`)
	s := &instore{}
	c := &Client{BaseURL: "https://svea.invalid", MerchantID: "m", Password: "p", HTTP: &http.Client{Transport: s}}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 {
			status = 200 // net/http hands no 1xx to a client as the answer
		}
		s.status, s.body = status, body
		r, err := c.OrderStatus(context.Background(), "1001-1741953600000")
		if status < 200 || status > 299 {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != status {
				t.Fatalf("HTTP %d: %v", status, err)
			}
			if _, def := Definite(err); def != (status >= 400 && status < 500) {
				t.Fatalf("HTTP %d: definite %v", status, def)
			}
			if ae.Message() == "" || len(ae.Error()) > 340 {
				t.Fatalf("HTTP %d: message %q, error %q", status, ae.Message(), ae.Error())
			}
			return
		}
		if err != nil {
			return
		}
		u := update(r)
		st, known := mapStatus(r.OrderStatus)
		if u.State != st || known == (u.Message != "") || known != (u.State != "") {
			t.Fatalf("status %q: update %+v", r.OrderStatus, u)
		}
		if u.State == kvitt.PaymentPaid {
			switch strings.ToLower(r.OrderStatus) {
			case "completed", "delivered", "confirmed":
			default:
				t.Fatalf("status %q taken as paid", r.OrderStatus)
			}
		}
		if r.PaymentOrderID != nil && u.ProviderRef != strconv.FormatInt(*r.PaymentOrderID, 10) {
			t.Fatalf("payment order %d as %q", *r.PaymentOrderID, u.ProviderRef)
		}
	})
}

// FuzzCallbackToken: the token in Svea's callback URL splits into its
// order, link and secret only when it is exactly the token kvitt made for
// them (so no other spelling of a token authenticates a link).
func FuzzCallbackToken(f *testing.F) {
	f.Add("ord_01HQ.1.s3cr3t")
	f.Add("ord_01HQ.01.s3cr3t")
	f.Add("ord_01HQ.+1.s3cr3t")
	f.Add("a.1.b.c")
	f.Add("a. 1.b")
	f.Add("a.99999999999999999999.b")
	f.Fuzz(func(t *testing.T, token string) {
		id, seq, secret, ok := kvitt.ParseOrderCallbackToken(token)
		if !ok {
			return
		}
		if seq <= 0 || id == "" || secret == "" {
			t.Fatalf("%q split as %q %d %q", token, id, seq, secret)
		}
		if back := kvitt.OrderCallbackToken(&kvitt.Order{ID: id}, &kvitt.OrderLink{Seq: seq, Secret: secret}); back != token {
			t.Fatalf("%q split as %q %d %q, which makes %q", token, id, seq, secret, back)
		}
	})
}
