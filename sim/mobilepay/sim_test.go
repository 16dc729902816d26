package simmobilepay

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
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

// shape lists the paths of every key in a JSON document ("aggregate.authorizedAmount.value"),
// and the JSON type at each, so two documents with the same fields compare equal.
func shape(t *testing.T, b []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(prefix+"."+k, e)
			}
		case []any:
			if len(x) > 0 {
				walk(prefix+"[]", x[0])
			}
		case nil:
			out = append(out, prefix+":null")
		default:
			out = append(out, prefix+":"+reflect.TypeOf(x).Kind().String())
		}
	}
	walk("", v)
	sort.Strings(out)
	return out
}

func sameShape(t *testing.T, what string, got, want []byte, ignore ...string) {
	t.Helper()
	drop := func(s []string) []string {
		var out []string
	next:
		for _, p := range s {
			for _, i := range ignore {
				if strings.HasPrefix(p, i) {
					continue next
				}
			}
			out = append(out, p)
		}
		return out
	}
	g, w := drop(shape(t, got)), drop(shape(t, want))
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: the answer's fields differ from the documentation's\n got: %v\nwant: %v\nbody: %s", what, g, w, got)
	}
}

// raw is a client that speaks to the simulator with literal requests.
type raw struct {
	t     *testing.T
	s     *Sim
	http  *http.Client
	token string
}

func newRaw(t *testing.T, opts Options) *raw {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &raw{t: t, s: s, http: s.HTTPClient()}
	code, body := r.do("POST", "/accesstoken/get", nil, map[string]string{"client_id": s.ClientID(), "client_secret": s.ClientSecret()})
	if code != 200 {
		t.Fatalf("token: %d %s", code, body)
	}
	sameShape(t, "token", body, fixture(t, "token_response.json"))
	var tr map[string]string // every field a string, numbers too
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("the token answer's fields are not all strings: %v", err)
	}
	r.token = tr["access_token"]
	return r
}

