package main

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/swish"
)

const swishUsage = `usage:
  kvitt swish csr [--key swish.key] [--csr swish.csr] [--org NAME] [--cn SWISHNUMBER]
  kvitt swish cert import --cert SIGNED [--key swish.key] [--out swish-merchant.pem] [--ca ROOTS.pem] [--allow-incomplete] [--force]
  kvitt swish cert info --cert FILE [--password PASSWORD]
`

// runSwish runs "kvitt swish ...": the merchant certificate's life cycle
// (see docs/swish.md). The work is done in package swish.
func runSwish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "csr":
		return swishCSR(args[1:], stdout, stderr)
	case len(args) >= 2 && args[0] == "cert" && args[1] == "import":
		return swishCertImport(args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "cert" && args[1] == "info":
		return swishCertInfo(args[2:], stdout, stderr)
	}
	fmt.Fprint(stderr, swishUsage)
	return errors.New("kvitt swish: unknown or missing subcommand")
}

func swishCSR(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("swish csr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "swish.key", "private key file to create (mode 0600; never overwritten)")
	csr := fs.String("csr", "swish.csr", "certificate signing request file to create")
	org := fs.String("org", "", "organisation name in the request (optional; Swish ignores the subject)")
	cn := fs.String("cn", "", "common name in the request (optional, e.g. the Swish number)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	subject := pkix.Name{CommonName: *cn}
	if *org != "" {
		subject.Organization = []string{*org}
	}
	if err := swish.WriteCSR(*key, *csr, subject); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote the private key to %s (keep it secret; back it up) and the request to %s.\n"+
		"Upload %s at Swish Certificate Management (portal.swish.nu), download the signed certificate, then run:\n"+
		"  kvitt swish cert import --cert <downloaded file> --key %s\n", *key, *csr, *csr, *key)
	return nil
}

func swishCertImport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("swish cert import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cert := fs.String("cert", "", "the signed certificate from Swish: PEM, or PKCS#7 (.p7b) in PEM or DER")
	key := fs.String("key", "swish.key", "the private key made by kvitt swish csr")
	out := fs.String("out", "swish-merchant.pem", "file to write: certificate, intermediates and key (mode 0600); never overwritten without --force")
	ca := fs.String("ca", "", "PEM file of the root(s) the chain must lead to (optional; to rehearse: the simulator's ca.pem)")
	allowIncomplete := fs.Bool("allow-incomplete", false, "import a certificate whose intermediates are missing from the file (Swish will refuse it unless they are added)")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cert == "" {
		fs.Usage()
		return errors.New("kvitt swish cert import: --cert is required")
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("kvitt swish cert import: unexpected argument %q", fs.Arg(0))
	}
	opts := swish.ImportOptions{AllowIncomplete: *allowIncomplete, Overwrite: *force}
	if *ca != "" {
		b, err := os.ReadFile(*ca)
		if err != nil {
			return fmt.Errorf("kvitt swish cert import: --ca: %w", err)
		}
		if opts.Roots, err = swish.LoadCABundle(b); err != nil {
			return fmt.Errorf("kvitt swish cert import: --ca %s: %w", *ca, err)
		}
	}
	info, err := swish.ImportCertificateFilesWith(*cert, *key, *out, opts)
	if err != nil {
		if errors.Is(err, swish.ErrOutputExists) {
			return fmt.Errorf("kvitt swish cert import: %s exists; give another --out, or --force to replace it", *out)
		}
		if info.Incomplete && !*allowIncomplete {
			return fmt.Errorf("%w (--allow-incomplete imports it anyway)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "Imported %s\n  issuer:  %s\n  serial:  %s\n  expires: %s\n  chain:   %s\n",
		info.Subject, info.Issuer, info.Serial, info.NotAfter.Format(time.DateOnly), strings.Join(info.Chain, "\n           ← "))
	for _, w := range info.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "Wrote %s. Point kvitt's swish.cert_file setting at it.\n", *out)
	return nil
}

func swishCertInfo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("swish cert info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("cert", "", "merchant certificate: PEM chain with key, or PKCS#12 (.p12)")
	password := fs.String("password", "", "PKCS#12 password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := swish.LoadCertificateFile(*file, *password)
	if err != nil {
		return err
	}
	exp := swish.Expiry(c)
	fmt.Fprintf(stdout, "subject: %s\nissuer:  %s\nchain:   %d certificate(s) sent in the handshake\nexpires: %s\n",
		c.Leaf.Subject, c.Leaf.Issuer, len(c.Certificate), exp.Format(time.DateOnly))
	if len(c.Certificate) == 1 && c.Leaf.CheckSignatureFrom(c.Leaf) != nil {
		fmt.Fprintf(stdout, "WARNING: the file holds no intermediate (the certificate of %s): Swish refuses the certificate without it.\n", c.Leaf.Issuer)
	}
	if swish.ExpiresWithin(c, time.Now(), 30*24*time.Hour) {
		fmt.Fprintln(stdout, "WARNING: the certificate expires within 30 days; renew it with kvitt swish csr.")
	}
	return nil
}
