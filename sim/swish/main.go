package simswish

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

const mainUsage = `usage:
  kvitt sim swish [flags]                 run the simulator (flags below)
  kvitt sim swish sign-csr [flags]        sign a CSR as Swish Certificate Management does
                                          (kvitt sim swish sign-csr -h for its flags)

The simulator keeps its CA in --certs: restarted on the same directory, it
trusts the certificates it signed before.

flags:
`

// Main runs the simulator standalone (kvitt sim swish): it keeps its
// certificates in --certs (made on the first start, kept after), prints
// where it listens, and serves until ctx ends. "kvitt sim swish sign-csr"
// signs a merchant's CSR with the simulator's CA instead (see SignCSRMain).
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "sign-csr" {
		return SignCSRMain(args[1:], stdout)
	}
	fs := flag.NewFlagSet("sim swish", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(fs.Output(), mainUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "127.0.0.1:8444", "address to listen on")
	certs := fs.String("certs", "swish-sim-certs", "directory of the simulator's certificates and CA keys (made when empty, kept after)")
	payee := fs.String("payee", "", "merchant Swish number (CN of the merchant certificates); default: the one kept in --certs, else "+DefaultPayeeAlias)
	clientCA := fs.String("client-ca", "", "PEM file of another CA whose client certificates the API accepts too (a test CA of your own)")
	callbackCA := fs.String("callback-ca", "", "PEM file of the CA to trust for the callback URL's https (default: the system's roots)")
	auto := fs.Duration("auto-approve", 0, "approve every payment request after this long, like the MSS (0: wait for the customer)")
	window := fs.Duration("payer-window", 0, "how long the customer has before TM01 (0: 3m)")
	delay := fs.Duration("callback-delay", 0, "wait before each callback")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("sim swish: unexpected argument %q", fs.Arg(0))
	}
	pki, note, err := OpenPKI(*certs, *payee)
	if err != nil {
		return err
	}
	opts := Options{Addr: *addr, PKI: pki, PayeeAlias: pki.PayeeAlias(), AutoApprove: *auto, PayerWindow: *window, CallbackDelay: *delay,
		ErrorLog: log.New(&handshakeLog{w: stdout}, "sim swish: ", log.LstdFlags)}
	if *clientCA != "" {
		if opts.ClientCAs, err = ReadCertificates(*clientCA); err != nil {
			return fmt.Errorf("sim swish: --client-ca: %w", err)
		}
	}
	if *callbackCA != "" {
		cas, err := ReadCertificates(*callbackCA)
		if err != nil {
			return fmt.Errorf("sim swish: --callback-ca: %w", err)
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		opts.CallbackTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s, err := New(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	abs, _ := filepath.Abs(*certs)
	fmt.Fprintf(stdout, "Swish simulator listening\n"+
		"  API URL:         %s\n"+
		"  customer:        %ssim/customer/paymentrequests/{instructionUUID|token}/{approve|decline|cancel|timeout}\n"+
		"  merchant number: %s\n"+
		"  certificates:    %s (%s)\n"+
		"                   ca.pem: the server's root, for kvitt's swish.ca_file; merchant.pem: a ready merchant certificate\n"+
		"  sign a CSR:      kvitt sim swish sign-csr --certs %s --csr swish.csr --out swish-signed.pem\n",
		s.URL(), s.RootURL(), s.PayeeAlias(), abs, note, shellQuote(*certs))
	if len(opts.ClientCAs) > 0 {
		fmt.Fprintf(stdout, "  also trusting:   client certificates issued by %s\n", names(opts.ClientCAs))
	}
	<-ctx.Done()
	return nil
}

// SignCSRMain is "kvitt sim swish sign-csr": it does what a certificate
// administrator does at Swish Certificate Management, against the
// simulator's CA: upload a CSR (made by kvitt swish csr), get the signed
// certificate with its intermediate, as PEM or as PKCS#7 (.p7b). The CA is
// the one in --certs (made there if there is none yet), so that the
// simulator started on that directory trusts the certificate.
func SignCSRMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim swish sign-csr", flag.ContinueOnError)
	fs.SetOutput(stdout)
	certs := fs.String("certs", "swish-sim-certs", "the simulator's certificate directory (the same as kvitt sim swish --certs)")
	csrFile := fs.String("csr", "swish.csr", "the certificate signing request (PEM PKCS#10, a 4096-bit RSA key), made by kvitt swish csr")
	out := fs.String("out", "swish-signed.pem", "file to write the signed certificate and its intermediate to")
	payee := fs.String("payee", "", "the merchant Swish number the certificate is issued for (its CN); default: the simulator's (kvitt sim swish --payee)")
	format := fs.String("format", "pem", "pem (certificate + intermediate) or p7b (PKCS#7, DER), the two downloads Swish offers")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("sim swish sign-csr: unexpected argument %q", fs.Arg(0))
	}
	csrPEM, err := os.ReadFile(*csrFile)
	if err != nil {
		return fmt.Errorf("sim swish sign-csr: %w", err)
	}
	pki, note, err := OpenPKI(*certs, *payee)
	if err != nil {
		return err
	}
	var signed []byte
	switch *format {
	case "pem":
		signed, err = pki.SignCSRFor(csrPEM, pki.PayeeAlias())
	case "p7b", "pkcs7":
		signed, err = pki.SignCSRPKCS7(csrPEM, pki.PayeeAlias())
	default:
		return fmt.Errorf("sim swish sign-csr: --format %q: pem or p7b", *format)
	}
	if err != nil {
		return fmt.Errorf("sim swish sign-csr: %s: %w", *csrFile, err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("sim swish sign-csr: %s exists; give another --out, or --force to overwrite it", *out)
	} else if err != nil {
		return fmt.Errorf("sim swish sign-csr: %w", err)
	}
	if _, err := f.Write(signed); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Signed %s for Swish number %s with the simulator's CA (%s).\n"+
		"Wrote the certificate and its intermediate to %s. Import it as you would Swish's download:\n"+
		"  kvitt swish cert import --cert %s --key swish.key --ca %s\n",
		*csrFile, pki.PayeeAlias(), note, *out, shellQuote(*out), shellQuote(filepath.Join(*certs, FileCA)))
	return nil
}

func names(cs []*x509.Certificate) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Subject.String())
	}
	return strings.Join(s, "; ")
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// handshakeLog passes the server's error log to w, keeping of the TLS
// handshake errors only those about a client certificate, with a hint.
type handshakeLog struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func (h *handshakeLog) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Write(p)
	for {
		line, err := h.buf.ReadString('\n')
		if err != nil {
			h.buf.WriteString(line) // incomplete: wait for the rest
			return len(p), nil
		}
		if strings.Contains(line, "TLS handshake error") {
			if !strings.Contains(line, "certificate") {
				continue
			}
			line = strings.TrimRight(line, "\n") + "\n    → the client's merchant certificate was refused: it must be issued by this simulator's CA" +
				" (kvitt sim swish sign-csr) or by a CA given with --client-ca, and sent with its intermediate\n"
		}
		io.WriteString(h.w, line)
	}
}
