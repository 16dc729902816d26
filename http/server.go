// Package http is kvitt's JSON API, its server-sent event streams and the
// incoming provider callbacks. Every route is listed in routes().
package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/prometheus/client_golang/prometheus"
)

// Server serves the API.
type Server struct {
	Hub    *hub.Hub
	Store  kvitt.Store
	Logger *slog.Logger
	// AdminKeyHash is SHA-256 of KVITT_ADMIN_KEY, accepted as an admin key (nil = none).
	AdminKeyHash []byte
	// PublicURL is where tills reach kvitt ("http://127.0.0.1:8080"), for QR links.
	PublicURL string
	// Ready reports whether the service can take payments, with the reasons it cannot.
	Ready func(ctx context.Context) []string
	// Warnings are conditions an operator must act on soon (a certificate
	// about to expire); they are shown at /readyz without failing it.
	Warnings func(ctx context.Context) []string
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	// UI, when set, serves the web pages (cashier and customer displays) under /ui/.
	UI http.Handler
	// SwishCert, when set, keeps the Swish merchant certificate for
	// /v1/swish/… (swishcert.go); without it those routes answer 404.
	SwishCert SwishCertManager
	// Providers, when set, reports the configured providers' set-up for
	// GET /v1/settings/providers (settings.go).
	Providers ProviderSettings

	metrics *metrics
	mux     *http.ServeMux
	qr      qrLinks
}

// NewServer returns the API handler.
func NewServer(s *Server) *Server {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(s.Registry)
	s.qr.store = s.Store
	s.Hub.SetMetrics(s.metrics)
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r, ri := withRequestID(rw, r)
	defer func() {
		if v := recover(); v != nil {
			s.Logger.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			if !rw.wrote {
				writeError(rw, r, s.Logger, kvitt.Errorf(kvitt.EINTERNAL, "panic"))
			}
		}
		// The mux has set the matched route on r.
		s.metrics.request(r.Pattern, rw.status, time.Since(start))
		s.logRequest(r, ri, rw.status, time.Since(start))
	}()
	s.mux.ServeHTTP(rw, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets server-sent events through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handlerFunc is an API handler that returns an error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) api(h handlerFunc) http.Handler {
	return s.authenticate(s.idempotent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.Logger, err)
		}
	})))
}

func (s *Server) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.Logger, err)
		}
	})
}
