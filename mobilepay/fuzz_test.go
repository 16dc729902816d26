package mobilepay

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

const fuzzWebhookURL = "https://kvitt.example/v1/callbacks/mobilepay"

// signed is a delivery of body signed with secret at date, as the Webhooks
// API sends it.
func signed(body []byte, secret, date string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, fuzzWebhookURL, bytes.NewReader(body))
	hash := ContentHash(body)
	r.Header.Set("x-ms-date", date)
	r.Header.Set("x-ms-content-sha256", hash)
	r.Header.Set("Authorization", authPrefix+Signature(secret, http.MethodPost, "/v1/callbacks/mobilepay", date, "kvitt.example", hash))
	return r
}

// FuzzWebhook: a delivery signed with the webhook secret is taken once (a
// replay is ECONFLICT) and ParseCallback returns a valid reference or
// nothing; the same headers over a body changed in any byte, or over a
// body cut or lengthened, never verify, nor does a signature changed in
// one character. Nothing panics.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(`{"msn":"123456","reference":"kvitt-pay_01","pspReference":"7686f","name":"AUTHORIZED","amount":{"currency":"DKK","value":4500},"timestamp":"2025-03-14T12:00:00.000Z","success":true}`), uint16(3), byte(1))
	f.Add([]byte(`{"customerToken":"tok","merchantQrId":"kvitt-till-1","msn":"123456","initiatedAt":"2025-03-14T12:00:00Z"}`), uint16(40), byte(0x80))
	f.Add([]byte(`{"msn":"999999","reference":"x"}`), uint16(0), byte(0))
	f.Add([]byte(`{"reference":"../../etc"}`), uint16(9), byte(0x20))
	f.Add([]byte(``), uint16(0), byte(7))
	const secret = "webhook-secret-from-registration"
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	f.Fuzz(func(t *testing.T, body []byte, pos uint16, flip byte) {
		v, err := NewVerifier(secret, fuzzWebhookURL, time.Minute, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewProvider(Config{Client: &Client{cfg: ClientConfig{MSN: "123456"}}, Verifier: v, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := a.ParseCallback(signed(body, secret, date))
		if err != nil {
			if errCodeOf(err) == kvitt.EUNAUTHORIZED || errCodeOf(err) == kvitt.ECONFLICT || errCodeOf(err) == "" {
				t.Fatalf("signed delivery refused as %q: %v", errCodeOf(err), err)
			}
		} else if ref != "" && ValidateReference(ref) != nil {
			t.Fatalf("reference %q returned", ref)
		}
		if err := v.Verify(signed(body, secret, date), body); errCodeOf(err) != kvitt.ECONFLICT {
			t.Fatalf("replay: %v", err)
		}
		// The same headers over other bytes.
		var mutated [][]byte
		if flip != 0 && len(body) > 0 {
			m := bytes.Clone(body)
			m[int(pos)%len(m)] ^= flip
			mutated = append(mutated, m)
		}
		if len(body) > 0 {
			mutated = append(mutated, body[:int(pos)%len(body)])
		}
		mutated = append(mutated, append(bytes.Clone(body), byte(pos)))
		for _, m := range mutated {
			r := signed(body, secret, date)
			if err := v.Verify(r, m); errCodeOf(err) != kvitt.EUNAUTHORIZED {
				t.Fatalf("body %q verified with the signature of %q: %v", m, body, err)
			}
		}
		// The signature changed in one character.
		r := signed(body, secret, date)
		auth := []byte(r.Header.Get("Authorization"))
		i := len(authPrefix) + int(pos)%(len(auth)-len(authPrefix))
		if auth[i] == 'A' {
			auth[i] = 'B'
		} else {
			auth[i] = 'A'
		}
		r.Header.Set("Authorization", string(auth))
		if err := v.Verify(r, body); errCodeOf(err) != kvitt.EUNAUTHORIZED {
			t.Fatalf("changed signature %q verified: %v", auth, err)
		}
	})
}

func errCodeOf(err error) string {
	var ke *kvitt.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return ""
}
