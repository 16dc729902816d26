package simnexo

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Main runs the simulator alone until ctx ends: kvitt sim nexo --addr 127.0.0.1:8443.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kvitt sim nexo", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on")
	poiid := fs.String("poiid", "KVITTSIM-0001", "the terminal's POIID")
	tip := fs.Bool("tip", false, `ask for the total (amount + "Extra") before the card`)
	auto := fs.String("auto", "", "answer every payment with this card at once: approve, approve_signature, decline, wrong_pin, insufficient_funds, cancel, no_answer")
	processing := fs.Duration("processing", 500*time.Millisecond, "authorisation time after the card is presented")
	timeout := fs.Duration("timeout", 120*time.Second, "how long the terminal waits for the customer")
	caOut := fs.String("ca-out", "", "write the simulator's CA certificate (PEM) to this file")
	profile := fs.String("profile", ProfileWestpay, "terminal profile: westpay (Login required) or adyen (no Login)")
	key := fs.String("key", "", "shared encryption key IDENTIFIER:VERSION:PASSPHRASE (Adyen's message protection)")
	requireEnc := fs.Bool("require-encryption", false, "refuse requests in clear (Adyen in live use; needs --key)")
	certName := fs.String("cert-name", "", "present a certificate with this name only, from a fleet root of its own (e.g. P400Plus-123456789.test.terminal.adyen.com)")
	abortOnDrop := fs.Bool("abort-on-drop", false, "a dropped link aborts a transaction still waiting for the card and logs the till out (Westpay)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := Options{POIID: *poiid, Tip: *tip, Auto: Scenario(*auto), ProcessingTime: *processing, CustomerTimeout: *timeout,
		ErrorLog: log.New(stdout, "simnexo: ", log.LstdFlags), Profile: *profile, RequireEncryption: *requireEnc,
		CertificateName: *certName, AbortOnDrop: *abortOnDrop}
	if *key != "" {
		id, rest, ok1 := strings.Cut(*key, ":")
		ver, pass, ok2 := strings.Cut(rest, ":")
		v, err := strconv.Atoi(ver)
		if !ok1 || !ok2 || err != nil || id == "" || pass == "" {
			return fmt.Errorf("--key: want IDENTIFIER:VERSION:PASSPHRASE")
		}
		opts.Keys = []Key{{Identifier: id, Version: v, Passphrase: pass}}
	}
	if *requireEnc && len(opts.Keys) == 0 {
		return fmt.Errorf("--require-encryption needs --key")
	}
	t, err := New(opts)
	if err != nil {
		return err
	}
	if err := t.Start(*addr); err != nil {
		return err
	}
	defer t.Close()
	if *caOut != "" {
		if err := simpki.WriteFileAtomic(*caOut, t.CAPEM(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA certificate written to %s\n", *caOut)
	} else {
		fmt.Fprintf(stdout, "%s", t.CAPEM())
	}
	fmt.Fprintf(stdout, "nexo terminal %s (%s) listening on %s (Extra %v)\nscreen: %s\n", t.POIID(), t.opts.Profile, t.URL(), *tip, t.ScreenURL())
	<-ctx.Done()
	return nil
}
