package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the stores' time zones on hosts without a zone database

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bookkeeping"
	"github.com/kvitt-hub/kvitt/report"
)

// Bookkeeping: a period's Z reports into the merchant's books, each Z
// report once (docs/bookkeeping.md).

// BookkeepingQuery says what an export takes.
type BookkeepingQuery struct {
	// From and To are days (YYYY-MM-DD), both included, in the merchant's
	// time zone: the export takes the Z reports taken on those days.
	From, To string
	// MerchantID is whose books; "" when the tills are all one merchant's.
	MerchantID string
	// Format is "sie" (SIE 4, type 4I) or "csv".
	Format string
	// SkipExported leaves out the Z reports exported before, instead of
	// refusing the export.
	SkipExported bool
}

// BookkeepingExport is one export: the file and what went into it.
type BookkeepingExport struct {
	ID          string    `json:"id"`
	Format      string    `json:"format"`
	MerchantID  string    `json:"merchant_id"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Created     time.Time `json:"created"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	// Vouchers counts the vouchers in the file: one per Z report with
	// sales (a Z report of a day without any is exported, but has no
	// voucher).
	Vouchers int `json:"vouchers"`
	// ZReports went out in this export; Skipped had gone out before and
	// were left out (SkipExported).
	ZReports []ExportedZ `json:"z_reports"`
	Skipped  []ExportedZ `json:"skipped,omitempty"`
	Content  []byte      `json:"content"`
}

// ExportedZ names a Z report in an export.
type ExportedZ struct {
	TillID string `json:"till_id"`
	Serial int64  `json:"serial"`
	Date   string `json:"date"`
	// ExportID and Exported say when it went out, for a skipped one.
	ExportID string     `json:"export_id,omitempty"`
	Exported *time.Time `json:"exported,omitempty"`
}

// StoreAccounts are a store's bookkeeping accounts as in force: the
// defaults with the store's settings over them.
type StoreAccounts struct {
	StoreID string `json:"store_id"`
	bookkeeping.Accounts
}

// maxExportDays bounds a period: a fiscal year is at most 18 months.
const maxExportDays = 550

