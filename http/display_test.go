package http_test

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDisplayKey: a display key reads its till's display, live, and nothing else.
func TestDisplayKey(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	_, display := e.apiKey("display", "1")
	r := e.do("POST", "/v1/api-keys", adminKey, `{"scope":"display","name":"no till"}`)
	wantError(t, r, 422, "till_id")

	br, closeStream := openStream(t, e, "/v1/tills/1/display/events", display)
	defer closeStream()
	next := func() map[string]any {
		t.Helper()
		done := make(chan sseEvent, 1)
		go func() { ev, _ := readEvent(t, br); done <- ev }()
		select {
		case ev := <-done:
			if ev.event != "display" {
				t.Fatalf("event %+v", ev)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatal(err)
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no display event")
			return nil
		}
	}
	if first := next(); first["till_id"] != "1" || first["payment"] != nil {
		t.Fatalf("first display %v", first)
	}
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	pid := e.must(201, "POST", "/v1/sales/"+sid+"/payments", till, `{"method":"fake","amount":9450}`)["id"].(string)
	for {
		d := next()
		if p, ok := d["payment"].(map[string]any); ok && p["id"] == pid {
			break
		}
	}

	// Everything else is refused, even on its own till.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/sales", saleBody},
		{"GET", "/v1/sales/" + sid, ""},
		{"GET", "/v1/payments/" + pid, ""},
		{"POST", "/v1/payments/" + pid + "/cancel", ""},
		{"GET", "/v1/tills/1/recovery", ""},
		{"GET", "/v1/tills/1/reports/x", ""},
		{"GET", "/v1/api-keys", ""},
	} {
		if r := e.do(c.method, c.path, display, c.body); r.status != 403 {
			t.Errorf("display key %s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/tills/2/display", display, ""); r.status != 404 {
		t.Errorf("display key reads till 2's display: %d", r.status)
	}
	if r := e.do("GET", "/v1/tills/1/display", display, ""); r.status != 200 {
		t.Errorf("display key reads its display: %d %s", r.status, r.body)
	}
}
