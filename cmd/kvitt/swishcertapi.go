package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/computop"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/svea"
	"github.com/kvitt-hub/kvitt/swish"
)

// The back office's settings through the API (issue 12): the Swish
// merchant certificate (kvitthttp.SwishCertManager) and the Computop and
// Svea set-up (kvitthttp.ProviderSettings), for "kvitt serve".
//
// The certificate's life cycle is the CLI's (swish.go), with the same
// functions of package swish: swish.WriteCSR makes the key and the
// request, swish.ImportCertificateFilesWith checks the signed certificate
// against the key and writes the chain with the key (mode 0600). The files
// live in <data>/swish: swish-<time>.key and .csr per request, and
// swish-merchant.pem, the file to name in swish.cert_file (an earlier one
// is kept as swish-merchant-<time>.pem). kvitt reads the certificate at
// start only: a new one is used after a restart.

// swishDirName is the data directory's folder of the Swish key files.
const swishDirName = "swish"

// swishMerchantFile is the imported certificate, chain and key.
const swishMerchantFile = "swish-merchant.pem"

type swishCertAPI struct {
	mu      sync.Mutex
	dir     string
	sandbox bool
	conf    *SwishConfig
	// inUse is the certificate read at start (live mode).
	inUse *kvitthttp.SwishCertificate
	// simDir keeps the sandbox simulator's CA for rehearsals ("kvitt sim
	// swish sign-csr --certs"), opened on first use.
	simDir string
	pki    *simswish.PKI
}

// newSwishCertAPI returns the certificate manager of m. In live mode it
// reads the configured certificate now, as liveSwish did at start.
func newSwishCertAPI(m *Main) *swishCertAPI {
	c := &m.Config
	a := &swishCertAPI{dir: filepath.Join(c.Data, swishDirName), sandbox: c.Sandbox, simDir: filepath.Join(c.Data, "swish-sim-certs")}
	if !c.Sandbox && c.Swish != nil {
		a.conf = c.Swish
		cert, err := swish.LoadCertificateFiles(swish.Files{CertFile: c.Swish.CertFile, KeyFile: c.Swish.KeyFile, Password: c.Swish.P12Password})
		if err == nil {
			a.inUse = describeCert(cert, c.Swish.CertFile)
		}
	}
	return a
}

// describeCert describes a loaded certificate, never its key.
func describeCert(c tls.Certificate, file string) *kvitthttp.SwishCertificate {
	leaf := c.Leaf
	if leaf == nil && len(c.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if leaf == nil {
		return nil
	}
	d := &kvitthttp.SwishCertificate{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), SwishNumber: leaf.Subject.CommonName,
		Serial: fmt.Sprintf("%X", leaf.SerialNumber), NotAfter: leaf.NotAfter, File: file, Chain: []string{}}
	for _, der := range c.Certificate {
		if x, err := x509.ParseCertificate(der); err == nil {
			d.Chain = append(d.Chain, x.Subject.String())
		}
	}
	if len(c.Certificate) == 1 && leaf.CheckSignatureFrom(leaf) != nil {
		d.Warnings = append(d.Warnings, fmt.Sprintf("the file holds no intermediate (the certificate of %s): Swish refuses the certificate without it", leaf.Issuer))
	}
	if swish.ExpiresWithin(c, time.Now(), 30*24*time.Hour) {
		d.Warnings = append(d.Warnings, "the certificate expires within 30 days: make a new request and renew it")
	}
	return d
}

func (a *swishCertAPI) Status(ctx context.Context) (kvitthttp.SwishCertStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status(nil), nil
}

