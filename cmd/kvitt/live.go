package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/kvitt-hub/kvitt/controlunit"
	"github.com/kvitt-hub/kvitt/swish"
)

// configureLive connects the real providers of the configuration.
func (m *Main) configureLive(ctx context.Context, publicURL string) error {
	c, h := &m.Config, m.hub
	for name, cc := range c.ControlUnits {
		tlsc, err := clientTLS(cc.CertFile, cc.KeyFile, cc.CAFile)
		if err != nil {
			return fmt.Errorf("control unit %s: %w", name, err)
		}
		if len(tlsc.Certificates) > 0 {
			m.certs.Set("control_unit:"+name, swish.Expiry(tlsc.Certificates[0]))
		}
		cu, err := controlunit.New(controlunit.Config{URL: cc.URL, TLS: tlsc})
		if err != nil {
			return fmt.Errorf("control unit %s: %w", name, err)
		}
		h.ControlUnits[name] = cu
	}
	for _, f := range liveProviders {
		if err := f(ctx, m, publicURL); err != nil {
			return err
		}
	}
	return nil
}

// liveProviders connect configured payment providers.
var liveProviders []func(ctx context.Context, m *Main, publicURL string) error

// clientTLS builds a TLS client config with a client certificate (PEM chain
// and key) and, optionally, a CA bundle to trust instead of the system roots.
func clientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" {
		if keyFile == "" {
			keyFile = certFile
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
