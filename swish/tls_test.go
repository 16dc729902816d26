package swish_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"software.sslmate.com/src/go-pkcs12"

	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// reachable reports whether a GET completes the mTLS handshake: an API
// answer (404 for an unknown id) means it did.
func reachable(t *testing.T, s *simswish.Sim, cert tls.Certificate) error {
	t.Helper()
	_, err := clientFor(t, s, cert).GetPaymentRequest(context.Background(), swish.NewInstructionUUID())
	if ae, ok := err.(*swish.APIError); ok && ae.StatusCode == 404 {
		return nil
	}
	return err
}

func TestPKCS12WithIntermediates(t *testing.T) {
	s := newSim(t, simswish.Options{})
	mc := s.PKI().MerchantCertificate()
	key := mc.PrivateKey
	leaf := mc.Leaf
	inter := s.PKI().Intermediate()

	// A bundle like Swish's: leaf, intermediate and root, with a password.
	p12, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{s.PKI().Root(), inter}, "swish")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := swish.LoadPKCS12(p12, "swish")
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], inter.Raw) {
		t.Fatalf("chain has %d certificates; want leaf + intermediate (root left out)", len(cert.Certificate))
	}
	if err := reachable(t, s, cert); err != nil {
		t.Fatalf("with the intermediate: %v", err)
	}
	if !swish.Expiry(cert).Equal(leaf.NotAfter) || swish.ExpiresWithin(cert, time.Now(), 24*time.Hour) || !swish.ExpiresWithin(cert, time.Now(), 3*365*24*time.Hour) {
		t.Errorf("expiry %v, leaf %v", swish.Expiry(cert), leaf.NotAfter)
	}
	if _, err := swish.LoadPKCS12(p12, "wrong"); err == nil {
		t.Error("wrong password accepted")
	}

	// Without the intermediate the server cannot verify the leaf: the chain matters.
	bare, err := pkcs12.Modern.Encode(key, leaf, nil, "swish")
	if err != nil {
		t.Fatal(err)
	}
	cert, err = swish.LoadPKCS12(bare, "swish")
	if err != nil {
		t.Fatal(err)
	}
	if err := reachable(t, s, cert); err == nil {
		t.Fatal("a leaf without its intermediate was accepted; the chain test proves nothing")
	}

	// The same through a file.
	file := filepath.Join(t.TempDir(), "merchant.p12")
	os.WriteFile(file, p12, 0o600)
	if cert, err := swish.LoadCertificateFile(file, "swish"); err != nil || len(cert.Certificate) != 2 {
		t.Errorf("from file: %v", err)
	}
}

