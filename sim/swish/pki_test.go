package simswish

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

var rsaOnce struct {
	sync.Once
	key *rsa.PrivateKey
	err error
}

// merchantCSR returns a CSR as kvitt swish csr makes it (4096-bit RSA) and its key.
func merchantCSR(t *testing.T, subject pkix.Name) ([]byte, crypto.Signer) {
	t.Helper()
	rsaOnce.Do(func() { rsaOnce.key, rsaOnce.err = rsa.GenerateKey(rand.Reader, 4096) })
	if rsaOnce.err != nil {
		t.Fatal(rsaOnce.err)
	}
	return csrFor(t, subject, rsaOnce.key), rsaOnce.key
}

func csrFor(t *testing.T, subject pkix.Name, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// clientWith is a merchant client with the given chain and key, trusting the PKI's root.
func clientWith(p *PKI, chainPEM []byte, key crypto.Signer) *http.Client {
	cert := tls.Certificate{PrivateKey: key}
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		cert.Certificate = append(cert.Certificate, b.Bytes)
	}
	tlsc := &tls.Config{RootCAs: p.RootPool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsc}, Timeout: 5 * time.Second}
}

// apiStatus GETs an unknown payment request: 404 means the merchant
// certificate was accepted; an error means the handshake refused it.
func apiStatus(s *Sim, c *http.Client) (int, error) {
	res, err := c.Get(s.URL() + "v1/paymentrequests/11A86BE70EA346E4B1C39C874173F088")
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// TestSignCSRAsSwishPortal: the simulator's merchant CA signs a merchant's
// CSR as Swish Certificate Management does (a 4096-bit RSA key, the Swish
// number as CN whatever the request says, the intermediate with it), and
// the API accepts the certificate with the merchant's own key.
func TestSignCSRAsSwishPortal(t *testing.T) {
	csr, key := merchantCSR(t, pkix.Name{CommonName: "anything", Organization: []string{"Butiken AB"}})
	s := start(t, Options{})
	signed, err := s.PKI().SignCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := parseCertPEM(signed)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != DefaultPayeeAlias || !bytes.Contains(signed, s.PKI().IntermediatePEM) {
		t.Errorf("signed %s; want CN=%s with the intermediate", leaf.Subject, DefaultPayeeAlias)
	}
	if code, err := apiStatus(s, clientWith(s.PKI(), signed, key)); err != nil || code != 404 {
		t.Fatalf("with the signed certificate: %d, %v", code, err)
	}

	p7, err := s.PKI().SignCSRPKCS7(csr, "1231181189")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := pkcs7.Parse(p7)
	if err != nil || len(parsed.Certificates) != 2 || parsed.Certificates[0].Subject.CommonName != "1231181189" {
		t.Fatalf("PKCS#7: %v", err)
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := s.PKI().SignCSR(csrFor(t, pkix.Name{}, ec)); err == nil || !strings.Contains(err.Error(), "4096-bit RSA") {
		t.Errorf("an ECDSA CSR: %v", err)
	}
	if _, err := s.PKI().SignCSR([]byte("not a CSR")); err == nil {
		t.Error("garbage signed")
	}
}

// TestOpenPKIKeepsTheCA: a simulator restarted on the same directory has
// the same CA, so a certificate it signed before is still accepted. Before,
// every start made a new CA and kvitt's imported certificate stopped
// working.
func TestOpenPKIKeepsTheCA(t *testing.T) {
	dir := t.TempDir()
	p1, note, err := OpenPKI(dir, "")
	if err != nil || !strings.Contains(note, "made a new CA") {
		t.Fatalf("%q, %v", note, err)
	}
	csr, key := merchantCSR(t, pkix.Name{})
	signed, err := p1.SignCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, FileCAKey)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v", err)
	}

	p2, note, err := OpenPKI(dir, "")
	if err != nil || !strings.Contains(note, "kept the CA") {
		t.Fatalf("%q, %v", note, err)
	}
	if !bytes.Equal(p1.CAPEM, p2.CAPEM) || !bytes.Equal(p1.MerchantChainPEM, p2.MerchantChainPEM) || !bytes.Equal(p1.ServerCertPEM, p2.ServerCertPEM) {
		t.Fatal("the PKI changed across a restart")
	}
	s := start(t, Options{PKI: p2})
	if code, err := apiStatus(s, clientWith(p2, signed, key)); err != nil || code != 404 {
		t.Fatalf("a certificate signed before the restart: %d, %v", code, err)
	}
	if code, err := apiStatus(s, newMerchant(s).c); err != nil || code != 404 {
		t.Fatalf("the kept merchant.pem: %d, %v", code, err)
	}

	// Another Swish number: a new merchant certificate, the same CA.
	p3, note, err := OpenPKI(dir, "1231181189")
	if err != nil || !strings.Contains(note, "new merchant (1231181189) certificate") || !bytes.Equal(p3.CAPEM, p1.CAPEM) ||
		p3.MerchantCertificate().Leaf.Subject.CommonName != "1231181189" || p3.PayeeAlias() != "1231181189" {
		t.Fatalf("%q, %v", note, err)
	}
	// And without --payee, the number kept.
	if p4, _, err := OpenPKI(dir, ""); err != nil || p4.PayeeAlias() != "1231181189" {
		t.Fatalf("kept number: %v", err)
	}

	// A directory from before CA keys were kept gets a new CA, and says so.
	old := t.TempDir()
	pk, _ := NewPKI(DefaultPayeeAlias)
	pk.WriteDir(old)
	os.Remove(filepath.Join(old, FileCAKey))
	if p5, note, err := OpenPKI(old, ""); err != nil || !strings.Contains(note, "no CA key") || bytes.Equal(p5.CAPEM, pk.CAPEM) {
		t.Fatalf("old directory: %q, %v", note, err)
	}
}

