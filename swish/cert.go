package swish

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// CSRKeyBits is the RSA key size Swish asks for.
const CSRKeyBits = 4096

// NewCSR generates a 4096-bit RSA key and a PKCS#10 certificate signing
// request for it, both PEM encoded. Swish ignores the subject; the
// organisation name and number help the merchant recognise the file.
func NewCSR(subject pkix.Name) (keyPEM, csrPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, CSRKeyBits)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            subject,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	csrPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	return keyPEM, csrPEM, nil
}

// WriteCSR creates the key file (mode 0600, refusing to overwrite one) and
// the CSR file.
func WriteCSR(keyFile, csrFile string, subject pkix.Name) error {
	keyPEM, csrPEM, err := NewCSR(subject)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("swish: %w (an existing key is never overwritten)", err)
	}
	if _, err := f.Write(keyPEM); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(csrFile, csrPEM, 0o644)
}

// CertInfo describes an imported certificate.
type CertInfo struct {
	Subject  string
	Issuer   string
	Serial   string
	NotAfter time.Time
	// Chain names the certificates of the file from the merchant
	// certificate up to the last issuer found in the file.
	Chain []string
	// Incomplete is set when the file lacks the certificate of the merchant
	// certificate's issuer (its intermediate): Swish refuses the handshake
	// without it.
	Incomplete bool
	// Warnings say what looks wrong without stopping the import.
	Warnings []string
}

// ImportOptions are the checks of an import beyond the key.
type ImportOptions struct {
	// Roots, when set, are the roots the chain must lead to (with the
	// intermediates of the file); the import fails otherwise. Without them,
	// a chain whose CAs do not name Swish is warned about.
	Roots *x509.CertPool
	// AllowIncomplete imports a certificate whose intermediates are missing
	// (with a warning) instead of refusing it.
	AllowIncomplete bool
	// Overwrite replaces an existing output file; without it an existing
	// file is never touched.
	Overwrite bool
}

// ImportCertificate takes the certificate Swish signed, as PEM certificates,
// a PEM or DER PKCS#7 (certs-only SignedData) or a DER certificate, checks
// that it belongs to the private key keyPEM, and returns one PEM file with
// the leaf, its intermediates and the key, ready for LoadPEMChain. A chain
// without its intermediates is imported, with Incomplete and a warning set
// (ImportCertificateWith can refuse it).
func ImportCertificate(signed, keyPEM []byte) (chainPEM []byte, info CertInfo, err error) {
	return ImportCertificateWith(signed, keyPEM, ImportOptions{AllowIncomplete: true})
}

