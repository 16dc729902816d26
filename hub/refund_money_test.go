package hub

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
)

// onEachStoreHub runs fn with one hub on SQLite and one on PostgreSQL.
func onEachStoreHub(t *testing.T, fn func(t *testing.T, h *Hub, fp *fakeProvider)) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		n := nodes(t, connect, 1)[0]
		fn(t, n.Hub, n.fake)
	})
}

// completedSale creates a sale of lines on till 1, pays it with one payment
// and completes it.
func completedSale(t *testing.T, h *Hub, method string, amount int64, lines ...kvitt.SaleLine) (*kvitt.Sale, *kvitt.Payment, *kvitt.Receipt) {
	t.Helper()
	s, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: lines})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: method, Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s, mustPayment(t, h, p.ID), rc
}

func mustRefund(t *testing.T, h *Hub, paymentID string, in RefundInput) (*kvitt.Refund, *kvitt.Receipt) {
	t.Helper()
	r, err := h.CreateRefund(ctx, paymentID, in)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != kvitt.RefundSucceeded {
		t.Fatalf("refund %s: %s", r.ID, r.State)
	}
	if r.ReceiptID == "" {
		return r, nil
	}
	rc, err := h.GetReceipt(ctx, r.ReceiptID)
	if err != nil {
		t.Fatal(err)
	}
	return r, rc
}

func vatByRate(vs []kvitt.VATTotal) map[int64]kvitt.VATTotal {
	m := map[int64]kvitt.VATTotal{}
	for _, v := range vs {
		x := m[v.Rate]
		x.Rate, x.Gross, x.Net, x.VAT = v.Rate, x.Gross+v.Gross, x.Net+v.Net, x.VAT+v.VAT
		m[v.Rate] = x
	}
	return m
}