// status describes the certificates; warnings are the last import's.
func (a *swishCertAPI) status(warnings []string) kvitthttp.SwishCertStatus {
	st := kvitthttp.SwishCertStatus{Sandbox: a.sandbox, InUse: a.inUse}
	if a.sandbox {
		st.PayeeAlias = simswish.DefaultPayeeAlias
	} else if a.conf != nil {
		st.Configured, st.PayeeAlias, st.CertFile = true, a.conf.PayeeAlias, a.conf.CertFile
	}
	out := filepath.Join(a.dir, swishMerchantFile)
	var importedKey crypto.PublicKey
	if cert, err := swish.LoadCertificateFile(out, ""); err == nil {
		st.Imported = describeCert(cert, out)
		if st.Imported != nil {
			st.Imported.Warnings = append(st.Imported.Warnings, warnings...)
		}
		if cert.Leaf != nil {
			importedKey = cert.Leaf.PublicKey
		}
	}
	if req, key := a.newestRequest(); req != nil && (importedKey == nil || !samePublicKey(key, importedKey)) {
		st.Request = req
	}
	using := st.InUse != nil && st.Imported != nil && st.InUse.Serial == st.Imported.Serial
	namesIt := st.CertFile != "" && sameFile(st.CertFile, out)
	st.RestartNeeded = !a.sandbox && st.Imported != nil && !using && namesIt
	switch {
	case a.sandbox:
		st.Next = "The sandbox needs no certificate: its Swish simulator has its own. To rehearse, make a request, " +
			"have the simulator's CA sign it (it stands in for Swish Certificate Management) and upload the result; it is kept in " +
			a.dir + " and not used by the sandbox."
	case st.Imported == nil && st.Request != nil:
		st.Next = "Upload " + st.Request.CSRFile + " (the request shown) at Swish Certificate Management (portal.swish.nu), " +
			"download the signed certificate with its chain (PEM or PKCS#7) and upload it here."
	case st.Imported == nil:
		st.Next = "Make a request, upload it at Swish Certificate Management (portal.swish.nu) and upload the signed certificate here."
	case using:
		st.Next = "The imported certificate is in use."
	case !st.Configured:
		st.Next = "Add a swish section to the configuration file with cert_file " + out +
			" (and payee_alias, base_url, callback_url; docs/configuration.md), then restart kvitt: it reads the certificate at start."
	case !namesIt:
		st.Next = "Set swish.cert_file to " + out + " in the configuration file (without key_file and p12_password: the file holds the key), " +
			"then restart kvitt: it reads the certificate at start."
	default:
		st.Next = "Restart kvitt to use the imported certificate: kvitt reads the certificate at start."
	}
	return st
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// requests lists the key files of requests made here, newest first.
func (a *swishCertAPI) requests() []string {
	keys, _ := filepath.Glob(filepath.Join(a.dir, "swish-*.key"))
	slices.Sort(keys)
	slices.Reverse(keys)
	return keys
}

// newestRequest is the newest request with its public key.
func (a *swishCertAPI) newestRequest() (*kvitthttp.SwishCSR, crypto.PublicKey) {
	for _, key := range a.requests() {
		csrFile := strings.TrimSuffix(key, ".key") + ".csr"
		b, err := os.ReadFile(csrFile)
		if err != nil {
			continue
		}
		fi, _ := os.Stat(csrFile)
		req := &kvitthttp.SwishCSR{CSR: string(b), KeyFile: key, CSRFile: csrFile}
		if fi != nil {
			req.CreatedAt = fi.ModTime().UTC()
		}
		var pub crypto.PublicKey
		if blk, _ := pem.Decode(b); blk != nil {
			if csr, err := x509.ParseCertificateRequest(blk.Bytes); err == nil {
				pub = csr.PublicKey
			}
		}
		return req, pub
	}
	return nil, nil
}

func (a *swishCertAPI) NewRequest(ctx context.Context, req kvitthttp.SwishCSRRequest) (kvitthttp.SwishCSR, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return kvitthttp.SwishCSR{}, err
	}
	subject := pkix.Name{CommonName: req.SwishNumber}
	if req.Organisation != "" {
		subject.Organization = []string{req.Organisation}
	}
	now := time.Now().UTC()
	base := filepath.Join(a.dir, "swish-"+now.Format("20060102-150405"))
	for i := 2; ; i++ {
		if _, err := os.Lstat(base + ".key"); errors.Is(err, os.ErrNotExist) {
			break
		}
		base = filepath.Join(a.dir, fmt.Sprintf("swish-%s-%d", now.Format("20060102-150405"), i))
	}
	// The CLI's own: a new 4096-bit key, never overwriting one, and its CSR.
	if err := swish.WriteCSR(base+".key", base+".csr", subject); err != nil {
		return kvitthttp.SwishCSR{}, err
	}
	b, err := os.ReadFile(base + ".csr")
	if err != nil {
		return kvitthttp.SwishCSR{}, err
	}
	return kvitthttp.SwishCSR{CSR: string(b), CreatedAt: now, KeyFile: base + ".key", CSRFile: base + ".csr"}, nil
}

