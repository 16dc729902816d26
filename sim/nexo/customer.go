package simnexo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// customerWait is how long the customer waits for the terminal to show a
// payment or refund before saying what it shows instead.
const customerWait = 5 * time.Second

// showing says what the terminal serves now, for a customer who cannot act.
func (t *Terminal) showing() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.current
	if c == nil || c.stage == StageIdle || c.stage == "" {
		return "it shows its start screen"
	}
	what := "payment"
	if c.paymentType == "Refund" {
		what = "refund"
	}
	return fmt.Sprintf("it is serving %s %s (%s); finish or cancel that one first", what, c.serviceID, c.stage)
}

// Customer acts as the customer at the terminal for the hub's sandbox
// endpoints. It implements kvitt.Customer.
type Customer struct{ t *Terminal }

var _ kvitt.Customer = (*Customer)(nil)

// Customer returns the terminal's customer.
func (t *Terminal) Customer() *Customer { return &Customer{t: t} }

// Act waits until the terminal runs the payment (its ServiceID is
// p.Reference), then: approve enters the total (amount + opts.Tip, or OK
// without a total) and taps an approving card; decline taps a refused card;
// cancel presses the red key; timeout walks away.
func (c *Customer) Act(ctx context.Context, till *kvitt.Till, p *kvitt.Payment, action kvitt.CustomerAction, opts kvitt.CustomerOptions) error {
	t := c.t
	// The request may still be on its way to the terminal: wait a moment,
	// not for ever (a request queued behind another one would wait until
	// that one is done).
	wctx, cancel := context.WithTimeout(ctx, customerWait)
	defer cancel()
	if err := t.WaitFor(wctx, p.Reference); err != nil {
		if ctx.Err() == nil {
			return kvitt.Errorf(kvitt.ECONFLICT, "the terminal is not asking for a card for %s: %s", p.Reference, t.showing())
		}
		return fmt.Errorf("simnexo: payment %s is not on the terminal: %w", p.Reference, err)
	}
	switch action {
	case kvitt.CustomerApprove, kvitt.CustomerDecline:
		if t.Screen().Stage == StageTip {
			var total *int64
			if opts.Tip > 0 && action == kvitt.CustomerApprove {
				v := p.Amount + opts.Tip
				total = &v
			}
			if err := t.EnterTotal(total); err != nil {
				return err
			}
		} else if opts.Tip > 0 {
			return errors.New("simnexo: the terminal's tip (Extra) is off")
		}
		s := Approve
		if action == kvitt.CustomerDecline {
			s = Decline
		}
		if opts.Scenario != "" {
			s = Scenario(opts.Scenario)
			if !knownScenario(s) {
				return kvitt.FieldError("scenario", "%q is not a card scenario (approve, approve_signature, decline, wrong_pin, insufficient_funds, cancel, no_answer, approve_partial)", opts.Scenario)
			}
		}
		return t.PresentCard(s)
	case kvitt.CustomerCancel:
		return t.Cancel()
	case kvitt.CustomerTimeout:
		return t.WalkAway()
	}
	return fmt.Errorf("simnexo: unknown customer action %q", action)
}

// customerDone answers a customer endpoint: a redirect to the screen for
// a browser form, JSON otherwise.
func customerDone(w http.ResponseWriter, r *http.Request, err error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Redirect(w, r, "../screen", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

// field reads a form field or a JSON string field.
func field(r *http.Request, name string) (string, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return "", err
		}
		return str(m, name), nil
	}
	return r.FormValue(name), nil
}

// serveTotal: POST /customer/total total=125.00 ("" = OK without a total).
func (t *Terminal) serveTotal(w http.ResponseWriter, r *http.Request) {
	v, err := field(r, "total")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var total *int64
	if strings.TrimSpace(v) != "" {
		t.mu.Lock()
		cur := kvitt.SEK
		if t.current != nil {
			cur = t.current.currency
		}
		t.mu.Unlock()
		n, err := kvitt.ParseAmount(strings.TrimSpace(v), cur)
		if err != nil {
			customerDone(w, r, err)
			return
		}
		total = &n
	}
	customerDone(w, r, t.EnterTotal(total))
}

// serveCard: POST /customer/card scenario=approve.
func (t *Terminal) serveCard(w http.ResponseWriter, r *http.Request) {
	v, err := field(r, "scenario")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if v == "" {
		v = string(Approve)
	}
	customerDone(w, r, t.PresentCard(Scenario(v)))
}

func (t *Terminal) serveCustomerCancel(w http.ResponseWriter, r *http.Request) {
	customerDone(w, r, t.Cancel())
}

func (t *Terminal) serveWalkAway(w http.ResponseWriter, r *http.Request) {
	customerDone(w, r, t.WalkAway())
}

func (t *Terminal) serveScreenJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(t.Screen())
}

var screenPage = template.Must(template.New("screen").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="1">
<title>Card terminal {{.POIID}}</title>
<style>
body{font-family:system-ui,sans-serif;background:#222;color:#eee;display:flex;justify-content:center}
.t{background:#111;border-radius:18px;padding:20px;margin-top:30px;width:320px;box-shadow:0 0 20px #000}
.s{background:#cfe8cf;color:#111;border-radius:6px;padding:16px;min-height:120px}
.a{font-size:28px;font-weight:bold;margin:8px 0}
button{margin:4px 2px;padding:6px 8px}
small{color:#888}
</style></head>
<body><div class="t">
<div class="s">
{{if eq .Stage "idle"}}<p>Welcome</p><p>{{.LastText}}</p>
{{else}}<div class="a">{{if .Refund}}Refund {{end}}{{.Amount}}</div><p id="message">{{.Message}}</p>{{end}}
</div>
{{if eq .Stage "tip"}}
<form method="post" action="customer/total"><input name="total" placeholder="Total (amount + Extra)" autocomplete="off"> <button>OK</button></form>
{{end}}
{{if or (eq .Stage "tip") (eq .Stage "card")}}
<form method="post" action="customer/card">
{{range .Scenarios}}<button name="scenario" value="{{.}}">{{.}}</button>{{end}}
</form>
<form method="post" action="customer/cancel"><button>Cancel (red key)</button></form>
<form method="post" action="customer/walkaway"><button>Walk away</button></form>
{{end}}
<p><small>{{.POIID}} · Extra {{if .Tip}}on{{else}}off{{end}} · kvitt simulator</small></p>
</div></body></html>
`))

func (t *Terminal) serveScreen(w http.ResponseWriter, r *http.Request) {
	s := t.Screen()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	screenPage.Execute(w, struct {
		Screen
		Scenarios []Scenario
	}{s, Scenarios})
}

func knownScenario(s Scenario) bool {
	switch s {
	case Approve, ApproveSignature, Decline, WrongPIN, InsufficientFunds, CustomerCancel, NoAnswer, ApprovePartial:
		return true
	}
	return false
}

// serveLedger lists what the terminal has charged, refunded and reversed:
// for tests that run the simulator as its own process (exactly one charge
// per payment, whatever happened to kvitt).
func (t *Terminal) serveLedger(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(t.Ledger())
}
