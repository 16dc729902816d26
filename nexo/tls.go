package nexo

// The terminal's TLS certificate. A terminal is reached by its IP address
// but its certificate is named after the terminal and chains to the
// vendor's terminal root, so kvitt checks the chain against a configured
// root and the name against a configured (or, for Adyen, derived) name.
//
// Adyen (docs.adyen.com point-of-sale … local/protect, "Validate the
// terminal certificate"; adyen-java-api-library TerminalCommonNameValidator):
// the Common Name is <POIID>.<test|live>.terminal.adyen.com, POIID being
// <model>-<serial> (e.g. P400Plus-123456789.test.terminal.adyen.com), or
// legacy-terminal-certificate.<test|live>.terminal.adyen.com; a Common Name
// mismatch against the IP address is expected. kvitt is stricter than
// Adyen's libraries, which take any terminal of the fleet: the name must
// be the configured terminal's own (or the legacy one).

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// CertificateError is a terminal certificate kvitt refused: the TLS
// handshake failed, so no request reached the terminal. Setting names the
// configuration to check.
type CertificateError struct {
	Setting string // "tills[].terminal.root_ca_file", …
	Reason  string // a sentence for the cashier (and the log)
	Err     error
}

func (e *CertificateError) Error() string {
	return "nexo: terminal certificate refused: " + e.Reason
}

func (e *CertificateError) Unwrap() error { return e.Err }

// Message is what the till shows.
func (e *CertificateError) Message() string {
	return "The card terminal's certificate was refused: " + e.Reason + " Nothing was sent to the terminal and nothing was charged."
}

// adyenNames are the certificate names an Adyen terminal may present.
func adyenNames(poiid, env string) []string {
	return []string{poiid + "." + env + ".terminal.adyen.com", "legacy-terminal-certificate." + env + ".terminal.adyen.com"}
}

// tlsPolicy is how one terminal's certificate is checked.
type tlsPolicy struct {
	rootFile string   // "" = Config.RootCAs
	names    []string // nil = the URL's host, as any HTTPS client checks it
	nameHow  string   // the settings that gave names
}

// policy returns the terminal's TLS policy, or nil for the client's own
// (Config.RootCAs and the URL's host).
func policyFor(term *kvitt.Terminal) (*tlsPolicy, error) {
	p := &tlsPolicy{rootFile: term.RootCAFile}
	switch {
	case term.CertificateName != "":
		p.names, p.nameHow = []string{term.CertificateName}, "terminal.certificate_name"
	case term.Profile == ProfileAdyen && term.Environment != "":
		if term.Environment != "test" && term.Environment != "live" {
			return nil, kvitt.Errorf(kvitt.EUNPROCESSABLE, "The till's card terminal has environment %q: it is test or live.", term.Environment)
		}
		p.names, p.nameHow = adyenNames(term.POIID, term.Environment), "terminal.poiid and terminal.environment"
	}
	if p.rootFile == "" && p.names == nil {
		return nil, nil
	}
	return p, nil
}

func (p *tlsPolicy) key() string { return p.rootFile + "\x00" + strings.Join(p.names, "\x00") }

func (p *tlsPolicy) rootSetting() string {
	if p.rootFile != "" {
		return "terminal.root_ca_file (" + p.rootFile + ")"
	}
	return "card.ca_file"
}

// LoadRoots reads a PEM file of root certificates.
func LoadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// httpFor returns the HTTP client for a terminal with its own TLS policy
// (cached per policy), or nil to use the provider's client.
func (c *Card) httpFor(term *kvitt.Terminal) (*http.Client, error) {
	if c.cfg.HTTPClient != nil {
		return nil, nil
	}
	p, err := policyFor(term)
	if err != nil || p == nil {
		return nil, err
	}
	c.mu.Lock()
	hc := c.clients[p.key()]
	c.mu.Unlock()
	if hc != nil {
		return hc, nil
	}
	roots := c.cfg.RootCAs
	if p.rootFile != "" {
		if roots, err = LoadRoots(p.rootFile); err != nil {
			return nil, kvitt.Errorf(kvitt.EUNPROCESSABLE, "The till's card terminal root certificate (terminal.root_ca_file) cannot be read: %v.", err)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = p.tlsConfig(roots)
	tr.MaxIdleConnsPerHost = 4
	hc = &http.Client{Transport: tr, Timeout: c.client.HTTP.Timeout}
	c.mu.Lock()
	if c.clients == nil {
		c.clients = map[string]*http.Client{}
	}
	if old := c.clients[p.key()]; old != nil {
		hc = old
	} else {
		c.clients[p.key()] = hc
	}
	c.mu.Unlock()
	return hc, nil
}

// tlsConfig checks the chain against roots and, with names, the leaf's
// name instead of the URL's host (the terminal is reached by IP address).
func (p *tlsPolicy) tlsConfig(roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if p.names == nil {
		return cfg
	}
	cfg.InsecureSkipVerify = true // replaced by VerifyConnection below, which checks chain and name
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &CertificateError{Setting: p.rootSetting(), Reason: "the terminal presented no certificate."}
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: time.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return &CertificateError{Setting: p.rootSetting(), Err: err,
				Reason: fmt.Sprintf("it does not chain to the terminal root in %s (%v).", p.rootSetting(), err)}
		}
		if !certNamed(leaf, p.names) {
			return &CertificateError{Setting: p.nameHow,
				Reason: fmt.Sprintf("it names %s, not %s: check %s.", certName(leaf), p.names[0], p.nameHow)}
		}
		return nil
	}
	return cfg
}

// certNamed reports whether the certificate's Common Name or one of its DNS
// names is one of names (case-insensitive).
func certNamed(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(c.Subject.CommonName, n) {
			return true
		}
		for _, d := range c.DNSNames {
			if strings.EqualFold(d, n) {
				return true
			}
		}
	}
	return false
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	if len(c.DNSNames) > 0 {
		return fmt.Sprintf("%q", c.DNSNames[0])
	}
	return "no name"
}

// certificateError turns a failed TLS handshake under the client's own
// policy (Config.RootCAs, the URL's host) into a CertificateError; it
// returns nil for other errors.
func certificateError(err error) *CertificateError {
	var ce *CertificateError
	if errors.As(err, &ce) {
		return ce
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return &CertificateError{Setting: "card.ca_file", Err: err,
			Reason: "it is not signed by a root kvitt trusts: set card.ca_file (or the till's terminal.root_ca_file) to the terminal vendor's root."}
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return &CertificateError{Setting: "terminal.certificate_name", Err: err,
			Reason: fmt.Sprintf("it is for %s, not the host in terminal.url (%s): set terminal.certificate_name to the terminal's name (Adyen: terminal.environment).",
				certName(he.Certificate), he.Host)}
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) {
		return &CertificateError{Setting: "card.ca_file", Err: err, Reason: fmt.Sprintf("it is not valid (%v).", err)}
	}
	return nil
}
