package svea_test

import (
	"context"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/svea"
)

var ctx = context.Background()

func newSim(t *testing.T, interval time.Duration) (*simsvea.Sim, *svea.Provider) {
	t.Helper()
	s, err := simsvea.New(simsvea.Options{StatusInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p, err := svea.NewProvider(svea.Config{Client: &svea.Client{BaseURL: s.URL(), MerchantID: s.MerchantID(), Password: s.Password(), HTTP: s.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", StatusInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

func order(number string) (*kvitt.Order, *kvitt.OrderLink) {
	o := &kvitt.Order{ID: "ord_" + number, Number: number, Customer: kvitt.CustomerCard{MobileNumber: "0701234567", Country: "SE", NationalID: "5560997982", Company: true},
		Lines: []kvitt.OrderLine{{RowNumber: 1, Name: "Stol", Quantity: 100, UnitPrice: 49900, VATRate: 2500, Unit: "st"}}}
	if err := o.ComputeTotals(); err != nil {
		panic(err)
	}
	l := &kvitt.OrderLink{Seq: 1, MerchantOrderNumber: kvitt.NewMerchantOrderNumber(number, time.Now(), ""), Secret: "s",
		Lines: o.Lines, Customer: o.Customer, Total: o.Total, ExpiresAt: time.Now().Add(48 * time.Hour)}
	return o, l
}

// TestInstoreAgainstSimulator: create sends the SMS and returns the link;
// a second status call within the interval is refused (403 → TooSoon);
// an unknown order is NotFound; the customer completes, the status says
// paid, a paid order cannot be cancelled (403), and a return credits it.
func TestInstoreAgainstSimulator(t *testing.T) {
	s, p := newSim(t, 5*time.Second)
	o, l := order("1001")
	u, err := p.CreateLink(ctx, o, l)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != kvitt.PaymentPending || u.URL == "" || u.SMSSent == nil || !*u.SMSSent || u.ProviderRef == "" {
		t.Fatalf("create: %+v", u)
	}
	if sms := s.Outbox(); len(sms) != 1 || sms[0].To != "0701234567" || sms[0].URL != u.URL {
		t.Fatalf("outbox %+v", sms)
	}
	l.URL = u.URL
	if u, err = p.LinkStatus(ctx, o, l); err != nil || u.State != kvitt.PaymentPending {
		t.Fatalf("status %+v %v", u, err)
	}
	if u, err = p.LinkStatus(ctx, o, l); err != nil || !u.TooSoon {
		t.Fatalf("second status within 5 s: %+v %v", u, err)
	}
	_, unknown := order("9999")
	if u, err = p.LinkStatus(ctx, o, unknown); err != nil || !u.NotFound {
		t.Fatalf("unknown order: %+v %v", u, err)
	}
	if err := s.Complete(l.MerchantOrderNumber); err != nil {
		t.Fatal(err)
	}
	if u, err = p.CancelLink(ctx, o, l); err != nil || u.State != "" || u.ErrorCode != "403" {
		t.Fatalf("cancel of a paid order: %+v %v", u, err)
	}
	st, _, _, _ := s.Status(l.MerchantOrderNumber)
	if st != "Completed" {
		t.Fatalf("sim status %s", st)
	}
	state, msg, err := p.Credit(ctx, o, l, &kvitt.OrderCredit{Lines: []kvitt.OrderLine{{Name: "Stol", Quantity: 100, UnitPrice: 10000, VATRate: 2500, Unit: "st"}}})
	if err != nil || state != kvitt.RefundSucceeded {
		t.Fatalf("credit: %s %s %v", state, msg, err)
	}
	state, _, _ = p.Credit(ctx, o, l, &kvitt.OrderCredit{Lines: []kvitt.OrderLine{{Name: "Stol", Quantity: 100, UnitPrice: 99900, VATRate: 2500, Unit: "st"}}})
	if state != kvitt.RefundFailed {
		t.Fatalf("a credit above what is left: %s", state)
	}
	if _, returned, _, _ := s.Status(l.MerchantOrderNumber); returned != 10000 {
		t.Fatalf("returned %d", returned)
	}
}

func TestCancelAndRefusals(t *testing.T) {
	s, p := newSim(t, time.Millisecond)
	o, l := order("1002")
	if _, err := p.CreateLink(ctx, o, l); err != nil {
		t.Fatal(err)
	}
	if u, err := p.CancelLink(ctx, o, l); err != nil || u.State != kvitt.PaymentCancelled {
		t.Fatalf("cancel: %+v %v", u, err)
	}
	if err := s.Complete(l.MerchantOrderNumber); err == nil {
		t.Fatal("a cancelled link was paid")
	}
	// The same reference twice is refused: create is never a retry.
	u, err := p.CreateLink(ctx, o, l)
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "400" {
		t.Fatalf("duplicate create: %+v %v", u, err)
	}
	// Wrong credentials are a definite refusal with Svea's reason.
	bad, _ := svea.NewProvider(svea.Config{Client: &svea.Client{BaseURL: s.URL(), MerchantID: "x", Password: "y", HTTP: s.HTTPClient()},
		TermsURI: "https://butiken.example/villkor"})
	_, l2 := order("1003")
	if u, err := bad.CreateLink(ctx, o, l2); err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "401" {
		t.Fatalf("wrong credentials: %+v %v", u, err)
	}
	// A VAT rate Svea refuses reaches the link's message, field and all.
	o3, l3 := order("1004")
	l3.Lines = []kvitt.OrderLine{{RowNumber: 1, Name: "Stol", Quantity: 100, UnitPrice: 100, VATRate: 2550, Unit: "st"}}
	if u, err := p.CreateLink(ctx, o3, l3); err != nil || u.State != kvitt.PaymentFailed || u.Message == "" {
		t.Fatalf("bad VAT: %+v %v", u, err)
	}
	// A server that cannot be reached is an unknown outcome: an error.
	s.Close()
	if _, err := p.CreateLink(ctx, o, l2); err == nil {
		t.Fatal("no error from a closed server")
	}
}
