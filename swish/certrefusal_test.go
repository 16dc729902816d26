package swish_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// testCA is a merchant's own test CA: root → intermediate → leaves, as
// someone without Swish's portal would make one.
type testCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca := &testCA{}
	ca.rootKey, ca.root = issue(t, nil, nil, pkix.Name{CommonName: name + " Root"}, true, nil)
	ca.interKey, ca.inter = issue(t, ca.root, ca.rootKey, pkix.Name{CommonName: name + " Intermediate"}, true, nil)
	return ca
}

// leaf issues a client certificate under the intermediate for pub (a new key when nil).
func (ca *testCA) leaf(t *testing.T, cn string, pub crypto.PublicKey) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	return issue(t, ca.inter, ca.interKey, pkix.Name{CommonName: cn, Organization: []string{"Butiken AB"}}, false, pub)
}

func issue(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, subject pkix.Name, isCA bool, pub crypto.PublicKey) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	if pub == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, k.Public()
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(2, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}

func pemCert(cs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func pemKey(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// logBuffer collects a provider's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func providerWith(t *testing.T, s *simswish.Sim, tlsc *tls.Config, log *logBuffer) *swish.Provider {
	t.Helper()
	c, err := swish.NewClient(swish.ClientConfig{BaseURL: s.URL(), TLS: tlsc})
	if err != nil {
		t.Fatal(err)
	}
	p, err := swish.NewProvider(swish.Config{Client: c, PayeeAlias: s.PayeeAlias(), CallbackBaseURL: "https://kvitt.example",
		CallbackSecret: []byte("0123456789abcdef0123456789abcdef"), Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func swishPayment(p *swish.Provider) *kvitt.Payment {
	return &kvitt.Payment{ID: kvitt.NewID("pay"), Method: "swish", Amount: 100, Currency: kvitt.SEK, State: kvitt.PaymentCreated,
		Reference: p.NewReference(), Provider: map[string]string{}, Created: time.Now()}
}

const refusedWords = "Swish did not accept the merchant certificate"

// TestRefusedCertificateIsExplained: a merchant certificate Swish does not
// accept fails the payment at once, and the payment's message and the log
// say why in words: which certificate was sent, what to check. Before, the
// handshake failure came back as an error without words (the payment stayed
// pending, then unknown), or Go sent no certificate at all and Swish's 401
// said nothing.
func TestRefusedCertificateIsExplained(t *testing.T) {
	s := newSim(t, simswish.Options{})
	own := newTestCA(t, "Butikens test-CA")
	key, leaf := own.leaf(t, s.PayeeAlias(), nil)
	mc := s.PKI().MerchantCertificate()

	cases := map[string]struct {
		cert   tls.Certificate
		reason string
		want   []string
	}{
		// A CSR signed by one's own test CA, as in the operator's report.
		"own CA": {
			cert:   tls.Certificate{Certificate: [][]byte{leaf.Raw, own.inter.Raw}, PrivateKey: key, Leaf: leaf},
			reason: `TLS alert "unknown certificate authority"`,
			want: []string{"CN=Butikens test-CA Intermediate", "the server accepts certificates issued by CN=kvitt Swish Simulator Root CA",
				"with 1 intermediate(s)"},
		},
		// Swish's own certificate, sent without its intermediate.
		"no intermediate": {
			cert:   tls.Certificate{Certificate: [][]byte{mc.Leaf.Raw}, PrivateKey: mc.PrivateKey, Leaf: mc.Leaf},
			reason: `TLS alert "unknown certificate authority"`,
			want:   []string{"without intermediates"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var log logBuffer
			p := providerWith(t, s, swish.TLSConfig(tc.cert, s.PKI().RootPool()), &log)
			pay := swishPayment(p)
			u, err := p.Start(context.Background(), nil, pay)
			if err != nil {
				t.Fatalf("Start: %v (want a failed payment that says why)", err)
			}
			want := refusedWords + " (" + tc.reason + "): check that the certificate was issued by Swish for payee alias " + s.PayeeAlias()
			if u.State != kvitt.PaymentFailed || u.ErrorCode != swish.CodeCertificate || !strings.HasPrefix(u.Message, want) {
				t.Fatalf("update %+v\nwant a failed payment whose message starts %q", u, want)
			}
			for _, w := range tc.want {
				if !strings.Contains(u.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, u.Message)
				}
			}
			if !strings.Contains(log.String(), refusedWords) || !strings.Contains(log.String(), "payee_alias="+s.PayeeAlias()) {
				t.Errorf("log:\n%s", log.String())
			}
			// A poll that fails the same way is an error (the outcome stays
			// open), in the same words, for the hub's log.
			_, err = p.Status(context.Background(), nil, pay)
			var ce *swish.CertificateError
			if err == nil || !strings.HasPrefix(err.Error(), refusedWords) || !errors.As(err, &ce) {
				t.Errorf("Status: %v", err)
			}
		})
	}
	if s.PaymentCount() != 0 {
		t.Error("a refused certificate created a payment request")
	}
}

// TestRefusedRefundIsExplained: the same for a refund.
func TestRefusedRefundIsExplained(t *testing.T) {
	s := newSim(t, simswish.Options{})
	other, err := simswish.NewPKI(s.PayeeAlias())
	if err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	p := providerWith(t, s, swish.TLSConfig(other.MerchantCertificate(), s.PKI().RootPool()), &log)
	pay := swishPayment(p)
	pay.Provider[swish.KeyPaymentReference] = "0123456789ABCDEF0123456789ABCDEF"
	r := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 100, Currency: kvitt.SEK, Reference: p.NewReference()}
	u, err := p.Refund(context.Background(), nil, pay, r)
	if err != nil || u.State != kvitt.RefundFailed || !strings.HasPrefix(u.Message, refusedWords) {
		t.Fatalf("refund %+v, %v", u, err)
	}
}

// TestUnauthorizedIsExplained: Swish's 401 without a code (a certificate it
// does not accept, or a number not enrolled) says what to check, naming
// the payee alias.
func TestUnauthorizedIsExplained(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	c, err := swish.NewClient(swish.ClientConfig{BaseURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	p, err := swish.NewProvider(swish.Config{Client: c, PayeeAlias: "1231181189", CallbackBaseURL: "https://kvitt.example",
		CallbackSecret: []byte("0123456789abcdef"), Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.Start(context.Background(), nil, swishPayment(p))
	want := refusedWords + " (HTTP 401): check that the certificate was issued by Swish for payee alias 1231181189"
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != "HTTP401" || !strings.HasPrefix(u.Message, want) {
		t.Fatalf("%+v, %v\nwant a message starting %q", u, err, want)
	}
	if !strings.Contains(log.String(), want) {
		t.Errorf("log:\n%s", log.String())
	}
}

// TestCertificateSentWhateverTheServerAsks: Go's TLS client sends no
// certificate when the server's list of CAs does not cover it, and the
// simulator (like Swish) then answers 401 with no reason. kvitt sends its
// certificate anyway, so the refusal comes as a TLS alert, and says which
// CAs the server wanted.
func TestCertificateSentWhateverTheServerAsks(t *testing.T) {
	s := newSim(t, simswish.Options{})
	own := newTestCA(t, "Eget CA")
	key, leaf := own.leaf(t, s.PayeeAlias(), nil)
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw, own.inter.Raw}, PrivateKey: key, Leaf: leaf}

	// Go's default, for comparison: nothing sent, 401.
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: s.PKI().RootPool()}}
	res, err := (&http.Client{Transport: tr}).Get(s.URL() + "v1/paymentrequests/" + swish.NewInstructionUUID())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Go's default client: %d, want the 401 the operator saw", res.StatusCode)
	}

	var log logBuffer
	p := providerWith(t, s, swish.TLSConfig(cert, s.PKI().RootPool()), &log)
	u, err := p.Start(context.Background(), nil, swishPayment(p))
	if err != nil || u.ErrorCode != swish.CodeCertificate || !strings.Contains(u.Message, "accepts certificates issued by CN=kvitt Swish Simulator Root CA") {
		t.Fatalf("%+v, %v", u, err)
	}
}

// TestUntrustedServerIsExplained: kvitt not trusting Swish's server (no CA
// bundle for the simulator) fails the payment at once with the setting to
// check; nothing was sent.
func TestUntrustedServerIsExplained(t *testing.T) {
	s := newSim(t, simswish.Options{})
	var log logBuffer
	p := providerWith(t, s, swish.TLSConfig(s.PKI().MerchantCertificate(), x509.NewCertPool()), &log)
	u, err := p.Start(context.Background(), nil, swishPayment(p))
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != swish.CodeServerCertificate ||
		!strings.Contains(u.Message, "kvitt does not trust Swish's server certificate") || !strings.Contains(u.Message, "swish.ca_file") {
		t.Fatalf("%+v, %v", u, err)
	}
}

// TestAcceptedCertificateUnchanged: with the right certificate nothing of
// the above gets in the way.
func TestAcceptedCertificateUnchanged(t *testing.T) {
	s := newSim(t, simswish.Options{})
	var log logBuffer
	p := providerWith(t, s, swish.TLSConfig(s.PKI().MerchantCertificate(), s.PKI().RootPool()), &log)
	u, err := p.Start(context.Background(), nil, swishPayment(p))
	if err != nil || u.State != kvitt.PaymentPending {
		t.Fatalf("%+v, %v", u, err)
	}
	if log.String() != "" {
		t.Errorf("log: %s", log.String())
	}
}