// ImportCertificateWith is ImportCertificate with the checks of opts. The
// merchant certificate is the leaf whose public key is the key's: a key
// that belongs to a CA certificate of the file, or to none, is refused,
// naming the certificates.
func ImportCertificateWith(signed, keyPEM []byte, opts ImportOptions) (chainPEM []byte, info CertInfo, err error) {
	certs, err := parseSignedCertificates(signed)
	if err != nil {
		return nil, info, err
	}
	key, err := parseKeyFile(keyPEM)
	if err != nil {
		return nil, info, err
	}
	leaf, rest, err := splitLeaf(key, certs)
	if err != nil {
		return nil, info, err
	}
	info = CertInfo{
		Subject:  leaf.Subject.String(),
		Issuer:   leaf.Issuer.String(),
		Serial:   fmt.Sprintf("%X", leaf.SerialNumber),
		NotAfter: leaf.NotAfter,
	}
	checkChain(&info, leaf, rest, opts)
	if info.Incomplete && !opts.AllowIncomplete {
		return nil, info, fmt.Errorf("swish: the file holds the merchant certificate %s but not the certificate of its issuer %s (the intermediate): "+
			"Swish refuses a certificate sent without its intermediates. Download the certificate with its chain from Swish Certificate Management "+
			"(PEM with the chain, or PKCS#7), or add the intermediates to the file", info.Subject, info.Issuer)
	}
	if opts.Roots != nil {
		pool := x509.NewCertPool()
		for _, c := range rest {
			pool.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, info, fmt.Errorf("swish: the merchant certificate %s (issued by %s) does not lead to the given roots: %v", info.Subject, info.Issuer, err)
		}
	}
	var out bytes.Buffer
	pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	for _, c := range orderChain(leaf, rest) {
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	out.Write(keyPEM)
	return out.Bytes(), info, nil
}

// checkChain fills info's chain, Incomplete and warnings.
func checkChain(info *CertInfo, leaf *x509.Certificate, rest []*x509.Certificate, opts ImportOptions) {
	info.Chain = []string{leaf.Subject.String()}
	used := map[*x509.Certificate]bool{}
	swishNamed := mentionsSwish(leaf.Issuer)
	cur := leaf
	for !selfSigned(cur) {
		var next *x509.Certificate
		for _, c := range rest {
			if !used[c] && bytes.Equal(cur.RawIssuer, c.RawSubject) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			if cur == leaf {
				info.Incomplete = true
				info.Warnings = append(info.Warnings, fmt.Sprintf("the file lacks the certificate of the issuer %s (the intermediate); "+
					"Swish refuses the handshake without it", leaf.Issuer))
			}
			break
		}
		used[next] = true
		info.Chain = append(info.Chain, next.Subject.String())
		swishNamed = swishNamed || mentionsSwish(next.Subject) || mentionsSwish(next.Issuer)
		cur = next
	}
	for _, c := range rest {
		if !used[c] {
			info.Warnings = append(info.Warnings, fmt.Sprintf("the file also holds %s, which is not in the merchant certificate's chain", c.Subject))
		}
	}
	if opts.Roots == nil && !swishNamed {
		info.Warnings = append(info.Warnings, fmt.Sprintf("the certificate was not issued by a Swish CA (issuer %s): Swish's merchant CAs name Swish "+
			"(such as \"Nordea Customer CA1 v2 for Swish\"), and Swish refuses other certificates in the TLS handshake. "+
			"Use the certificate from Swish Certificate Management (or, to rehearse, from kvitt sim swish sign-csr)", leaf.Issuer))
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		info.Warnings = append(info.Warnings, fmt.Sprintf("the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly)))
	case now.Before(leaf.NotBefore):
		info.Warnings = append(info.Warnings, fmt.Sprintf("the certificate is not valid before %s", leaf.NotBefore.Format(time.DateOnly)))
	}
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func mentionsSwish(n pkix.Name) bool {
	for _, v := range append(append([]string{n.CommonName}, n.Organization...), n.OrganizationalUnit...) {
		if strings.Contains(strings.ToLower(v), "swish") {
			return true
		}
	}
	return false
}

// parseKeyFile reads the private key of a key file (the first PEM key in it).
func parseKeyFile(keyPEM []byte) (crypto.PrivateKey, error) {
	rest := keyPEM
	for {
		var kb *pem.Block
		if kb, rest = pem.Decode(rest); kb == nil {
			return nil, errors.New("swish: the key file holds no PEM private key")
		}
		if kb.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("swish: the private key is encrypted; give the key made by kvitt swish csr")
		}
		if strings.HasSuffix(kb.Type, "PRIVATE KEY") {
			return parsePrivateKey(kb.Bytes)
		}
	}
}

// ErrOutputExists is the refusal to overwrite an existing output file.
var ErrOutputExists = errors.New("swish: the output file exists and is not overwritten")

// ImportCertificateFiles reads the signed certificate and the key, and
// writes the chain (mode 0600: it holds the key) to outFile, which must not
// exist yet. A chain without its intermediates is refused.
func ImportCertificateFiles(signedFile, keyFile, outFile string) (CertInfo, error) {
	return ImportCertificateFilesWith(signedFile, keyFile, outFile, ImportOptions{})
}

// ImportCertificateFilesWith is ImportCertificateFiles with opts.
func ImportCertificateFilesWith(signedFile, keyFile, outFile string, opts ImportOptions) (CertInfo, error) {
	signed, err := os.ReadFile(signedFile)
	if err != nil {
		return CertInfo{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return CertInfo{}, err
	}
	if !opts.Overwrite {
		if _, err := os.Lstat(outFile); err == nil {
			return CertInfo{}, fmt.Errorf("%w: %s", ErrOutputExists, outFile)
		}
	}
	chain, info, err := ImportCertificateWith(signed, keyPEM, opts)
	if err != nil {
		return info, err
	}
	return info, writeSecret(outFile, chain, opts.Overwrite)
}

// writeSecret writes data to name with mode 0600. Without overwrite it
// fails if name exists; with it, it replaces the file whole.
func writeSecret(name string, data []byte, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%w: %s", ErrOutputExists, name)
			}
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(name)
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

func parseSignedCertificates(b []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(b, []byte("-----BEGIN")) {
		var certs []*x509.Certificate
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			switch blk.Type {
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, fmt.Errorf("swish: %w", err)
				}
				certs = append(certs, c)
			case "PKCS7", "CMS":
				cs, err := parsePKCS7(blk.Bytes)
				if err != nil {
					return nil, err
				}
				certs = append(certs, cs...)
			}
		}
		if len(certs) == 0 {
			return nil, errors.New("swish: no certificate in the file")
		}
		return certs, nil
	}
	if c, err := x509.ParseCertificate(b); err == nil {
		return []*x509.Certificate{c}, nil
	}
	return parsePKCS7(b)
}

func parsePKCS7(der []byte) ([]*x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("swish: not a certificate or PKCS#7 file: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("swish: the PKCS#7 file holds no certificate")
	}
	return p7.Certificates, nil
}
