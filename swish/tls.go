package swish

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// LoadCertificateFile loads the merchant certificate from a PKCS#12 file
// (.p12, .pfx) or a PEM file holding the certificate, its intermediates and
// the private key. The password is used for PKCS#12 only.
func LoadCertificateFile(file, password string) (tls.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("swish: %w", err)
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".p12", ".pfx":
		return LoadPKCS12(b, password)
	}
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		return LoadPKCS12(b, password) // a DER PKCS#12 under another name
	}
	return LoadPEMChain(b)
}

// LoadPKCS12 decodes a PKCS#12 bundle with the merchant certificate, its
// key and any intermediates (Swish's test bundle has several certificates,
// which golang.org/x/crypto/pkcs12.Decode refuses).
func LoadPKCS12(data []byte, password string) (tls.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("swish: reading the PKCS#12 certificate: %w", err)
	}
	return buildCertificate(key, leaf, cas)
}

// LoadPEMChain reads PEM blocks in any order: certificates (the leaf and its
// intermediates) and one private key (PKCS#1, PKCS#8 or EC). The leaf is the
// certificate whose public key matches the key; the others follow it.
func LoadPEMChain(data []byte) (tls.Certificate, error) {
	var certs []*x509.Certificate
	var key crypto.PrivateKey
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		switch {
		case blk.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("swish: %w", err)
			}
			certs = append(certs, c)
		case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
			if blk.Type == "ENCRYPTED PRIVATE KEY" {
				return tls.Certificate{}, errors.New("swish: the private key is encrypted; export it without a password or use the PKCS#12 file")
			}
			k, err := parsePrivateKey(blk.Bytes)
			if err != nil {
				return tls.Certificate{}, err
			}
			key = k
		}
	}
	if key == nil {
		return tls.Certificate{}, errors.New("swish: no private key in the PEM file")
	}
	leaf, rest, err := splitLeaf(key, certs)
	if err != nil {
		return tls.Certificate{}, err
	}
	return buildCertificate(key, leaf, rest)
}

func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("swish: cannot parse the private key")
}

// splitLeaf finds the merchant certificate, the leaf whose public key is
// the key's, and returns it and the others. A key that belongs to a CA
// certificate of the chain (an intermediate given the wrong key file), or to
// no certificate at all, is refused with the certificates named.
func splitLeaf(key crypto.PrivateKey, certs []*x509.Certificate) (*x509.Certificate, []*x509.Certificate, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("swish: unsupported private key type")
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("swish: no certificate found")
	}
	var leaves []*x509.Certificate
	for _, c := range certs {
		if !isCA(c, certs) {
			leaves = append(leaves, c)
		}
	}
	for i, c := range certs {
		if !publicKeysEqual(c.PublicKey, signer.Public()) {
			continue
		}
		if isCA(c, certs) {
			msg := fmt.Sprintf("swish: the private key belongs to %s, a CA certificate of the chain, not to the merchant certificate", c.Subject)
			switch len(leaves) {
			case 0:
				msg += "; the file holds no merchant certificate (only CA certificates)"
			default:
				msg += fmt.Sprintf(" %s, whose key it is not: give the key made with the CSR (kvitt swish csr)", names(leaves))
			}
			return nil, nil, errors.New(msg)
		}
		rest := append(append([]*x509.Certificate{}, certs[:i]...), certs[i+1:]...)
		return c, rest, nil
	}
	msg := "swish: the private key belongs to none of the certificates"
	if len(leaves) > 0 {
		msg += fmt.Sprintf(": the merchant certificate %s has another key", names(leaves))
	}
	if n := len(certs) - len(leaves); n > 0 {
		msg += fmt.Sprintf(" (the other %d are CA certificates)", n)
	}
	return nil, nil, errors.New(msg + "; was the CSR made with this key?")
}

// isCA reports whether c is a CA certificate: marked so, or the issuer of
// another certificate in certs.
func isCA(c *x509.Certificate, certs []*x509.Certificate) bool {
	if c.BasicConstraintsValid && c.IsCA {
		return true
	}
	for _, o := range certs {
		if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && o.CheckSignatureFrom(c) == nil {
			return true
		}
	}
	return false
}

func names(cs []*x509.Certificate) string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprintf("%s (issued by %s)", c.Subject, c.Issuer))
	}
	return strings.Join(s, " and ")
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k.(equaler).Equal(b)
	}
	return false
}

