package simswish

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
)

// Main runs the simulator standalone (kvitt sim swish): it writes its
// certificates to --certs, prints where it listens, and serves until ctx ends.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim swish", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on")
	certs := fs.String("certs", "swish-sim-certs", "directory to write the generated certificates to")
	payee := fs.String("payee", DefaultPayeeAlias, "merchant Swish number (CN of the merchant certificate)")
	auto := fs.Duration("auto-approve", 0, "approve every payment request after this long, like the MSS (0: wait for the customer)")
	window := fs.Duration("payer-window", 0, "how long the customer has before TM01 (0: 3m)")
	delay := fs.Duration("callback-delay", 0, "wait before each callback")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := New(Options{Addr: *addr, PayeeAlias: *payee, AutoApprove: *auto, PayerWindow: *window, CallbackDelay: *delay})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.PKI().WriteDir(*certs); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*certs)
	fmt.Fprintf(stdout, "Swish simulator listening\n  API URL:         %s\n  customer:        %ssim/customer/paymentrequests/{instructionUUID|token}/{approve|decline|cancel|timeout}\n  merchant number: %s\n  certificates:    %s (merchant.pem for kvitt, ca.pem as the server root)\n",
		s.URL(), s.RootURL(), s.PayeeAlias(), abs)
	<-ctx.Done()
	return nil
}
