package http

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Every request gets an id: the caller's X-Request-Id when it is a sane
// token (a load balancer's or a till's), else a new one. It is answered in
// X-Request-Id, put on the request's log line and on every error logged
// while serving it, so one id follows a request through the logs of every
// node. The log line names the route (the pattern, never the raw path with
// its ids), the status, the time taken, the caller (API key id or user id,
// never a secret) and the till, payment, refund, sale, receipt or order
// the path names. Bodies, headers and query strings are never logged: they
// may hold keys, card data or personal numbers.

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestInfo is what the request's log line says, filled in while it is
// served (the caller is known only after authentication, deeper down).
type requestInfo struct {
	id     string
	caller string
}

type requestInfoKey struct{}

func requestInfoOf(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

func requestIDOf(ctx context.Context) string {
	if ri := requestInfoOf(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// withRequestID returns r with its request info in the context.
func withRequestID(w http.ResponseWriter, r *http.Request) (*http.Request, *requestInfo) {
	id := r.Header.Get(RequestIDHeader)
	if !requestIDRE.MatchString(id) {
		id = kvitt.NewID("req")
	}
	w.Header().Set(RequestIDHeader, id)
	ri := &requestInfo{id: id}
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)), ri
}

// quietRoutes are logged at debug level: probes and scrapes every few seconds.
var quietRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

// objectOfRoute names what a route's {id} is, from its first path segment after /v1/.
var objectOfRoute = map[string]string{"tills": "till", "payments": "payment", "refunds": "refund", "sales": "sale",
	"receipts": "receipt", "orders": "order", "webhooks": "webhook", "users": "user", "api-keys": "api_key"}

// logRequest writes the request's log line.
func (s *Server) logRequest(r *http.Request, ri *requestInfo, status int, took time.Duration) {
	level := slog.LevelInfo
	if quietRoutes[r.Pattern] {
		level = slog.LevelDebug
	}
	if !s.Logger.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("request_id", ri.id), slog.String("method", r.Method), slog.String("route", r.Pattern),
		slog.Int("status", status), slog.Float64("ms", float64(took.Microseconds())/1000)}
	if r.Pattern == "" {
		attrs[2] = slog.String("route", "(none)")
	}
	if ri.caller != "" {
		attrs = append(attrs, slog.String("caller", ri.caller))
	}
	if v := r.PathValue("id"); v != "" {
		_, path, _ := strings.Cut(r.Pattern, " ")
		seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/v1/"), "/")
		if name, ok := objectOfRoute[seg]; ok {
			attrs = append(attrs, slog.String(name, v))
		}
	}
	s.Logger.LogAttrs(r.Context(), level, "request", attrs...)
}
