package simhold

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func serve(h http.HandlerFunc, pattern, method, path string) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestServeHold(t *testing.T) {
	s := newSet(Config[view]{})
	defer s.Close()
	if rec := serve(s.ServeHold, "POST /sim/hold/{op}", "POST", "/sim/hold/create"); rec.Code != http.StatusNoContent {
		t.Fatalf("hold: %d %s", rec.Code, rec.Body)
	}
	rec := serve(s.ServeHold, "POST /sim/hold/{op}", "POST", "/sim/hold/nonsense")
	if rec.Code != http.StatusBadRequest || rec.Body.String() != "simtest: cannot hold \"nonsense\" (create, refund)\n" {
		t.Fatalf("hold of an unknown op: %d %q", rec.Code, rec.Body)
	}
	a := arrive(s, "create", "a")
	waitHeld(t, s, "create", 1)
	s.Release("create", "a", false)
	answer(t, a)
}

func TestServeHeld(t *testing.T) {
	s := newSet(Config[view]{})
	defer s.Close()
	held := func(query string) (int, string) {
		rec := serve(func(w http.ResponseWriter, r *http.Request) { s.ServeHeld(w, r, writeJSON) }, "GET /sim/held", "GET", "/sim/held"+query)
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		query string
		code  int
		body  string
	}{
		{"", 200, "[]\n"},
		{"?op=nonsense", 200, "[]\n"}, // without wait, op is not looked at
		{"?wait=1m1s", 400, "wait is a duration of at most 1m\n"},
		{"?wait=-1s", 400, "wait is a duration of at most 1m\n"},
		{"?wait=soon&n=x&op=nonsense", 400, "wait is a duration of at most 1m\n"},
		{"?wait=1s&n=-1&op=nonsense", 400, "n is a count\n"},
		{"?wait=1s&op=nonsense", 400, "simtest: cannot hold \"nonsense\" (create, refund)\n"},
		{"?wait=20ms", 408, "[]\n"},
		{"?wait=20ms&op=refund&n=0", 200, "[]\n"},
	} {
		if code, body := held(c.query); code != c.code || body != c.body {
			t.Errorf("GET /sim/held%s: %d %q, want %d %q", c.query, code, body, c.code, c.body)
		}
	}
	s.Hold("refund")
	a := arrive(s, "refund", "r")
	if code, body := held("?op=refund&n=1&wait=10s"); code != 200 || body != `[{"ID":1,"Op":"refund","Key":"r"}]`+"\n" {
		t.Fatalf("waiting for a refund held: %d %s", code, body)
	}
	if code, body := held("?op=create&wait=20ms"); code != 408 || !strings.Contains(body, `"Key":"r"`) {
		t.Fatalf("waiting for a create never held: %d %s", code, body)
	}
	s.Release("refund", "", false)
	answer(t, a)
}

func TestActionAndReply(t *testing.T) {
	for _, c := range []struct {
		action      string
		also        []string
		process, ok bool
		code        int
	}{
		{"process", nil, true, true, 200},
		{"drop", nil, false, true, 200},
		{"release", nil, false, false, 400},
		{"release", []string{"release"}, true, true, 200},
		{"", nil, false, false, 400},
	} {
		rec := httptest.NewRecorder()
		process, ok := Action(rec, c.action, c.also...)
		if process != c.process || ok != c.ok || rec.Code != c.code {
			t.Errorf("Action(%q, %q): %v %v %d", c.action, c.also, process, ok, rec.Code)
		}
		if !ok && rec.Body.String() != "release with process or drop\n" {
			t.Errorf("Action(%q): %q", c.action, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	Reply(rec, nil, http.StatusConflict)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("reply without error: %d %q", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	Reply(rec, errors.New("simtest: no create x is held"), http.StatusConflict)
	if rec.Code != http.StatusConflict || rec.Body.String() != "simtest: no create x is held\n" {
		t.Errorf("reply with error: %d %q", rec.Code, rec.Body)
	}
}

func TestKeepBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("0123456789"))
	if b := KeepBody(r, 4); string(b) != "0123" {
		t.Fatalf("kept %q", b)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != "0123" {
		t.Fatalf("body after: %q", b)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Body = nil
	if b := KeepBody(r, 4); b != nil || r.Body != nil {
		t.Fatal("a request without a body got one")
	}
}

func TestOnStatus(t *testing.T) {
	var codes []int
	rec := httptest.NewRecorder()
	w := OnStatus(rec, func(code int) { codes = append(codes, code) })
	w.Write([]byte("hello"))
	w.WriteHeader(http.StatusTeapot) // too late: counted once, as the recorder saw it
	if len(codes) != 1 || codes[0] != 200 || rec.Code != 200 || rec.Body.String() != "hello" {
		t.Fatalf("codes %v, answered %d %q", codes, rec.Code, rec.Body)
	}
	codes = nil
	rec = httptest.NewRecorder()
	w = OnStatus(rec, func(code int) { codes = append(codes, code) })
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte("{}"))
	if len(codes) != 1 || codes[0] != 201 || rec.Code != 201 {
		t.Fatalf("codes %v, answered %d", codes, rec.Code)
	}
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != rec {
		t.Fatal("OnStatus's writer does not unwrap to the one it wraps")
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("flush through the wrapper: %v", err)
	}
}
