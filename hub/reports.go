package hub

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
)

// Report computes a till's X report (a reading that changes nothing) or Z
// report (the day's closing: it gets the till's next Z serial, is stored, and
// the next period starts where it ends). The period runs from the previous
// Z report's end to now.
func (h *Hub) Report(ctx context.Context, tillID string, kind report.Kind) (*report.Report, error) {
	var rep *report.Report
	now := h.now()
	fn := func(tx kvitt.Tx) error {
		till, shop, m, err := tillContext(tx, tillID)
		if err != nil {
			return err
		}
		opts := report.Options{Kind: kind, PeriodEnd: now, Generated: now, TillID: till.ID, RegisterID: till.RegisterID,
			MerchantName: m.Name, OrgNr: m.OrgNr, StoreName: shop.Name, Address: shop.Address, Currency: m.Currency}
		last, err := tx.LastZReport(tillID)
		switch {
		case err == nil:
			opts.PeriodStart = last.PeriodEnd
			var prev report.Report
			if err := json.Unmarshal(last.Data, &prev); err != nil {
				return err
			}
			opts.GrandTotalsBefore = prev.GrandTotals
			opts.Serial = last.Serial + 1
		case kvitt.ErrorCode(err) == kvitt.ENOTFOUND:
			opts.Serial = 1
		default:
			return err
		}
		if kind == report.X {
			opts.Serial = 0
		}
		receipts, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: tillID, From: opts.PeriodStart, To: now.Add(time.Microsecond)})
		if err != nil {
			return err
		}
		rep = report.Compute(receipts, opts)
		if kind != report.Z {
			return nil
		}
		data, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		if err := tx.CreateZReport(&kvitt.ZReport{TillID: tillID, Serial: opts.Serial, PeriodStart: opts.PeriodStart, PeriodEnd: now.Add(time.Microsecond), Data: data, Created: now}); err != nil {
			return err
		}
		j, _ := json.Marshal(map[string]any{"till": tillID, "serial": opts.Serial, "sales": rep.Sales.Amount, "returns": rep.Returns.Amount,
			"grand_totals": rep.GrandTotals})
		return tx.AppendJournal(&kvitt.JournalEntry{At: now, Kind: "z_report", Ref: tillID, Data: string(j)})
	}
	var err error
	if kind == report.Z {
		err = h.Store.Update(ctx, fn)
	} else {
		err = h.Store.View(ctx, fn)
	}
	return rep, err
}

// ZReport returns a stored Z report by serial.
func (h *Hub) ZReport(ctx context.Context, tillID string, serial int64) (*report.Report, error) {
	var rep report.Report
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		z, err := tx.GetZReport(tillID, serial)
		if err != nil {
			return err
		}
		return json.Unmarshal(z.Data, &rep)
	})
	return &rep, err
}

// CopyReceipt prints the one copy a receipt may have (marked KOPIA). The copy
// takes the till's next serial, names the original's serial and time, and is
// registered with the control unit like any receipt. Errors: ECONFLICT for a
// second copy, a copy of a copy, or an original not yet registered.
func (h *Hub) CopyReceipt(ctx context.Context, id string) (*kvitt.Receipt, error) {
	var cp *kvitt.Receipt
	now := h.now()
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		orig, err := tx.GetReceipt(id)
		if err != nil {
			return err
		}
		if orig.Type != kvitt.ReceiptNormal {
			return kvitt.Errorf(kvitt.ECONFLICT, "receipt %s is a %s receipt; only a normal receipt has a copy", id, orig.Type)
		}
		if orig.Registration == kvitt.RegistrationPending {
			return kvitt.Errorf(kvitt.ECONFLICT, "receipt %s is not registered with the control unit yet; try again in a moment", id)
		}
		siblings, err := tx.ListReceipts(kvitt.ReceiptFilter{SaleID: orig.SaleID})
		if err != nil {
			return err
		}
		for _, s := range siblings {
			if s.CopyOf == orig.ID {
				return kvitt.Errorf(kvitt.ECONFLICT, "receipt %s already has its copy (%s); the law allows only one", id, s.ID)
			}
		}
		serial, err := tx.NextReceiptSerial(orig.TillID)
		if err != nil {
			return err
		}
		c := *orig
		c.ID, c.Serial, c.Type, c.Issued, c.Created = kvitt.NewID("rcp"), serial, kvitt.ReceiptCopy, now, time.Time{}
		c.CopyOf, c.CopySerial, c.CopyTime = orig.ID, orig.Serial, orig.Issued
		c.ControlUnitID, c.ControlCode = "", ""
		cp = &c
		return h.issue(tx, cp, now)
	})
	if err != nil {
		return nil, err
	}
	return h.registerNow(ctx, cp), nil
}

