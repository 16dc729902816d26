package swish_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// TestImportRefusesTheKeyOfACA: given the intermediate's key instead of the
// CSR's, import used to take the intermediate for the merchant certificate
// (its key matched) and write it out. The merchant certificate is the leaf;
// the import refuses, naming which certificate the key belongs to and
// which is the merchant's. Loading such a file is refused the same way.
func TestImportRefusesTheKeyOfACA(t *testing.T) {
	ca := newTestCA(t, "Test")
	_, leaf := ca.leaf(t, "1234679304", nil)
	signed := pemCert(leaf, ca.inter)
	_, _, err := swish.ImportCertificate(signed, pemKey(t, ca.interKey))
	if err == nil {
		t.Fatal("the intermediate was imported as the merchant certificate")
	}
	for _, w := range []string{"belongs to CN=Test Intermediate, a CA certificate", "not to the merchant certificate CN=1234679304"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if _, err := swish.LoadPEMChain(append(signed, pemKey(t, ca.interKey)...)); err == nil || !strings.Contains(err.Error(), "a CA certificate") {
		t.Errorf("LoadPEMChain with the intermediate's key: %v", err)
	}
}

// TestImportKeyOfNone names the merchant certificate whose key is missing.
func TestImportKeyOfNone(t *testing.T) {
	ca := newTestCA(t, "Test")
	_, leaf := ca.leaf(t, "1234679304", nil)
	other, _ := ca.leaf(t, "other", nil)
	_, _, err := swish.ImportCertificate(pemCert(leaf, ca.inter), pemKey(t, other))
	if err == nil || !strings.Contains(err.Error(), "the merchant certificate CN=1234679304,O=Butiken AB (issued by CN=Test Intermediate) has another key") ||
		!strings.Contains(err.Error(), "was the CSR made with this key?") {
		t.Fatalf("%v", err)
	}
}

// TestImportRefusesAChainWithoutIntermediates: the file import writes is
// what kvitt sends in the handshake; without the intermediate Swish refuses
// it. The import used to accept it silently; now it refuses unless told,
// and then warns.
func TestImportRefusesAChainWithoutIntermediates(t *testing.T) {
	ca := newTestCA(t, "Swish Test")
	key, leaf := ca.leaf(t, "1234679304", nil)
	dir := t.TempDir()
	signed, keyFile, out := filepath.Join(dir, "signed.pem"), filepath.Join(dir, "swish.key"), filepath.Join(dir, "merchant.pem")
	os.WriteFile(signed, pemCert(leaf), 0o644)
	os.WriteFile(keyFile, pemKey(t, key), 0o600)

	info, err := swish.ImportCertificateFiles(signed, keyFile, out)
	if err == nil || !info.Incomplete || !strings.Contains(err.Error(), "not the certificate of its issuer CN=Swish Test Intermediate") {
		t.Fatalf("leaf alone: %+v, %v", info, err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused import wrote its output")
	}
	info, err = swish.ImportCertificateFilesWith(signed, keyFile, out, swish.ImportOptions{AllowIncomplete: true})
	if err != nil || !info.Incomplete || len(info.Warnings) == 0 || !strings.Contains(info.Warnings[0], "lacks the certificate of the issuer") {
		t.Fatalf("allowed: %+v, %v", info, err)
	}

	// With the intermediate: complete, the chain named, no warning.
	os.WriteFile(signed, pemCert(leaf, ca.inter), 0o644)
	info, err = swish.ImportCertificateFilesWith(signed, keyFile, filepath.Join(dir, "complete.pem"), swish.ImportOptions{})
	if err != nil || info.Incomplete || len(info.Warnings) != 0 || len(info.Chain) != 2 {
		t.Fatalf("complete: %+v, %v", info, err)
	}
}

// TestImportNeverOverwrites: the output file holds a key; an existing one is
// left alone unless the caller overwrites on purpose.
func TestImportNeverOverwrites(t *testing.T) {
	ca := newTestCA(t, "Swish Test")
	key, leaf := ca.leaf(t, "1234679304", nil)
	dir := t.TempDir()
	signed, keyFile, out := filepath.Join(dir, "signed.pem"), filepath.Join(dir, "swish.key"), filepath.Join(dir, "merchant.pem")
	os.WriteFile(signed, pemCert(leaf, ca.inter), 0o644)
	os.WriteFile(keyFile, pemKey(t, key), 0o600)
	os.WriteFile(out, []byte("the merchant certificate in use\n"), 0o600)

	if _, err := swish.ImportCertificateFiles(signed, keyFile, out); !errors.Is(err, swish.ErrOutputExists) {
		t.Fatalf("existing output: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "the merchant certificate in use\n" {
		t.Fatal("the existing file was overwritten")
	}
	if _, err := swish.ImportCertificateFilesWith(signed, keyFile, out, swish.ImportOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	b, _ := os.ReadFile(out)
	if !bytes.HasPrefix(b, pemCert(leaf)) || st.Mode().Perm() != 0o600 {
		t.Errorf("overwritten file: mode %v\n%s", st.Mode(), b)
	}
}

// TestImportChecksTheIssuer: without roots to check against, a chain of
// CAs that do not name Swish (one's own test CA) is warned about; with
// roots (the simulator's ca.pem), a chain that does not lead there is
// refused.
func TestImportChecksTheIssuer(t *testing.T) {
	own := newTestCA(t, "Butikens test-CA")
	key, leaf := own.leaf(t, "1234679304", nil)
	_, info, err := swish.ImportCertificate(pemCert(leaf, own.inter), pemKey(t, key))
	if err != nil || len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "not issued by a Swish CA (issuer CN=Butikens test-CA Intermediate)") {
		t.Fatalf("own CA: %+v, %v", info, err)
	}

	// The simulator signs as Swish does: no warning, and it leads to its root.
	keyPEM, csrPEM := testCSR(t)
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := pki.SignCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := swish.LoadCABundle(pki.CAPEM)
	_, info, err = swish.ImportCertificateWith(signed, keyPEM, swish.ImportOptions{Roots: roots})
	if err != nil || len(info.Warnings) != 0 || info.Subject != "CN=1234679304,O=5560997982" {
		t.Fatalf("simulator-signed: %+v, %v", info, err)
	}
	other, _ := swish.LoadCABundle(pemCert(own.root))
	if _, _, err := swish.ImportCertificateWith(signed, keyPEM, swish.ImportOptions{Roots: other}); err == nil ||
		!strings.Contains(err.Error(), "does not lead to the given roots") {
		t.Fatalf("other roots: %v", err)
	}
}
