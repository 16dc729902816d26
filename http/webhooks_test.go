package http_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kvitt-hub/kvitt/hub"
)

// hookSink is the merchant's endpoint: it keeps every request and answers 204.
type hookSink struct {
	mu  sync.Mutex
	got []struct {
		header http.Header
		body   []byte
	}
}

func (s *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, struct {
		header http.Header
		body   []byte
	}{r.Header.Clone(), b})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until the sink holds n requests, the last of them of
// type typ if given, and returns them.
func (s *hookSink) waitFor(t *testing.T, n int, typ ...string) []struct {
	header http.Header
	body   []byte
} {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := append(s.got[:0:0], s.got...)
		s.mu.Unlock()
		if len(got) >= n {
			var m struct{ Type string }
			json.Unmarshal(got[len(got)-1].body, &m)
			if len(typ) == 0 || m.Type == typ[0] {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the endpoint got %d webhooks, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebhooksAPI walks through the API: subscribe (the secret shown
// once), events delivered and verified by the Standard Webhooks library,
// the delivery log, redelivery, rotation, disabling and deleting; who may
// do what; and the checks of the input.
func TestWebhooksAPI(t *testing.T) {
	e := newEnv(t)
	e.hub.Sandbox = true
	if err := e.hub.RegisterWebhooks(context.Background(), hub.WebhookOptions{Poll: 20 * time.Millisecond, Jitter: -1}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.hub.RunWorker(wctx, "worker") }()
	defer func() { cancel(); <-done }()
	sink := &hookSink{}
	ts := httptest.NewServer(sink)
	defer ts.Close()
	_, office := e.apiKey("backoffice", "")
	_, till := e.apiKey("till", "1")

	body := `{"url":"` + ts.URL + `/kvitt","description":"ERP","events":["payment","receipt.issued"]}`
	wantError(t, e.do("POST", "/v1/webhooks", office, body), 403, "")
	wantError(t, e.do("POST", "/v1/webhooks", till, body), 403, "")
	wantError(t, e.do("POST", "/v1/webhooks", adminKey, `{"url":"`+ts.URL+`","events":["sale"]}`), 422, "events[0]")
	wantError(t, e.do("POST", "/v1/webhooks", adminKey, `{"url":"http://192.0.2.1/x"}`), 422, "url")
	wantError(t, e.do("POST", "/v1/webhooks", adminKey, `{"events":["payment"]}`), 422, "url")
	wantError(t, e.do("POST", "/v1/webhooks", adminKey, `{"url":"`+ts.URL+`","secret":"x"}`), 400, "secret")
	created := e.must(201, "POST", "/v1/webhooks", adminKey, body)
	id, _ := created["id"].(string)
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(id, "wh_") || !strings.HasPrefix(secret, "whsec_") || created["enabled"] != true || created["merchant_id"] != "m1" {
		t.Fatalf("created %v", created)
	}
	list := e.must(200, "GET", "/v1/webhooks", office, "")
	hooks := list["webhooks"].([]any)
	if len(hooks) != 1 || hooks[0].(map[string]any)["secret"] != nil {
		t.Errorf("list %v (the secret is shown once only)", list)
	}
	if got := e.must(200, "GET", "/v1/webhooks/"+id, office, ""); got["secret"] != nil || got["url"] != ts.URL+"/kvitt" {
		t.Errorf("get %v", got)
	}
	wantError(t, e.do("GET", "/v1/webhooks", till, ""), 403, "")

	// A sale: its payment and its receipt reach the endpoint, signed.
	s := e.must(201, "POST", "/v1/sales", till, saleBody)
	e.must(201, "POST", "/v1/sales/"+s["id"].(string)+"/payments", till, `{"method":"cash","amount":9450,"tendered":10000}`)
	e.must(200, "POST", "/v1/sales/"+s["id"].(string)+"/complete", till, "")
	got := sink.waitFor(t, 2, "receipt.issued")
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range got {
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("webhook %s does not verify: %v", r.header.Get("webhook-id"), err)
		}
		var m struct{ Type string }
		json.Unmarshal(r.body, &m)
		types = append(types, m.Type)
	}
	if types[0] != "payment.updated" || types[len(types)-1] != "receipt.issued" {
		t.Errorf("event types %v", types)
	}

	// The log, newest first, paged (once the last outcome is stored).
	for deadline := time.Now().Add(10 * time.Second); ; {
		ds := e.must(200, "GET", "/v1/webhooks/"+id+"/deliveries", office, "")["deliveries"].([]any)
		if len(ds) == len(got) && ds[0].(map[string]any)["state"] == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %v", ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
	log := e.must(200, "GET", "/v1/webhooks/"+id+"/deliveries?limit=1", office, "")
	ds := log["deliveries"].([]any)
	if len(ds) != 1 || log["next_after"] == nil {
		t.Fatalf("log %v", log)
	}
	newest := ds[0].(map[string]any)
	if newest["event"] != "receipt.issued" || newest["state"] != "delivered" || newest["attempts"] != 1.0 || newest["last_status"] != 204.0 ||
		newest["payload"].(map[string]any)["type"] != "receipt.issued" {
		t.Errorf("log entry %v", newest)
	}
	rest := e.must(200, "GET", "/v1/webhooks/"+id+"/deliveries?after="+log["next_after"].(string), office, "")
	if n := len(rest["deliveries"].([]any)); n != len(got)-1 {
		t.Errorf("second page %d deliveries, want %d", n, len(got)-1)
	}
	wantError(t, e.do("GET", "/v1/webhooks/"+id+"/deliveries?after=msg_nope", office, ""), 422, "after")
	wantError(t, e.do("GET", "/v1/webhooks/"+id+"/deliveries?state=x", office, ""), 422, "state")

	// Redelivery: the same message again, with its webhook-id.
	msg := newest["id"].(string)
	wantError(t, e.do("POST", "/v1/webhooks/"+id+"/deliveries/"+msg+"/redeliver", office, ""), 403, "")
	e.must(202, "POST", "/v1/webhooks/"+id+"/deliveries/"+msg+"/redeliver", adminKey, "")
	again := sink.waitFor(t, len(got)+1)
	if last := again[len(again)-1]; last.header.Get("webhook-id") != msg || wh.Verify(last.body, last.header) != nil {
		t.Errorf("redelivered %s", last.header.Get("webhook-id"))
	}
	wantError(t, e.do("POST", "/v1/webhooks/"+id+"/deliveries/msg_nope/redeliver", adminKey, ""), 404, "")

	// Rotation: both secrets verify during the grace period.
	rot := e.must(200, "POST", "/v1/webhooks/"+id+"/rotate-secret", adminKey, "")
	fresh, _ := rot["secret"].(string)
	if !strings.HasPrefix(fresh, "whsec_") || fresh == secret || rot["previous_secret_expires_at"] == nil {
		t.Fatalf("rotated %v", rot)
	}
	s2 := e.must(201, "POST", "/v1/sales", till, saleBody)
	e.must(201, "POST", "/v1/sales/"+s2["id"].(string)+"/payments", till, `{"method":"cash","amount":9450,"tendered":10000}`)
	after := sink.waitFor(t, len(again)+1)
	last := after[len(after)-1]
	whNew, _ := standardwebhooks.NewWebhook(fresh)
	if wh.Verify(last.body, last.header) != nil || whNew.Verify(last.body, last.header) != nil {
		t.Errorf("during the grace period a secret does not verify: %q", last.header.Get("webhook-signature"))
	}

	// Disable, change, delete.
	wantError(t, e.do("PATCH", "/v1/webhooks/"+id, adminKey, `{"url":"ftp://x"}`), 422, "url")
	wantError(t, e.do("PATCH", "/v1/webhooks/"+id, adminKey, `{"merchant_id":"m1"}`), 422, "merchant_id")
	wantError(t, e.do("PATCH", "/v1/webhooks/"+id, office, `{"enabled":false}`), 403, "")
	off := e.must(200, "PATCH", "/v1/webhooks/"+id, adminKey, `{"enabled":false,"events":["*"]}`)
	if off["enabled"] != false || off["events"].([]any)[0] != "*" || off["disabled_at"] == nil {
		t.Errorf("patched %v", off)
	}
	wantError(t, e.do("POST", "/v1/webhooks/"+id+"/deliveries/"+msg+"/redeliver", adminKey, ""), 409, "")
	if r := e.do("DELETE", "/v1/webhooks/"+id, adminKey, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.do("GET", "/v1/webhooks/"+id, adminKey, ""), 404, "")
	wantError(t, e.do("DELETE", "/v1/webhooks/"+id, adminKey, ""), 404, "")

	// Live mode: https only.
	e.hub.Sandbox = false
	wantError(t, e.do("POST", "/v1/webhooks", adminKey, `{"url":"`+ts.URL+`"}`), 422, "url")
}
