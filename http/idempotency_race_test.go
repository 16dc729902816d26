package http_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
)

// race sends the requests at once, each with the Idempotency-Key, and
// returns the answers in order.
func (e *env) race(key, idemKey string, reqs ...[2]string) []resp {
	e.t.Helper()
	out := make([]resp, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, rq := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.url+rq[0], strings.NewReader(rq[1]))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Idempotency-Key", idemKey)
			<-start
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				e.t.Error(err)
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			out[i] = resp{r.StatusCode, r.Header, b}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// Six payments racing on two sales under one Idempotency-Key: one runs;
// the requests for the other sale get 409, never the first one's payment.
func TestIdempotencyRacePaymentsOnTwoSales(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	for round := range 5 {
		a := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
		b := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
		sales := []string{a, b}
		var reqs [][2]string
		for i := range 6 {
			reqs = append(reqs, [2]string{"/v1/sales/" + sales[i%2] + "/payments", `{"method":"cash","amount":9450}`})
		}
		key := fmt.Sprintf("pay-race-%d", round)
		var paid []string
		for i, r := range e.race(till, key, reqs...) {
			own := sales[i%2]
			switch r.status {
			case 201:
				p := r.json(t)
				if p["sale_id"] != own {
					t.Fatalf("round %d: a payment request for sale %s was answered with sale %v's payment:\n%s", round, own, p["sale_id"], r.body)
				}
				paid = append(paid, own)
			case 409:
				wantError(t, r, 409, "Idempotency-Key")
			default:
				t.Fatalf("round %d: status %d\n%s", round, r.status, r.body)
			}
		}
		if len(paid) != 3 {
			t.Errorf("round %d: %d requests answered 201, want the 3 for the sale that ran", round, len(paid))
		}
		for _, p := range paid[1:] {
			if p != paid[0] {
				t.Errorf("round %d: both sales paid under one key", round)
			}
		}
	}
	if n := e.count("payments"); n != 5 {
		t.Errorf("%d payments stored, want 5 (one a round)", n)
	}
}

// Twenty sales with different lines under one Idempotency-Key, at once:
// one is created; every other request gets 409, never another's sale.
func TestIdempotencyRaceSalesWithOtherBodies(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	var reqs [][2]string
	for i := range 20 {
		reqs = append(reqs, [2]string{"/v1/sales", fmt.Sprintf(`{"lines":[{"name":"Vara %d","unit_price":%d,"vat_rate":25}]}`, i, 100+i)})
	}
	created := 0
	for i, r := range e.race(till, "sale-race", reqs...) {
		switch r.status {
		case 201:
			created++
			if name := r.json(t)["lines"].([]any)[0].(map[string]any)["name"]; name != fmt.Sprintf("Vara %d", i) {
				t.Errorf("request %d was answered with another request's sale (%v)", i, name)
			}
		case 409:
			wantError(t, r, 409, "Idempotency-Key")
		default:
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
	}
	if created != 1 || e.count("sales") != 1 {
		t.Errorf("%d answered 201, %d sales stored; want 1 and 1", created, e.count("sales"))
	}
}

// The same request racing under one key runs once; the others wait and
// replay its answer. A request still running past the wait is a 409 that
// says so; a reservation left by a crashed process is taken over once it
// is stale.
func TestIdempotencyInProgress(t *testing.T) {
	e := newEnv(t)
	keyID, till := e.apiKey("till", "1")
	hash := func(path, body string) string {
		h := sha256.Sum256([]byte("POST " + path + "\n" + body))
		return hex.EncodeToString(h[:])
	}
	reserve := func(key string, created time.Time) {
		t.Helper()
		err := e.db.Update(context.Background(), func(tx kvitt.Tx) error {
			return tx.PutIdempotency(&kvitt.IdempotencyRecord{Key: keyID + ":" + key, RequestHash: hash("/v1/sales", saleBody), Created: created})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Another process is running this very request: wait, then 409 "in progress".
	defer kvitthttp.SetIdempotencyWait(200 * time.Millisecond)()
	reserve("busy", time.Now())
	r := wantError(t, e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "busy"), 409, "Idempotency-Key")
	if !strings.Contains(r.Error.Message, "in progress") {
		t.Errorf("message %q", r.Error.Message)
	}
	// Another body under that key: 409 at once, whoever holds it.
	wantError(t, e.do("POST", "/v1/sales", till, strings.Replace(saleBody, "3500", "3600", 1), "Idempotency-Key", "busy"), 409, "Idempotency-Key")
	// The process crashed three minutes ago: the request runs.
	reserve("crashed", time.Now().Add(-3*time.Minute))
	first := e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "crashed")
	if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("after a crash: %d %v\n%s", first.status, first.header, first.body)
	}
	// The answer was stored before it was sent: a retry replays it.
	again := e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "crashed")
	if again.status != 201 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay %d %q\n%s", again.status, again.header.Get("Idempotent-Replayed"), again.body)
	}
	// A 409 is not stored: the key is free again, and the reservation gone.
	done := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	e.must(201, "POST", "/v1/sales/"+done+"/payments", till, `{"method":"cash","amount":9450}`)
	e.must(200, "POST", "/v1/sales/"+done+"/complete", till, "")
	wantError(t, e.do("POST", "/v1/sales/"+done+"/payments", till, `{"method":"cash","amount":100}`, "Idempotency-Key", "late"), 409, "")
	err := e.db.View(context.Background(), func(tx kvitt.Tx) error { _, err := tx.GetIdempotency(keyID + ":late"); return err })
	if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("a 409 answer left a record: %v", err)
	}
}