func (a *swishCertAPI) Import(ctx context.Context, signed []byte, allowIncomplete bool) (kvitthttp.SwishCertStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := a.requests()
	if len(keys) == 0 {
		return kvitthttp.SwishCertStatus{}, kvitt.Errorf(kvitt.ECONFLICT, "no certificate request was made here: make one first (POST /v1/swish/csr), "+
			"then upload the certificate Swish signed for it")
	}
	opts := swish.ImportOptions{AllowIncomplete: allowIncomplete, Overwrite: true}
	if a.sandbox {
		pki, err := a.simPKI()
		if err != nil {
			return kvitthttp.SwishCertStatus{}, err
		}
		opts.Roots = pki.RootPool()
	}
	// The key of the request the certificate was signed for.
	var keyFile string
	var keyPEM []byte
	var firstErr error
	for _, k := range keys {
		b, err := os.ReadFile(k)
		if err != nil {
			continue
		}
		if _, _, err := swish.ImportCertificateWith(signed, b, swish.ImportOptions{AllowIncomplete: true}); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		keyFile, keyPEM = k, b
		break
	}
	if keyFile == "" {
		msg := "does not belong to a request made here"
		if firstErr != nil {
			msg = firstErr.Error()
		}
		return kvitthttp.SwishCertStatus{}, kvitt.FieldError("certificate", "%s", strings.TrimPrefix(msg, "swish: "))
	}
	_, info, err := swish.ImportCertificateWith(signed, keyPEM, opts)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "swish: ")
		if info.Incomplete && !allowIncomplete {
			msg += " (allow_incomplete imports it anyway)"
		}
		return kvitthttp.SwishCertStatus{}, kvitt.FieldError("certificate", "%s", msg)
	}
	if !a.sandbox && !issuedBySwish(info) {
		return kvitthttp.SwishCertStatus{}, kvitt.FieldError("certificate", "was not issued by a Swish CA (issuer %s): Swish's merchant CAs name Swish "+
			"(such as \"Nordea Customer CA1 v2 for Swish\") and Swish refuses other certificates; upload the certificate from Swish Certificate Management", info.Issuer)
	}
	// Keep the certificate in use (or an earlier one) next to the new one.
	out := filepath.Join(a.dir, swishMerchantFile)
	if _, err := os.Lstat(out); err == nil {
		old := filepath.Join(a.dir, "swish-merchant-"+time.Now().UTC().Format("20060102-150405")+".pem")
		if err := os.Rename(out, old); err != nil {
			return kvitthttp.SwishCertStatus{}, err
		}
	}
	tmp, err := os.CreateTemp(a.dir, ".upload-*")
	if err != nil {
		return kvitthttp.SwishCertStatus{}, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(signed)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return kvitthttp.SwishCertStatus{}, werr
	}
	// The CLI's import: the same checks, and the chain with the key, mode 0600.
	info, err = swish.ImportCertificateFilesWith(tmp.Name(), keyFile, out, opts)
	if err != nil {
		return kvitthttp.SwishCertStatus{}, kvitt.FieldError("certificate", "%s", strings.TrimPrefix(err.Error(), "swish: "))
	}
	return a.status(info.Warnings), nil
}

// issuedBySwish reports whether a CA of the chain names Swish, as Swish's
// merchant CAs do.
func issuedBySwish(info swish.CertInfo) bool {
	names := []string{info.Issuer}
	if len(info.Chain) > 1 {
		names = append(names, info.Chain[1:]...)
	}
	for _, n := range names {
		if strings.Contains(strings.ToLower(n), "swish") {
			return true
		}
	}
	return false
}

