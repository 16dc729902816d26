package simcontrolunit

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Main runs the simulator alone until ctx is done (`kvitt sim controlunit`).
// Flags: -addr, -unit-id, -secret, -journal, -certs (a directory where the
// CA and the client certificate and key are written for the kvitt side).
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("controlunit", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS listen address")
	unitID := fs.String("unit-id", "CU-SIM-0001", "the control unit's manufacturing number")
	secret := fs.String("secret", "", "secret the control codes are keyed with (default: a fixed development secret)")
	journal := fs.String("journal", "", "JSON-lines file for the unit's hash-chained record (default: memory only)")
	certs := fs.String("certs", "", "directory to write ca.pem, client.pem and client-key.pem into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := New(Config{UnitID: *unitID, Secret: []byte(*secret), JournalPath: *journal})
	if err != nil {
		return err
	}
	if err := u.Start(*addr); err != nil {
		u.Close()
		return err
	}
	defer u.Close()
	if *certs != "" {
		cert, key := u.ClientCertPEM()
		if err := os.MkdirAll(*certs, 0o700); err != nil {
			return err
		}
		for name, data := range map[string][]byte{"ca.pem": u.CAPEM(), "client.pem": cert, "client-key.pem": key} {
			if err := os.WriteFile(filepath.Join(*certs, name), data, 0o600); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "certificates written to %s (ca.pem, client.pem, client-key.pem)\n", *certs)
	}
	fmt.Fprintf(stdout, "control unit %s listening on %s (%d registrations on record)\n", u.UnitID(), u.URL(), u.Registrations())
	<-ctx.Done()
	if err := u.Verify(); err != nil {
		return fmt.Errorf("control unit record does not verify: %w", err)
	}
	return nil
}
