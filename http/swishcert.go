package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
)

// The Swish merchant certificate through the API (issue 12, the back
// office's settings; docs/swish.md): make the key and the certificate
// signing request, upload the certificate Swish's portal signed, see what
// is in use and when it runs out. The work is the CLI's own ("kvitt swish
// csr", "kvitt swish cert import", "kvitt swish cert info"), done by the
// Server's SwishCert (cmd/kvitt implements it over the data directory).
// Changes are admin only; admins and the back office may read the status.
// The key never leaves the server.

// SwishCertManager keeps the Swish merchant certificate of this server.
// Errors are kvitt errors: a refused certificate is EUNPROCESSABLE naming
// "certificate", a request that cannot be made now ECONFLICT.
type SwishCertManager interface {
	// Status describes the certificate in use, one imported since, and the
	// request waiting for its certificate.
	Status(ctx context.Context) (SwishCertStatus, error)
	// NewRequest makes a new key (kept by the server) and its CSR.
	NewRequest(ctx context.Context, req SwishCSRRequest) (SwishCSR, error)
	// Import checks the signed certificate (PEM, PKCS#7 or DER) against a
	// key of a request made here and Swish's CAs, and keeps it with its
	// chain and key for swish.cert_file.
	Import(ctx context.Context, signed []byte, allowIncomplete bool) (SwishCertStatus, error)
	// SandboxSign signs a CSR with the sandbox Swish simulator's CA, as
	// Swish's portal does; ENOTFOUND outside the sandbox.
	SandboxSign(ctx context.Context, csrPEM []byte) ([]byte, error)
}

// SwishCSRRequest is the body of POST /v1/swish/csr: the request's subject,
// which only helps people recognise the file (Swish ignores it).
type SwishCSRRequest struct {
	Organisation string `json:"organisation"`
	SwishNumber  string `json:"swish_number"`
}

// SwishCSR is a certificate signing request made here: the PEM to upload
// at Swish Certificate Management (portal.swish.nu), never the key.
type SwishCSR struct {
	CSR       string    `json:"csr"`
	CreatedAt time.Time `json:"created_at"`
	// KeyFile and CSRFile are where the server keeps them.
	KeyFile string `json:"key_file"`
	CSRFile string `json:"csr_file"`
}

