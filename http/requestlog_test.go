package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestRequestLog: each request gets an id (the caller's when sane), answered
// in X-Request-Id and on its JSON log line with the route, status, caller
// and the till the path names; never the key's secret or the body.
func TestRequestLog(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Seed(t, db)
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := hub.New(db, logger)
	t.Cleanup(h.Close)
	h.Register(cash.Provider{}, nil)
	sum := sha256.Sum256([]byte(adminKey))
	ts := httptest.NewServer(kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger, AdminKeyHash: sum[:]}))
	t.Cleanup(ts.Close)

	do := func(method, path, reqID, body string) *http.Response {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		if reqID != "" {
			req.Header.Set(kvitthttp.RequestIDHeader, reqID)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if got := do("GET", "/v1/tills/1", "lb-4711", "").Header.Get(kvitthttp.RequestIDHeader); got != "lb-4711" {
		t.Fatalf("X-Request-Id answered %q", got)
	}
	bad := do("POST", "/v1/sales", "evil\tid with spaces", `{"till_id":"1","lines":[{"name":"Personnummer 19121212-1212","quantity":1,"unit_price":100,"vat_rate":25}]}`)
	if got := bad.Header.Get(kvitthttp.RequestIDHeader); !strings.HasPrefix(got, "req_") {
		t.Fatalf("a malformed request id was kept: %q", got)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("request lines: %v", lines)
	}
	first, second := lines[0], lines[1]
	if first["request_id"] != "lb-4711" || first["route"] != "GET /v1/tills/{id}" || first["till"] != "1" || first["status"] != float64(200) || first["caller"] != "env-admin" {
		t.Fatalf("first line %v", first)
	}
	if second["route"] != "POST /v1/sales" || second["status"] != float64(201) || !strings.HasPrefix(second["request_id"].(string), "req_") {
		t.Fatalf("second line %v", second)
	}
	if all := logs.String(); strings.Contains(all, adminKey) || strings.Contains(all, "19121212") {
		t.Fatalf("the log holds a secret or the body:\n%s", all)
	}
}