func (a *swishCertAPI) SandboxSign(ctx context.Context, csrPEM []byte) ([]byte, error) {
	if !a.sandbox {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "only the sandbox signs certificate requests: upload the request at Swish Certificate Management")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	pki, err := a.simPKI()
	if err != nil {
		return nil, err
	}
	cert, err := pki.SignCSR(csrPEM)
	if err != nil {
		return nil, kvitt.FieldError("csr", "%s", strings.TrimPrefix(err.Error(), "simswish: "))
	}
	return cert, nil
}

// simPKI opens the simulator's CA kept in the data directory, as "kvitt
// sim swish sign-csr --certs" does, making it on first use.
func (a *swishCertAPI) simPKI() (*simswish.PKI, error) {
	if a.pki == nil {
		pki, _, err := simswish.OpenPKI(a.simDir, "")
		if err != nil {
			return nil, err
		}
		a.pki = pki
	}
	return a.pki, nil
}

// providerSettings reports the Computop and Svea sections of the
// configuration file, never their secrets.
type providerSettings struct{ c *Config }

func (p providerSettings) Providers(ctx context.Context) []kvitthttp.ProviderStatus {
	c := p.c
	secret := func(key, value, env string) kvitthttp.ProviderSecret {
		s := kvitthttp.ProviderSecret{Key: key}
		switch {
		case env != "" && os.Getenv(env) != "":
			s.Set, s.From = true, "environment"
		case value != "":
			s.Set, s.From = true, "file"
		}
		return s
	}
	// live on the provider's production host, test on any other (its stage, a test Paygate).
	env := func(base, production string) (host, environment string) {
		u, err := url.Parse(base)
		if err != nil {
			return base, "test"
		}
		if pu, err := url.Parse(production); err == nil && u.Host == pu.Host {
			return u.Host, "live"
		}
		return u.Host, "test"
	}
	cp := kvitthttp.ProviderStatus{Provider: "computop", Name: "Computop Paygate (Swish)", Doc: "docs/computop.md",
		Keys: []string{"computop.base_url", "computop.merchant_id", "computop.password", "computop.password_env", "computop.hmac_key",
			"computop.hmac_key_env", "computop.encryption", "computop.callback_url", "computop.order_desc", "computop.allow_small_amounts", "computop.ca_file"}}
	if cc := c.Computop; cc != nil {
		cp.Configured, cp.MerchantID = true, cc.MerchantID
		base := cc.BaseURL
		if base == "" {
			base = computop.ProductionURL
		}
		cp.Host, cp.Environment = env(base, computop.ProductionURL)
		cp.Secrets = []kvitthttp.ProviderSecret{secret("computop.password", cc.Password, cc.PasswordEnv), secret("computop.hmac_key", cc.HMACKey, cc.HMACKeyEnv)}
	}
	sv := kvitthttp.ProviderStatus{Provider: "svea", Name: "Svea Instore", Doc: "docs/svea.md",
		Keys: []string{"svea.base_url", "svea.merchant_id", "svea.password", "svea.password_env", "svea.country", "svea.terms_uri",
			"svea.callback_url", "svea.admin_base_url", "svea.admin_merchant_id", "svea.admin_secret", "svea.admin_secret_env"}}
	if sc := c.Svea; sc != nil {
		sv.Configured, sv.MerchantID = true, sc.MerchantID
		base := sc.BaseURL
		if base == "" {
			base = svea.ProductionURL
		}
		sv.Host, sv.Environment = env(base, svea.ProductionURL)
		sv.Secrets = []kvitthttp.ProviderSecret{secret("svea.password", sc.Password, sc.PasswordEnv), secret("svea.admin_secret", sc.AdminSecret, sc.AdminSecretEnv)}
	}
	out := []kvitthttp.ProviderStatus{cp, sv}
	if c.Sandbox {
		// The simulators stand in; the file's sections are not used.
		for i := range out {
			out[i].Sandbox, out[i].Configured, out[i].Environment = true, true, "sandbox"
			out[i].Host, out[i].MerchantID, out[i].Secrets = "", "", nil
		}
	}
	return out
}

var _ kvitthttp.SwishCertManager = (*swishCertAPI)(nil)
var _ kvitthttp.ProviderSettings = providerSettings{}
