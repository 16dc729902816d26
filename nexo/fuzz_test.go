package nexo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// fuzzTerminal is a terminal that answers every request with one body; a
// reversal gets a transport error (so a reversal is never taken as done).
type fuzzTerminal []byte

func (a fuzzTerminal) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	if bytes.Contains(b, []byte(`"ReversalRequest"`)) {
		return nil, errors.New("terminal gone")
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(a)), Header: http.Header{}}, nil
}

// FuzzMessage feeds a terminal's answer to a payment through Client.Do (the
// JSON envelope) and Card.fromPayment. Do returns only an answer to the
// request it sent (same category and ServiceID); a payment is taken as paid
// only for an approval of exactly the amount asked (tips off), with its
// card number masked to the last four digits.
func FuzzMessage(f *testing.F) {
	f.Add([]byte(`{"SaleToPOIResponse":{"MessageHeader":{"MessageClass":"Service","MessageCategory":"Payment","MessageType":"Response","ServiceID":"S1","SaleID":"kvitt-1","POIID":"P1"},"PaymentResponse":{"Response":{"Result":"Success","AdditionalResponse":"AID=A0000000041010&applicationLabel=MASTERCARD"},"POIData":{"POITransactionID":{"TransactionID":"T1","TimeStamp":"2025-03-14T12:00:00.000Z"}},"PaymentResult":{"PaymentInstrumentData":{"CardData":{"PaymentBrand":"mc","MaskedPan":"541333 **** 9999","EntryMode":["Contactless"]}},"AmountsResp":{"Currency":"SEK","AuthorizedAmount":125.50},"AuthenticationMethod":["OnlinePIN"]}}}}`))
	f.Add([]byte(`{"SaleToPOIResponse":{"MessageHeader":{"MessageCategory":"Payment","ServiceID":"S1"},"PaymentResponse":{"Response":{"Result":"Success"},"POIData":{"POITransactionID":{"TransactionID":"T1"}},"PaymentResult":{"AmountsResp":{"AuthorizedAmount":125.5e0}}}}}`))
	f.Add([]byte(`{"SaleToPOIResponse":{"MessageHeader":{"MessageCategory":"Payment","ServiceID":"S1"},"PaymentResponse":{"Response":{"Result":"Failure","ErrorCondition":"Refusal","AdditionalResponse":"refusalReason=Not enough balance"}}}}`))
	f.Add([]byte(`{"SaleToPOIResponse":{"MessageHeader":{"MessageCategory":"Payment","ServiceID":"S2"}}}`))
	f.Add([]byte(`ok`))
	card := New(Config{})
	ep := Endpoint{URL: "https://terminal.invalid/nexo", POIID: "P1", SaleID: "kvitt-1"}
	req := &SaleToPOIRequest{MessageHeader: header(ep, CategoryPayment, "S1"), PaymentRequest: &PaymentRequest{}}
	p := &kvitt.Payment{ID: "pay_1", Method: "card", Amount: 12550, Currency: kvitt.SEK, Reference: "S1"}
	f.Fuzz(func(t *testing.T, data []byte) {
		card.client.HTTP = &http.Client{Transport: fuzzTerminal(data)}
		ctx := context.Background()
		r, err := card.client.Do(ctx, ep, req)
		if err != nil || r == nil {
			return
		}
		if h := r.MessageHeader; h.MessageCategory != CategoryPayment || h.ServiceID != "S1" {
			t.Fatalf("answer %s/%s taken for Payment/S1", h.MessageCategory, h.ServiceID)
		}
		if r.PaymentResponse == nil {
			return
		}
		u, err := card.fromPayment(ctx, ep, p, r.PaymentResponse, false)
		if err != nil || u.State != kvitt.PaymentPaid {
			return
		}
		pr := r.PaymentResponse
		if pr.Response.Result != ResultSuccess {
			t.Fatalf("result %q taken as paid", pr.Response.Result)
		}
		if got, err := ParseAmount(pr.PaymentResult.AmountsResp.AuthorizedAmount, p.Currency); err != nil || got != p.Amount || u.Tip != 0 {
			t.Fatalf("paid on an authorised amount %q (%d, tip %d) for %d", pr.PaymentResult.AmountsResp.AuthorizedAmount, got, u.Tip, p.Amount)
		}
		if u.Card == nil {
			t.Fatal("paid without card data")
		}
		if m := u.Card.MaskedPAN; m != "" && (len(m) != 16 || !strings.HasPrefix(m, strings.Repeat("*", 12)) || strings.Trim(m[12:], "0123456789") != "") {
			t.Fatalf("masked PAN %q", m)
		}
	})
}
