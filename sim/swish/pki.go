package simswish

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/smallstep/pkcs7"
)

// PKI is the simulator's own test certificate hierarchy:
//
//	Root CA ─┬─ server certificate (127.0.0.1, ::1, localhost)
//	         └─ Merchant CA (intermediate) ── merchant client certificates (CN = payee alias)
//
// The server trusts only the root for client certificates, so a client that
// does not send the intermediate fails the handshake, as with Swish. Like
// Swish Certificate Management, the merchant CA signs certificate signing
// requests (SignCSR): the merchant keeps its key, and the certificate's CN
// is the Swish number whatever the request says.
//
// WriteDir and OpenPKI keep the hierarchy in a directory, CA keys included,
// so that a simulator restarted on the same directory trusts what it signed
// before, as Swish's CA does not change either.
type PKI struct {
	// PEM encodings, for files and for the sandbox.
	CAPEM           []byte // the root: trust it for the server, as Swish_TLS_RootCA.pem
	IntermediatePEM []byte
	ServerCertPEM   []byte
	ServerKeyPEM    []byte
	// MerchantChainPEM is leaf + intermediate; MerchantKeyPEM its key.
	MerchantChainPEM []byte
	MerchantKeyPEM   []byte

	rootKeyPEM, interKeyPEM []byte
	alias                   string
	root, inter             *x509.Certificate
	rootKey                 crypto.Signer
	interKey                crypto.Signer
	server                  tls.Certificate
	merchant                tls.Certificate
	pool                    *x509.CertPool
}

// Names of the simulator's certificates.
const (
	rootCN         = "kvitt Swish Simulator Root CA"
	intermediateCN = "kvitt Simulator Customer CA1 for Swish"
	simOrg         = "kvitt simulator"
	// merchantOrg is the organisation number in merchant certificates, as
	// Swish puts the merchant's in its certificates (this one is the MSS's).
	merchantOrg = "5560997982"
	// CSRKeyBits is the key size Swish Certificate Management requires of a CSR.
	CSRKeyBits = 4096
)

// Files of a PKI directory (WriteDir, OpenPKI).
const (
	FileCA              = "ca.pem"
	FileCAKey           = "ca-key.pem"
	FileIntermediate    = "intermediate.pem"
	FileIntermediateKey = "intermediate-key.pem"
	FileServer          = "server.pem"
	FileServerKey       = "server-key.pem"
	FileMerchantCert    = "merchant-cert.pem"
	FileMerchantKey     = "merchant-key.pem"
	FileMerchant        = "merchant.pem"
)

// NewPKI generates a PKI whose merchant certificate carries payeeAlias as CN.
func NewPKI(payeeAlias string) (*PKI, error) {
	p := &PKI{alias: payeeAlias}
	var err error
	p.rootKey, p.root, err = makeCert(nil, nil, pkix.Name{CommonName: rootCN, Organization: []string{simOrg}}, true, nil)
	if err != nil {
		return nil, err
	}
	p.interKey, p.inter, err = makeCert(p.root, p.rootKey, pkix.Name{CommonName: intermediateCN, Organization: []string{simOrg}}, true, nil)
	if err != nil {
		return nil, err
	}
	if p.rootKeyPEM, err = keyPEM(p.rootKey); err != nil {
		return nil, err
	}
	if p.interKeyPEM, err = keyPEM(p.interKey); err != nil {
		return nil, err
	}
	p.CAPEM = certPEM(p.root)
	p.IntermediatePEM = certPEM(p.inter)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.root)
	if err := p.issueServer(); err != nil {
		return nil, err
	}
	p.MerchantChainPEM, p.MerchantKeyPEM, p.merchant, err = p.IssueMerchant(payeeAlias)
	return p, err
}

