// Package ui serves kvitt's web pages: the customer display (the QR code and
// the amount, live) and the cashier display (the payment's state, its
// message and a cancel button) for each till, and in sandbox mode the
// simulated card terminal's screen. The pages are plain HTML and a small
// script, embedded in the binary: no JavaScript build.
package ui

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

var pages = template.Must(template.ParseFS(static, "static/*.html"))

// Handler serves /ui/. terminal, when not nil, is the sandbox terminal's
// screen, served under /ui/terminal/.
func Handler(terminal http.Handler) http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(static, "static")
	mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, "index.html", map[string]any{"Terminal": terminal != nil})
	})
	mux.HandleFunc("GET /ui/display/{till}", func(w http.ResponseWriter, r *http.Request) {
		render(w, "display.html", map[string]any{"Till": r.PathValue("till"), "Role": "customer"})
	})
	mux.HandleFunc("GET /ui/cashier/{till}", func(w http.ResponseWriter, r *http.Request) {
		render(w, "display.html", map[string]any{"Till": r.PathValue("till"), "Role": "cashier"})
	})
	if terminal != nil {
		mux.Handle("/ui/terminal/", http.StripPrefix("/ui/terminal", terminal))
	}
	return mux
}

func render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
	}
}
