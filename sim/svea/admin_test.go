package simsvea

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// adminSign is the test's own reading of Svea's formula (docs.payments.svea.com
// getting-started/authentication): base64(merchantId:hex(sha512(body+secret+timestamp))).
func adminSign(merchant, secret string, body []byte, ts string) string {
	sum := sha512.Sum512([]byte(string(body) + secret + ts))
	return "Svea " + base64.StdEncoding.EncodeToString([]byte(merchant+":"+hex.EncodeToString(sum[:])))
}

type adminReq struct {
	method, path string
	body         []byte
	ts           string // "" = now
	auth         string // "" = signed correctly
}

func adminCall(t *testing.T, s *Sim, r adminReq) (int, http.Header, []byte) {
	t.Helper()
	ts := r.ts
	if ts == "" {
		ts = time.Now().UTC().Format("2006-01-02 15:04:05")
	}
	auth := r.auth
	if auth == "" {
		auth = adminSign(s.AdminMerchantID(), s.AdminSecret(), r.body, ts)
	}
	req, _ := http.NewRequest(r.method, s.AdminURL()+r.path, bytes.NewReader(r.body))
	req.Header.Set("Timestamp", ts)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// completedOrder creates an Instore order (deferredDelivery as given) and
// completes it as the customer; it returns its paymentOrderId.
func completedOrder(t *testing.T, s *Sim, mon string, deferred bool) int64 {
	t.Helper()
	var req map[string]any
	json.Unmarshal(fixture(t, "create_request.json"), &req)
	req["merchantOrderNumber"], req["deferredDelivery"] = mon, deferred
	delete(req, "callbackUri")
	body, _ := json.Marshal(req)
	st, out := call(t, s, "POST", "/api/v1/orders", body, s.MerchantID(), s.Password())
	if st != 200 {
		t.Fatal(st, out)
	}
	var resp orderResponse
	json.Unmarshal([]byte(out), &resp)
	if err := s.Complete(mon); err != nil {
		t.Fatal(err)
	}
	return *resp.PaymentOrderID
}

func adminGet(t *testing.T, s *Sim, id int64) adminOrderJSON {
	t.Helper()
	st, _, b := adminCall(t, s, adminReq{method: "GET", path: "/api/v1/orders/" + strconv.FormatInt(id, 10)})
	if st != 200 {
		t.Fatalf("GET order %d: %d %s", id, st, b)
	}
	var o adminOrderJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestAdminFixturesAccepted: the shared Payment Admin fixtures decode
// strictly into the simulator's own structs.
func TestAdminFixturesAccepted(t *testing.T) {
	for name, v := range map[string]any{"admin_order_open.json": &adminOrderJSON{}, "admin_order_delivered.json": &adminOrderJSON{},
		"admin_deliver_request.json": &adminDeliveryRequest{}, "admin_cancel_request.json": &adminCancelRequest{},
		"admin_task.json": &adminTask{}, "admin_error.json": &adminError{}} {
		dec := json.NewDecoder(bytes.NewReader(fixture(t, name)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAdminAuth: the Timestamp and Authorization headers are checked
// exactly; anything else is 401 and changes nothing.
func TestAdminAuth(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := completedOrder(t, s, "A1-1", true)
	path := "/api/v1/orders/" + strconv.FormatInt(id, 10)
	now := time.Now().UTC()
	ts := now.Format("2006-01-02 15:04:05")
	cancel := fixture(t, "admin_cancel_request.json")
	for name, r := range map[string]adminReq{
		"wrong secret":        {method: "GET", path: path, auth: adminSign(s.AdminMerchantID(), "other", nil, ts), ts: ts},
		"wrong merchant":      {method: "GET", path: path, auth: adminSign("someone", s.AdminSecret(), nil, ts), ts: ts},
		"signed other body":   {method: "PATCH", path: path, body: cancel, auth: adminSign(s.AdminMerchantID(), s.AdminSecret(), nil, ts), ts: ts},
		"other timestamp":     {method: "GET", path: path, auth: adminSign(s.AdminMerchantID(), s.AdminSecret(), nil, now.Add(time.Second).Format("2006-01-02 15:04:05")), ts: ts},
		"ISO timestamp":       {method: "GET", path: path, ts: now.Format(time.RFC3339)},
		"stale timestamp":     {method: "GET", path: path, ts: now.Add(-time.Hour).Format("2006-01-02 15:04:05")},
		"Basic auth":          {method: "GET", path: path, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(s.MerchantID()+":"+s.Password()))},
		"no scheme":           {method: "GET", path: path, auth: strings.TrimPrefix(adminSign(s.AdminMerchantID(), s.AdminSecret(), nil, ts), "Svea "), ts: ts},
		"Instore credentials": {method: "GET", path: path, auth: adminSign(s.MerchantID(), s.Password(), nil, ts), ts: ts},
	} {
		if st, _, b := adminCall(t, s, r); st != 401 {
			t.Errorf("%s: %d %s", name, st, b)
		}
	}
	if info, _ := s.AdminOrder(id); info.Status != "Open" || info.CancelCalls != 0 {
		t.Fatalf("an unauthenticated call changed the order: %+v", info)
	}
	// The documented form, and the upper-case digest of Svea's example.
	if st, _, b := adminCall(t, s, adminReq{method: "GET", path: path}); st != 200 {
		t.Fatal(st, string(b))
	}
	sum := sha512.Sum512([]byte(s.AdminSecret() + ts))
	upper := "Svea " + base64.StdEncoding.EncodeToString([]byte(s.AdminMerchantID()+":"+strings.ToUpper(hex.EncodeToString(sum[:]))))
	if st, _, b := adminCall(t, s, adminReq{method: "GET", path: path, ts: ts, auth: upper}); st != 200 {
		t.Fatal(st, string(b))
	}
	// The Admin API is not on the Instore host, nor the Instore API on the Admin host.
	if st, _ := call(t, s, "GET", path, nil, s.MerchantID(), s.Password()); st != 404 && st != 405 {
		t.Fatalf("Payment Admin answered on the Instore host: %d", st)
	}
}

// TestAdminOrderLifecycle: an order completed with deferred delivery is
// Open with CanDeliverOrder and CanCancelOrder; a delivery is 202 with a
// task, then Delivered; a cancel of a delivered order is refused; an
// Instore return shows as a credit; a lost answer still delivered once.
func TestAdminOrderLifecycle(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Not yet completed: Payment Admin does not know it.
	if st, _, _ := adminCall(t, s, adminReq{method: "GET", path: "/api/v1/orders/1"}); st != 404 {
		t.Fatal(st)
	}
	id := completedOrder(t, s, "A2-1", true)
	path := "/api/v1/orders/" + strconv.FormatInt(id, 10)
	o := adminGet(t, s, id)
	if o.OrderStatus != "Open" || len(o.OrderRows) != 2 || o.OrderRows[0].OrderRowID != 1 || o.OrderAmount != 89820+9900 || len(o.Deliveries) != 0 ||
		!strings.Contains(strings.Join(o.Actions, ","), "CanDeliverOrder") || !strings.Contains(strings.Join(o.Actions, ","), "CanCancelOrder") {
		t.Fatalf("open: %+v", o)
	}
	st, h, b := adminCall(t, s, adminReq{method: "POST", path: path + "/deliveries", body: fixture(t, "admin_deliver_request.json")})
	if st != 202 || !strings.HasPrefix(h.Get("Location"), s.AdminURL()+"/api/v1/queue/") {
		t.Fatal(st, h, string(b))
	}
	st, _, b = adminCall(t, s, adminReq{method: "GET", path: strings.TrimPrefix(h.Get("Location"), s.AdminURL())})
	var task adminTask
	json.Unmarshal(b, &task)
	if st != 200 || task.Status != "Completed" || task.ResourceURI != s.AdminURL()+path {
		t.Fatal(st, string(b))
	}
	o = adminGet(t, s, id)
	if o.OrderStatus != "Delivered" || len(o.Deliveries) != 1 || o.Deliveries[0].DeliveryAmount != o.OrderAmount || len(o.Actions) != 0 {
		t.Fatalf("delivered: %+v", o)
	}
	// Again: refused, still one delivery.
	if st, _, b := adminCall(t, s, adminReq{method: "POST", path: path + "/deliveries", body: fixture(t, "admin_deliver_request.json")}); st != 400 || !strings.Contains(string(b), "already delivered") {
		t.Fatal(st, string(b))
	}
	if st, _, b := adminCall(t, s, adminReq{method: "PATCH", path: path, body: fixture(t, "admin_cancel_request.json")}); st != 400 || !strings.Contains(string(b), "credit it instead") {
		t.Fatal(st, string(b))
	}
	// An Instore return is a credit on the delivery.
	if st, out := call(t, s, "POST", "/api/v1/orders/A2-1/return", fixture(t, "return_request.json"), s.MerchantID(), s.Password()); st != 200 {
		t.Fatal(st, out)
	}
	o = adminGet(t, s, id)
	if d := o.Deliveries[0]; d.CreditedAmount <= 0 || len(d.Credits) != 1 || d.Credits[0].Amount != -d.CreditedAmount {
		t.Fatalf("credit: %+v", d)
	}
	if info, _ := s.AdminOrder(id); info.Deliveries != 1 || info.Credited != o.Deliveries[0].CreditedAmount {
		t.Fatalf("%+v", info)
	}

	// Not deferred: delivered by Svea at once.
	id2 := completedOrder(t, s, "A2-2", false)
	if o := adminGet(t, s, id2); o.OrderStatus != "Delivered" || len(o.Deliveries) != 1 {
		t.Fatalf("auto delivery: %+v", o)
	}

	// Cancel an undelivered order.
	id3 := completedOrder(t, s, "A2-3", true)
	if st, _, b := adminCall(t, s, adminReq{method: "PATCH", path: "/api/v1/orders/" + strconv.FormatInt(id3, 10), body: fixture(t, "admin_cancel_request.json")}); st != 200 {
		t.Fatal(st, string(b))
	}
	if o := adminGet(t, s, id3); o.OrderStatus != "Cancelled" || o.CancelledAmount != o.OrderAmount {
		t.Fatalf("cancelled: %+v", o)
	}

	// A lost answer: the delivery is made once, the client sees no answer.
	id4 := completedOrder(t, s, "A2-4", true)
	s.AdminFail(AdminLoseAnswer)
	if st, _, _ := adminCall(t, s, adminReq{method: "POST", path: "/api/v1/orders/" + strconv.FormatInt(id4, 10) + "/deliveries", body: fixture(t, "admin_deliver_request.json")}); st != 0 {
		t.Fatalf("the answer was not lost: %d", st)
	}
	if info, _ := s.AdminOrder(id4); info.Status != "Delivered" || info.Deliveries != 1 {
		t.Fatalf("after a lost answer: %+v", info)
	}
	// A lost request: nothing happens.
	id5 := completedOrder(t, s, "A2-5", true)
	s.AdminFail(AdminLoseRequest)
	if st, _, _ := adminCall(t, s, adminReq{method: "POST", path: "/api/v1/orders/" + strconv.FormatInt(id5, 10) + "/deliveries", body: fixture(t, "admin_deliver_request.json")}); st != 0 {
		t.Fatalf("the request was not lost: %d", st)
	}
	if info, _ := s.AdminOrder(id5); info.Status != "Open" || info.Deliveries != 0 {
		t.Fatalf("after a lost request: %+v", info)
	}
}
