package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/receipt"
	"github.com/kvitt-hub/kvitt/report"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// The OpenAPI document (http/openapi.yaml, served at GET /v1/openapi.yaml,
// linked from docs/openapi.yaml) is checked against the code: its routes
// against the mux, its schemas against the Go types written and read as
// JSON, its error statuses against http/error.go.

type doc = map[string]any

func loadOpenAPI(t *testing.T) doc {
	t.Helper()
	var d doc
	if err := yaml.Unmarshal(kvitthttp.OpenAPIDocument(), &d); err != nil {
		t.Fatalf("http/openapi.yaml: %v", err)
	}
	if d["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %v, want 3.1.0", d["openapi"])
	}
	return d
}

func child(v any, keys ...string) doc {
	m, _ := v.(doc)
	for _, k := range keys {
		m, _ = m[k].(doc)
	}
	return m
}

// resolve follows a local $ref ("#/components/schemas/Payment").
func resolve(d doc, v any) doc {
	m, _ := v.(doc)
	for range 10 {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		m = child(d, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
	return m
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// operations returns the document's operations by "METHOD /path".
func operations(d doc) map[string]doc {
	out := map[string]doc{}
	for path, item := range child(d, "paths") {
		for _, m := range httpMethods {
			if op, ok := child(item)[m].(doc); ok {
				out[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return out
}

// Routes of http/routes.go that are not the API: the web pages and the
// catch-all that answers 404 and 405.
// notAPI are the screens' routes (package http/ui), not the API's.
var notAPI = map[string]bool{"/": true, "/ui/": true, "GET /{$}": true, "GET /signin": true, "GET /till/": true, "GET /display/": true, "GET /admin/": true}

type route struct {
	pattern string
	auth    string // "key", "key or link", "public"
}

// registeredRoutes reads every m.Handle and m.HandleFunc of routes.go, and
// how each is authenticated: s.api needs a key, s.qrRoute a key or a signed
// link, anything else is public.
func registeredRoutes(t *testing.T) []route {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []route
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("routes.go: a route whose pattern is not a string literal: %T", call.Args[0])
			return true
		}
		pattern, _ := strconv.Unquote(lit.Value)
		auth := "public"
		if c, ok := call.Args[1].(*ast.CallExpr); ok {
			if s, ok := c.Fun.(*ast.SelectorExpr); ok {
				switch s.Sel.Name {
				case "api":
					auth = "key"
				case "qrRoute":
					auth = "key or link"
				}
			}
		}
		out = append(out, route{pattern, auth})
		return true
	})
	if len(out) < 10 {
		t.Fatalf("routes.go: found only %d routes; has the file changed shape?", len(out))
	}
	return out
}

func newOpenAPIServer(t *testing.T) *kvitthttp.Server {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Seed(t, db)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(db, logger)
	t.Cleanup(h.Close)
	// A UI so that its routes are registered too, as in kvitt serve.
	return kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger, UI: http.NotFoundHandler()})
}

var pathParam = regexp.MustCompile(`\{([^}]*)\}`)

// requestFor is a request a pattern matches: each wildcard filled with "1".
func requestFor(pattern string) *http.Request {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = pathParam.ReplaceAllString(path, "1")
	if strings.HasSuffix(path, "/") && !strings.HasSuffix(pattern, "{$}") {
		path += "x" // a subtree pattern ("/ui/", "/"), not its root
	}
	return httptest.NewRequest(method, path, nil)
}

// TestOpenAPIRoutes fails when a route exists on one side only, or is
// authenticated otherwise than the document says.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	srv := newOpenAPIServer(t)
	ops := operations(d)

	code := map[string]string{}
	for _, r := range registeredRoutes(t) {
		// The mux really has the route: routes.go was read right.
		if got := srv.Pattern(requestFor(r.pattern)); got != r.pattern {
			t.Errorf("routes.go has %q, but the mux serves %s with %q", r.pattern, requestFor(r.pattern).URL.Path, got)
		}
		if notAPI[r.pattern] {
			continue
		}
		code[r.pattern] = r.auth
		if _, ok := ops[r.pattern]; !ok {
			t.Errorf("route %q is not in http/openapi.yaml", r.pattern)
		}
	}
	for key, op := range ops {
		if _, ok := code[key]; !ok {
			t.Errorf("http/openapi.yaml has %q, which http/routes.go does not register", key)
			continue
		}
		if got := srv.Pattern(requestFor(key)); got != key {
			t.Errorf("http/openapi.yaml %q: the mux serves it with %q", key, got)
		}
		auth := "key"
		if sec, ok := op["security"].([]any); ok {
			var schemes []string
			for _, s := range sec {
				for name := range child(s) {
					schemes = append(schemes, name)
				}
			}
			sort.Strings(schemes)
			switch strings.Join(schemes, ",") {
			case "":
				auth = "public"
			case "bearerAuth":
			case "bearerAuth,qrLink":
				auth = "key or link"
			default:
				t.Errorf("%s: unexpected security %v", key, schemes)
			}
		}
		if auth != code[key] {
			t.Errorf("%s: the document says %s, routes.go: %s", key, auth, code[key])
		}
		// Every POST behind a key honours Idempotency-Key (idempotency.go).
		if strings.HasPrefix(key, "POST ") && auth != "public" && !hasParam(d, key, op, "header", "Idempotency-Key") {
			t.Errorf("%s: no Idempotency-Key parameter", key)
		}
		// Every wildcard of the path is a declared path parameter.
		_, path, _ := strings.Cut(key, " ")
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			if !hasParam(d, key, op, "path", m[1]) {
				t.Errorf("%s: path parameter %q is not declared", key, m[1])
			}
		}
		if len(child(op, "responses")) == 0 {
			t.Errorf("%s: no responses", key)
		}
	}
}

