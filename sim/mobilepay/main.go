package simmobilepay

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Main runs the simulator standalone (kvitt sim mobilepay): it writes its
// CA certificate to --certs, prints where it listens and the sales unit's
// credentials, and serves until ctx ends.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim mobilepay", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8446", "address to listen on")
	certs := fs.String("certs", "mobilepay-sim-certs", "directory to write the CA certificate (ca.pem) to")
	msn := fs.String("msn", DefaultMSN, "Merchant Serial Number of the simulated sales unit")
	clientID := fs.String("client-id", DefaultClientID, "client_id of the sales unit")
	clientSecret := fs.String("client-secret", DefaultClientSecret, "client_secret of the sales unit")
	subKey := fs.String("subscription-key", DefaultSubscriptionKey, "Ocp-Apim-Subscription-Key of the sales unit")
	window := fs.Duration("payment-window", 0, "how long a payment waits for the customer before EXPIRED (0: 10m)")
	tokenLife := fs.Duration("token-lifetime", 0, "access token lifetime (0: 1h, as in the test environment)")
	delay := fs.Duration("webhook-delay", 0, "wait before each webhook delivery")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := New(Options{Addr: *addr, MSN: *msn, ClientID: *clientID, ClientSecret: *clientSecret, SubscriptionKey: *subKey,
		PaymentWindow: *window, TokenLifetime: *tokenLife, WebhookDelay: *delay})
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
	fmt.Fprintf(stdout, `MobilePay (Vipps MobilePay platform) simulator listening
  API URL:          %s   (like https://apitest.vipps.no)
  MSN:              %s
  client_id:        %s
  client_secret:    %s
  subscription key: %s
  CA certificate:   %s
  customer:         POST %ssim/customer/checkin {"qr":"<beacon id or QR content>"}
                    POST %ssim/customer/payments/{reference}/{approve|reject|expire}
  test hooks:       GET %ssim/ledger (each payment's amounts, captures and refunds)
                    POST %ssim/hold/{create|capture|cancel|refund}, GET %ssim/held,
                    POST %ssim/held/{op}/{process|drop}[?reference=…]
  webhooks go to the URLs registered with POST /webhooks/v1/webhooks, signed with HMAC-SHA256;
  they trust the system roots and this CA.
`, s.URL(), s.MSN(), s.ClientID(), s.ClientSecret(), s.SubscriptionKey(), filepath.Join(abs, "ca.pem"), s.RootURL(), s.RootURL(),
		s.RootURL(), s.RootURL(), s.RootURL(), s.RootURL())
	<-ctx.Done()
	return nil
}
