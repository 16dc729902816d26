package http_test

import (
	"strings"
	"testing"
)

// A refund's event stream sends the refund as it is, then "end" once it is
// decided. Before, refunds had no events.
func TestRefundEvents(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	s := e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Kaffe","unit_price":3500,"vat_rate":12}]}`)
	p := e.must(201, "POST", "/v1/sales/"+s["id"].(string)+"/payments", till, `{"method":"cash","amount":3500}`)
	r := e.must(201, "POST", "/v1/payments/"+p["id"].(string)+"/refunds", till, `{"amount":3500}`)
	res := e.do("GET", "/v1/refunds/"+r["id"].(string)+"/events", till, "")
	body := string(res.body)
	if res.status != 200 || !strings.Contains(body, "event: refund\ndata: {") || !strings.Contains(body, `"state":"succeeded"`) ||
		!strings.HasSuffix(strings.TrimSpace(body), `event: end`+"\n"+`data: {"state":"succeeded"}`) {
		t.Fatalf("refund events: %d\n%s", res.status, body)
	}
	if res := e.do("POST", "/v1/refunds/"+r["id"].(string)+"/cancel", till, ""); res.status != 409 {
		t.Errorf("cancelling a succeeded cash refund: %d, want 409", res.status)
	}
}