func (r *raw) do(method, path string, body []byte, hdr map[string]string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.s.URL()+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", r.s.SubscriptionKey())
	req.Header.Set("Merchant-Serial-Number", r.s.MSN())
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func idem(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

// The simulator takes the documented requests as they are and answers
// with the documented fields.
func TestDocumentedRequestsAndAnswers(t *testing.T) {
	r := newRaw(t, Options{})
	code, body := r.do("POST", "/epayment/v1/payments", fixture(t, "create_push.json"), idem("k-create-1"))
	if code != 201 {
		t.Fatalf("create_push: %d %s", code, body)
	}
	sameShape(t, "create (push)", body, fixture(t, "create_response_push.json"))
	code, body = r.do("POST", "/epayment/v1/payments", bytes.Replace(fixture(t, "create_qr.json"), []byte("acme-shop-123-order123abc"), []byte("acme-shop-123-order124abc"), 1), idem("k-create-2"))
	if code != 201 {
		t.Fatalf("create_qr: %d %s", code, body)
	}
	sameShape(t, "create (qr)", body, fixture(t, "create_response_qr.json"))

	code, body = r.do("GET", "/epayment/v1/payments/acme-shop-123-order123abc", nil, nil)
	if code != 200 {
		t.Fatalf("get: %d %s", code, body)
	}
	sameShape(t, "get", body, fixture(t, "payment_authorized.json"))

	// Force approve as in the test environment, then capture, refund, cancel.
	if code, body = r.do("POST", "/epayment/v1/test/payments/acme-shop-123-order123abc/approve", fixture(t, "force_approve.json"), nil); code != 200 {
		t.Fatalf("force approve: %d %s", code, body)
	}
	capture := bytes.Replace(fixture(t, "capture_request.json"), []byte("6000"), []byte("49900"), 1)
	code, body = r.do("POST", "/epayment/v1/payments/acme-shop-123-order123abc/capture", capture, idem("k-capture"))
	if code != 200 {
		t.Fatalf("capture: %d %s", code, body)
	}
	sameShape(t, "capture", body, fixture(t, "modification_response.json"))
	if code, again := r.do("POST", "/epayment/v1/payments/acme-shop-123-order123abc/capture", capture, idem("k-capture")); code != 200 || !bytes.Equal(again, body) {
		t.Errorf("a repeated capture with the same Idempotency-Key: %d %s", code, again)
	}
	code, body = r.do("POST", "/epayment/v1/payments/acme-shop-123-order123abc/refund", fixture(t, "refund_request.json"), idem("k-refund"))
	if code != 200 {
		t.Fatalf("refund: %d %s", code, body)
	}
	sameShape(t, "refund", body, fixture(t, "modification_response.json"))
	code, body = r.do("GET", "/epayment/v1/payments/acme-shop-123-order123abc/events", nil, nil)
	if code != 200 {
		t.Fatalf("events: %d %s", code, body)
	}
	sameShape(t, "events", body, fixture(t, "events.json"), "[].idempotencyKey")
	var events []map[string]any
	json.Unmarshal(body, &events)
	if len(events) != 4 || events[3]["name"] != "REFUNDED" || events[3]["idempotencyKey"] != "k-refund" {
		t.Errorf("events %s", body)
	}
	if code, body = r.do("POST", "/epayment/v1/payments/acme-shop-123-order124abc/cancel", fixture(t, "cancel_request.json"), idem("k-cancel")); code != 200 {
		t.Fatalf("cancel: %d %s", code, body)
	}

	// A domain error and a validation error have the documented shape.
	code, body = r.do("POST", "/epayment/v1/payments/acme-shop-123-order124abc/capture", fixture(t, "capture_request.json"), idem("k-capture-2"))
	if code != 400 {
		t.Fatalf("capture of a cancelled payment: %d %s", code, body)
	}
	sameShape(t, "domain problem", body, fixture(t, "problem_domain.json"))
	bad := bytes.Replace(fixture(t, "create_push.json"), []byte("acme-shop-123-order123abc"), []byte("short"), 1)
	code, body = r.do("POST", "/epayment/v1/payments", bad, idem("k-create-3"))
	if code != 400 || !strings.Contains(string(body), `"name":"reference"`) {
		t.Fatalf("bad reference: %d %s", code, body)
	}
	sameShape(t, "validation problem", body, fixture(t, "problem_400.json"))

	// Webhooks and merchant callback QR.
	code, body = r.do("POST", "/webhooks/v1/webhooks", fixture(t, "webhook_register_request.json"), nil)
	if code != 201 {
		t.Fatalf("register webhook: %d %s", code, body)
	}
	sameShape(t, "register webhook", body, fixture(t, "webhook_register_response.json"))
	var reg map[string]string
	json.Unmarshal(body, &reg)
	if code, _ = r.do("DELETE", "/webhooks/v1/webhooks/"+reg["id"], nil, nil); code != 204 {
		t.Errorf("delete webhook: %d", code)
	}
	if code, body = r.do("PUT", "/qr/v1/merchant-callback/27072f82-c4b6-49cd-9838-10f21d87496e", fixture(t, "callback_qr_put.json"), nil); code != 200 {
		t.Fatalf("put QR: %d %s", code, body)
	}
	code, body = r.do("GET", "/qr/v1/merchant-callback/27072f82-c4b6-49cd-9838-10f21d87496e?QrImageFormat=PNG&QrImageSize=200", nil, nil)
	if code != 200 {
		t.Fatalf("get QR: %d %s", code, body)
	}
	sameShape(t, "callback QR", body, fixture(t, "callback_qr.json"))
}

// A field the documentation does not name, spelled even slightly wrong, is refused.
func TestStrictRequests(t *testing.T) {
	r := newRaw(t, Options{})
	for name, body := range map[string][]byte{
		"userflow":     bytes.Replace(fixture(t, "create_push.json"), []byte(`"userFlow"`), []byte(`"userflow"`), 1),
		"phonenumber":  bytes.Replace(fixture(t, "create_push.json"), []byte(`"phoneNumber"`), []byte(`"phonenumber"`), 1),
		"extra":        bytes.Replace(fixture(t, "create_push.json"), []byte(`"reference"`), []byte(`"orderId": "x", "reference"`), 1),
		"SEK":          bytes.Replace(fixture(t, "create_push.json"), []byte(`"NOK"`), []byte(`"SEK"`), 1),
		"phone with +": bytes.Replace(fixture(t, "create_push.json"), []byte(`"4791234567"`), []byte(`"+4791234567"`), 1),
	} {
		if code, b := r.do("POST", "/epayment/v1/payments", body, idem("k-"+name)); code != 400 {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	if code, _ := r.do("POST", "/epayment/v1/payments", fixture(t, "create_push.json"), nil); code != 400 {
		t.Errorf("without Idempotency-Key: %d", code)
	}
	if code, _ := r.do("GET", "/epayment/v1/payments/acme-shop-123-order123abc", nil, map[string]string{"Ocp-Apim-Subscription-Key": "wrong"}); code != 401 {
		t.Errorf("wrong subscription key: %d", code)
	}
	if code, _ := r.do("GET", "/epayment/v1/payments/acme-shop-123-order123abc", nil, map[string]string{"Merchant-Serial-Number": "999999"}); code != 403 {
		t.Errorf("another MSN: %d", code)
	}
	if code, _ := r.do("GET", "/epayment/v1/payments/acme-shop-123-order123abc", nil, map[string]string{"Authorization": "Bearer forged"}); code != 401 {
		t.Errorf("forged token: %d", code)
	}
	// One create per reference: the same key and body replay; another key is a conflict.
	code, first := r.do("POST", "/epayment/v1/payments", fixture(t, "create_push.json"), idem("k-1"))
	code2, again := r.do("POST", "/epayment/v1/payments", fixture(t, "create_push.json"), idem("k-1"))
	code3, _ := r.do("POST", "/epayment/v1/payments", fixture(t, "create_push.json"), idem("k-2"))
	if code != 201 || code2 != 201 || !bytes.Equal(first, again) || code3 != 409 || r.s.PaymentCount() != 1 {
		t.Errorf("idempotency: %d %d %d, %d payments", code, code2, code3, r.s.PaymentCount())
	}
}

// The documentation's sample delivery is signed the way the simulator signs.
func TestSignatureVector(t *testing.T) {
	var v struct {
		Secret, URL, Content string
		Date                 string `json:"x-ms-date"`
		Hash                 string `json:"x-ms-content-sha256"`
		Authorization        string
	}
	json.Unmarshal(fixture(t, "signature_vector.json"), &v)
	at, _ := http.ParseTime(v.Date)
	h, err := sign(v.Secret, v.URL, at, []byte(v.Content))
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("x-ms-date") != v.Date || h.Get("x-ms-content-sha256") != v.Hash || h.Get("Authorization") != v.Authorization {
		t.Errorf("got %v\nwant date %s hash %s auth %s", h, v.Date, v.Hash, v.Authorization)
	}
}

// Deliveries carry the documented payloads, signed; a scan of a till's QR
// sends user.checked-in.v1 with a token a create then takes.
func TestDeliveriesAndCheckin(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	r := newRaw(t, Options{})
	cert, _ := r.s.ServerCertificate()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		got, bodies = append(got, req), append(bodies, b)
		mu.Unlock()
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	reg, _ := json.Marshal(map[string]any{"url": srv.URL + "/hook?x=1", "events": []string{"user.checked-in.v1", "epayments.payment.created.v1"}})
	if code, b := r.do("POST", "/webhooks/v1/webhooks", reg, nil); code != 201 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := r.do("PUT", "/qr/v1/merchant-callback/mobilepay/3fa85f64-5717-4562-b3fc-2c963f66afa6", fixture(t, "callback_qr_put.json"), nil); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := r.do("PUT", "/qr/v1/merchant-callback/mobilepay/kasse-1", fixture(t, "callback_qr_put.json"), nil); code != 400 {
		t.Fatalf("a beacon id of the wrong form: %d %s", code, b)
	}
	token, err := r.s.Customer().CheckIn(context.Background(), "mobilepaypos://pos?id=3fa85f64-5717-4562-b3fc-2c963f66afa6&source=qr")
	if err != nil {
		t.Fatal(err)
	}
	create := bytes.Replace(fixture(t, "create_static_qr.json"), []byte("wbA8ceVRKkoYiQAVELHeFCC3Sn5dtNCvvEtVPiOT77j6wx7uR965AG6Q+q0ATP4="), []byte(token), 1)
	if code, b := r.do("POST", "/epayment/v1/payments", create, idem("k-static")); code != 201 {
		t.Fatalf("create with the customer token: %d %s", code, b)
	}
	if code, b := r.do("POST", "/epayment/v1/payments", fixture(t, "create_static_qr.json"), idem("k-static-2")); code != 400 {
		t.Fatalf("create with an unknown customer token: %d %s", code, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	checkin, created := bodies[0], bodies[1] // deliveries run concurrently: tell them apart
	if bytes.Contains(created, []byte(`"customerToken"`)) {
		checkin, created = created, checkin
	}
	sameShape(t, "user.checked-in.v1", checkin, fixture(t, "webhook_checked_in.json"))
	sameShape(t, "epayments.payment.created.v1", created, fixture(t, "webhook_epayment.json"))
	for i, req := range got {
		if req.URL.RequestURI() != "/hook?x=1" || req.Header.Get("x-ms-date") == "" ||
			!strings.HasPrefix(req.Header.Get("Authorization"), "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=") {
			t.Errorf("delivery %d: %s %v", i, req.URL, req.Header)
		}
	}
}

func TestMain_(t *testing.T) {
	var out bytes.Buffer
	Main(context.Background(), []string{"-h"}, &out)
	if !strings.Contains(out.String(), `127.0.0.1:8446`) {
		t.Errorf("default address: %s", out.String())
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out.Reset()
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	go func() { done <- Main(ctx, []string{"-addr", "127.0.0.1:0", "-certs", dir}, w) }()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), "API URL:") || !strings.Contains(out.String(), DefaultMSN) {
		t.Errorf("output: %s", out.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