// ExportBookkeeping books the period's Z reports of the merchant's tills,
// one voucher per Z report, as one SIE or CSV file, and marks them
// exported; the file is kept (GetBookkeepingExport). In one transaction,
// under the merchant's bookkeeping lock, so racing exports take each Z
// report once. It refuses, exporting nothing and naming what is wrong:
//   - a till with receipts on a day of the period that no Z report has
//     closed (an open day): ECONFLICT;
//   - a Z report of the period exported before: ECONFLICT, naming the
//     export, unless SkipExported;
//   - no Z report in the period; a means of payment or a VAT rate without
//     an account; a voucher that does not balance: EUNPROCESSABLE.
func (h *Hub) ExportBookkeeping(ctx context.Context, q BookkeepingQuery) (*BookkeepingExport, error) {
	ct := map[string]string{"sie": "text/plain; charset=IBM437", "csv": "text/csv; charset=utf-8"}[q.Format]
	if ct == "" {
		return nil, kvitt.FieldError("format", "is sie or csv, not %q", q.Format)
	}
	from, err := parseDay("from", q.From)
	if err != nil {
		return nil, err
	}
	to, err := parseDay("to", q.To)
	if err != nil {
		return nil, err
	}
	if to.Before(from) {
		return nil, kvitt.FieldError("to", "%s is before from (%s)", q.To, q.From)
	}
	if to.Sub(from) > maxExportDays*24*time.Hour {
		return nil, kvitt.FieldError("to", "a period is at most %d days; export a fiscal year at a time", maxExportDays)
	}
	var ex *BookkeepingExport
	err = h.update(ctx, func(tx kvitt.Tx) error {
		m, tills, err := bookkeepingScope(tx, q.MerchantID)
		if err != nil {
			return err
		}
		if err := tx.Lock("bookkeeping:" + m.ID); err != nil {
			return err
		}
		loc := storeLocation(m.Country)
		start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, loc)
		end := time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, loc)
		if err := checkClosed(tx, tills, end, loc); err != nil {
			return err
		}
		zs, err := tx.ListZReportsEnded(start, end)
		if err != nil {
			return err
		}
		now := h.now()
		ex = &BookkeepingExport{ID: kvitt.NewID("bkx"), Format: q.Format, MerchantID: m.ID, From: q.From, To: q.To, Created: now,
			ContentType: ct, Filename: fmt.Sprintf("kvitt-%s-%s-%s.%s", m.ID, q.From, q.To, map[string]string{"sie": "si", "csv": "csv"}[q.Format])}
		var take []*kvitt.ZReport
		for _, z := range zs {
			if tills[z.TillID] == nil {
				continue
			}
			ez := ExportedZ{TillID: z.TillID, Serial: z.Serial, Date: z.PeriodEnd.In(loc).Format(time.DateOnly)}
			id, at, err := tx.ZReportExport(z.TillID, z.Serial)
			switch kvitt.ErrorCode(err) {
			case kvitt.ENOTFOUND:
				take = append(take, z)
				ex.ZReports = append(ex.ZReports, ez)
			case "":
				ez.ExportID, ez.Exported = id, &at
				ex.Skipped = append(ex.Skipped, ez)
			default:
				return err
			}
		}
		if len(take)+len(ex.Skipped) == 0 {
			return kvitt.Errorf(kvitt.EUNPROCESSABLE, "no Z report was taken at merchant %s's tills from %s to %s: nothing to export", m.ID, q.From, q.To)
		}
		if len(ex.Skipped) > 0 && (!q.SkipExported || len(take) == 0) {
			return exportedBefore(ex.Skipped, len(take) == 0 && q.SkipExported, loc)
		}
		f := &bookkeeping.File{Program: "kvitt", Version: programVersion(), Generated: now.In(loc), Company: m.Name, OrgNr: m.OrgNr,
			Currency: m.Currency, Prosa: fmt.Sprintf("Z-rapporter %s till %s", q.From, q.To), Names: map[string]string{}}
		accounts := map[string]bookkeeping.Accounts{}
		for _, z := range take {
			till := tills[z.TillID]
			a, ok := accounts[till.StoreID]
			if !ok {
				if a, err = storeAccounts(tx, till.StoreID); err != nil {
					return err
				}
				accounts[till.StoreID] = a
				for k, n := range a.Names {
					if _, dup := f.Names[k]; !dup {
						f.Names[k] = n
					}
				}
			}
			v, err := voucher(tx, z, a, loc)
			if err != nil {
				return err
			}
			if !v.Empty() {
				f.Vouchers = append(f.Vouchers, v)
			}
		}
		bookkeeping.SortVouchers(f.Vouchers)
		ex.Vouchers = len(f.Vouchers)
		if q.Format == "sie" {
			ex.Content, err = f.SIE()
		} else {
			ex.Content, err = f.CSV()
		}
		if err != nil {
			return err
		}
		for _, z := range take {
			if err := tx.MarkZReportExported(z.TillID, z.Serial, ex.ID, now); err != nil {
				return err
			}
		}
		data, err := json.Marshal(ex)
		if err != nil {
			return err
		}
		if err := tx.PutBookkeepingExport(ex.ID, now, data); err != nil {
			return err
		}
		j, _ := json.Marshal(map[string]any{"export": ex.ID, "format": ex.Format, "merchant": m.ID, "from": q.From, "to": q.To,
			"z_reports": ex.ZReports, "vouchers": ex.Vouchers})
		return tx.AppendJournal(&kvitt.JournalEntry{At: now, Kind: "bookkeeping.export", Ref: ex.ID, Data: string(j)})
	})
	if err != nil {
		return nil, err
	}
	return ex, nil
}

// GetBookkeepingExport returns an export made before, its file byte for
// byte as it was first handed out: for a file that never reached its
// reader. ENOTFOUND if there is none.
func (h *Hub) GetBookkeepingExport(ctx context.Context, id string) (*BookkeepingExport, error) {
	var ex BookkeepingExport
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		data, err := tx.GetBookkeepingExport(id)
		if err != nil {
			return err
		}
		return json.Unmarshal(data, &ex)
	})
	if err != nil {
		return nil, err
	}
	return &ex, nil
}

// BookkeepingAccounts returns the store's accounts as in force.
func (h *Hub) BookkeepingAccounts(ctx context.Context, storeID string) (*StoreAccounts, error) {
	var out *StoreAccounts
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetShop(storeID); err != nil {
			return err
		}
		a, err := storeAccounts(tx, storeID)
		out = &StoreAccounts{StoreID: storeID, Accounts: a}
		return err
	})
	return out, err
}

