package simcontrolunit

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// Main runs the simulator alone until ctx is done (`kvitt sim controlunit`).
// Flags: --addr, --unit-id, --secret, --journal, --certs (a directory that
// keeps the unit's certificates across restarts: the CA and the client
// certificate and key for the kvitt side, the server certificate and key
// for the unit; see Config.CertsDir).
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("controlunit", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8445", "HTTPS listen address")
	unitID := fs.String("unit-id", "CU-SIM-0001", "the control unit's manufacturing number")
	secret := fs.String("secret", "", "secret the control codes are keyed with (default: a fixed development secret)")
	journal := fs.String("journal", "", "JSON-lines file for the unit's hash-chained record (default: memory only)")
	certs := fs.String("certs", "", "directory that keeps the certificates across restarts: "+
		"ca.pem, client.pem and client-key.pem for kvitt, server.pem and server-key.pem for the unit "+
		"(made there when it is empty; default: new certificates, not written anywhere)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := New(Config{UnitID: *unitID, Secret: []byte(*secret), JournalPath: *journal, CertsDir: *certs})
	if err != nil {
		return err
	}
	if err := u.Start(*addr); err != nil {
		u.Close()
		return err
	}
	defer u.Close()
	if *certs != "" {
		verb := "kept from"
		if u.newCerts {
			verb = "written to"
		}
		fmt.Fprintf(stdout, "certificates %s %s (give kvitt %s, %s and %s)\n", verb, *certs, CAFile, ClientCertFile, ClientKeyFile)
	}
	fmt.Fprintf(stdout, "control unit %s listening on %s (%d registrations on record)\n", u.UnitID(), u.URL(), u.Registrations())
	<-ctx.Done()
	if err := u.Verify(); err != nil {
		return fmt.Errorf("control unit record does not verify: %w", err)
	}
	return nil
}
