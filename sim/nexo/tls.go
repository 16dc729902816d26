package simnexo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// certs is the simulator's own CA and the server certificate it signed.
type certs struct {
	caPEM  []byte
	pool   *x509.CertPool
	server tls.Certificate
}

// newCerts makes a CA and a server certificate for 127.0.0.1, ::1,
// localhost and hosts (IP addresses or DNS names). With name, it makes a
// terminal certificate as a vendor's fleet has: a root, an intermediate
// the terminal presents with its certificate, and a certificate named name
// (Common Name and DNS name) and nothing else, so a client that checks the
// URL's host (an IP address) refuses it, as Adyen documents for its
// terminals.
func newCerts(hosts []string, name string) (*certs, error) {
	if name != "" {
		return newTerminalCerts(name)
	}
	ca, err := simpki.NewCA("kvitt nexo terminal simulator CA", 5)
	if err != nil {
		return nil, err
	}
	server, _, _, err := ca.Issue("kvitt nexo terminal simulator", x509.ExtKeyUsageServerAuth, 1, hosts...)
	if err != nil {
		return nil, err
	}
	return &certs{caPEM: ca.PEM, pool: ca.Pool, server: server}, nil
}

func newTerminalCerts(name string) (*certs, error) {
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	root := &x509.Certificate{
		SerialNumber: serialNumber(), Subject: pkix.Name{CommonName: "kvitt simulated terminal fleet root", Organization: []string{"kvitt"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	if root, err = x509.ParseCertificate(rootDER); err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	inter := &x509.Certificate{
		SerialNumber: serialNumber(), Subject: pkix.Name{CommonName: "kvitt simulated terminal fleet intermediate", Organization: []string{"kvitt"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	interDER, err := x509.CreateCertificate(rand.Reader, inter, root, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	if inter, err = x509.ParseCertificate(interDER); err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serialNumber(), Subject: pkix.Name{CommonName: name, Organization: []string{"kvitt"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{name},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, inter, &leafKey.PublicKey, interKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &certs{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
		pool:   pool,
		server: tls.Certificate{Certificate: [][]byte{leafDER, interDER}, PrivateKey: leafKey},
	}, nil
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