func (p *PKI) issueServer() error {
	skey, scert, err := makeCert(p.root, p.rootKey, pkix.Name{CommonName: "localhost"}, false, func(t *x509.Certificate) {
		t.DNSNames = []string{"localhost"}
		t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	if err != nil {
		return err
	}
	p.server = tls.Certificate{Certificate: [][]byte{scert.Raw}, PrivateKey: skey, Leaf: scert}
	p.ServerCertPEM = certPEM(scert)
	p.ServerKeyPEM, err = keyPEM(skey)
	return err
}

// IssueMerchant issues a client certificate for another Swish number under
// the same intermediate (for tests with another merchant's certificate).
func (p *PKI) IssueMerchant(alias string) (chainPEM, keyPEMBytes []byte, cert tls.Certificate, err error) {
	key, leaf, err := makeCert(p.inter, p.interKey, merchantName(alias), false, func(t *x509.Certificate) {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	if err != nil {
		return nil, nil, tls.Certificate{}, err
	}
	if keyPEMBytes, err = keyPEM(key); err != nil {
		return nil, nil, tls.Certificate{}, err
	}
	chainPEM = append(certPEM(leaf), p.IntermediatePEM...)
	cert = tls.Certificate{Certificate: [][]byte{leaf.Raw, p.inter.Raw}, PrivateKey: key, Leaf: leaf}
	return chainPEM, keyPEMBytes, cert, nil
}

func merchantName(alias string) pkix.Name {
	return pkix.Name{CommonName: alias, Organization: []string{merchantOrg}}
}

// SignCSR signs a PKCS#10 request (PEM) for the PKI's merchant number, as
// Swish Certificate Management does: the request must carry a 4096-bit RSA
// key; its subject is not used (the certificate's CN is the Swish number).
// It returns the certificate PEM followed by the intermediate's.
func (p *PKI) SignCSR(csrPEM []byte) ([]byte, error) { return p.SignCSRFor(csrPEM, p.alias) }

// SignCSRFor is SignCSR for the merchant number alias.
func (p *PKI) SignCSRFor(csrPEM []byte, alias string) ([]byte, error) {
	leaf, err := p.signCSR(csrPEM, alias)
	if err != nil {
		return nil, err
	}
	return append(certPEM(leaf), p.IntermediatePEM...), nil
}

// SignCSRPKCS7 is SignCSRFor with the certificate and the intermediate in a
// DER PKCS#7 (certs-only, .p7b), the portal's other download format.
func (p *PKI) SignCSRPKCS7(csrPEM []byte, alias string) ([]byte, error) {
	leaf, err := p.signCSR(csrPEM, alias)
	if err != nil {
		return nil, err
	}
	return pkcs7.DegenerateCertificate(append(append([]byte{}, leaf.Raw...), p.inter.Raw...))
}

func (p *PKI) signCSR(csrPEM []byte, alias string) (*x509.Certificate, error) {
	blk, _ := pem.Decode(csrPEM)
	if blk == nil || (blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST") {
		return nil, errors.New("simswish: not a PEM certificate signing request (PKCS#10)")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("simswish: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("simswish: the request's signature does not verify: %w", err)
	}
	if k, ok := csr.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != CSRKeyBits {
		return nil, fmt.Errorf("simswish: Swish requires a %d-bit RSA key in the request; this one has %s", CSRKeyBits, describeKey(csr.PublicKey))
	}
	if alias == "" {
		alias = DefaultPayeeAlias
	}
	tmpl := template(merchantName(alias), false)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter, csr.PublicKey, p.interKey)
	if err != nil {
		return nil, fmt.Errorf("simswish: %w", err)
	}
	return x509.ParseCertificate(der)
}

func describeKey(k crypto.PublicKey) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("a %d-bit RSA key", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "an ECDSA key (" + k.Curve.Params().Name + ")"
	}
	return fmt.Sprintf("a %T", k)
}

// Root returns the root CA certificate.
func (p *PKI) Root() *x509.Certificate { return p.root }

// Intermediate returns the merchant CA certificate.
func (p *PKI) Intermediate() *x509.Certificate { return p.inter }

// PayeeAlias is the Swish number of the merchant certificate.
func (p *PKI) PayeeAlias() string { return p.alias }

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

// WriteDir writes the PKI as PEM files into dir: ca.pem (the root, to trust
// for the server), server.pem, server-key.pem, merchant.pem (leaf +
// intermediate + key, for kvitt), merchant-cert.pem / merchant-key.pem
// separately, intermediate.pem, and the CA keys ca-key.pem and
// intermediate-key.pem (mode 0600), which OpenPKI needs to keep the CA.
func (p *PKI) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{FileCA, p.CAPEM, 0o644},
		{FileCAKey, p.rootKeyPEM, 0o600},
		{FileIntermediate, p.IntermediatePEM, 0o644},
		{FileIntermediateKey, p.interKeyPEM, 0o600},
		{FileServer, p.ServerCertPEM, 0o644},
		{FileServerKey, p.ServerKeyPEM, 0o600},
		{FileMerchantCert, p.MerchantChainPEM, 0o644},
		{FileMerchantKey, p.MerchantKeyPEM, 0o600},
		{FileMerchant, bytes.Join([][]byte{p.MerchantChainPEM, p.MerchantKeyPEM}, nil), 0o600},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeFile replaces name with data through a temporary file, so that a
// reader never sees half a file.
func writeFile(name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// renewBefore is how close to its expiry a stored server or merchant
// certificate is issued again.
const renewBefore = 24 * time.Hour

// OpenPKI returns the PKI kept in dir, or makes one there when dir holds
// none. A kept PKI keeps its CA, so what it signed before (a merchant
// certificate made from kvitt's CSR with SignCSR) stays trusted across
// restarts; only a server or merchant certificate that runs out within a
// day, or a merchant certificate for another number than payeeAlias, is
// issued again (under the same CA). note says what was done, for the banner.
//
// An empty payeeAlias keeps the merchant number of the kept PKI (or
// DefaultPayeeAlias for a new one).
func OpenPKI(dir, payeeAlias string) (p *PKI, note string, err error) {
	p, err = loadPKI(dir, payeeAlias)
	if payeeAlias == "" {
		payeeAlias = DefaultPayeeAlias
		if p != nil && p.merchant.Leaf != nil {
			payeeAlias = p.merchant.Leaf.Subject.CommonName
		}
	}
	switch {
	case err == nil:
		note = "kept the CA in " + dir
	case errors.Is(err, errNoPKI):
		note = "made a new CA in " + dir
	case errors.Is(err, errNoCAKey):
		note = "the certificates in " + dir + " have no CA key (made by an older kvitt): made a new CA; sign kvitt's CSR again"
	default:
		return nil, "", err
	}
	if p == nil {
		if p, err = NewPKI(payeeAlias); err != nil {
			return nil, "", err
		}
		return p, note, p.WriteDir(dir)
	}
	var renewed []string
	if !p.server.Leaf.NotAfter.After(time.Now().Add(renewBefore)) {
		if err := p.issueServer(); err != nil {
			return nil, "", err
		}
		renewed = append(renewed, "server")
	}
	if m := p.merchant.Leaf; m == nil || m.Subject.CommonName != payeeAlias || !m.NotAfter.After(time.Now().Add(renewBefore)) {
		if p.MerchantChainPEM, p.MerchantKeyPEM, p.merchant, err = p.IssueMerchant(payeeAlias); err != nil {
			return nil, "", err
		}
		renewed = append(renewed, "merchant ("+payeeAlias+")")
	}
	p.alias = payeeAlias
	if len(renewed) > 0 {
		note += fmt.Sprintf("; issued a new %s certificate", joinAnd(renewed))
		return p, note, p.WriteDir(dir)
	}
	return p, note, nil
}

func joinAnd(s []string) string {
	if len(s) == 2 {
		return s[0] + " and " + s[1]
	}
	return s[0]
}

var (
	errNoPKI   = errors.New("simswish: no PKI in the directory")
	errNoCAKey = errors.New("simswish: the PKI has no CA key")
)

// loadPKI reads a PKI written by WriteDir. The server and merchant
// certificates are taken as found when they fit the CA; otherwise they are
// left empty for OpenPKI to issue again.
func loadPKI(dir, alias string) (*PKI, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	caPEM, err := read(FileCA)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoPKI
	} else if err != nil {
		return nil, err
	}
	rootKeyPEM, err := read(FileCAKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoCAKey
	} else if err != nil {
		return nil, err
	}
	interPEM, err := read(FileIntermediate)
	if err != nil {
		return nil, err
	}
	interKeyPEM, err := read(FileIntermediateKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoCAKey
	} else if err != nil {
		return nil, err
	}
	p := &PKI{alias: alias, CAPEM: caPEM, IntermediatePEM: interPEM, rootKeyPEM: rootKeyPEM, interKeyPEM: interKeyPEM}
	bad := func(name string, err error) error {
		return fmt.Errorf("simswish: %s: %v (remove the directory to start with a new CA)", filepath.Join(dir, name), err)
	}
	if p.root, err = parseCertPEM(caPEM); err != nil {
		return nil, bad(FileCA, err)
	}
	if p.rootKey, err = parseKeyPEM(rootKeyPEM); err != nil {
		return nil, bad(FileCAKey, err)
	}
	if !keyMatches(p.root, p.rootKey) {
		return nil, bad(FileCAKey, errors.New("not the key of "+FileCA))
	}
	if p.inter, err = parseCertPEM(interPEM); err != nil {
		return nil, bad(FileIntermediate, err)
	}
	if err := p.inter.CheckSignatureFrom(p.root); err != nil {
		return nil, bad(FileIntermediate, errors.New("not issued by "+FileCA))
	}
	if p.interKey, err = parseKeyPEM(interKeyPEM); err != nil {
		return nil, bad(FileIntermediateKey, err)
	}
	if !keyMatches(p.inter, p.interKey) {
		return nil, bad(FileIntermediateKey, errors.New("not the key of "+FileIntermediate))
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.root)

	p.server = tls.Certificate{Leaf: &x509.Certificate{}} // expired: issued again unless the stored one fits
	if c, k, ok := readPair(dir, FileServer, FileServerKey); ok && c.CheckSignatureFrom(p.root) == nil {
		p.server = tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
		p.ServerCertPEM, _ = read(FileServer)
		p.ServerKeyPEM, _ = read(FileServerKey)
	}
	if c, k, ok := readPair(dir, FileMerchantCert, FileMerchantKey); ok && c.CheckSignatureFrom(p.inter) == nil {
		p.merchant = tls.Certificate{Certificate: [][]byte{c.Raw, p.inter.Raw}, PrivateKey: k, Leaf: c}
		p.MerchantChainPEM = append(certPEM(c), p.IntermediatePEM...)
		p.MerchantKeyPEM, _ = read(FileMerchantKey)
	}
	return p, nil
}

// readPair reads a certificate and its key; ok is false when either is
// missing, unreadable or they do not belong together.
func readPair(dir, certName, keyName string) (*x509.Certificate, crypto.Signer, bool) {
	cb, err := os.ReadFile(filepath.Join(dir, certName))
	if err != nil {
		return nil, nil, false
	}
	kb, err := os.ReadFile(filepath.Join(dir, keyName))
	if err != nil {
		return nil, nil, false
	}
	c, err := parseCertPEM(cb)
	if err != nil {
		return nil, nil, false
	}
	k, err := parseKeyPEM(kb)
	if err != nil || !keyMatches(c, k) {
		return nil, nil, false
	}
	return c, k, true
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return nil, errors.New("no PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key")
	}
	var k any
	var err error
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key %T", k)
	}
	return s, nil
}

func keyMatches(c *x509.Certificate, k crypto.Signer) bool {
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(c.PublicKey)
}

// ReadCertificates reads every PEM certificate in file (--client-ca).
func ReadCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return out, nil
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

func makeCert(parent *x509.Certificate, parentKey crypto.Signer, subject pkix.Name, ca bool, edit func(*x509.Certificate)) (crypto.Signer, *x509.Certificate, error) {
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

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
