package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/report"
)

// runReport prints a till's X report, or takes its Z report (closing the day).
func runReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "x" && args[0] != "z") {
		return fmt.Errorf("usage: kvitt report x|z --till ID [--width 42|48] [--data DIR]")
	}
	kind := report.X
	if args[0] == "z" {
		kind = report.Z
	}
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs)
	till := fs.String("till", "", "the till")
	width := fs.Int("width", 42, "printer width: 42 or 48 columns")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *till == "" || (*width != 42 && *width != 48) {
		return fmt.Errorf("report: --till is required and --width is 42 or 48")
	}
	db, err := data.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	h := hub.New(db, slog.New(slog.NewTextHandler(stderr, nil)))
	rep, err := h.Report(ctx, *till, kind)
	if err != nil {
		if f := kvitt.ErrorField(err); f != "" {
			return fmt.Errorf("%s: %s", f, kvitt.ErrorMessage(err))
		}
		return err
	}
	fmt.Fprint(stdout, report.Text(rep, *width))
	return nil
}
