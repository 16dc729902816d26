package simnexo

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// certs is the simulator's own CA and the server certificate it signed.
type certs struct {
	caPEM  []byte
	pool   *x509.CertPool
	server tls.Certificate
}

// newCerts makes a CA and a server certificate for 127.0.0.1, ::1,
// localhost and hosts (IP addresses or DNS names).
func newCerts(hosts []string) (*certs, error) {
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