func buildCertificate(key crypto.PrivateKey, leaf *x509.Certificate, intermediates []*x509.Certificate) (tls.Certificate, error) {
	if leaf == nil {
		return tls.Certificate{}, errors.New("swish: no certificate found")
	}
	if s, ok := key.(crypto.Signer); !ok || !publicKeysEqual(leaf.PublicKey, s.Public()) {
		return tls.Certificate{}, errors.New("swish: the certificate does not match the private key")
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, c := range orderChain(leaf, intermediates) {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// orderChain returns the intermediates in issuing order from leaf upwards,
// followed by any that do not fit, leaving out self-signed roots (the server
// has them; sending them only costs bytes).
func orderChain(leaf *x509.Certificate, cas []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	used := make([]bool, len(cas))
	cur := leaf
	for {
		found := false
		for i, c := range cas {
			if !used[i] && bytes.Equal(cur.RawIssuer, c.RawSubject) {
				used[i], found = true, true
				if !bytes.Equal(c.RawIssuer, c.RawSubject) {
					out = append(out, c)
				}
				cur = c
				break
			}
		}
		if !found {
			break
		}
	}
	for i, c := range cas {
		if !used[i] && !bytes.Equal(c.RawIssuer, c.RawSubject) {
			out = append(out, c)
		}
	}
	return out
}

// LoadCABundle reads PEM certificates to trust as Swish's server roots
// (Swish_TLS_RootCA.pem: DigiCert Global Root G2 today).
func LoadCABundle(pemData []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("swish: no certificate in the CA bundle")
	}
	return pool, nil
}

// TLSConfig returns the client TLS configuration for the Swish API: the
// merchant certificate with its intermediates (sent in the handshake) and
// the roots to trust for Swish's server; nil roots means the system's.
func TLSConfig(cert tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates:  []tls.Certificate{cert},
		RootCAs:       roots,
		MinVersion:    tls.VersionTLS12,
		Renegotiation: tls.RenegotiateOnceAsClient,
	}
}

// Expiry returns when the merchant certificate runs out (its leaf's NotAfter).
func Expiry(cert tls.Certificate) time.Time {
	if cert.Leaf != nil {
		return cert.Leaf.NotAfter
	}
	if len(cert.Certificate) > 0 {
		if c, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			return c.NotAfter
		}
	}
	return time.Time{}
}

// ExpiresWithin reports whether the certificate runs out before now+d
// (Swish certificates last two years and the merchant renews them).
func ExpiresWithin(cert tls.Certificate, now time.Time, d time.Duration) bool {
	return Expiry(cert).Before(now.Add(d))
}

// Files names what an operator configures for the Swish connection.
type Files struct {
	BaseURL string
	// CertFile is a PEM chain (leaf, intermediates and, unless KeyFile is
	// set, the key) or a PKCS#12 file (.p12/.pfx) opened with Password.
	CertFile string
	KeyFile  string
	Password string
	// CAFile is the PEM bundle to trust for Swish's server; "" means the system's roots.
	CAFile string
}

// LoadCertificateFiles loads the merchant certificate from f.CertFile, with
// the key from f.KeyFile when it is kept apart.
func LoadCertificateFiles(f Files) (tls.Certificate, error) {
	if f.KeyFile == "" {
		return LoadCertificateFile(f.CertFile, f.Password)
	}
	certPEM, err := os.ReadFile(f.CertFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("swish: %w", err)
	}
	keyPEM, err := os.ReadFile(f.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("swish: %w", err)
	}
	return LoadPEMChain(append(append(certPEM, '\n'), keyPEM...))
}

// NewClientFromFiles builds a client from the configured files and returns
// the certificate's expiry, for warnings (see ExpiresWithin).
func NewClientFromFiles(f Files) (*Client, time.Time, error) {
	cert, err := LoadCertificateFiles(f)
	if err != nil {
		return nil, time.Time{}, err
	}
	var roots *x509.CertPool
	if f.CAFile != "" {
		b, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("swish: %w", err)
		}
		if roots, err = LoadCABundle(b); err != nil {
			return nil, time.Time{}, err
		}
	}
	c, err := NewClient(ClientConfig{BaseURL: f.BaseURL, TLS: TLSConfig(cert, roots)})
	return c, Expiry(cert), err
}