// returnedVAT sums the VAT of a sale's return receipts per rate.
func returnedVAT(t *testing.T, h *Hub, saleID string) map[int64]kvitt.VATTotal {
	t.Helper()
	var vs []kvitt.VATTotal
	if err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		rcs, err := tx.ListReceipts(kvitt.ReceiptFilter{SaleID: saleID})
		for _, rc := range rcs {
			if rc.Kind == kvitt.ReceiptReturn {
				vs = append(vs, rc.VAT...)
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return vatByRate(vs)
}

// A cash refund is paid out in coins, rounded like a cash payment; the
// rounding is on the refund and its return receipt, and the goods returned
// never exceed the sale.
func TestCashRefundRounded(t *testing.T) {
	onEachStoreHub(t, func(t *testing.T, h *Hub, _ *fakeProvider) {
		t.Run("32.47 in full: the drawer gives 32.00", func(t *testing.T) {
			_, p, _ := completedSale(t, h, "cash", 3247, line("Vara", 1000, 3247, 2500))
			if p.Amount != 3200 || p.Rounding != -47 {
				t.Fatalf("payment amount %d rounding %d", p.Amount, p.Rounding)
			}
			r, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 3247})
			if r.Amount != 3200 || r.Rounding != -47 || r.Goods() != 3247 || !strings.Contains(r.Message, "32.00 SEK") {
				t.Errorf("refund amount %d rounding %d goods %d: %q", r.Amount, r.Rounding, r.Goods(), r.Message)
			}
			if rc.Total != 3247 || len(rc.Tenders) != 1 || rc.Tenders[0].Amount != 3200 || rc.Tenders[0].Rounding != -47 {
				t.Errorf("return receipt total %d tenders %+v", rc.Total, rc.Tenders)
			}
			if p = mustPayment(t, h, p.ID); p.State != kvitt.PaymentRefunded || p.Refunded != 3200 {
				t.Errorf("payment %s refunded %d", p.State, p.Refunded)
			}
		})
		t.Run("32.50 paid 33.00: returns total 32.50, the drawer gives 33.00", func(t *testing.T) {
			_, p, _ := completedSale(t, h, "cash", 3250, line("Vara", 1000, 3250, 2500))
			// The drawer's amount for all that is left takes all the goods.
			r, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 3300})
			if r.Amount != 3300 || r.Rounding != 50 || rc.Total != 3250 || vatByRate(rc.VAT)[2500].Gross != 3250 {
				t.Errorf("refund %d rounding %d; receipt total %d VAT %+v", r.Amount, r.Rounding, rc.Total, rc.VAT)
			}
			_, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 50})
			if kvitt.ErrorCode(err) != kvitt.ECONFLICT {
				t.Errorf("a refund after all was returned: %v", err)
			}
		})
		t.Run("by parts: the drawer gives back exactly what it took", func(t *testing.T) {
			_, p, _ := completedSale(t, h, "cash", 2060, line("A", 1000, 1030, 2500), line("B", 1000, 1030, 2500))
			if p.Amount != 2100 {
				t.Fatalf("paid %d", p.Amount)
			}
			r1, rc1 := mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
			if r1.Amount != 1000 || r1.Rounding != -30 || rc1.Total != 1030 {
				t.Errorf("first: refund %d rounding %d receipt %d", r1.Amount, r1.Rounding, rc1.Total)
			}
			r2, rc2 := mustRefund(t, h, p.ID, RefundInput{Amount: 1030})
			if r2.Amount != 1100 || r2.Rounding != 70 || rc2.Total != 1030 {
				t.Errorf("rest: refund %d rounding %d receipt %d", r2.Amount, r2.Rounding, rc2.Total)
			}
			if p = mustPayment(t, h, p.ID); p.Refunded != 2100 || p.State != kvitt.PaymentRefunded {
				t.Errorf("payment %s refunded %d", p.State, p.Refunded)
			}
		})
		t.Run("a part that coins cannot pay is rounded", func(t *testing.T) {
			_, p, _ := completedSale(t, h, "cash", 5000, line("Vara", 1000, 5000, 2500))
			r, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 1230})
			if r.Amount != 1200 || r.Rounding != -30 || rc.Total != 1230 {
				t.Errorf("refund %d rounding %d receipt %d", r.Amount, r.Rounding, rc.Total)
			}
			if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 3771}); kvitt.ErrorField(err) != "amount" {
				t.Errorf("above the goods left: %v", err)
			}
		})
		t.Run("goods back for no money when the rounding has paid them", func(t *testing.T) {
			var ls []kvitt.SaleLine
			for range 4 {
				ls = append(ls, line("Knapp", 1000, 50, 2500))
			}
			_, p, _ := completedSale(t, h, "cash", 200, ls...)
			var drawer, goods int64
			for i, want := range []int64{100, 0, 100, 0} {
				r, rc := mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: i, QuantityMilli: 1000}}})
				if r.Amount != want || rc.Total != 50 {
					t.Errorf("return %d: drawer %d (want %d), receipt %d", i, r.Amount, want, rc.Total)
				}
				drawer, goods = drawer+r.Amount, goods+rc.Total
			}
			if drawer != 200 || goods != 200 {
				t.Errorf("drawer paid %d for goods %d", drawer, goods)
			}
		})
	})
}

