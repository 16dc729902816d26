package nexo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

var testKey = simnexo.Key{Identifier: "KvittTestKey", Version: 3, Passphrase: "correct horse battery staple"}

// wire records what goes over the wire and can tamper with answers.
type wire struct {
	next   http.RoundTripper
	mu     sync.Mutex
	sent   []string // clear MessageCategory of each request
	bodies []string
	tamper func(category string, body []byte) []byte
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var m struct {
		SaleToPOIRequest struct {
			MessageHeader struct{ MessageCategory string }
		}
	}
	json.Unmarshal(body, &m)
	cat := m.SaleToPOIRequest.MessageHeader.MessageCategory
	w.mu.Lock()
	w.sent = append(w.sent, cat)
	w.bodies = append(w.bodies, string(body))
	tamper := w.tamper
	w.mu.Unlock()
	res, err := w.next.RoundTrip(r)
	if err != nil || tamper == nil {
		return res, err
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	data = tamper(cat, data)
	res.Body = io.NopCloser(bytes.NewReader(data))
	res.ContentLength = int64(len(data))
	return res, nil
}

func (w *wire) categories() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.sent, ",")
}

// newAdyenRig: an Adyen-profile terminal that takes only encrypted messages.
func newAdyenRig(t *testing.T, opts simnexo.Options) (*rig, *wire) {
	t.Helper()
	opts.Profile, opts.Keys, opts.RequireEncryption = simnexo.ProfileAdyen, []simnexo.Key{testKey}, true
	r := newRig(t, opts)
	w := &wire{next: r.card.Client().HTTP.Transport}
	r.card.Client().HTTP.Transport = w
	r.till.Terminal.Profile = nexo.ProfileAdyen
	r.till.Terminal.Passphrase, r.till.Terminal.KeyIdentifier, r.till.Terminal.KeyVersion = testKey.Passphrase, testKey.Identifier, testKey.Version
	return r, w
}

func (w *wire) assertEncrypted(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bodies {
		if !strings.Contains(b, `"NexoBlob"`) || strings.Contains(b, "AmountsReq") || strings.Contains(b, "TransactionStatusRequest") {
			t.Errorf("request not encrypted: %.200s", b)
		}
	}
}

// TestEncryptedPaymentWithoutLogin: an Adyen-profile payment, encrypted
// both ways, with no LoginRequest.
func TestEncryptedPaymentWithoutLogin(t *testing.T) {
	r, w := newAdyenRig(t, simnexo.Options{})
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	if err := r.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	res := <-ch
	if res.err != nil || res.u.State != kvitt.PaymentPaid || res.u.Card == nil || res.u.Card.AuthCode == "" {
		t.Fatalf("%+v %v", res.u, res.err)
	}
	if got := w.categories(); got != "Payment" {
		t.Errorf("sent %s, want only Payment (no Login)", got)
	}
	w.assertEncrypted(t)
}

// TestEncryptedRecoveryAndRefund: the answer is lost after approval;
// TransactionStatus (encrypted) recovers it; then a refund, encrypted.
func TestEncryptedRecoveryAndRefund(t *testing.T) {
	r, w := newAdyenRig(t, simnexo.Options{})
	r.term.DropNextAnswer()
	p := r.payment(12500)
	ch := r.start(t, testCtx(t), r.card, p)
	r.term.PresentCard(simnexo.Approve)
	if res := <-ch; !errors.Is(res.err, nexo.ErrTransport) {
		t.Fatalf("want a transport error, got %+v %v", res.u, res.err)
	}
	u, err := r.card.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPaid || u.Provider["poi_transaction_id"] == "" {
		t.Fatalf("status %+v %v", u, err)
	}
	p.State = kvitt.PaymentPaid
	r.term.SetAuto(simnexo.Approve)
	ref := &kvitt.Refund{ID: kvitt.NewID("ref"), PaymentID: p.ID, Amount: 5000, Currency: kvitt.SEK, Reference: r.card.NewReference()}
	ru, err := r.card.Refund(testCtx(t), r.till, p, ref)
	if err != nil || ru.State != kvitt.RefundSucceeded {
		t.Fatalf("refund %+v %v", ru, err)
	}
	if l := r.term.Ledger(); len(l) != 2 || r.term.Charges(p.Reference) != 1 || l[1].Kind != "refund" {
		t.Errorf("ledger %+v", l)
	}
	if got := w.categories(); got != "Payment,TransactionStatus,Payment" {
		t.Errorf("sent %s", got)
	}
	w.assertEncrypted(t)
}

// TestTamperedAnswerRefused: an answer whose Hmac does not match books
// nothing: the outcome stays unknown, and TransactionStatus (untampered)
// then tells the truth.
func TestTamperedAnswerRefused(t *testing.T) {
	r, w := newAdyenRig(t, simnexo.Options{Auto: simnexo.Approve})
	w.tamper = func(cat string, b []byte) []byte {
		if cat != "Payment" {
			return b
		}
		var m map[string]map[string]map[string]any
		json.Unmarshal(b, &m)
		m["SaleToPOIResponse"]["SecurityTrailer"]["Hmac"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		out, _ := json.Marshal(m)
		return out
	}
	p := r.payment(12500)
	u, err := r.card.Start(testCtx(t), r.till, p)
	if !errors.Is(err, nexo.ErrTransport) || !errors.Is(err, nexo.ErrCrypto) || u.State == kvitt.PaymentPaid {
		t.Fatalf("tampered answer taken: %+v %v", u, err)
	}
	u, err = r.card.Status(testCtx(t), r.till, p)
	if err != nil || u.State != kvitt.PaymentPaid || r.term.Charges(p.Reference) != 1 {
		t.Errorf("status %+v %v", u, err)
	}
	// An answer in clear is refused too.
	w.tamper = func(cat string, b []byte) []byte {
		return []byte(`{"SaleToPOIResponse":{"MessageHeader":{"MessageClass":"Service","MessageCategory":"Payment","MessageType":"Response","SaleID":"kvitt-1","POIID":"x"},"PaymentResponse":{"Response":{"Result":"Success"}}}}`)
	}
	p = r.payment(100)
	if u, err := r.card.Start(testCtx(t), r.till, p); !errors.Is(err, nexo.ErrCrypto) || u.State == kvitt.PaymentPaid {
		t.Errorf("clear answer taken: %+v %v", u, err)
	}
}

// TestWrongKeyRefusedByTerminal: the terminal refuses a request under a key
// it does not know, or with the wrong passphrase (HTTP 401 crypto error); it
// processed nothing, so the payment fails at once with a sentence about the
// key, and nothing is charged.
func TestWrongKeyRefusedByTerminal(t *testing.T) {
	for _, mod := range []func(tm *kvitt.Terminal){
		func(tm *kvitt.Terminal) { tm.Passphrase = "wrong" },
		func(tm *kvitt.Terminal) { tm.KeyIdentifier = "Unknown" },
		func(tm *kvitt.Terminal) { tm.KeyVersion = 4 },
	} {
		r, _ := newAdyenRig(t, simnexo.Options{Auto: simnexo.Approve})
		mod(r.till.Terminal)
		p := r.payment(12500)
		u, err := r.card.Start(testCtx(t), r.till, p)
		if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "CryptoError" ||
			!strings.Contains(u.Message, "The terminal's encryption key does not match: check the key id and version in kvitt's configuration") {
			t.Errorf("%+v %v", u, err)
		}
		if len(r.term.Ledger()) != 0 {
			t.Errorf("charged: %+v", r.term.Ledger())
		}
	}
}
