package simcomputop

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Main runs the simulator standalone (kvitt sim computop): it writes its CA
// certificate to --certs, prints where it listens and the credentials, and
// serves until ctx ends.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim computop", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8447", "address to listen on")
	certs := fs.String("certs", "computop-sim-certs", "directory to write the simulator's CA certificate (ca.pem) to")
	mid := fs.String("merchant-id", DefaultMerchantID, "MerchantID")
	password := fs.String("password", DefaultPassword, "Blowfish (or AES) password")
	hmacKey := fs.String("hmac-key", DefaultHMACKey, "HMAC password")
	useAES := fs.Bool("aes", false, "use AES instead of Blowfish (the password must be 16, 24 or 32 bytes)")
	small := fs.Bool("allow-small-amounts", false, "accept amounts under 100 öre")
	anyPort := fs.Bool("allow-any-notify-port", false, "accept URLNotify on ports other than 443")
	auto := fs.Duration("auto-approve", 0, "approve every payment after this long (0: wait for the customer)")
	window := fs.Duration("payer-window", 0, "how long the customer has before TM01 (0: 3m)")
	retry := fs.Duration("retry-unit", 0, "unit of the notification retry gaps n³ (0: 1m, as the Paygate)")
	forward := fs.String("notify-forward", "", "deliver notifications to this base URL plus URLNotify's path, as a reverse proxy on URLNotify's host would (e.g. http://127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *forward != "" {
		if u, err := url.Parse(*forward); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--notify-forward %q: an http or https base URL", *forward)
		}
	}
	s, err := New(Options{Addr: *addr, MerchantID: *mid, Password: *password, HMACKey: *hmacKey, AES: *useAES,
		AllowSmallAmounts: *small, AllowAnyNotifyPort: *anyPort, AutoApprove: *auto, PayerWindow: *window, RetryUnit: *retry,
		NotifyForward: *forward})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := os.MkdirAll(*certs, 0o755); err != nil {
		return err
	}
	if err := simpki.WriteFileAtomic(filepath.Join(*certs, "ca.pem"), s.CAPEM(), 0o644); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*certs)
	fmt.Fprintf(stdout, "Computop Paygate simulator listening\n  base URL:    %s (swish.aspx, credit.aspx, inquire.aspx, inquire24.aspx)\n  customer:    %ssim/customer/{TransID}/{approve|decline|cancel|timeout}\n  batch:       PUT %ssim/batch/T<YYYYMMDD><MerchantID><NNN>.dat answers with the processed file (GET %ssim/batch/P…)\n  ledger:      %ssim/ledger.json\n  MerchantID:  %s\n  password:    %s\n  HMAC key:    %s\n  CA:          %s\n",
		s.URL(), s.URL(), s.URL(), s.URL(), s.URL(), *mid, *password, *hmacKey, filepath.Join(abs, "ca.pem"))
	<-ctx.Done()
	return nil
}