// SetBookkeepingAccounts sets the store's accounts: a's settings over the
// defaults (an empty map entry or string keeps the default). Every
// account must be four digits: a setting that is not is refused naming it
// ("methods.card"), and nothing changes.
func (h *Hub) SetBookkeepingAccounts(ctx context.Context, storeID string, a bookkeeping.Accounts) (*StoreAccounts, error) {
	merged := bookkeeping.Merge(a)
	if err := merged.Validate(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	err = h.update(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetShop(storeID); err != nil {
			return err
		}
		return tx.PutBookkeepingAccounts(storeID, data)
	})
	if err != nil {
		return nil, err
	}
	return &StoreAccounts{StoreID: storeID, Accounts: merged}, nil
}

// storeAccounts reads a store's settings over the defaults.
func storeAccounts(tx kvitt.Tx, storeID string) (bookkeeping.Accounts, error) {
	data, err := tx.BookkeepingAccounts(storeID)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return bookkeeping.Defaults(), nil
	}
	if err != nil {
		return bookkeeping.Accounts{}, err
	}
	var a bookkeeping.Accounts
	if err := json.Unmarshal(data, &a); err != nil {
		return bookkeeping.Accounts{}, fmt.Errorf("store %s: bookkeeping accounts: %w", storeID, err)
	}
	return bookkeeping.Merge(a), nil
}

// bookkeepingScope returns the merchant whose books an export is for and
// its tills by id. With no merchant named, the tills must all be one
// merchant's.
func bookkeepingScope(tx kvitt.Tx, merchantID string) (*kvitt.Merchant, map[string]*kvitt.Till, error) {
	all, err := tx.ListTills()
	if err != nil {
		return nil, nil, err
	}
	shops := map[string]*kvitt.Shop{}
	byMerchant := map[string]map[string]*kvitt.Till{}
	for _, t := range all {
		s, ok := shops[t.StoreID]
		if !ok {
			if s, err = tx.GetShop(t.StoreID); err != nil {
				return nil, nil, err
			}
			shops[t.StoreID] = s
		}
		if byMerchant[s.MerchantID] == nil {
			byMerchant[s.MerchantID] = map[string]*kvitt.Till{}
		}
		byMerchant[s.MerchantID][t.ID] = t
	}
	if merchantID == "" {
		ids := slices.Sorted(maps.Keys(byMerchant))
		switch len(ids) {
		case 0:
			return nil, nil, kvitt.Errorf(kvitt.EUNPROCESSABLE, "there is no till: nothing to export")
		case 1:
			merchantID = ids[0]
		default:
			return nil, nil, kvitt.FieldError("merchant", "the tills are %d merchants' (%s): say whose books to export", len(ids), strings.Join(ids, ", "))
		}
	}
	m, err := tx.GetMerchant(merchantID)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return nil, nil, kvitt.FieldError("merchant", "no merchant %q", merchantID)
	}
	if err != nil {
		return nil, nil, err
	}
	return m, byMerchant[m.ID], nil
}

// checkClosed refuses a period with an open day: a till with a receipt
// issued before end that no Z report has closed yet. Its takings would be
// missing from the books, and the Z report that closes it later would
// fall into another period. Receipts after end do not matter.
func checkClosed(tx kvitt.Tx, tills map[string]*kvitt.Till, end time.Time, loc *time.Location) error {
	var open []string
	for _, id := range slices.Sorted(maps.Keys(tills)) {
		last, err := lastZ(tx, id)
		if err != nil {
			return err
		}
		closed := int64(0)
		if last != nil {
			closed = last.LastSerial
		}
		upTo, err := tx.LastReceiptSerial(id)
		if err != nil {
			return err
		}
		if upTo <= closed {
			continue
		}
		// Serials follow time: the first unclosed receipts tell the first open day.
		rs, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: id, FromSerial: closed + 1, ToSerial: min(upTo, closed+100)})
		if err != nil {
			return err
		}
		var first time.Time
		for _, r := range rs {
			if first.IsZero() || r.Issued.Before(first) {
				first = r.Issued
			}
		}
		if !first.IsZero() && first.Before(end) {
			open = append(open, fmt.Sprintf("till %s has receipts from %s on (serials %d to %d) that no Z report has closed",
				id, first.In(loc).Format(time.DateOnly), closed+1, upTo))
		}
	}
	if len(open) > 0 {
		return kvitt.Errorf(kvitt.ECONFLICT, "the period has an open day: %s; take the Z report (POST /v1/tills/{id}/reports/z) and export again; nothing was exported",
			strings.Join(open, "; "))
	}
	return nil
}