func TestPEMChainAnyOrder(t *testing.T) {
	s := newSim(t, simswish.Options{})
	pk := s.PKI()
	// Key first, then intermediate, then leaf.
	blocks := []byte{}
	blocks = append(blocks, pk.MerchantKeyPEM...)
	blocks = append(blocks, pk.IntermediatePEM...)
	blocks = append(blocks, pk.MerchantChainPEM[:bytes.Index(pk.MerchantChainPEM, pk.IntermediatePEM)]...)
	cert, err := swish.LoadPEMChain(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.Subject.CommonName != s.PayeeAlias() || len(cert.Certificate) != 2 {
		t.Fatalf("leaf %s, %d certificates", cert.Leaf.Subject, len(cert.Certificate))
	}
	if err := reachable(t, s, cert); err != nil {
		t.Fatal(err)
	}
	if _, err := swish.LoadPEMChain(pk.MerchantChainPEM); err == nil {
		t.Error("a chain without a key was accepted")
	}
	_, otherKey, _, _ := pk.IssueMerchant("1231181189")
	if _, err := swish.LoadPEMChain(append(append([]byte{}, pk.MerchantChainPEM...), otherKey...)); err == nil {
		t.Error("a certificate with someone else's key was accepted")
	}
}

var csrOnce struct {
	sync.Once
	key, csr []byte
	err      error
}

// testCSR makes one 4096-bit key and CSR for all tests (RSA generation is slow).
func testCSR(t *testing.T) (keyPEM, csrPEM []byte) {
	csrOnce.Do(func() {
		csrOnce.key, csrOnce.csr, csrOnce.err = swish.NewCSR(pkix.Name{CommonName: simswish.DefaultPayeeAlias, Organization: []string{"Demo AB"}})
	})
	if csrOnce.err != nil {
		t.Fatal(csrOnce.err)
	}
	return csrOnce.key, csrOnce.csr
}

func TestCSRAndImport(t *testing.T) {
	keyPEM, csrPEM := testCSR(t)
	blk, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	if pub, ok := csr.PublicKey.(interface{ Size() int }); !ok || pub.Size()*8 != 4096 {
		t.Fatalf("CSR key is not 4096-bit RSA: %T", csr.PublicKey)
	}

	s := newSim(t, simswish.Options{})
	signedPEM, err := s.PKI().SignCSR(csrPEM) // leaf + intermediate, as PEM
	if err != nil {
		t.Fatal(err)
	}
	var ders [][]byte
	for rest := signedPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		ders = append(ders, b.Bytes)
	}
	p7DER, err := pkcs7.DegenerateCertificate(bytes.Join(ders, nil))
	if err != nil {
		t.Fatal(err)
	}
	p7PEM := pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7DER})
	// The intermediate first, the leaf second: import must find the leaf by the key.
	reversed := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ders[1]}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ders[0]})...)

	for name, signed := range map[string][]byte{"PEM": signedPEM, "PEM reversed": reversed, "PKCS7 DER": p7DER, "PKCS7 PEM": p7PEM, "DER leaf": ders[0]} {
		t.Run(name, func(t *testing.T) {
			chain, info, err := swish.ImportCertificate(signed, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			if info.NotAfter.Before(time.Now().AddDate(1, 11, 0)) || info.Subject == "" {
				t.Errorf("info %+v", info)
			}
			cert, err := swish.LoadPEMChain(chain)
			if err != nil {
				t.Fatal(err)
			}
			if name != "DER leaf" && len(cert.Certificate) != 2 {
				t.Errorf("%d certificates in the imported chain", len(cert.Certificate))
			}
			if name == "DER leaf" {
				return // no intermediate: the server would refuse it
			}
			if err := reachable(t, s, cert); err != nil {
				t.Fatalf("the imported certificate does not work against the simulator: %v", err)
			}
		})
	}

	t.Run("mismatch", func(t *testing.T) {
		_, otherKey, _, err := s.PKI().IssueMerchant("1231181189")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := swish.ImportCertificate(signedPEM, otherKey); err == nil {
			t.Fatal("a certificate for another key was imported")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		junk := make([]byte, 64)
		rand.Read(junk)
		if _, _, err := swish.ImportCertificate(junk, keyPEM); err == nil {
			t.Fatal("garbage imported")
		}
	})
}

func TestWriteCSRAndImportFiles(t *testing.T) {
	dir := t.TempDir()
	keyFile, csrFile := filepath.Join(dir, "swish.key"), filepath.Join(dir, "swish.csr")
	if err := swish.WriteCSR(keyFile, csrFile, pkix.Name{CommonName: "kvitt"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	if err := swish.WriteCSR(keyFile, csrFile, pkix.Name{}); err == nil {
		t.Fatal("an existing key was overwritten")
	}
	s := newSim(t, simswish.Options{})
	csrPEM, _ := os.ReadFile(csrFile)
	signed, err := s.PKI().SignCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	signedFile, out := filepath.Join(dir, "swish.pem"), filepath.Join(dir, "merchant.pem")
	os.WriteFile(signedFile, signed, 0o644)
	info, err := swish.ImportCertificateFiles(signedFile, keyFile, out)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("chain file mode %v", st.Mode())
	}
	if cert, err := swish.LoadCertificateFile(out, ""); err != nil || !swish.Expiry(cert).Equal(info.NotAfter) {
		t.Errorf("load imported: %v", err)
	}
}

func TestNewClientFromFiles(t *testing.T) {
	s := newSim(t, simswish.Options{})
	dir := t.TempDir()
	if err := s.PKI().WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	c, exp, err := swish.NewClientFromFiles(swish.Files{BaseURL: s.URL(), CertFile: filepath.Join(dir, "merchant.pem"), CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(s.PKI().MerchantCertificate().Leaf.NotAfter) {
		t.Errorf("expiry %v", exp)
	}
	_, err = c.GetPaymentRequest(context.Background(), swish.NewInstructionUUID())
	if ae, ok := err.(*swish.APIError); !ok || ae.StatusCode != 404 {
		t.Fatalf("got %v, want a 404 from the simulator", err)
	}
	// Certificate and key in separate files.
	c, _, err = swish.NewClientFromFiles(swish.Files{BaseURL: s.URL(), CertFile: filepath.Join(dir, "merchant-cert.pem"), KeyFile: filepath.Join(dir, "merchant-key.pem"), CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPaymentRequest(context.Background(), swish.NewInstructionUUID())
	if ae, ok := err.(*swish.APIError); !ok || ae.StatusCode != 404 {
		t.Fatalf("separate key file: got %v, want a 404 from the simulator", err)
	}
	// Without the CA bundle the simulator's server certificate is not trusted.
	c, _, err = swish.NewClientFromFiles(swish.Files{BaseURL: s.URL(), CertFile: filepath.Join(dir, "merchant.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetPaymentRequest(context.Background(), swish.NewInstructionUUID()); err == nil {
		t.Fatal("an untrusted server was accepted")
	} else if _, isAPI := err.(*swish.APIError); isAPI {
		t.Fatalf("expected a TLS error, got %v", err)
	}
}
