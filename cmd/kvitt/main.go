// Command kvitt is the payment hub: "kvitt serve" runs it (sandbox by
// default), the other subcommands run simulators and operator tasks.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `kvitt: a payment hub for Nordic retail

usage:
  kvitt serve [--data DIR] [--addr HOST:PORT] [--config FILE] [--live]
  kvitt sim swish|nexo|controlunit|computop|mobilepay|svea [flags]
                                               run one provider simulator alone, on 127.0.0.1:
                                               nexo 8443, swish 8444, controlunit 8445,
                                               mobilepay 8446, computop 8447, svea 8448
                                               (--addr; -h for flags)
  kvitt swish csr | cert import | cert info    the Swish merchant certificate
  kvitt computop batch build|check|apply       Computop credit batch files and their results
  kvitt mobilepay webhook|qr ...               MobilePay set-up: the webhook, till QRs
  kvitt apikey create --scope admin|backoffice|till [--till ID] [--name NAME] [--data DIR]
  kvitt user add|password|unlock USERNAME ...   staff users of the screens (kvitt user -h)
  kvitt journal verify [--data DIR]            check the hash chain of the journal
  kvitt report x|z --till ID [--data DIR]      print an X or Z report (Z closes the day)
  kvitt export sie|csv --from YYYY-MM-DD --to YYYY-MM-DD [--merchant ID] [--skip-exported] [--out FILE|-] [--data DIR]
                                               the Z reports of a period as bookkeeping (SIE 4)
  kvitt export get ID                          an earlier export again
  kvitt version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kvitt:", err)
		os.Exit(1)
	}
}

// run is the whole program, so tests run it as it is.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command")
	}
	switch args[0] {
	case "serve":
		m := NewMain(getenv, stdout, stderr)
		if err := m.ParseFlags(args[1:]); err != nil {
			return err
		}
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		<-ctx.Done()
		return m.Close()
	case "sim":
		return runSim(ctx, args[1:], stdout, stderr)
	case "swish":
		return runSwish(ctx, args[1:], stdout, stderr)
	case "computop":
		return runComputop(ctx, args[1:], stdout, stderr)
	case "mobilepay":
		return runMobilePay(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, args[1:], stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], getenv, stdinReader, stdout, stderr)
	case "journal":
		return runJournal(ctx, args[1:], stdout, stderr)
	case "report":
		return runReport(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "kvitt", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
