package simpki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// Listen makes a simulator's CA named name, a server certificate for
// localhost (and addr's host) issued by it, and a listener on addr.
func Listen(name, addr string) (*CA, tls.Certificate, net.Listener, error) {
	ca, err := NewCA(name, 10)
	if err != nil {
		return nil, tls.Certificate{}, nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	cert, _, _, err := ca.Issue("localhost", x509.ExtKeyUsageServerAuth, 5, host)
	if err != nil {
		return nil, tls.Certificate{}, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, tls.Certificate{}, nil, err
	}
	return ca, cert, ln, nil
}

// Serve serves h over TLS with cert on ln, in the background, with the
// server's own log discarded (a simulator reports through its answers).
func Serve(ln net.Listener, cert tls.Certificate, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:  log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	return srv
}

// CallbackClient is the HTTP client a simulator calls the merchant back
// with (callbacks, webhooks, notifications): with cfg when given, else
// trusting the system's roots and ca (for a listener whose certificate the
// simulator issued).
func CallbackClient(ca *CA, cfg *tls.Config) *http.Client {
	if cfg == nil {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AddCert(ca.Cert)
		cfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// WriteFileAtomic writes data to path through a temporary file and a
// rename, so that a process waiting for path (a test, an operator's
// script) never reads it half written.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
