// Package ui serves kvitt's screens, rendered by the binary itself: the
// sign-in page, the till (/till/{id}), the customer display
// (/display/{till}), the back office (/admin/…), the older display pages
// under /ui/, and in sandbox mode the simulated card terminal's screen.
//
// Pages are html/template files embedded in the binary with a little plain
// JavaScript (no build step). Everything a page does, it does through
// kvitt's JSON API with the staff session's cookie and CSRF token, so a
// screen is authorised by exactly the rules the API applies to an API key
// of the user's role; the page handlers here only decide whether to show a
// page at all, with the API's own CanTill and Can.
package ui

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
)

//go:embed static
var static embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"json": func(v any) (template.JS, error) { b, err := json.Marshal(v); return template.JS(b), err },
}).ParseFS(static, "static/*.html"))

// Options configure the screens.
type Options struct {
	// Terminal, when not nil, is the sandbox terminal's screen, served under /ui/terminal/.
	Terminal http.Handler
	// Sandbox shows the sandbox helpers (act as the customer, the SMS outbox).
	Sandbox bool
	// WhoIs returns the signed-in staff user of a request (the API server's WhoIs).
	WhoIs func(r *http.Request) (kvitthttp.Principal, bool)
}

type handler struct {
	Options
	mux *http.ServeMux
}

// Handler serves the screens: /{$}, /signin, /till/, /display/, /admin/ and /ui/.
func Handler(o Options) http.Handler {
	if o.WhoIs == nil {
		o.WhoIs = func(*http.Request) (kvitthttp.Principal, bool) { return kvitthttp.Principal{}, false }
	}
	h := &handler{Options: o, mux: http.NewServeMux()}
	mux := h.mux
	assets, _ := fs.Sub(static, "static")
	mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /{$}", h.home)
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, "signin.html", &Page{Title: "signin.title"})
	})
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, "index.html", &Page{Title: "kvitt", Data: map[string]any{"Terminal": o.Terminal != nil}})
	})
	mux.HandleFunc("GET /ui/display/{till}", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, "display.html", &Page{Till: r.PathValue("till"), Data: map[string]any{"Till": r.PathValue("till"), "Role": "customer"}})
	})
	mux.HandleFunc("GET /ui/cashier/{till}", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, "display.html", &Page{Till: r.PathValue("till"), Data: map[string]any{"Till": r.PathValue("till"), "Role": "cashier"}})
	})
	if o.Terminal != nil {
		mux.Handle("/ui/terminal/", http.StripPrefix("/ui/terminal", o.Terminal))
	}
	for _, register := range pageRegistry {
		register(h)
	}
	return mux
}

// pageRegistry lets each screen's file add its routes (till.go, admin.go…).
var pageRegistry []func(h *handler)

// Page is what every page template gets.
type Page struct {
	Title   string // a dictionary key or a literal
	Lang    string // "sv" or "en"
	User    *kvitthttp.Principal
	CSRF    string
	Sandbox bool
	Till    string
	// Data is the page's own data.
	Data any
}

// T translates a dictionary key into the page's language.
func (p *Page) T(key string) string { return translate(p.Lang, key) }

// Dict is the page's dictionary for its script (prefix "js.").
func (p *Page) Dict() map[string]string { return dictionary(p.Lang) }

// Role is the signed-in user's role ("admin", "backoffice", "cashier").
func (p *Page) Role() string {
	if p.User == nil {
		return ""
	}
	switch p.User.Scope {
	case kvitt.ScopeAdmin:
		return "admin"
	case kvitt.ScopeBackOffice:
		return "backoffice"
	}
	return "cashier"
}

// home sends a signed-in user to their screen: a cashier to the till (or a
// choice of tills), the back office to /admin/.
func (h *handler) home(w http.ResponseWriter, r *http.Request) {
	p, ok := h.WhoIs(r)
	if !ok {
		http.Redirect(w, r, "/signin", http.StatusFound)
		return
	}
	if p.Scope == kvitt.ScopeTill {
		if len(p.Tills) == 1 {
			http.Redirect(w, r, "/till/"+url.PathEscape(p.Tills[0]), http.StatusFound)
			return
		}
		h.render(w, r, "tills.html", &Page{Title: "tills.title", User: &p, CSRF: p.CSRF, Data: p.Tills})
		return
	}
	http.Redirect(w, r, "/admin/", http.StatusFound)
}

// staff returns the signed-in user allowed by allow, or answers: a request
// without a session goes to the sign-in page (and back after), one whose
// user may not see the page gets 404 (as the API answers a till it may not
// see) or 403.
func (h *handler) staff(w http.ResponseWriter, r *http.Request, allow func(p kvitthttp.Principal) bool) (*kvitthttp.Principal, bool) {
	p, ok := h.WhoIs(r)
	if !ok {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return nil, false
	}
	if !allow(p) {
		w.WriteHeader(http.StatusForbidden)
		h.render(w, r, "denied.html", &Page{Title: "denied.title", User: &p, CSRF: p.CSRF})
		return nil, false
	}
	return &p, true
}

// lang is the page's language: the kvitt_lang cookie, else the browser's
// first preference of Swedish or English, else Swedish.
func lang(r *http.Request) string {
	if c, err := r.Cookie("kvitt_lang"); err == nil && (c.Value == "sv" || c.Value == "en") {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.Split(part, ";")[0]))
		switch {
		case strings.HasPrefix(tag, "sv"):
			return "sv"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "sv"
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, name string, p *Page) {
	if p.Lang == "" {
		p.Lang = lang(r)
	}
	p.Sandbox = h.Sandbox
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
	}
}
