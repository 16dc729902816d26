package simcontrolunit

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// The files of a certificates directory (Config.CertsDir): the CA that
// kvitt trusts, the unit's server certificate and key, and the client
// certificate and key that kvitt presents.
const (
	CAFile         = "ca.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
	ClientCertFile = "client.pem"
	ClientKeyFile  = "client-key.pem"
)

// certFiles in the order they are written: the client key last, so that a
// script waiting for it finds the whole set.
var certFiles = []string{CAFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile}

// pki is the simulator's own certificate authority with a server and a
// client certificate issued by it: made fresh for a simulator, or kept in a
// certificates directory across restarts.
type pki struct {
	caCert    *x509.Certificate
	caPEM     []byte
	server    tls.Certificate
	serverPEM []byte // the server certificate, PEM
	serverKey []byte // its private key, PEM
	client    tls.Certificate
	clientPEM []byte // the client certificate, PEM
	clientKey []byte // its private key, PEM
}

func newPKI(hosts []string) (*pki, error) {
	ca, err := simpki.NewCA("kvitt control unit simulator CA", 10)
	if err != nil {
		return nil, err
	}
	p := &pki{caCert: ca.Cert, caPEM: ca.PEM}
	if p.server, p.serverPEM, p.serverKey, err = ca.Issue("kvitt control unit simulator", x509.ExtKeyUsageServerAuth, 2, hosts...); err != nil {
		return nil, err
	}
	if p.client, p.clientPEM, p.clientKey, err = ca.Issue("kvitt till", x509.ExtKeyUsageClientAuth, 2); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pki) files() map[string][]byte {
	return map[string][]byte{CAFile: p.caPEM, ServerCertFile: p.serverPEM, ServerKeyFile: p.serverKey,
		ClientCertFile: p.clientPEM, ClientKeyFile: p.clientKey}
}

// write stores the PKI in dir (made if missing), each file written whole
// under a temporary name and then renamed.
func (p *pki) write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data := p.files()
	for _, name := range certFiles {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path+".tmp", data[name], 0o600); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
	}
	return nil
}

// loadPKI returns the PKI kept in dir. When dir holds none of the files it
// returns nil, nil: make a new one. When it holds only some of them, or a
// file is not what it should be (unreadable, a key that does not match its
// certificate, a certificate the CA did not issue, expired, or a server
// certificate that does not name host), it refuses with an error that names
// the file: making new certificates then would silently break every kvitt
// that trusts the old CA.
func loadPKI(dir, host string, now time.Time) (*pki, error) {
	var have, missing []string
	for _, name := range certFiles {
		switch _, err := os.Stat(filepath.Join(dir, name)); {
		case err == nil:
			have = append(have, name)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		default:
			return nil, fmt.Errorf("control unit certificates: %w", err)
		}
	}
	if len(have) == 0 {
		return nil, nil
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("control unit certificates in %s are incomplete: %s there, %s missing; "+
			"restore the missing files, or empty the directory to make a new set (and give kvitt the new %s, %s and %s)",
			dir, strings.Join(have, ", "), strings.Join(missing, ", "), CAFile, ClientCertFile, ClientKeyFile)
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("control unit certificates: %w", err)
		}
		return b, nil
	}
	bad := func(name string, format string, args ...any) error {
		return fmt.Errorf("control unit certificates: %s: %s; empty %s to make a new set (and give kvitt the new %s, %s and %s)",
			filepath.Join(dir, name), fmt.Sprintf(format, args...), dir, CAFile, ClientCertFile, ClientKeyFile)
	}
	p := &pki{}
	var err error
	if p.caPEM, err = read(CAFile); err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(p.caPEM)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, bad(CAFile, "no PEM certificate")
	}
	if p.caCert, err = x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, bad(CAFile, "%v", err)
	}
	if !p.caCert.IsCA {
		return nil, bad(CAFile, "the certificate is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	pair := func(certName, keyName string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte, error) {
		certPEM, err := read(certName)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		keyPEM, err := read(keyName)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, nil, nil, bad(certName, "with %s: %v", keyName, err)
		}
		if c.Leaf == nil {
			if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return tls.Certificate{}, nil, nil, bad(certName, "%v", err)
			}
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return tls.Certificate{}, nil, nil, bad(certName, "not valid under %s: %v", CAFile, err)
		}
		// Send the CA along, as a fresh set does.
		c.Certificate = append(c.Certificate[:1:1], p.caCert.Raw)
		return c, certPEM, keyPEM, nil
	}
	if p.server, p.serverPEM, p.serverKey, err = pair(ServerCertFile, ServerKeyFile, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		if err := p.server.Leaf.VerifyHostname(host); err != nil {
			return nil, bad(ServerCertFile, "it does not name the listening host: %v", err)
		}
	}
	if p.client, p.clientPEM, p.clientKey, err = pair(ClientCertFile, ClientKeyFile, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return p, nil
}
