package manualswish_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/manualswish"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// The provider alone: only a confirmed SEK payment is taken.
func TestValidateAndSettle(t *testing.T) {
	m := manualswish.Provider{}
	p := &kvitt.Payment{Method: manualswish.Method, Currency: kvitt.SEK, Amount: 4500, Provider: map[string]string{}}
	if err := m.ValidatePayment(p); kvitt.ErrorField(err) != "confirmed" || !strings.Contains(kvitt.ErrorMessage(err), "45.00 SEK") {
		t.Errorf("unconfirmed: %v", err)
	}
	p.Provider[manualswish.KeyConfirmed] = "true"
	if err := m.ValidatePayment(p); err != nil {
		t.Errorf("confirmed: %v", err)
	}
	dkk := &kvitt.Payment{Currency: kvitt.DKK, Amount: 4500, Provider: map[string]string{manualswish.KeyConfirmed: "true"}}
	if err := m.ValidatePayment(dkk); kvitt.ErrorField(err) != "method" {
		t.Errorf("DKK: %v", err)
	}
	p.Provider[manualswish.KeyConfirmedBy] = "user kim"
	if u := m.Settle(p); u.State != kvitt.PaymentPaid || !strings.Contains(u.Message, "user kim") {
		t.Errorf("settle: %+v", u)
	}
	if u := m.SettleRefund(p, &kvitt.Refund{Amount: 4500, Currency: kvitt.SEK}); u.State != kvitt.RefundSucceeded || !strings.Contains(u.Message, "45.00 SEK") {
		t.Errorf("refund: %+v", u)
	}
	if _, err := m.Cancel(context.Background(), nil, p); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("cancel: %v", err)
	}
}

// Through the hub: the confirmation is part of the payment request; an
// unconfirmed one stores nothing; split with cash works.
func TestHubManualSwish(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.Seed(t, db)
	h := hub.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	h.Register(cash.Provider{}, nil)
	h.Register(manualswish.Provider{}, nil)
	sale, err := h.CreateSale(ctx, hub.SaleInput{TillID: "1", Lines: []kvitt.SaleLine{{Name: "Glass", QuantityMilli: 1000, UnitPrice: 10000, VATRate: 1200}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: manualswish.Method, Amount: 6000}); kvitt.ErrorField(err) != "confirmed" {
		t.Fatalf("unconfirmed: %v", err)
	}
	if _, err := h.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: "cash", Amount: 4000, Confirmed: true}); kvitt.ErrorField(err) != "confirmed" {
		t.Fatalf("confirmed cash: %v", err)
	}
	p, err := h.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: manualswish.Method, Amount: 6000, Confirmed: true, ConfirmedBy: "user kim"})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentPaid || p.Provider["confirmed_by"] != "user kim" {
		t.Fatalf("payment %s %v", p.State, p.Provider)
	}
	if _, err := h.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: "cash", Amount: 4000}); err != nil {
		t.Fatal(err)
	}
	rc, err := h.CompleteSale(ctx, sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]int64{}
	for _, tn := range rc.Tenders {
		methods[tn.Method] += tn.Amount
	}
	if methods[manualswish.Method] != 6000 || methods["cash"] != 4000 {
		t.Errorf("tenders %v", methods)
	}
}
