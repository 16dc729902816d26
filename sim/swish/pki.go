package simswish

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is the simulator's own test certificate hierarchy:
//
//	Root CA ─┬─ server certificate (127.0.0.1, ::1, localhost)
//	         └─ Merchant CA (intermediate) ── merchant client certificate (CN = payee alias)
//
// The server trusts only the root for client certificates, so a client that
// does not send the intermediate fails the handshake, as with Swish.
type PKI struct {
	// PEM encodings, for files and for the sandbox.
	CAPEM           []byte // the root: trust it for the server, as Swish_TLS_RootCA.pem
	IntermediatePEM []byte
	ServerCertPEM   []byte
	ServerKeyPEM    []byte
	// MerchantChainPEM is leaf + intermediate; MerchantKeyPEM its key.
	MerchantChainPEM []byte
	MerchantKeyPEM   []byte

	root, inter *x509.Certificate
	rootKey     *ecdsa.PrivateKey
	interKey    *ecdsa.PrivateKey
	server      tls.Certificate
	merchant    tls.Certificate
	pool        *x509.CertPool
}

// NewPKI generates a PKI whose merchant certificate carries payeeAlias as CN.
func NewPKI(payeeAlias string) (*PKI, error) {
	p := &PKI{}
	var err error
	p.rootKey, p.root, err = makeCert(nil, nil, pkix.Name{CommonName: "kvitt Swish Simulator Root CA", Organization: []string{"kvitt simulator"}}, true, nil)
	if err != nil {
		return nil, err
	}
	p.interKey, p.inter, err = makeCert(p.root, p.rootKey, pkix.Name{CommonName: "kvitt Simulator Customer CA1 for Swish", Organization: []string{"kvitt simulator"}}, true, nil)
	if err != nil {
		return nil, err
	}
	skey, scert, err := makeCert(p.root, p.rootKey, pkix.Name{CommonName: "localhost"}, false, func(t *x509.Certificate) {
		t.DNSNames = []string{"localhost"}
		t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	if err != nil {
		return nil, err
	}
	p.server = tls.Certificate{Certificate: [][]byte{scert.Raw}, PrivateKey: skey, Leaf: scert}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.root)
	p.CAPEM = certPEM(p.root)
	p.IntermediatePEM = certPEM(p.inter)
	p.ServerCertPEM = certPEM(scert)
	p.ServerKeyPEM = keyPEM(skey)
	p.MerchantChainPEM, p.MerchantKeyPEM, p.merchant, err = p.IssueMerchant(payeeAlias)
	return p, err
}

// IssueMerchant issues a client certificate for another Swish number under
// the same intermediate (for tests with another merchant's certificate).
func (p *PKI) IssueMerchant(alias string) (chainPEM, keyPEMBytes []byte, cert tls.Certificate, err error) {
	key, leaf, err := makeCert(p.inter, p.interKey, pkix.Name{CommonName: alias, Organization: []string{"5560997982"}}, false, func(t *x509.Certificate) {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	if err != nil {
		return nil, nil, tls.Certificate{}, err
	}
	chainPEM = append(certPEM(leaf), p.IntermediatePEM...)
	cert = tls.Certificate{Certificate: [][]byte{leaf.Raw, p.inter.Raw}, PrivateKey: key, Leaf: leaf}
	return chainPEM, keyPEM(key), cert, nil
}

// SignCSR signs a PKCS#10 request (PEM) as the merchant CA would, returning
// the certificate PEM followed by the intermediate, like Swish's portal.
func (p *PKI) SignCSR(csrPEM []byte) ([]byte, error) {
	blk, _ := pem.Decode(csrPEM)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("simswish: not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	tmpl := template(csr.Subject, false)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tmpl.NotAfter = time.Now().AddDate(2, 0, 0)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter, csr.PublicKey, p.interKey)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), p.IntermediatePEM...), nil
}

// Root returns the root CA certificate.
func (p *PKI) Root() *x509.Certificate { return p.root }

// Intermediate returns the merchant CA certificate.
func (p *PKI) Intermediate() *x509.Certificate { return p.inter }

// RootPool returns a pool holding only the root CA.
func (p *PKI) RootPool() *x509.CertPool { return p.pool }

// ServerCertificate returns the server certificate (127.0.0.1, ::1,
// localhost). The sandbox may serve its HTTPS callback listener with it too,
// and give the simulator CallbackTLS{RootCAs: RootPool()}.
func (p *PKI) ServerCertificate() tls.Certificate { return p.server }

// MerchantCertificate returns the merchant client certificate with its intermediate.
func (p *PKI) MerchantCertificate() tls.Certificate { return p.merchant }

// ClientTLSConfig is what a Swish client uses against the simulator: the
// merchant certificate with its chain, and the root CA as the server's root.
func (p *PKI) ClientTLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.merchant}, RootCAs: p.pool, MinVersion: tls.VersionTLS12}
}

// ServerTLSConfig is the simulator's listener configuration: its server
// certificate, and client certificates verified against the root when given
// (the API paths then require one; the customer paths do not).
func (p *PKI) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// WriteDir writes the PKI as PEM files into dir: ca.pem, server.pem,
// server-key.pem, merchant.pem (leaf + intermediate + key, for kvitt) and
// merchant-cert.pem / merchant-key.pem separately.
func (p *PKI) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.pem", p.CAPEM, 0o644},
		{"intermediate.pem", p.IntermediatePEM, 0o644},
		{"server.pem", p.ServerCertPEM, 0o644},
		{"server-key.pem", p.ServerKeyPEM, 0o600},
		{"merchant-cert.pem", p.MerchantChainPEM, 0o644},
		{"merchant-key.pem", p.MerchantKeyPEM, 0o600},
		{"merchant.pem", bytes.Join([][]byte{p.MerchantChainPEM, p.MerchantKeyPEM}, nil), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func template(subject pkix.Name, ca bool) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	t := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ca {
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		t.NotAfter = time.Now().AddDate(10, 0, 0)
	}
	return t
}

func makeCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, subject pkix.Name, ca bool, edit func(*x509.Certificate)) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t := template(subject, ca)
	if edit != nil {
		edit(t)
	}
	if parent == nil {
		parent, parentKey = t, key
	}
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("simswish: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return key, c, err
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