// exportedBefore says which Z reports of the period went out before.
func exportedBefore(zs []ExportedZ, all bool, loc *time.Location) error {
	var names []string
	for i, z := range zs {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(zs)-5))
			break
		}
		names = append(names, fmt.Sprintf("till %s Z %d (%s) in export %s on %s", z.TillID, z.Serial, z.Date, z.ExportID, z.Exported.In(loc).Format("2006-01-02 15:04")))
	}
	if all {
		return kvitt.Errorf(kvitt.ECONFLICT, "every Z report of the period is exported already: %s; fetch an export again with GET /v1/bookkeeping/exports/{id} (kvitt export get ID) rather than booking it twice",
			strings.Join(names, "; "))
	}
	return kvitt.Errorf(kvitt.ECONFLICT, "the period has Z reports exported already: %s; exporting them again would book them twice. "+
		"Fetch that export again (GET /v1/bookkeeping/exports/{id}, kvitt export get ID), or export with skip_exported=true (--skip-exported) to take only the others; nothing was exported",
		strings.Join(names, "; "))
}

// voucher books one stored Z report. When a means of payment has
// accounts per brand ("card:VISA"), the brands' takings are summed from
// the Z report's receipts as the report sums them.
func voucher(tx kvitt.Tx, z *kvitt.ZReport, a bookkeeping.Accounts, loc *time.Location) (*bookkeeping.Voucher, error) {
	var rep report.Report
	if err := json.Unmarshal(z.Data, &rep); err != nil {
		return nil, fmt.Errorf("Z report %d of till %s: %w", z.Serial, z.TillID, err)
	}
	d := z.PeriodEnd.In(loc)
	in := bookkeeping.Z{TillID: z.TillID, Serial: z.Serial, Date: time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), Report: &rep}
	split := map[string]bool{}
	for k := range a.Methods {
		if m, _, ok := strings.Cut(k, ":"); ok {
			split[m] = true
		}
	}
	if len(split) > 0 && z.LastSerial >= z.FirstSerial && z.FirstSerial > 0 {
		rs, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: z.TillID, FromSerial: z.FirstSerial, ToSerial: z.LastSerial})
		if err != nil {
			return nil, err
		}
		in.Split = map[string]map[string]int64{}
		for _, r := range rs {
			if r.Type != kvitt.ReceiptNormal {
				continue // copies, training and pro forma receipts take no money
			}
			sign := int64(1)
			if r.Kind == kvitt.ReceiptReturn {
				sign = -1
			}
			for _, t := range r.Tenders {
				if !split[t.Method] {
					continue
				}
				brand := ""
				if t.Card != nil {
					brand = t.Card.Brand
				}
				if in.Split[t.Method] == nil {
					in.Split[t.Method] = map[string]int64{}
				}
				in.Split[t.Method][brand] += sign * (abs(t.Amount) + abs(t.Tip))
			}
		}
	}
	return bookkeeping.NewVoucher(in, a)
}

// parseDay reads a day, YYYY-MM-DD.
func parseDay(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, kvitt.FieldError(field, "is required: a day, YYYY-MM-DD")
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, kvitt.FieldError(field, "%q is not a day: write YYYY-MM-DD, e.g. 2026-11-23", s)
	}
	return d, nil
}

// storeLocation is the time zone of a merchant's country: its days are
// the days of the Z reports.
func storeLocation(country string) *time.Location {
	name := map[string]string{"SE": "Europe/Stockholm", "NO": "Europe/Oslo", "DK": "Europe/Copenhagen", "FI": "Europe/Helsinki",
		"IS": "Atlantic/Reykjavik"}[country]
	if name == "" {
		name = "Europe/Stockholm"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// programVersion is kvitt's version for #PROGRAM: the module version of
// the binary, "dev" for a build from a work tree.
func programVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
