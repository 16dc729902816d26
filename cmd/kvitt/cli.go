package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
	simmobilepay "github.com/kvitt-hub/kvitt/sim/mobilepay"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: kvitt sim swish|nexo|controlunit|computop|mobilepay|svea [flags]")
	}
	switch args[0] {
	case "swish":
		return simswish.Main(ctx, args[1:], stdout)
	case "nexo":
		return simnexo.Main(ctx, args[1:], stdout)
	case "controlunit":
		return simcontrolunit.Main(ctx, args[1:], stdout)
	case "computop":
		return simcomputop.Main(ctx, args[1:], stdout)
	case "mobilepay":
		return simmobilepay.Main(ctx, args[1:], stdout)
	case "svea":
		return simsvea.Main(ctx, args[1:], stdout)
	}
	return fmt.Errorf("no simulator %q (swish, nexo, controlunit, computop, mobilepay, svea)", args[0])
}

// storeFlags are the flags that say where the ledger is, for the commands
// that open it: the data directory (SQLite) or a PostgreSQL URL.
type storeFlags struct{ data, database *string }

func dataFlag(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		data:     fs.String("data", "kvitt-data", "data directory (SQLite)"),
		database: fs.String("database", os.Getenv("KVITT_DATABASE"), "PostgreSQL URL instead of SQLite (default $KVITT_DATABASE)"),
	}
}

func (f storeFlags) open(ctx context.Context) (*sqlstore.DB, error) {
	return openStore(ctx, &Config{Data: *f.data, Database: *f.database})
}

func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: kvitt apikey create --scope admin|backoffice|till [--till ID] [--name NAME] [--data DIR]")
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs)
	scope := fs.String("scope", "", "admin, backoffice or till")
	till := fs.String("till", "", "the till a till key belongs to")
	name := fs.String("name", "", "a name to recognise the key by")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := data.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	k, secret, err := kvitthttp.CreateAPIKey(ctx, db, kvitt.Scope(*scope), *till, *name)
	if err != nil {
		return fmt.Errorf("%s", kvitt.ErrorField(err)+": "+kvitt.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "API key %s (%s", k.ID, k.Scope)
	if k.TillID != "" {
		fmt.Fprintf(stdout, ", till %s", k.TillID)
	}
	fmt.Fprintf(stdout, "), shown once:\n%s\n", secret)
	return nil
}

// runJournal verifies the journal's hash chain, entry by entry, in pages.
func runJournal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("usage: kvitt journal verify [--data DIR]")
	}
	fs := flag.NewFlagSet("journal verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := data.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	var v kvitt.JournalVerifier
	var after int64
	for {
		var page []*kvitt.JournalEntry
		if err := db.View(ctx, func(tx kvitt.Tx) (err error) { page, err = tx.ListJournal(after, 1000); return err }); err != nil {
			return err
		}
		for _, e := range page {
			if err := v.Check(e); err != nil {
				return fmt.Errorf("journal verify: FAILED: %w", err)
			}
			after = e.Seq
		}
		if len(page) < 1000 {
			break
		}
	}
	fmt.Fprintf(stdout, "journal verified: %d entries, chain intact\n", v.Count)
	return nil
}

var _ = http.StatusOK