// Returns never exceed the sale: per line, per VAT rate, and a refund
// without lines is split over what is left per rate.
func TestReturnsWithinSale(t *testing.T) {
	onEachStoreHub(t, func(t *testing.T, h *Hub, fp *fakeProvider) {
		fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
		t.Run("a refund without lines after a return by lines", func(t *testing.T) {
			_, p, _ := completedSale(t, h, "fake", 15000, line("A", 1000, 10000, 2500), line("B", 1000, 5000, 1200))
			mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
			_, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 5000})
			want := []kvitt.VATTotal{{Rate: 1200, Gross: 5000, Net: 4464, VAT: 536}}
			if !reflect.DeepEqual(rc.VAT, want) {
				t.Errorf("VAT of the rest = %+v; want %+v", rc.VAT, want)
			}
			if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 1}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
				t.Errorf("refund after all: %v", err)
			}
		})
		t.Run("a line beyond what is left at its rate", func(t *testing.T) {
			s, p, _ := completedSale(t, h, "fake", 15000, line("A", 1000, 10000, 2500), line("B", 1000, 5000, 1200))
			_, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 3000})
			if v := vatByRate(rc.VAT); v[2500].Gross != 2000 || v[1200].Gross != 1000 {
				t.Fatalf("split %+v", rc.VAT)
			}
			// 80.00 is left at 25 % and 40.00 at 12 %: neither whole line fits.
			for i := range 2 {
				_, err := h.CreateRefund(ctx, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: i, QuantityMilli: 1000}}})
				wantErr(t, err, kvitt.EUNPROCESSABLE, "lines")
			}
			_, rc = mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 500}}})
			_, rc = mustRefund(t, h, p.ID, RefundInput{Amount: 7000})
			if v := vatByRate(rc.VAT); v[2500].Gross != 3000 || v[1200].Gross != 4000 {
				t.Errorf("rest %+v", rc.VAT)
			}
			if got, want := returnedVAT(t, h, s.ID), vatByRate(s.VAT); !reflect.DeepEqual(got, want) {
				t.Errorf("returned VAT %+v; sold %+v", got, want)
			}
		})
		t.Run("a line's returns add up to its total", func(t *testing.T) {
			// 2 × 5.01 − 0.01 = 10.01: halves of 5.005 must not make 10.02.
			l := line("Udda", 2000, 501, 2500)
			l.Discount = 1
			s, p, _ := completedSale(t, h, "fake", 1001, l)
			_, rc1 := mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
			_, rc2 := mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
			if rc1.Total+rc2.Total != 1001 {
				t.Errorf("returns %d + %d; the line was 10.01", rc1.Total, rc2.Total)
			}
			if got, want := returnedVAT(t, h, s.ID), vatByRate(s.VAT); !reflect.DeepEqual(got, want) {
				t.Errorf("returned VAT %+v; sold %+v", got, want)
			}
			if l := rc1.Lines[0]; l.Total+l.Discount != 501 || l.Discount != 0 {
				t.Errorf("receipt line %+v", l)
			}
		})
	})
}

// Returns by parts carry the sale's VAT, not more: the last return at a
// rate takes the rest of the rate's VAT.
func TestReturnsVATByParts(t *testing.T) {
	h, fp, _ := newHub(t)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	// 2 × 0.03 at 25 %: VAT 0.01 on the sale, 0.01 on each 0.03 alone.
	s, p, _ := completedSale(t, h, "fake", 6, line("Gem", 2000, 3, 2500))
	mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
	_, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 3})
	if got, want := returnedVAT(t, h, s.ID), vatByRate(s.VAT); !reflect.DeepEqual(got, want) {
		t.Errorf("returned VAT %+v; sold %+v", got, want)
	}
	if v := rc.VAT[0]; v.Net+v.VAT != v.Gross {
		t.Errorf("last return VAT %+v", v)
	}
}