// hasParam reports whether op (or its path item) declares the parameter.
func hasParam(d doc, key string, op doc, in, name string) bool {
	_, path, _ := strings.Cut(key, " ")
	params, _ := op["parameters"].([]any)
	if more, ok := child(d, "paths", path)["parameters"].([]any); ok {
		params = append(slices.Clone(params), more...)
	}
	for _, p := range params {
		p := resolve(d, p)
		if p["in"] == in && p["name"] == name {
			return true
		}
	}
	return false
}

// TestOpenAPIErrors fails when the error codes or their statuses differ
// from http/error.go.
func TestOpenAPIErrors(t *testing.T) {
	d := loadOpenAPI(t)
	statuses := kvitthttp.ErrorStatuses()
	var codes []string
	for c := range statuses {
		codes = append(codes, c)
	}
	var enum []string
	for _, c := range child(d, "components", "schemas", "ErrorCode")["enum"].([]any) {
		enum = append(enum, c.(string))
	}
	sort.Strings(codes)
	sort.Strings(enum)
	if !slices.Equal(codes, enum) {
		t.Errorf("ErrorCode enum %v, http/error.go has %v", enum, codes)
	}
	// Each error response names its code first: "`conflict`: …"; it must be
	// used under the code's status only.
	codeOf := regexp.MustCompile("^`([a-z_]+)`")
	for key, op := range operations(d) {
		for status, resp := range child(op, "responses") {
			n, err := strconv.Atoi(status)
			if err != nil || n < 400 {
				continue
			}
			r := resolve(d, resp)
			schema, _ := child(r, "content", "application/json", "schema")["$ref"].(string)
			if schema != "#/components/schemas/Error" {
				if key != "GET /readyz" {
					t.Errorf("%s %s: not the Error object", key, status)
				}
				continue
			}
			desc, _ := r["description"].(string)
			m := codeOf.FindStringSubmatch(desc)
			if m == nil {
				t.Errorf("%s %s: the description does not start with its error code", key, status)
				continue
			}
			if want, ok := statuses[m[1]]; !ok || want != n {
				t.Errorf("%s %s: code %q has status %d in http/error.go", key, status, m[1], want)
			}
		}
	}
}

// jsonField is one field of a Go type's JSON.
type jsonField struct {
	t         reflect.Type
	omitempty bool
}

