package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chainCA is a small CA hierarchy for the import tests: root → intermediate.
type chainCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
}

func newChainCA(t *testing.T, name string) *chainCA {
	t.Helper()
	ca := &chainCA{}
	ca.rootKey, ca.root = mkCert(t, nil, nil, name+" Root", true, nil)
	ca.interKey, ca.inter = mkCert(t, ca.root, ca.rootKey, name+" Customer CA1", true, nil)
	return ca
}

// mkCert issues a certificate for pub (a new ECDSA key when nil).
func mkCert(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, cn string, ca bool, pub crypto.PublicKey) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	if pub == nil {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		key, pub = k, k.Public()
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(2, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, true, x509.KeyUsageCertSign, nil
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return key, c
}

func certsPEM(cs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func keyPEMOf(t *testing.T, k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// kvittCmd runs the program with args, as the shell would. A command that
// does not end by itself (a server where a one-shot command was meant) is
// stopped after a minute.
func kvittCmd(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	err = run(ctx, args, envWith(nil), &o, &e)
	return o.String(), e.String(), err
}

// TestSwishCertImportChecks: the three ways kvitt swish cert import used
// to go wrong quietly, each with exit status 0.
func TestSwishCertImportChecks(t *testing.T) {
	ca := newChainCA(t, "Nordea Test for Swish")
	key, leaf := mkCert(t, ca.inter, ca.interKey, "1234679304", false, nil)
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := file("swish.key", keyPEMOf(t, key))
	complete := file("signed.pem", certsPEM(leaf, ca.inter))

	t.Run("chain without intermediates", func(t *testing.T) {
		bare := file("bare.pem", certsPEM(leaf))
		out := filepath.Join(dir, "bare-merchant.pem")
		_, _, err := kvittCmd("swish", "cert", "import", "--cert", bare, "--key", keyFile, "--out", out)
		if err == nil || !strings.Contains(err.Error(), "not the certificate of its issuer CN=Nordea Test for Swish Customer CA1") ||
			!strings.Contains(err.Error(), "--allow-incomplete") {
			t.Fatalf("import of a leaf alone: %v", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("the refused import wrote --out")
		}
		_, stderr, err := kvittCmd("swish", "cert", "import", "--cert", bare, "--key", keyFile, "--out", out, "--allow-incomplete")
		if err != nil || !strings.Contains(stderr, "warning: the file lacks the certificate of the issuer") {
			t.Fatalf("--allow-incomplete: %v\nstderr: %s", err, stderr)
		}
	})

	t.Run("the intermediate's key", func(t *testing.T) {
		out := filepath.Join(dir, "wrong-key.pem")
		_, _, err := kvittCmd("swish", "cert", "import", "--cert", complete, "--key", file("inter.key", keyPEMOf(t, ca.interKey)), "--out", out)
		if err == nil || !strings.Contains(err.Error(), "the private key belongs to CN=Nordea Test for Swish Customer CA1, a CA certificate") ||
			!strings.Contains(err.Error(), "not to the merchant certificate CN=1234679304") {
			t.Fatalf("import with the intermediate's key: %v", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("the refused import wrote --out")
		}
	})

	t.Run("existing output", func(t *testing.T) {
		out := file("swish-merchant.pem", []byte("in use\n"))
		_, _, err := kvittCmd("swish", "cert", "import", "--cert", complete, "--key", keyFile, "--out", out)
		if err == nil || !strings.Contains(err.Error(), "exists") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("import over an existing file: %v", err)
		}
		if b, _ := os.ReadFile(out); string(b) != "in use\n" {
			t.Fatal("the existing file was overwritten")
		}
		stdout, stderr, err := kvittCmd("swish", "cert", "import", "--cert", complete, "--key", keyFile, "--out", out, "--force")
		if err != nil || !strings.Contains(stdout, "Imported CN=1234679304") || stderr != "" {
			t.Fatalf("--force: %v\n%s%s", err, stdout, stderr)
		}
		if b, _ := os.ReadFile(out); !bytes.HasPrefix(b, certsPEM(leaf)) {
			t.Error("--force did not replace the file")
		}
	})

	t.Run("not a Swish CA", func(t *testing.T) {
		own := newChainCA(t, "Butikens test-CA")
		k, l := mkCert(t, own.inter, own.interKey, "1234679304", false, nil)
		_, stderr, err := kvittCmd("swish", "cert", "import", "--cert", file("own.pem", certsPEM(l, own.inter)),
			"--key", file("own.key", keyPEMOf(t, k)), "--out", filepath.Join(dir, "own-merchant.pem"))
		if err != nil || !strings.Contains(stderr, "warning: the certificate was not issued by a Swish CA") {
			t.Fatalf("%v\nstderr: %s", err, stderr)
		}
		// Against the roots it must lead to, it is refused.
		_, _, err = kvittCmd("swish", "cert", "import", "--cert", file("own.pem", certsPEM(l, own.inter)),
			"--key", file("own.key", keyPEMOf(t, k)), "--out", filepath.Join(dir, "own-merchant2.pem"), "--ca", file("ca.pem", certsPEM(ca.root)))
		if err == nil || !strings.Contains(err.Error(), "does not lead to the given roots") {
			t.Fatalf("--ca: %v", err)
		}
	})
}
