package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

const exportUsage = `usage:
  kvitt export sie|csv --from YYYY-MM-DD --to YYYY-MM-DD [--merchant ID] [--skip-exported] [--out FILE|-] [--data DIR]
                        the Z reports taken on those days, one voucher each, as a SIE 4 (4I) or CSV
                        file for the merchant's books; each Z report is exported once
  kvitt export get ID [--out FILE|-] [--data DIR]
                        an export made before, byte for byte (a file that never arrived)`

// runExport writes the bookkeeping of a period (docs/bookkeeping.md).
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "sie" && args[0] != "csv" && args[0] != "get") {
		return errors.New(exportUsage)
	}
	cmd := args[0]
	fset := flag.NewFlagSet("export "+cmd, flag.ContinueOnError)
	fset.SetOutput(stderr)
	data := dataFlag(fset)
	from := fset.String("from", "", "the first day, YYYY-MM-DD")
	to := fset.String("to", "", "the last day, YYYY-MM-DD (included)")
	merchant := fset.String("merchant", "", "whose books, when the tills are several merchants'")
	skip := fset.Bool("skip-exported", false, "leave out the Z reports exported before instead of refusing")
	out := fset.String("out", "", "the file to write (\"-\" for standard output; default: the export's name, in this directory)")
	force := fset.Bool("force", false, "overwrite --out if it exists")
	rest := args[1:]
	id := ""
	if cmd == "get" {
		if len(rest) == 0 || rest[0] == "" || rest[0][0] == '-' {
			return errors.New(exportUsage)
		}
		id, rest = rest[0], rest[1:]
	}
	if err := fset.Parse(rest); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("export: unexpected %q\n%s", fset.Arg(0), exportUsage)
	}
	// Refuse an existing file before exporting: once exported, a Z report
	// is marked, and the file must reach its reader.
	if *out != "" && *out != "-" && !*force {
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("export: %s exists; choose another --out or add --force", *out)
		}
	}
	db, err := data.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	h := hub.New(db, slog.New(slog.NewTextHandler(stderr, nil)))
	var ex *hub.BookkeepingExport
	if cmd == "get" {
		ex, err = h.GetBookkeepingExport(ctx, id)
	} else {
		ex, err = h.ExportBookkeeping(ctx, hub.BookkeepingQuery{From: *from, To: *to, MerchantID: *merchant, Format: cmd, SkipExported: *skip})
	}
	if err != nil {
		if f := kvitt.ErrorField(err); f != "" {
			return fmt.Errorf("export: --%s: %s", flagName(f), kvitt.ErrorMessage(err))
		}
		if m := kvitt.ErrorMessage(err); kvitt.ErrorCode(err) != kvitt.EINTERNAL {
			return fmt.Errorf("export: %s", m)
		}
		return err
	}
	path := *out
	if path == "" {
		path = ex.Filename
		if !*force {
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("export %s was made, but %s exists: write it with kvitt export get %s --out FILE", ex.ID, path, ex.ID)
			}
		}
	}
	summary := stdout
	if path == "-" {
		if _, err := stdout.Write(ex.Content); err != nil {
			return err
		}
		summary = stderr
	} else if err := os.WriteFile(path, ex.Content, 0o644); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("export %s was made, but writing %s failed (%v): write it with kvitt export get %s --out FILE", ex.ID, path, err, ex.ID)
	}
	where := path
	if path == "-" {
		where = "standard output"
	}
	fmt.Fprintf(summary, "export %s: %d vouchers from %d Z reports (%s to %s) written to %s", ex.ID, ex.Vouchers, len(ex.ZReports), ex.From, ex.To, where)
	if len(ex.Skipped) > 0 {
		fmt.Fprintf(summary, "; %d Z reports exported before were left out", len(ex.Skipped))
	}
	fmt.Fprintln(summary)
	return nil
}

// flagName is the command-line flag of an export query's field.
func flagName(field string) string {
	if field == "skip_exported" {
		return "skip-exported"
	}
	return field
}
