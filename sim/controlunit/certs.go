package simcontrolunit

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// pki is the simulator's own certificate authority with a server and a
// client certificate issued by it, made fresh for every simulator.
type pki struct {
	caCert    *x509.Certificate
	caPEM     []byte
	server    tls.Certificate
	client    tls.Certificate
	clientPEM []byte // certificate then key, PEM
	clientKey []byte
}

func newPKI(hosts []string) (*pki, error) {
	ca, err := simpki.NewCA("kvitt control unit simulator CA", 10)
	if err != nil {
		return nil, err
	}
	p := &pki{caCert: ca.Cert, caPEM: ca.PEM}
	if p.server, _, _, err = ca.Issue("kvitt control unit simulator", x509.ExtKeyUsageServerAuth, 2, hosts...); err != nil {
		return nil, err
	}
	if p.client, p.clientPEM, p.clientKey, err = ca.Issue("kvitt till", x509.ExtKeyUsageClientAuth, 2); err != nil {
		return nil, err
	}
	return p, nil
}