// TestClientCA: --client-ca makes the simulator accept client certificates
// of another CA (the merchant's own test CA); without it they are refused
// in the handshake.
func TestClientCA(t *testing.T) {
	own, err := NewPKI(DefaultPayeeAlias) // stands for a CA of one's own
	if err != nil {
		t.Fatal(err)
	}
	chain, keyPEM := own.MerchantChainPEM, own.MerchantKeyPEM
	key, _ := parseKeyPEM(keyPEM)

	s := start(t, Options{})
	if _, err := apiStatus(s, clientWith(s.PKI(), chain, key)); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
	s = start(t, Options{ClientCAs: []*x509.Certificate{own.Root()}})
	if code, err := apiStatus(s, clientWith(s.PKI(), chain, key)); err != nil || code != 404 {
		t.Fatalf("with --client-ca: %d, %v", code, err)
	}
	if code, err := apiStatus(s, newMerchant(s).c); err != nil || code != 404 {
		t.Fatalf("its own merchant certificate: %d, %v", code, err)
	}
}

// TestMainKeepsCertificatesAndSignsCSR runs the commands as an operator
// would: sign-csr before the first start, the simulator on that directory,
// a restart; the certificates stay, the signed one works throughout, and a
// refused client certificate is logged with a hint.
func TestMainKeepsCertificatesAndSignsCSR(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	csrFile, out := filepath.Join(dir, "swish.csr"), filepath.Join(dir, "swish-signed.pem")
	csr, key := merchantCSR(t, pkix.Name{CommonName: "1234679304"})
	os.WriteFile(csrFile, csr, 0o644)

	var o bytes.Buffer
	if err := Main(context.Background(), []string{"sign-csr", "--certs", certs, "--csr", csrFile, "--out", out}, &o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(o.String(), "kvitt swish cert import --cert "+out) {
		t.Errorf("sign-csr said:\n%s", o.String())
	}
	signed, _ := os.ReadFile(out)
	if err := Main(context.Background(), []string{"sign-csr", "--certs", certs, "--csr", csrFile, "--out", out}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "exists") {
		t.Errorf("sign-csr over an existing file: %v", err)
	}
	if err := Main(context.Background(), []string{"sign-csr", "--certs", certs, "--csr", csrFile, "--out", out, "--format", "p7b", "--force"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); bytes.Contains(b, []byte("-----BEGIN")) {
		t.Error("--format p7b wrote PEM")
	}

	var ca []byte
	for i := 0; i < 2; i++ {
		url, log, stop := runMain(t, "--addr", "127.0.0.1:0", "--certs", certs)
		b, err := os.ReadFile(filepath.Join(certs, FileCA))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 && !bytes.Equal(b, ca) {
			t.Fatal("the CA changed across a restart")
		}
		ca = b
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(ca)
		tlsc := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{{Certificate: ders(signed), PrivateKey: key}}}
		res, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tlsc}}).Get(url + "v1/paymentrequests/11A86BE70EA346E4B1C39C874173F088")
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Fatalf("start %d: %d", i+1, res.StatusCode)
		}
		// Someone else's certificate is refused, and the log says so.
		other, _ := NewPKI(DefaultPayeeAlias)
		bad := &tls.Config{RootCAs: roots, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c := other.MerchantCertificate()
			return &c, nil
		}}
		if res, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: bad}}).Get(url + "v1/paymentrequests/11A86BE70EA346E4B1C39C874173F088"); err == nil {
			res.Body.Close()
			t.Fatalf("another CA's certificate: %d", res.StatusCode)
		}
		waitFor(t, log, "the client's merchant certificate was refused")
		stop()
	}
}

func ders(chainPEM []byte) [][]byte {
	var out [][]byte
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		out = append(out, b.Bytes)
	}
}

// runMain starts Main and returns its API URL, its output and a stop function.
func runMain(t *testing.T, args ...string) (string, *lockedBuf, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuf{}
	done := make(chan error, 1)
	go func() { done <- Main(ctx, args, out) }()
	waitFor(t, out, "merchant number:")
	s := out.String()
	i := strings.Index(s, "API URL:")
	url := strings.TrimSpace(strings.SplitN(s[i+len("API URL:"):], "\n", 2)[0])
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { cancel() })
	return url, out, stop
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func waitFor(t *testing.T, b *lockedBuf, s string) {
	t.Helper()
	for i := 0; !strings.Contains(b.String(), s); i++ {
		if i > 1000 {
			t.Fatalf("no %q in:\n%s", s, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
