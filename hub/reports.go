package hub

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/internal/crashpoint"
	"github.com/kvitt-hub/kvitt/report"
)

// Report computes a till's X report (a reading that changes nothing) or Z
// report (the day's closing: it gets the till's next Z serial and is
// stored). Both cover what the next Z report closes: every receipt of the
// till with a serial after the previous Z's last serial, up to the till's
// last serial. A Z report holds the till's lock (Lock("till:<id>")), so Z
// reports of a till, on one node or several, are made one after the other:
// each receipt is in exactly one Z, and a period starts where the previous
// one ended and never ends before it starts.
func (h *Hub) Report(ctx context.Context, tillID string, kind report.Kind) (*report.Report, error) {
	if kind != report.Z {
		kind = report.X
	}
	var rep *report.Report
	fn := func(tx kvitt.Tx) error {
		if kind == report.Z {
			if err := tx.Lock(tillLock(tillID)); err != nil {
				return err
			}
		}
		// The clock is read once the lock is held: the Z before this one has
		// ended (and its end was read under the same lock).
		now := h.now().Truncate(time.Microsecond)
		till, shop, m, err := tillContext(tx, tillID)
		if err != nil {
			return err
		}
		last, upTo, err := nextClosing(tx, tillID, kind == report.Z)
		if err != nil {
			return err
		}
		opts := report.Options{Kind: kind, Serial: 1, PeriodEnd: now, Generated: now, TillID: till.ID, RegisterID: till.RegisterID,
			MerchantName: m.Name, OrgNr: m.OrgNr, StoreName: shop.Name, Address: shop.Address, Currency: m.Currency}
		from := int64(1)
		if last != nil {
			var prev report.Report
			if err := json.Unmarshal(last.Data, &prev); err != nil {
				return err
			}
			opts.PeriodStart, opts.GrandTotalsBefore, opts.Serial = last.PeriodEnd, prev.GrandTotals, last.Serial+1
			from = last.LastSerial + 1
		}
		// Two nodes' clocks may disagree: a period never ends before it starts.
		if opts.PeriodEnd.Before(opts.PeriodStart) {
			opts.PeriodEnd = opts.PeriodStart
		}
		// Serials only grow; never reach back into a closed Z.
		upTo = max(upTo, from-1)
		if kind == report.X {
			opts.Serial = 0
		}
		var receipts []*kvitt.Receipt
		if upTo >= from {
			if receipts, err = tx.ListReceipts(kvitt.ReceiptFilter{TillID: tillID, FromSerial: from, ToSerial: upTo}); err != nil {
				return err
			}
		}
		rep = report.Compute(receipts, opts)
		// The range the report covers, also when it holds no receipt (an
		// empty one shows last_serial = first_serial − 1).
		rep.FirstSerial, rep.LastSerial = from, upTo
		if kind != report.Z {
			return nil
		}
		defer crashpoint.Hit("z.before-commit") // at the end of the transaction, after every write, before the commit
		data, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		if err := tx.CreateZReport(&kvitt.ZReport{TillID: tillID, Serial: opts.Serial, PeriodStart: opts.PeriodStart, PeriodEnd: opts.PeriodEnd,
			FirstSerial: from, LastSerial: upTo, Data: data, Created: now}); err != nil {
			return err
		}
		j, _ := json.Marshal(map[string]any{"till": tillID, "serial": opts.Serial, "first_serial": from, "last_serial": upTo,
			"sales": rep.Sales.Amount, "returns": rep.Returns.Amount, "grand_totals": rep.GrandTotals})
		return tx.AppendJournal(&kvitt.JournalEntry{At: now, Kind: "z_report", Ref: tillID, Data: string(j)})
	}
	var err error
	if kind == report.Z {
		err = h.update(ctx, fn)
	} else {
		err = h.Store.View(ctx, fn)
	}
	return rep, err
}

// tillLock names the lock a Z report holds while it chooses and closes the
// till's receipts (kvitt.Tx.Lock).
func tillLock(tillID string) string { return "till:" + tillID }

// nextClosing reads what the till's next Z report closes: the previous Z
// report (nil if none) and the till's last serial; the receipts are those
// with a serial after last.LastSerial up to upTo. Every one of them is
// committed (see kvitt.Tx.LastReceiptSerial). A Z report calls it holding
// the till's lock. An X report runs in a View without it: on PostgreSQL each
// statement reads what is committed when it starts, so a Z committed
// between the two reads would already have closed some of those serials;
// the Z is read again after the serial, and the pair is read anew until
// they agree.
func nextClosing(tx kvitt.Tx, tillID string, locked bool) (last *kvitt.ZReport, upTo int64, err error) {
	if last, err = lastZ(tx, tillID); err != nil {
		return nil, 0, err
	}
	for range 10 {
		if upTo, err = tx.LastReceiptSerial(tillID); err != nil || locked {
			return last, upTo, err
		}
		again, err := lastZ(tx, tillID)
		if err != nil {
			return nil, 0, err
		}
		if zSerial(again) == zSerial(last) {
			return last, upTo, nil
		}
		last = again
	}
	return nil, 0, kvitt.Errorf(kvitt.ECONFLICT, "Z reports of till %s are being taken; try again", tillID)
}

// lastZ is tx.LastZReport with nil for none.
func lastZ(tx kvitt.Tx, tillID string) (*kvitt.ZReport, error) {
	z, err := tx.LastZReport(tillID)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return nil, nil
	}
	return z, err
}

func zSerial(z *kvitt.ZReport) int64 {
	if z == nil {
		return 0
	}
	return z.Serial
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
// registered with the control unit like any receipt, as a copy of the
// original: it comes back registered with the unit's answer, or pending when
// the unit cannot be reached (the receipt.register job registers it then).
// Errors: ECONFLICT for a second copy, a copy of a copy, or an original not
// yet registered.
func (h *Hub) CopyReceipt(ctx context.Context, id string) (*kvitt.Receipt, error) {
	var cp *kvitt.Receipt
	now := h.now()
	err := h.update(ctx, func(tx kvitt.Tx) error {
		orig, err := tx.GetReceipt(id)
		if err != nil {
			return err
		}
		// One copy only: the check runs under the sale's lock, the one every
		// check of a sale's receipts and balance takes, and reads after it,
		// so racing copy requests, on one node or several, check one after
		// the other.
		if err := tx.Lock(saleLock(orig.SaleID)); err != nil {
			return err
		}
		if orig, err = tx.GetReceipt(id); err != nil {
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
		// The copy is a receipt of its own for the control unit (SKVFS
		// 2014:9: receipt type "kopia", naming the original): it is pending
		// until the unit has answered it, whatever the original's state, and
		// carries the unit and code of that answer. Only a receipt that never
		// needed registering (a till without a control unit) has a copy that
		// does not need it either.
		c.ControlUnitID, c.ControlCode = "", ""
		c.Registration = kvitt.RegistrationNotRequired
		if orig.Registration == kvitt.RegistrationRegistered {
			c.Registration = kvitt.RegistrationPending
		}
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
	err := h.update(ctx, func(tx kvitt.Tx) error {
		// The sale must be open, checked under its lock: a complete or cancel
		// racing this one comes before or after, not in between.
		if err := tx.Lock(saleLock(saleID)); err != nil {
			return err
		}
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
		// The tender is what the means of payment took (the drawer's cash,
		// rounding included); Rounding says how much of it was rounding.
		rc.Tenders = append(rc.Tenders, kvitt.Tender{PaymentID: p.ID, Method: p.Method, Amount: p.Amount, Tip: p.Tip,
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
