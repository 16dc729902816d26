package simsvea

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
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

func call(t *testing.T, s *Sim, method, path string, body []byte, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFixturesAccepted: the shared fixtures decode strictly into the
// simulator's own structs and pass its validation.
func TestFixturesAccepted(t *testing.T) {
	var c createRequest
	dec := json.NewDecoder(bytes.NewReader(fixture(t, "create_request.json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	s := &Sim{opts: Options{CountryCode: "SE"}}
	if f, msg, total := s.validate(&c); f != "" || total != 89820+9900 {
		t.Fatalf("fixture refused: %s %s (total %d)", f, msg, total)
	}
	var r returnRequest
	dec = json.NewDecoder(bytes.NewReader(fixture(t, "return_request.json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || len(r.ReturnedItems) != 1 {
		t.Fatal(r, err)
	}
	for _, name := range []string{"order_active.json", "order_completed.json"} {
		var o orderResponse
		dec = json.NewDecoder(bytes.NewReader(fixture(t, name)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			// customerInformation carries addresses the simulator does not model.
			if !strings.Contains(err.Error(), "Address") {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

func TestValidationAndAuth(t *testing.T) {
	s, err := New(Options{StatusInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := fixture(t, "create_request.json")
	if st, _ := call(t, s, "POST", "/api/v1/orders", good, "", ""); st != 401 {
		t.Fatalf("no credentials: %d", st)
	}
	if st, _ := call(t, s, "POST", "/api/v1/orders", good, s.MerchantID(), "wrong"); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	for name, edit := range map[string][2]string{
		"long merchantOrderNumber":   {`"100234-20240305140709123"`, `"100234-20240305140709123-12345678"`},
		"country of another account": {`"countryCode": "SE"`, `"countryCode": "NO"`},
		"name over 40":               {`"Stol Ekbacken"`, `"Stol Ekbacken med extra lång benämning som inte ryms"`},
		"unit over 4": {`"unit": "st",
      "rowNumber": 1`, `"unit": "styck",
      "rowNumber": 1`},
		"VAT not valid in SE": {`"vatPercent": 2500,
      "unit": "st",
      "rowNumber": 2`, `"vatPercent": 2550,
      "unit": "st",
      "rowNumber": 2`},
		"negative total":    {`"unitPrice": 9900`, `"unitPrice": -999900`},
		"misspelled field":  {`"termsUri"`, `"termsUrl"`},
		"IsCompany missing": {`{"attributeName": "IsCompany", "value": "false", "isReadonly": false},`, ``},
	} {
		body := strings.Replace(string(good), edit[0], edit[1], 1)
		if body == string(good) {
			t.Fatalf("%s: the edit did not apply", name)
		}
		if st, msg := call(t, s, "POST", "/api/v1/orders", []byte(body), s.MerchantID(), s.Password()); st != 400 {
			t.Errorf("%s: %d %s", name, st, msg)
		}
	}
	if len(s.Outbox()) != 0 {
		t.Fatal("a refused order sent an SMS")
	}
}

// TestLifecycle: the SMS outbox, the 5-second rule (403), the checkout
// page's complete with its callback, expiry and cancel.
func TestLifecycle(t *testing.T) {
	var hits atomic.Int32
	var got atomic.Value
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.URL.Path + " " + string(b))
		hits.Add(1)
	}))
	defer cb.Close()
	s, err := New(Options{StatusInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := strings.Replace(string(fixture(t, "create_request.json")), "https://kvitt.example", cb.URL, 1)
	st, resp := call(t, s, "POST", "/api/v1/orders", []byte(body), s.MerchantID(), s.Password())
	if st != 200 || !strings.Contains(resp, `"smsSentSuccessfully":true`) || !strings.Contains(resp, `"orderStatus":"Active"`) {
		t.Fatalf("create: %d %s", st, resp)
	}
	mon := "100234-20240305140709123"
	if st, _ := call(t, s, "GET", "/api/v1/orders/"+mon+"/status", nil, s.MerchantID(), s.Password()); st != 200 {
		t.Fatal(st)
	}
	if st, _ := call(t, s, "GET", "/api/v1/orders/"+mon+"/status", nil, s.MerchantID(), s.Password()); st != 403 {
		t.Fatalf("second status call within the interval: %d", st)
	}
	time.Sleep(300 * time.Millisecond)
	if err := s.Complete(mon); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || !strings.Contains(got.Load().(string), "/v1/callbacks/svea/ord_x.1.s3cr3t") || !strings.Contains(got.Load().(string), mon) {
		t.Fatalf("callback %d %v", hits.Load(), got.Load())
	}
	st, resp = call(t, s, "GET", "/api/v1/orders/"+mon+"/status", nil, s.MerchantID(), s.Password())
	if st != 200 || !strings.Contains(resp, `"orderStatus":"Completed"`) {
		t.Fatalf("status after complete: %d %s", st, resp)
	}

	// A second order: expiry, then a checkout that refuses.
	body2 := strings.Replace(body, mon, "100235-20240305140709123", 1)
	if st, _ := call(t, s, "POST", "/api/v1/orders", []byte(body2), s.MerchantID(), s.Password()); st != 200 {
		t.Fatal(st)
	}
	s.Expire("100235-20240305140709123")
	if err := s.Complete("100235-20240305140709123"); err == nil {
		t.Fatal("an expired link was paid")
	}
	if st, _ := call(t, s, "POST", "/api/v1/orders/100235-20240305140709123/cancel", nil, s.MerchantID(), s.Password()); st != 403 {
		t.Fatalf("cancel of an expired order: %d", st)
	}
	if n := len(s.Outbox()); n != 2 {
		t.Fatalf("%d SMS", n)
	}
}