// ProForma issues a pro forma receipt (marked EJ KVITTO) for an open sale: a
// bill shown before payment. It is registered, counted apart in the reports,
// and changes nothing on the sale.
func (h *Hub) ProForma(ctx context.Context, saleID string) (*kvitt.Receipt, error) {
	var rc *kvitt.Receipt
	now := h.now()
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		s, err := tx.GetSale(saleID)
		if err != nil {
			return err
		}
		if s.State != kvitt.SaleOpen {
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is %s; a pro forma receipt is for an open sale", saleID, s.State)
		}
		rc, err = h.newReceipt(tx, s, kvitt.ReceiptProForma, nil, now)
		if err != nil {
			return err
		}
		return h.issue(tx, rc, now)
	})
	if err != nil {
		return nil, err
	}
	return h.registerNow(ctx, rc), nil
}

// newReceipt builds a receipt for a sale with the till's next serial.
func (h *Hub) newReceipt(tx kvitt.Tx, s *kvitt.Sale, typ kvitt.ReceiptType, ps []*kvitt.Payment, now time.Time) (*kvitt.Receipt, error) {
	till, shop, m, err := tillContext(tx, s.TillID)
	if err != nil {
		return nil, err
	}
	serial, err := tx.NextReceiptSerial(till.ID)
	if err != nil {
		return nil, err
	}
	rc := &kvitt.Receipt{ID: kvitt.NewID("rcp"), MerchantID: m.ID, TillID: till.ID, SaleID: s.ID, Serial: serial,
		Type: typ, Kind: kvitt.ReceiptSale, Issued: now,
		MerchantName: m.Name, OrgNr: m.OrgNr, StoreName: shop.Name, Address: shop.Address, RegisterID: till.RegisterID,
		Currency: s.Currency, Lines: s.Lines, Total: s.Total, VAT: s.VAT, Registration: kvitt.RegistrationNotRequired}
	for _, p := range ps {
		if !p.State.Captured() {
			continue
		}
		rc.Tenders = append(rc.Tenders, kvitt.Tender{PaymentID: p.ID, Method: p.Method, Amount: p.Applied(), Tip: p.Tip,
			Tendered: p.Tendered, Change: p.Change, Rounding: p.Rounding, Reference: p.Reference, Card: p.Card})
		rc.Tip += p.Tip
	}
	if till.ControlUnit != "" {
		rc.Registration = kvitt.RegistrationPending
	}
	return rc, nil
}

// issue stores a new receipt, journals it and, when it must be registered,
// queues the registration job as a safety net for the synchronous attempt.
func (h *Hub) issue(tx kvitt.Tx, rc *kvitt.Receipt, now time.Time) error {
	if rc.Registration == kvitt.RegistrationPending {
		if err := tx.EnqueueJob(&kvitt.Job{Kind: jobReceiptRegister, Ref: rc.ID, RunAt: now.Add(h.ControlUnitTimeout + time.Second)}); err != nil {
			return err
		}
	}
	if err := tx.CreateReceipt(rc); err != nil {
		return err
	}
	return journalReceipt(tx, now, "receipt.issued", rc)
}

// registerNow tries the registration at once; on failure the job retries.
func (h *Hub) registerNow(ctx context.Context, rc *kvitt.Receipt) *kvitt.Receipt {
	if rc.Registration != kvitt.RegistrationPending {
		return rc
	}
	cctx, cancel := context.WithTimeout(ctx, h.ControlUnitTimeout)
	defer cancel()
	reg, err := h.RegisterReceipt(cctx, rc.ID)
	if err != nil {
		h.Logger.Warn("control unit: registration postponed", "receipt", rc.ID, "err", err)
		h.wakeWorker()
		return rc
	}
	return reg
}
