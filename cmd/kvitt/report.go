package main

import (
	"context"
	"fmt"
	"io"
)

func runReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return fmt.Errorf("kvitt report: not yet available")
}
