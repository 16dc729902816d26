package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/computop"
	"github.com/kvitt-hub/kvitt/hub"
	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
	"github.com/kvitt-hub/kvitt/storetest"
)

// batchWorld is kvitt's data directory with the Computop provider against
// an in-process Paygate simulator, whose notifications a listener
// acknowledges (the Paygate credits nothing before that).
type batchWorld struct {
	t   *testing.T
	dir string
	sim *simcomputop.Sim
	h   *hub.Hub
	db  interface{ Close() error }
}

func newBatchWorld(t *testing.T) *batchWorld {
	t.Helper()
	sim, err := simcomputop.New(simcomputop.Options{AllowAnyNotifyPort: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cert, err := sim.IssueServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	o := sim.Options()
	client, err := computop.NewClient(computop.ClientConfig{BaseURL: sim.URL(), TLS: sim.ClientTLS(),
		Keys:  computop.Keys{MerchantID: o.MerchantID, Password: o.Password, HMACKey: o.HMACKey},
		Rules: computop.RuleContext{AllowAnyNotifyPort: true}})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := computop.NewProvider(computop.Config{Client: client, CallbackBaseURL: "https://" + ln.Addr().String(),
		CallbackSecret: []byte("batch test callback secret, 32 b")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := openStore(t.Context(), &Config{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, db)
	h := hub.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Register(prov, sim.Customer())
	w := &batchWorld{t: t, dir: dir, sim: sim, h: h, db: db}
	t.Cleanup(w.close)
	return w
}

func (w *batchWorld) close() {
	if w.h != nil {
		w.h.Close()
		w.db.Close()
		w.h = nil
	}
}

// paid takes a Computop payment of amount öre, approved by the customer
// and notified.
func (w *batchWorld) paid(amount int64) *kvitt.Payment {
	t := w.t
	t.Helper()
	ctx := t.Context()
	s, err := w.h.CreateSale(ctx, hub.SaleInput{TillID: "1", Lines: []kvitt.SaleLine{{Name: "Vara", QuantityMilli: 1000, UnitPrice: amount, VATRate: 2500}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: "computop", Amount: amount})
	if err != nil || p.State != kvitt.PaymentPending {
		t.Fatalf("payment %v %v", p, err)
	}
	if err := w.sim.Customer().Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !w.notified(p.Reference) {
		if time.Now().After(deadline) {
			t.Fatal("the notification was not acknowledged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p, err = w.h.SyncPayment(ctx, p.ID, "test"); err != nil || p.State != kvitt.PaymentPaid {
		t.Fatalf("payment %v %v", p, err)
	}
	return p
}

func (w *batchWorld) notified(transID string) bool {
	for _, p := range w.sim.Ledger().Payments {
		if p.TransID == transID {
			return p.Notified
		}
	}
	return false
}

// undecided creates a refund whose online credit never reached the
// Paygate: it is not decided.
func (w *batchWorld) undecided(p *kvitt.Payment, amount int64) *kvitt.Refund {
	w.t.Helper()
	w.sim.InjectFaultAt("credit.aspx", simcomputop.LoseRequest)
	r, err := w.h.CreateRefund(w.t.Context(), p.ID, hub.RefundInput{Amount: amount})
	if err != nil || r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		w.t.Fatalf("refund %v %v", r, err)
	}
	return r
}

func (w *batchWorld) credits(refNr string) int {
	n := 0
	for _, c := range w.sim.Ledger().Credits {
		if c.RefNr == refNr {
			n++
		}
	}
	return n
}

// reopen opens the data directory to read what a command did.
func (w *batchWorld) reopen() {
	w.t.Helper()
	w.close()
	db, err := openStore(w.t.Context(), &Config{Data: w.dir})
	if err != nil {
		w.t.Fatal(err)
	}
	w.db, w.h = db, hub.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func (w *batchWorld) refund(id string) *kvitt.Refund {
	w.t.Helper()
	w.reopen()
	r, err := w.h.GetRefund(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *batchWorld) payment(id string) *kvitt.Payment {
	w.t.Helper()
	w.reopen()
	p, err := w.h.GetPayment(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *batchWorld) apply(args ...string) (string, error) {
	w.t.Helper()
	w.close() // the operator's command runs on its own
	out, errOut, err := kvittCmd(append([]string{"computop", "batch", "apply", "--data", w.dir}, args...)...)
	return out + errOut, err
}

// A credit batch round-trips: built from the credits, carried out by the
// Paygate's Batch Manager (the simulator), and its response file applied
// to kvitt's refunds, once: applying the same file again (even with other
// line endings) changes nothing.
func TestComputopBatchApplyRoundTrip(t *testing.T) {
	w := newBatchWorld(t)
	p := w.paid(25000)
	r := w.undecided(p, 12550)
	mid := w.sim.Options().MerchantID

	csv := filepath.Join(w.dir, "credits.csv")
	os.WriteFile(csv, []byte(fmt.Sprintf("%s,%s,%d,%s\n", p.Provider[computop.KeyPayID], p.Reference, r.Amount, r.ID)), 0o644)
	name := "T20250314" + mid + "001.dat"
	batch := filepath.Join(w.dir, name)
	if out, _, err := kvittCmd("computop", "batch", "build", "--merchant-id", mid, "--date", "20250314", "--out", batch, csv); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	f, err := os.Open(batch)
	if err != nil {
		t.Fatal(err)
	}
	respName, sum, err := w.sim.UploadBatch(name, f)
	f.Close()
	if err != nil || sum.OK != 1 {
		t.Fatalf("upload: %v %+v", err, sum)
	}
	rc, err := w.sim.DownloadBatch(respName)
	if err != nil {
		t.Fatal(err)
	}
	respBody, _ := io.ReadAll(rc)
	rc.Close()
	resp := filepath.Join(w.dir, respName)
	os.WriteFile(resp, respBody, 0o644)

	out, err := w.apply(resp)
	if err != nil || !strings.Contains(out, "1 records: 1 applied, 0 already applied, 0 unknown, 0 failed") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	got := w.refund(r.ID)
	if got.State != kvitt.RefundSucceeded || got.Provider[computop.KeyBatchFile] != respName+" line 2" || got.Provider[computop.KeyBatchCode] != computop.CodeOK {
		t.Fatalf("refund %s %v", got.State, got.Provider)
	}
	if gp := w.payment(p.ID); gp.Refunded != 12550 || gp.State != kvitt.PaymentPartiallyRefunded {
		t.Fatalf("payment refunded %d (%s)", gp.Refunded, gp.State)
	}

	// Again, and again with CRLF line endings: nothing changes.
	crlf := filepath.Join(w.dir, "copy-"+respName)
	os.WriteFile(crlf, []byte(strings.ReplaceAll(string(respBody), "\n", "\r\n")), 0o644)
	for _, file := range []string{resp, crlf} {
		out, err = w.apply(file)
		if err != nil || !strings.Contains(out, "1 records: 0 applied, 1 already applied, 0 unknown, 0 failed") {
			t.Fatalf("apply %s again: %v\n%s", file, err, out)
		}
	}
	if gp := w.payment(p.ID); gp.Refunded != 12550 || w.credits(r.ID) != 1 {
		t.Fatalf("after applying twice: refunded %d, %d credits at the Paygate", gp.Refunded, w.credits(r.ID))
	}
}

// Records that match no refund, a refused credit, a credit the Paygate
// made for a refund kvitt had paid back already, and a damaged file.
func TestComputopBatchApplyProblems(t *testing.T) {
	w := newBatchWorld(t)
	p := w.paid(30000)
	refused := w.undecided(p, 10000)
	untouched := w.undecided(p, 5000)
	online, err := w.h.CreateRefund(t.Context(), p.ID, hub.RefundInput{Amount: 2000})
	if err != nil || online.State != kvitt.RefundSucceeded {
		t.Fatalf("online refund %v %v", online, err)
	}
	payID, trans := p.Provider[computop.KeyPayID], p.Reference
	rec := func(amount int64, refNr, status string) string {
		return fmt.Sprintf("Swish,Credit,%d,SEK,%s,%s,%s,%s\n", amount, trans, refNr, payID, status)
	}
	file := filepath.Join(w.dir, "P20250314kvitt_sandbox001.dat")
	os.WriteFile(file, []byte("HEAD,kvitt_sandbox,20250314,2.1\n"+
		rec(10000, refused.ID, "FAILED,21000002")+
		rec(4000, "ref_not_kvitts", "OK,00000000")+
		rec(4999, untouched.ID, "OK,00000000")+ // another amount: not this refund
		rec(2000, online.ID, "OK,00000000")+ // paid back online, and by the batch
		"FOOT,4,20999\n"), 0o644)
	out, err := w.apply(file)
	if err == nil || !strings.Contains(out, "4 records: 1 applied (refused by Computop: 1, unreadable: 0), 0 already applied, 2 unknown, 1 failed") ||
		!strings.Contains(out, "line 3: unknown: kvitt has no refund ref_not_kvitts") || !strings.Contains(out, "line 5: failed: Refund "+online.ID+" had been paid back by kvitt's own request") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if got := w.refund(refused.ID); got.State != kvitt.RefundFailed || got.ErrorCode != "21000002" || !strings.Contains(got.Message, "refused the credit") {
		t.Errorf("refused refund: %s %s %s", got.State, got.ErrorCode, got.Message)
	}
	if got := w.refund(untouched.ID); got.State == kvitt.RefundSucceeded || got.State == kvitt.RefundFailed {
		t.Errorf("unmatched refund became %s", got.State)
	}
	if got := w.refund(online.ID); got.Attention != kvitt.AttentionRefundedTwice {
		t.Errorf("refund paid back twice: attention %q", got.Attention)
	}
	if gp := w.payment(p.ID); gp.Refunded != 2000 {
		t.Errorf("payment refunded %d, want 2000", gp.Refunded)
	}

	// A damaged file applies nothing, not even its first records.
	bad := filepath.Join(w.dir, "P20250314kvitt_sandbox002.dat")
	os.WriteFile(bad, []byte("HEAD,kvitt_sandbox,20250314,2.1\n"+rec(5000, untouched.ID, "OK,00000000")+"FOOT,1,5001\n"), 0o644)
	if out, err := w.apply(bad); err == nil || !strings.Contains(err.Error(), "FOOT says") || !strings.Contains(err.Error(), "nothing was applied") {
		t.Fatalf("damaged file: %v\n%s", err, out)
	}
	if got := w.refund(untouched.ID); got.State == kvitt.RefundSucceeded {
		t.Error("a damaged file was applied")
	}
	// Another merchant's file is refused with --merchant-id.
	other := filepath.Join(w.dir, "P20250314other001.dat")
	os.WriteFile(other, []byte("HEAD,other,20250314,2.1\n"+rec(5000, untouched.ID, "OK,00000000")+"FOOT,1,5000\n"), 0o644)
	if _, err := w.apply("--merchant-id", "kvitt_sandbox", other); err == nil || !strings.Contains(err.Error(), "MerchantID other") {
		t.Errorf("other merchant: %v", err)
	}
	// Version 1.0 carries no RefNr: its records cannot be matched.
	v10 := filepath.Join(w.dir, "P20250314kvitt_sandbox003.dat")
	os.WriteFile(v10, []byte(fmt.Sprintf("HEAD,kvitt_sandbox,20250314,1.0\nSwish,Credit,5000,SEK,%s,%s,OK\nFOOT,1,5000\n", trans, payID)), 0o644)
	if out, err := w.apply(v10); err == nil || !strings.Contains(out, "no RefNr") {
		t.Errorf("version 1.0: %v\n%s", err, out)
	}
	if _, _, err := kvittCmd("computop", "batch", "apply"); err == nil {
		t.Error("apply without a file")
	}
}