func jsonFields(t reflect.Type) map[string]jsonField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]jsonField{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{f.Type, slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	return out
}

// jsonType is the JSON type Go type t is written or read as ("" for any).
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		return "string"
	case reflect.TypeFor[json.Number]():
		return "number"
	case reflect.TypeFor[json.RawMessage]():
		return "" // decoded by hand (amounts: integers)
	}
	if t.String() == "http.number" { // a JSON number kept as text (decode.go)
		return "number"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

// schemaTypes lists the JSON types a schema allows (nil: any), and whether
// it says format int64.
func schemaTypes(d doc, s doc) (types []string, int64Format bool) {
	s = resolve(d, s)
	if s["format"] == "int64" {
		int64Format = true
	}
	switch v := s["type"].(type) {
	case string:
		types = append(types, v)
	case []any:
		for _, x := range v {
			types = append(types, x.(string))
		}
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		alts, _ := s[k].([]any)
		for _, a := range alts {
			ts, f := schemaTypes(d, child(a))
			types = append(types, ts...)
			int64Format = int64Format || f
		}
	}
	return types, int64Format
}

// TestOpenAPISchemas fails when a schema's properties, required fields or
// types differ from the Go type written (or read) as that JSON.
func TestOpenAPISchemas(t *testing.T) {
	d := loadOpenAPI(t)
	schemas := child(d, "components", "schemas")
	for _, name := range []string{"Sale", "SaleLine", "Payment", "Action", "CardData", "Refund", "Receipt",
		"RecoveryItem", "Report", "Order", "APIKey", "Till", "Error"} {
		if schemas[name] == nil {
			t.Errorf("components/schemas/%s is missing", name)
		}
	}
	answers := map[string]reflect.Type{
		"Receipt":            reflect.TypeFor[receipt.JSONReceipt](),
		"ReceiptLine":        reflect.TypeFor[receipt.JSONLine](),
		"Tender":             reflect.TypeFor[receipt.JSONTender](),
		"Report":             reflect.TypeFor[report.Report](),
		"ReportCounter":      reflect.TypeFor[report.Counter](),
		"ReportVATLine":      reflect.TypeFor[report.VATLine](),
		"ReportPaymentTotal": reflect.TypeFor[report.PaymentTotal](),
		"GrandTotals":        reflect.TypeFor[report.GrandTotals](),
	}
	for k, v := range kvitthttp.WireTypes {
		answers[k] = v
	}
	check := func(name string, typ reflect.Type, answer bool) {
		s := child(schemas, name)
		if s == nil {
			t.Errorf("components/schemas/%s is missing (Go type %s)", name, typ)
			return
		}
		fields := jsonFields(typ)
		props := child(s, "properties")
		for p := range props {
			if _, ok := fields[p]; !ok {
				t.Errorf("%s.%s is in the document but not a JSON field of %s", name, p, typ)
			}
		}
		var required []string
		if r, ok := s["required"].([]any); ok {
			for _, x := range r {
				required = append(required, x.(string))
			}
		}
		for f, jf := range fields {
			p, ok := props[f]
			if !ok {
				t.Errorf("%s: the JSON field %q of %s is not in the document", name, f, typ)
				continue
			}
			if answer && jf.omitempty == slices.Contains(required, f) {
				if jf.omitempty {
					t.Errorf("%s.%s is required in the document, but %s leaves it out when empty", name, f, typ)
				} else {
					t.Errorf("%s.%s is always in %s's JSON; list it under required", name, f, typ)
				}
			}
			want := jsonType(jf.t)
			types, int64Format := schemaTypes(d, child(p))
			if want != "" && types != nil && !slices.Contains(types, want) {
				t.Errorf("%s.%s: the document says %v, %s writes %s (%s)", name, f, types, typ, want, jf.t)
			}
			ft := jf.t
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if answer && ft.Kind() == reflect.Int64 && !int64Format {
				t.Errorf("%s.%s: an int64 in %s; give it format: int64", name, f, typ)
			}
		}
	}
	for name, typ := range answers {
		check(name, typ, true)
	}
	for name, typ := range kvitthttp.RequestTypes {
		check(name, typ, false)
	}
}

// TestOpenAPIServed checks GET /v1/openapi.yaml answers the document
// without a key, and that docs/openapi.yaml is the same document.
func TestOpenAPIServed(t *testing.T) {
	srv := newOpenAPIServer(t)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.yaml", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /v1/openapi.yaml: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), kvitthttp.OpenAPIDocument()) {
		t.Error("GET /v1/openapi.yaml does not answer http/openapi.yaml")
	}
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, kvitthttp.OpenAPIDocument()) {
		t.Error("docs/openapi.yaml is not http/openapi.yaml; it should be a link to it")
	}
}

// TestOpenAPIJSON checks GET /openapi.json and GET /v1/openapi.json answer
// the document as JSON, without a key: the same content as the YAML, every
// key a string (status codes included).
func TestOpenAPIJSON(t *testing.T) {
	srv := newOpenAPIServer(t)
	// The YAML's content, as JSON would hold it: keys as strings, numbers as float64.
	var norm func(v any) any
	norm = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, x := range v {
				out[k] = norm(x)
			}
			return out
		case map[any]any:
			out := map[string]any{}
			for k, x := range v {
				out[fmt.Sprint(k)] = norm(x)
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				out[i] = norm(x)
			}
			return out
		case int:
			return float64(v)
		case int64:
			return float64(v)
		case uint64:
			return float64(v)
		case time.Time:
			t.Fatalf("a timestamp in the YAML (%v): quote it", v)
		}
		return v
	}
	var y any
	if err := yaml.Unmarshal(kvitthttp.OpenAPIDocument(), &y); err != nil {
		t.Fatal(err)
	}
	want := norm(y)
	for _, path := range []string{"/openapi.json", "/v1/openapi.json"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		var got any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("GET %s: not JSON: %v", path, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s is not the content of http/openapi.yaml", path)
		}
		if d, _ := got.(map[string]any); d["openapi"] != "3.1.0" || child(d, "paths", "/v1/sales", "post", "responses")["201"] == nil {
			t.Errorf("GET %s: openapi %v, or POST /v1/sales has no response \"201\"", path, d["openapi"])
		}
	}
}
