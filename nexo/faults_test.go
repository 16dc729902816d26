package nexo_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

// TestRefusedOnceLoggedIn: kvitt is logged in to the terminal, and the
// PaymentRequest's connection is refused (the terminal switched off
// between two payments). No connection, no byte of the request left: a
// definite failure, as when the Login before it is refused. Before, it was
// a lost answer: the payment pending until its in-flight window was over,
// or unknown (for a person) if the terminal stayed off.
func TestRefusedOnceLoggedIn(t *testing.T) {
	r := newRig(t, simnexo.Options{Auto: simnexo.Approve})
	if u, err := r.card.Start(testCtx(t), r.till, r.payment(100)); err != nil || u.State != kvitt.PaymentPaid {
		t.Fatalf("first payment: %+v %v", u, err)
	}
	r.term.Close()
	// The client has noticed the kept-alive connection close (else the
	// request may be written into it: EOF, an outcome kvitt cannot know).
	r.card.Client().HTTP.CloseIdleConnections()
	p := r.payment(200)
	u, err := r.card.Start(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "Unreachable" {
		t.Errorf("refused PaymentRequest: %+v %v; want failed, Unreachable", u, err)
	}
}

// TestForeignAnswerRefused: an answer whose header names another request
// (another ServiceID, another till's SaleID, another terminal's POIID) is
// not the request's answer, whatever it says: the outcome stays unknown
// (ErrTransport: ask TransactionStatus). Before, only the category and the
// ServiceID were compared: another till's approval booked this payment paid.
func TestForeignAnswerRefused(t *testing.T) {
	for _, field := range []string{"ServiceID", "SaleID", "POIID"} {
		t.Run(field, func(t *testing.T) {
			r := newRig(t, simnexo.Options{Auto: simnexo.Approve})
			// A gateway in front of the terminal that rewrites the payment's answer.
			up := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.term.CertPool()}}}
			gw := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				body, _ := io.ReadAll(req.Body)
				res, err := up.Post(r.term.URL(), "application/json", bytes.NewReader(body))
				if err != nil {
					panic(http.ErrAbortHandler)
				}
				answer, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var m map[string]any
				if json.Unmarshal(answer, &m) == nil && strings.Contains(string(body), `"PaymentRequest"`) {
					h := m["SaleToPOIResponse"].(map[string]any)["MessageHeader"].(map[string]any)
					h[field] = "OTHER"
					answer, _ = json.Marshal(m)
				}
				w.WriteHeader(res.StatusCode)
				w.Write(answer)
			}))
			t.Cleanup(gw.Close)
			cfg := r.cfg
			cfg.HTTPClient = gw.Client()
			card := nexo.New(cfg)
			till := *r.till
			term := *r.till.Terminal
			term.URL = gw.URL + "/nexo"
			till.Terminal = &term
			u, err := card.Start(testCtx(t), &till, r.payment(300))
			if !errors.Is(err, nexo.ErrTransport) || u.State != "" {
				t.Errorf("an answer with another %s: %+v %v; want no update and ErrTransport", field, u, err)
			}
		})
	}
}
