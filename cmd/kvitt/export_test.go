package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bookkeeping/sietest"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/report"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// kvitt export sie writes a closed day of a data directory as a SIE file
// the independent reader accepts; a second export of the day is refused,
// and the first file is written again with kvitt export get.
func TestExportCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, db)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	err = db.Update(ctx, func(tx kvitt.Tx) error {
		serial, err := tx.NextReceiptSerial("1")
		if err != nil {
			return err
		}
		return tx.CreateReceipt(&kvitt.Receipt{ID: "rcp_1", MerchantID: "m1", TillID: "1", SaleID: "sale_1", Serial: serial,
			Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Issued: at, Currency: kvitt.SEK, Total: 6900,
			VAT:          []kvitt.VATTotal{{Rate: 1200, Gross: 6900, Net: 6161, VAT: 739}},
			Tenders:      []kvitt.Tender{{Method: "cash", Amount: 6900}},
			Registration: kvitt.RegistrationNotRequired})
	})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Now = func() time.Time { return at.Add(7 * time.Hour) }
	if _, err := h.Report(ctx, "1", report.Z); err != nil {
		t.Fatal(err)
	}
	h.Close()
	db.Close()

	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runExport(ctx, append(args, "--data", dir), &out, io.Discard)
		return out.String(), err
	}
	if _, err := cli("sie", "--from", "23/11/2026", "--to", "2026-11-23"); err == nil || !strings.Contains(err.Error(), "--from:") {
		t.Errorf("bad --from: %v", err)
	}
	file := filepath.Join(dir, "day.si")
	out, err := cli("sie", "--from", "2026-11-23", "--to", "2026-11-23", "--out", file)
	if err != nil || !strings.Contains(out, "1 vouchers from 1 Z reports (2026-11-23 to 2026-11-23) written to "+file) {
		t.Fatalf("export: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sietest.Parse(b)
	if err != nil {
		t.Fatalf("the independent SIE reader refuses the file: %v\n%s", err, b)
	}
	if bal := f.Balance(); bal["1910"] != 6900 || bal["3002"] != -6161 || bal["2621"] != -739 {
		t.Errorf("balance %v", bal)
	}
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")

	if _, err := cli("csv", "--from", "2026-11-23", "--to", "2026-11-23", "--out", filepath.Join(dir, "day.csv")); err == nil ||
		!strings.Contains(err.Error(), "exported already") {
		t.Errorf("second export: %v", err)
	}
	if _, err := cli("sie", "--from", "2026-11-23", "--to", "2026-11-23", "--out", file); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("over an existing file: %v", err)
	}
	again, err := cli("get", id, "--out", "-")
	if err != nil || again != string(b) {
		t.Errorf("export get: %v\n%q", err, again)
	}
	if _, err := cli("get"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("get without an id: %v", err)
	}
}
