package simsvea

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Main runs the simulator standalone (kvitt sim svea): it writes its CA
// certificate to --certs, prints where it listens and the account's
// credentials, and serves until ctx ends.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim svea", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8448", "address to listen on")
	certs := fs.String("certs", "svea-sim-certs", "directory to write the CA certificate (ca.pem) to")
	merchant := fs.String("merchant-id", DefaultMerchantID, "Instore merchant id (Basic auth user)")
	password := fs.String("password", DefaultPassword, "Instore password (Basic auth password)")
	country := fs.String("country", "SE", "the account's country code")
	adminAddr := fs.String("admin-addr", "", "address for Payment Admin to listen on (default: a free port on --addr's host)")
	interval := fs.Duration("status-interval", 0, "least time between status calls of one order (0: 5s, Svea's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := New(Options{Addr: *addr, AdminAddr: *adminAddr, MerchantID: *merchant, Password: *password, CountryCode: *country, StatusInterval: *interval})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := os.MkdirAll(*certs, 0o700); err != nil {
		return err
	}
	if err := simpki.WriteFileAtomic(filepath.Join(*certs, "ca.pem"), s.CAPEM(), 0o644); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*certs)
	fmt.Fprintf(stdout, `Svea Instore simulator listening
  API URL:         %s   (like https://webpayinstoreapistage.svea.com)
  merchant id:     %s
  password:        %s
  country:         %s
  Payment Admin:   %s   (like https://paymentadminapistage.svea.com)
  admin secret:    %s   (merchant id as above)
  CA certificate:  %s
  SMS outbox:      GET %s/sim/sms
  callbacks made:  GET %s/sim/callbacks
  customer:        open the link of an SMS: %s/checkout/{token} (complete or abandon)
  test hooks:      GET %s/sim/ledger (each merchant order number: status, creates, returns…)
                   POST %s/sim/hold/{create|status|cancel|return}, GET %s/sim/held[?op=&n=&wait=10s],
                   POST %s/sim/release/{op} or /sim/drop/{op} [?merchant_order_number=…|?id=…]
`, s.URL(), s.MerchantID(), s.Password(), *country, s.AdminURL(), s.AdminSecret(), filepath.Join(abs, "ca.pem"), s.URL(), s.URL(), s.URL(),
		s.URL(), s.URL(), s.URL(), s.URL())
	<-ctx.Done()
	return nil
}
