package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// CompleteSale closes a fully paid sale and issues its receipt with the
// till's next serial number. If the till has a control unit, the receipt is
// registered before it is returned; if the unit cannot be reached, the sale
// still completes (the customer has paid), the receipt stays marked pending
// and a durable job registers it later, exactly once. Completing a completed
// sale returns its receipt. Errors: ECONFLICT (not fully paid, payment in
// progress, cancelled), ENOTFOUND.
//
// A payment only authorized by a method that captures on request
// (kvitt.Capturer: MobilePay with capture "on_complete") is captured
// first, before the transaction that completes the sale: balance() counts
// only captured money, and the receipt claims only money taken. If kvitt
// dies between the capture and the commit, the payment is paid on a sale
// without a receipt, which the till's recovery list shows; if the capture
// fails, the sale stays open and nothing is claimed.
func (h *Hub) CompleteSale(ctx context.Context, saleID string) (*kvitt.Receipt, error) {
	if err := h.captureForSale(ctx, saleID); err != nil {
		return nil, err
	}
	var rc *kvitt.Receipt
	var fresh bool
	now := h.now()
	err := h.update(ctx, func(tx kvitt.Tx) error {
		if err := tx.Lock(saleLock(saleID)); err != nil {
			return err
		}
		s, err := tx.GetSale(saleID)
		if err != nil {
			return err
		}
		switch s.State {
		case kvitt.SaleCompleted:
			rc, err = tx.GetReceipt(s.ReceiptID)
			return err
		case kvitt.SaleCancelled:
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is cancelled", saleID)
		}
		all, err := tx.ListSalePayments(saleID)
		if err != nil {
			return err
		}
		// Money that arrived after kvitt had ended its payment waits for a
		// person; until kept, it is not the sale's.
		var ps []*kvitt.Payment
		for _, p := range all {
			if p.Attention == "" {
				ps = append(ps, p)
			}
		}
		paid, _, openP := balance(s, ps)
		if openP != nil {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s is still in progress; wait for it or cancel it", openP.ID)
		}
		if paid < s.Total {
			return kvitt.Errorf(kvitt.ECONFLICT, "sale %s is not fully paid: %s of %s left to pay", saleID,
				kvitt.FormatAmount(s.Total-paid, s.Currency), kvitt.FormatAmount(s.Total, s.Currency))
		}
		typ := kvitt.ReceiptNormal
		if s.Training {
			typ = kvitt.ReceiptTraining
		}
		if rc, err = h.newReceipt(tx, s, typ, ps, now); err != nil {
			return err
		}
		if err := h.issue(tx, rc, now); err != nil {
			return err
		}
		s.State, s.ReceiptID = kvitt.SaleCompleted, rc.ID
		if err := tx.UpdateSale(s); err != nil {
			return err
		}
		fresh = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if fresh {
		h.events.Publish("sale:" + saleID)
	}
	return h.registerNow(ctx, rc), nil
}

// captureForSale captures the sale's authorized payments of methods that
// capture on request, when with them the sale is fully paid and no other
// payment is in progress: a sale that cannot complete takes no money. The
// capture carries the key derived from the payment's reference, so racing
// completes, or a retry after a lost answer, capture once. A late approval
// (Attention) is not touched: the adapter captured it when it arrived, and
// a person decides on it.
func (h *Hub) captureForSale(ctx context.Context, saleID string) error {
	var todo []*kvitt.Payment
	var till *kvitt.Till
	err := h.Store.View(ctx, func(tx kvitt.Tx) error {
		s, err := tx.GetSale(saleID)
		if err != nil || s.State != kvitt.SaleOpen {
			return err
		}
		ps, err := tx.ListSalePayments(saleID)
		if err != nil {
			return err
		}
		var counted []*kvitt.Payment
		var authorized int64
		for _, p := range ps {
			if _, ok := h.providers[p.Method].(kvitt.Capturer); ok && p.State == kvitt.PaymentAuthorized && p.Attention == "" {
				todo = append(todo, p)
				authorized += p.Applied()
				continue
			}
			counted = append(counted, p)
		}
		paid, _, openP := balance(s, counted)
		if len(todo) == 0 || openP != nil || paid+authorized < s.Total {
			todo = nil // CompleteSale refuses it, naming why
			return nil
		}
		till, err = tx.GetTill(s.TillID)
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range todo {
		cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
		start := time.Now()
		u, err := h.providers[p.Method].(kvitt.Capturer).Capture(cctx, till, p)
		h.providerCalled(cctx, p.Method, "capture", start, err, u.ErrorCode)
		cancel()
		if err != nil {
			// Captured or not, the sync job asks; completing again captures
			// with the same key.
			h.scheduleSync(context.WithoutCancel(ctx), p.ID, time.Second)
			return providerUnreachable(p.Method, err)
		}
		cur, err := h.apply(context.WithoutCancel(ctx), p.ID, u, CauseAPI)
		if err != nil {
			return err
		}
		if cur.State == kvitt.PaymentAuthorized {
			return kvitt.Errorf(kvitt.ECONFLICT, "payment %s is approved but not captured, so the sale cannot complete: %s", p.ID, cur.Message)
		}
	}
	return nil
}

func journalReceipt(tx kvitt.Tx, at time.Time, kind string, rc *kvitt.Receipt) error {
	data, _ := json.Marshal(struct {
		Receipt     string       `json:"receipt"`
		Till        string       `json:"till"`
		Serial      int64        `json:"serial"`
		Type        string       `json:"type"`
		Kind        string       `json:"kind"`
		Total       int64        `json:"total"`
		Currency    string       `json:"currency"`
		VAT         []vatJournal `json:"vat"`
		ControlUnit string       `json:"control_unit,omitempty"`
		ControlCode string       `json:"control_code,omitempty"`
	}{rc.ID, rc.TillID, rc.Serial, string(rc.Type), string(rc.Kind), rc.Total, string(rc.Currency), vatJournalOf(rc.VAT), rc.ControlUnitID, rc.ControlCode})
	return tx.AppendJournal(&kvitt.JournalEntry{At: at, Kind: kind, Ref: rc.ID, Data: string(data)})
}

type vatJournal struct {
	Rate  int64 `json:"rate"`
	Gross int64 `json:"gross"`
	VAT   int64 `json:"vat"`
}

func vatJournalOf(vs []kvitt.VATTotal) []vatJournal {
	out := make([]vatJournal, len(vs))
	for i, v := range vs {
		out[i] = vatJournal{v.Rate, v.Gross, v.VAT}
	}
	return out
}

// GetReceipt returns a receipt.
func (h *Hub) GetReceipt(ctx context.Context, id string) (*kvitt.Receipt, error) {
	var r *kvitt.Receipt
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { r, err = tx.GetReceipt(id); return err })
	return r, err
}

// Registration returns the receipt data the control unit receives.
func Registration(rc *kvitt.Receipt) *kvitt.Registration {
	reg := &kvitt.Registration{Time: rc.Issued, OrgNr: rc.OrgNr, RegisterID: rc.RegisterID, Address: rc.Address, Serial: rc.Serial,
		Type: rc.Type, Kind: rc.Kind, Amount: rc.Total, CopyTime: rc.CopyTime, CopySerial: rc.CopySerial}
	for _, v := range rc.VAT {
		if rc.Kind == kvitt.ReceiptReturn {
			v.VAT, v.Gross, v.Net = -v.VAT, -v.Gross, -v.Net
		}
		reg.VAT = append(reg.VAT, v)
	}
	if reg.Amount < 0 {
		reg.Amount = -reg.Amount
	}
	return reg
}

// RegisterReceipt registers a pending receipt with its till's control unit.
// Receipts reach the unit in serial order: every earlier receipt of the till
// that is still pending (the unit was down) is registered first, and if one
// of them cannot be, this one waits too. The control unit is idempotent per
// register and serial, so a retry after a lost answer returns the same code
// and registers nothing twice.
func (h *Hub) RegisterReceipt(ctx context.Context, id string) (*kvitt.Receipt, error) {
	var rc *kvitt.Receipt
	var till *kvitt.Till
	var backlog []*kvitt.Receipt
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) {
		if rc, err = tx.GetReceipt(id); err != nil {
			return err
		}
		if rc.Registration != kvitt.RegistrationPending {
			return nil
		}
		if till, err = tx.GetTill(rc.TillID); err != nil {
			return err
		}
		pending, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: rc.TillID, Registration: kvitt.RegistrationPending})
		if err != nil {
			return err
		}
		for _, p := range pending {
			if p.Serial < rc.Serial {
				backlog = append(backlog, p)
			}
		}
		return nil
	})
	if err != nil || rc.Registration != kvitt.RegistrationPending {
		return rc, err
	}
	cu, ok := h.ControlUnits[till.ControlUnit]
	if !ok {
		return nil, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit %q of till %s is not configured", till.ControlUnit, till.ID)
	}
	for _, earlier := range backlog { // ListReceipts orders by serial
		if _, err := h.registerOne(ctx, cu, earlier); err != nil {
			return nil, fmt.Errorf("receipt %d of till %s must be registered first: %w", earlier.Serial, till.ID, err)
		}
	}
	return h.registerOne(ctx, cu, rc)
}

// registerOne sends one receipt to the control unit and stores the answer.
func (h *Hub) registerOne(ctx context.Context, cu kvitt.ControlUnit, rc *kvitt.Receipt) (*kvitt.Receipt, error) {
	id := rc.ID
	code, err := cu.Register(ctx, Registration(rc))
	h.metrics.ReceiptRegistered(err == nil)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		err = h.update(ctx, func(tx kvitt.Tx) (err error) {
			if rc, err = tx.GetReceipt(id); err != nil {
				return err
			}
			if rc.Registration != kvitt.RegistrationPending {
				return nil
			}
			rc.Registration, rc.ControlUnitID, rc.ControlCode = kvitt.RegistrationRegistered, code.UnitID, code.Code
			if err := tx.UpdateReceipt(rc); err != nil {
				return err
			}
			if err := tx.CancelJob(jobReceiptRegister, rc.ID); err != nil {
				return err
			}
			return journalReceipt(tx, h.now(), "receipt.registered", rc)
		})
		if isCode(err, kvitt.ECONFLICT) && attempt < 5 {
			continue
		}
		if err == nil {
			h.events.Publish("sale:" + rc.SaleID)
			h.events.Publish("receipt:" + rc.ID)
		}
		return rc, err
	}
}