// A refund of a tipped card payment takes back the goods first, with their
// VAT, and gives the tip back last, as a tip refund without VAT; X/Z count
// tip refunds apart.
func TestRefundTippedPayment(t *testing.T) {
	onEachStoreHub(t, func(t *testing.T, h *Hub, fp *fakeProvider) {
		card := &kvitt.CardData{MaskedPAN: "************1234", Brand: "VISA"}
		fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid, Tip: 1000, Card: card}}}, nil)
		t.Run("in full", func(t *testing.T) {
			_, p, sold := completedSale(t, h, "fake", 10000, line("Middag", 1000, 10000, 2500))
			if p.Tip != 1000 || sold.Tip != 1000 {
				t.Fatalf("tip %d, on the receipt %d", p.Tip, sold.Tip)
			}
			r, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 11000})
			if r.Amount != 11000 || r.Tip != 1000 || r.Goods() != 10000 {
				t.Errorf("refund %d tip %d goods %d", r.Amount, r.Tip, r.Goods())
			}
			if rc.Total != 10000 || !reflect.DeepEqual(rc.VAT, sold.VAT) || rc.Tip != 1000 {
				t.Errorf("return total %d VAT %+v tip %d; sale VAT %+v", rc.Total, rc.VAT, rc.Tip, sold.VAT)
			}
			if tn := rc.Tenders[0]; tn.Amount != 10000 || tn.Tip != 1000 {
				t.Errorf("tender %+v", tn)
			}
			if p = mustPayment(t, h, p.ID); p.State != kvitt.PaymentRefunded {
				t.Errorf("payment %s", p.State)
			}
			x, err := h.Report(ctx, "1", report.X)
			if err != nil {
				t.Fatal(err)
			}
			if x.TipRefunds != (report.Counter{Count: 1, Amount: 1000}) || x.Tips != (report.Counter{Count: 1, Amount: 0}) ||
				x.Returns != (report.Counter{Count: 1, Amount: 10000}) || x.NetSales != 0 || len(x.VATNet) != 1 || x.VATNet[0].VAT != 0 {
				t.Errorf("X: tips %+v tip refunds %+v returns %+v net %d VAT net %+v", x.Tips, x.TipRefunds, x.Returns, x.NetSales, x.VATNet)
			}
		})
		t.Run("goods first, the tip last", func(t *testing.T) {
			s, p, _ := completedSale(t, h, "fake", 10000, line("Middag", 1000, 10000, 2500))
			r1, rc1 := mustRefund(t, h, p.ID, RefundInput{Amount: 6000})
			r2, rc2 := mustRefund(t, h, p.ID, RefundInput{Amount: 4500})
			r3, rc3 := mustRefund(t, h, p.ID, RefundInput{Amount: 500})
			if r1.Tip != 0 || rc1.Total != 6000 || r2.Tip != 500 || rc2.Total != 4000 || rc2.Tip != 500 || r3.Tip != 500 || rc3.Total != 0 || rc3.Tip != 500 {
				t.Errorf("tips %d %d %d, goods %d %d %d", r1.Tip, r2.Tip, r3.Tip, rc1.Total, rc2.Total, rc3.Total)
			}
			if len(rc3.Lines) != 0 || len(rc3.VAT) != 0 {
				t.Errorf("a tip refund has no goods: %+v %+v", rc3.Lines, rc3.VAT)
			}
			if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 1}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
				t.Errorf("after all: %v", err)
			}
			if got, want := returnedVAT(t, h, s.ID), vatByRate(s.VAT); !reflect.DeepEqual(got, want) {
				t.Errorf("returned VAT %+v; sold %+v", got, want)
			}
		})
		t.Run("lines, then the tip", func(t *testing.T) {
			_, p, _ := completedSale(t, h, "fake", 10000, line("Middag", 1000, 10000, 2500))
			_, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 11000, Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
			wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
			mustRefund(t, h, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
			r, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 1000})
			if r.Tip != 1000 || rc.Total != 0 || rc.Tip != 1000 {
				t.Errorf("tip refund %d, receipt total %d tip %d", r.Tip, rc.Total, rc.Tip)
			}
		})
	})
}

// A return on a training sale is a training receipt: in no sales total.
func TestTrainingReturn(t *testing.T) {
	h, _, _ := newHub(t)
	s, err := h.CreateSale(ctx, SaleInput{TillID: "1", Training: true, Lines: []kvitt.SaleLine{line("Övning", 1000, 5000, 2500)}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	_, rc := mustRefund(t, h, p.ID, RefundInput{Amount: 5000})
	if rc.Type != kvitt.ReceiptTraining || rc.Kind != kvitt.ReceiptReturn {
		t.Errorf("return of a training sale: %s %s", rc.Type, rc.Kind)
	}
}

// Returns racing over two nodes, by line on one payment and without lines on
// another, never take back more than the sale per VAT rate.
func TestRacingReturnsTwoNodes(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		ns[0].fake.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
		s, err := ns[0].CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("A", 1000, 10000, 2500), line("B", 1000, 5000, 1200)}})
		if err != nil {
			t.Fatal(err)
		}
		card, err := ns[0].CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
		if err != nil {
			t.Fatal(err)
		}
		cash, err := ns[0].CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ns[0].CompleteSale(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		errs := race(8, func(i int) error {
			var err error
			if i%2 == 0 {
				_, err = ns[i%2].CreateRefund(ctx, card.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 1, QuantityMilli: 1000}}})
			} else {
				_, err = ns[i%2].CreateRefund(ctx, cash.ID, RefundInput{Amount: 2500})
			}
			return err
		})
		accepted(t, errs)
		sold := vatByRate(s.VAT)
		for rate, v := range returnedVAT(t, ns[1].Hub, s.ID) {
			if v.Gross > sold[rate].Gross || v.VAT > sold[rate].VAT {
				t.Errorf("returned at %d: %+v; sold %+v", rate, v, sold[rate])
			}
		}
	})
}
