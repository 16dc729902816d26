package swish

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
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
}

// ImportCertificate takes the certificate Swish signed, as PEM certificates,
// a PEM or DER PKCS#7 (certs-only SignedData) or a DER certificate, checks
// that it belongs to the private key keyPEM, and returns one PEM file with
// the leaf, its intermediates and the key, ready for LoadPEMChain.
func ImportCertificate(signed, keyPEM []byte) (chainPEM []byte, info CertInfo, err error) {
	certs, err := parseSignedCertificates(signed)
	if err != nil {
		return nil, info, err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, info, errors.New("swish: the key file is not PEM")
	}
	key, err := parsePrivateKey(kb.Bytes)
	if err != nil {
		return nil, info, err
	}
	leaf, rest, err := splitLeaf(key, certs)
	if err != nil {
		return nil, info, fmt.Errorf("%w: was the CSR made with this key?", err)
	}
	var out bytes.Buffer
	pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	for _, c := range orderChain(leaf, rest) {
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	out.Write(keyPEM)
	info = CertInfo{
		Subject:  leaf.Subject.String(),
		Issuer:   leaf.Issuer.String(),
		Serial:   fmt.Sprintf("%X", leaf.SerialNumber),
		NotAfter: leaf.NotAfter,
	}
	return out.Bytes(), info, nil
}

// ImportCertificateFiles reads the signed certificate and the key, and
// writes the chain (mode 0600: it holds the key).
func ImportCertificateFiles(signedFile, keyFile, outFile string) (CertInfo, error) {
	signed, err := os.ReadFile(signedFile)
	if err != nil {
		return CertInfo{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return CertInfo{}, err
	}
	chain, info, err := ImportCertificate(signed, keyPEM)
	if err != nil {
		return info, err
	}
	if err := os.WriteFile(outFile, chain, 0o600); err != nil {
		return info, err
	}
	return info, os.Chmod(outFile, 0o600)
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
