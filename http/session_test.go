package http_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/postgres"
	"github.com/kvitt-hub/kvitt/postgres/pgtest"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// browserClient is a client with a cookie jar, as a browser is.
func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func send(t *testing.T, c *http.Client, method, url, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
		}
	}
	return res.StatusCode, m
}

func (e *env) createUser(username, role, tills string) {
	e.t.Helper()
	body := `{"username":"` + username + `","name":"Test ` + username + `","role":"` + role + `","password":"correct horse 1"`
	if tills != "" {
		body += `,"tills":[` + tills + `]`
	}
	e.must(201, "POST", "/v1/users", adminKey, body+"}")
}

func signIn(t *testing.T, url, username, password string) (*http.Client, string) {
	t.Helper()
	c := browserClient(t)
	code, m := send(t, c, "POST", url+"/v1/session", `{"username":"`+username+`","password":"`+password+`"}`)
	if code != 200 {
		t.Fatalf("sign in %s: %d %v", username, code, m)
	}
	return c, m["csrf_token"].(string)
}

func TestSessionsActAsTheirRole(t *testing.T) {
	e := newEnv(t)
	e.createUser("kim", "cashier", `"1"`)
	e.createUser("bo", "backoffice", "")
	kim, csrf := signIn(t, e.url, "KIM ", "correct horse 1") // usernames are case- and space-insensitive

	// The cashier sells at till 1 with the session cookie and the CSRF token.
	code, sale := send(t, kim, "POST", e.url+"/v1/sales", `{"currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12}]}`,
		kvitthttp.CSRFHeader, csrf)
	if code != 201 || sale["till_id"] != "1" {
		t.Fatalf("cashier's sale: %d %v", code, sale)
	}
	// Without the CSRF token the same request is refused and nothing is made.
	before := e.count("sales")
	if code, m := send(t, kim, "POST", e.url+"/v1/sales", `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12}]}`); code != 403 ||
		!strings.Contains(m["error"].(map[string]any)["message"].(string), "CSRF") {
		t.Fatalf("no CSRF token: %d %v", code, m)
	}
	if code, _ := send(t, kim, "POST", e.url+"/v1/sales", `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12}]}`, kvitthttp.CSRFHeader, csrf+"x"); code != 403 {
		t.Fatalf("wrong CSRF token: %d", code)
	}
	if e.count("sales") != before {
		t.Fatal("a request without the CSRF token made a sale")
	}
	// The cashier is kept out of another till and of the back office, by the API's own rules.
	if code, _ := send(t, kim, "POST", e.url+"/v1/sales", `{"till_id":"2","currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12}]}`, kvitthttp.CSRFHeader, csrf); code != 403 {
		t.Fatalf("cashier at another till: %d", code)
	}
	if code, _ := send(t, kim, "GET", e.url+"/v1/tills/2", ""); code != 404 {
		t.Fatalf("cashier reads another till: %d", code)
	}
	for _, path := range []string{"/v1/users", "/v1/api-keys", "/v1/orders"} {
		if code, _ := send(t, kim, "GET", e.url+path, ""); code != 403 && code != 503 {
			t.Fatalf("cashier GET %s: %d", path, code)
		}
	}
	// The back office reads every till but manages no users.
	bo, _ := signIn(t, e.url, "bo", "correct horse 1")
	if code, _ := send(t, bo, "GET", e.url+"/v1/tills/2", ""); code != 200 {
		t.Fatalf("back office reads till 2: %d", code)
	}
	if code, _ := send(t, bo, "GET", e.url+"/v1/users", ""); code != 403 {
		t.Fatalf("back office lists users: %d", code)
	}
	// Sign-out ends the session: the cookie no longer works.
	if code, _ := send(t, kim, "DELETE", e.url+"/v1/session", "", kvitthttp.CSRFHeader, csrf); code != 204 {
		t.Fatalf("sign out: %d", code)
	}
	if code, _ := send(t, kim, "GET", e.url+"/v1/session", ""); code != 401 {
		t.Fatalf("after sign-out: %d", code)
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	e.createUser("kim", "cashier", `"1"`)
	c := browserClient(t)
	_, wrong := send(t, c, "POST", e.url+"/v1/session", `{"username":"kim","password":"wrong password"}`)
	_, unknown := send(t, c, "POST", e.url+"/v1/session", `{"username":"nobody","password":"wrong password"}`)
	if wrong["error"].(map[string]any)["message"] != unknown["error"].(map[string]any)["message"] {
		t.Fatalf("a wrong password and an unknown user answer differently: %v / %v", wrong, unknown)
	}
	// A form post from another site (no JSON content type) cannot sign in.
	req, _ := http.NewRequest("POST", e.url+"/v1/session", strings.NewReader(`{"username":"kim","password":"correct horse 1"}`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := c.Do(req); err != nil || res.StatusCode != 400 {
		t.Fatalf("form sign-in: %v %v", res, err)
	}
	// Bad input names the field; nothing is stored.
	r := e.do("POST", "/v1/users", adminKey, `{"username":"ann","role":"cashier","password":"short"}`)
	wantError(t, r, 422, "tills")
	r = e.do("POST", "/v1/users", adminKey, `{"username":"ann","role":"cashier","tills":["1"],"password":"short"}`)
	wantError(t, r, 422, "password")
	r = e.do("POST", "/v1/users", adminKey, `{"username":"ann","role":"cashier","tills":["9"],"password":"long enough 1"}`)
	wantError(t, r, 422, "tills[0]")
	r = e.do("POST", "/v1/users", adminKey, `{"username":"kim","role":"admin","password":"long enough 1"}`)
	wantError(t, r, 422, "username")
	if n := e.count("users"); n != 1 {
		t.Fatalf("%d users after refusals", n)
	}
	// The password is never shown.
	if strings.Contains(string(e.do("GET", "/v1/users", adminKey, "").body), "argon2") {
		t.Fatal("the user list shows password hashes")
	}
}

// TestLockoutUnderParallelGuesses: wrong passwords sent in parallel, to two
// kvitt nodes on one database, all count: the user is locked after
// MaxFailedLogins and the right password is refused until an admin unlocks.
// On SQLite and PostgreSQL.
func TestLockoutUnderParallelGuesses(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			var open func() kvitt.Store
			if store == "sqlite" {
				path := filepath.Join(t.TempDir(), "kvitt.db")
				open = func() kvitt.Store {
					db, err := sqlite.Open(context.Background(), path)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { db.Close() })
					return db
				}
			} else {
				dsn := pgtest.FreshDatabase(t)
				open = func() kvitt.Store {
					db, err := postgres.Open(context.Background(), dsn)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { db.Close() })
					return db
				}
			}
			var urls []string
			for i := range 2 {
				db := open()
				if i == 0 {
					storetest.Seed(t, db)
				}
				logger := slog.New(slog.NewTextHandler(io.Discard, nil))
				h := hub.New(db, logger)
				h.Register(cash.Provider{}, nil)
				t.Cleanup(h.Close)
				sum := sha256.Sum256([]byte(adminKey))
				ts := httptest.NewServer(kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger, AdminKeyHash: sum[:]}))
				t.Cleanup(ts.Close)
				urls = append(urls, ts.URL)
			}
			admin := &http.Client{}
			if code, m := send(t, admin, "POST", urls[0]+"/v1/users", `{"username":"kim","role":"cashier","tills":["1"],"password":"correct horse 1"}`, "Authorization", "Bearer "+adminKey); code != 201 {
				t.Fatalf("create user: %d %v", code, m)
			}
			var wg sync.WaitGroup
			for i := range kvitt.MaxFailedLogins {
				wg.Add(1)
				go func() {
					defer wg.Done()
					send(t, browserClient(t), "POST", urls[i%2]+"/v1/session", `{"username":"kim","password":"guess `+string(rune('a'+i))+`"}`)
				}()
			}
			wg.Wait()
			code, m := send(t, browserClient(t), "POST", urls[1]+"/v1/session", `{"username":"kim","password":"correct horse 1"}`)
			if code != 403 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "locked") {
				t.Fatalf("after %d parallel wrong passwords the right one: %d %v", kvitt.MaxFailedLogins, code, m)
			}
			_, list := send(t, admin, "GET", urls[0]+"/v1/users", "", "Authorization", "Bearer "+adminKey)
			id := list["users"].([]any)[0].(map[string]any)["id"].(string)
			if code, m := send(t, admin, "PATCH", urls[0]+"/v1/users/"+id, `{"unlock":true}`, "Authorization", "Bearer "+adminKey); code != 200 {
				t.Fatalf("unlock: %d %v", code, m)
			}
			signIn(t, urls[1], "kim", "correct horse 1")
		})
	}
}