// SwishCertificate describes a merchant certificate, never its key.
type SwishCertificate struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	SwishNumber string    `json:"swish_number"`
	Serial      string    `json:"serial"`
	NotAfter    time.Time `json:"not_after"`
	// DaysLeft is how many whole days it is still valid (negative: expired).
	DaysLeft int `json:"days_left"`
	// Chain names the certificates sent in the handshake, the merchant's first.
	Chain    []string `json:"chain"`
	File     string   `json:"file,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// SwishCertStatus is the answer of GET and PUT /v1/swish/certificate.
type SwishCertStatus struct {
	// Sandbox: the sandbox's Swish simulator has its own certificate; one
	// made here is a rehearsal, signed by the simulator's CA.
	Sandbox bool `json:"sandbox"`
	// Configured: the configuration file has a swish section (live mode).
	Configured bool   `json:"configured"`
	PayeeAlias string `json:"payee_alias,omitempty"`
	// CertFile is swish.cert_file of the configuration.
	CertFile string `json:"cert_file,omitempty"`
	// InUse is the certificate the server read at start.
	InUse *SwishCertificate `json:"in_use,omitempty"`
	// Imported is the certificate uploaded here (the file to name in swish.cert_file).
	Imported *SwishCertificate `json:"imported,omitempty"`
	// Request is the newest request made here.
	Request *SwishCSR `json:"request,omitempty"`
	// RestartNeeded: kvitt reads the certificate at start only, and the
	// imported one is not the one in use.
	RestartNeeded bool `json:"restart_needed"`
	// Next says what to do next, in words.
	Next string `json:"next"`
}

func (s *Server) swishCert() (SwishCertManager, error) {
	if s.SwishCert == nil {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "this server does not manage a Swish certificate")
	}
	return s.SwishCert, nil
}

// withDaysLeft fills the days left of the status's certificates.
func withDaysLeft(st SwishCertStatus) SwishCertStatus {
	for _, c := range []*SwishCertificate{st.InUse, st.Imported} {
		if c != nil {
			c.DaysLeft = daysLeft(c.NotAfter, time.Now())
		}
	}
	return st
}

func daysLeft(notAfter, now time.Time) int {
	d := notAfter.Sub(now)
	if d < 0 {
		return -int((-d).Hours() / 24)
	}
	return int(d.Hours() / 24)
}

// handleGetSwishCertificate is GET /v1/swish/certificate (admin, back office).
func (s *Server) handleGetSwishCertificate(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	m, err := s.swishCert()
	if err != nil {
		return err
	}
	st, err := m.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, withDaysLeft(st))
	return nil
}

// handleSwishCSR is POST /v1/swish/csr (admin): a new key, kept by the
// server, and its certificate signing request to upload at Swish.
func (s *Server) handleSwishCSR(w http.ResponseWriter, r *http.Request) error {
	var req SwishCSRRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	req.Organisation = strings.TrimSpace(req.Organisation)
	req.SwishNumber = strings.TrimSpace(req.SwishNumber)
	if n := utf8.RuneCountInString(req.Organisation); n > 64 {
		return kvitt.FieldError("organisation", "is %d characters; at most 64", n)
	}
	if err := kvitt.CheckText("organisation", req.Organisation); err != nil {
		return err
	}
	if req.SwishNumber != "" && !tenDigits(req.SwishNumber) {
		return kvitt.FieldError("swish_number", "%q is not a Swish number: ten digits, such as 1231234567", req.SwishNumber)
	}
	m, err := s.swishCert()
	if err != nil {
		return err
	}
	csr, err := m.NewRequest(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, csr)
	return nil
}

func tenDigits(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

type swishCertificateRequest struct {
	// Certificate is what Swish's portal gave: PEM (the certificate and its
	// chain, or PKCS#7), or a DER .p7b or .cer file in base64.
	Certificate     string `json:"certificate"`
	AllowIncomplete bool   `json:"allow_incomplete"`
}

// signedBytes reads the certificate field: PEM as it is, else base64 of DER.
func signedBytes(field, v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, kvitt.FieldError(field, "is required: the certificate Swish's portal signed, as PEM or PKCS#7")
	}
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
	if err != nil || len(b) == 0 {
		return nil, kvitt.FieldError(field, "is neither PEM (-----BEGIN …) nor base64 of a DER certificate or PKCS#7")
	}
	return b, nil
}

// handlePutSwishCertificate is PUT /v1/swish/certificate (admin): the
// signed certificate of a request made here.
func (s *Server) handlePutSwishCertificate(w http.ResponseWriter, r *http.Request) error {
	var req swishCertificateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	signed, err := signedBytes("certificate", req.Certificate)
	if err != nil {
		return err
	}
	m, err := s.swishCert()
	if err != nil {
		return err
	}
	st, err := m.Import(r.Context(), signed, req.AllowIncomplete)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, withDaysLeft(st))
	return nil
}

type sandboxSignRequest struct {
	CSR string `json:"csr"`
}

// sandboxSignJSON is the certificate the simulator's CA signed, with its
// intermediate, in PEM: what Swish's portal gives to download.
type sandboxSignJSON struct {
	Certificate string `json:"certificate"`
}

// handleSandboxSwishSign is POST /v1/sandbox/swish/sign-csr (admin,
// sandbox only): the simulator's CA signs the request as Swish's portal
// would ("kvitt sim swish sign-csr"), for a rehearsal.
func (s *Server) handleSandboxSwishSign(w http.ResponseWriter, r *http.Request) error {
	var req sandboxSignRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	if !bytes.Contains([]byte(req.CSR), []byte("CERTIFICATE REQUEST-----")) {
		return kvitt.FieldError("csr", "is not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)")
	}
	m, err := s.swishCert()
	if err != nil {
		return err
	}
	cert, err := m.SandboxSign(r.Context(), []byte(req.CSR))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sandboxSignJSON{Certificate: string(cert)})
	return nil
}
