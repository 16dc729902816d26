package hub

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// MobilePay at the till (seed 001): every till has a static QR code (or
// NFC tag) holding a beacon id. The till is paired once by typing or
// scanning that id; kvitt registers it with MobilePay and keeps the beacon
// id and the identifier MobilePay knows the till by on the till
// (Till.MobilePayBeaconID, Till.MobilePayPosID). A customer who scans the
// QR then gets the till's payment in the app.

// mobilePayMethod is the method name the MobilePay adapter is registered under.
const mobilePayMethod = "mobilepay"

// mobilePayCountries are the countries whose stores MobilePay serves.
var mobilePayCountries = []string{"DK", "FI", "NO"}

// TillQRPairer is a provider whose customers scan a QR code fixed at the
// till (MobilePay's merchant callback QR). The hub never imports the
// adapter: *mobilepay.Provider satisfies this interface, checked where
// the adapter is wired (cmd/kvitt).
type TillQRPairer interface {
	// ParseTillQR returns a beacon id typed or scanned at the till in its
	// canonical form; a wrong form is EUNPROCESSABLE naming beacon_id and
	// the rule it breaks.
	ParseTillQR(beaconID string) (string, error)
	// PairTillQR registers the till's QR with the provider (again: the same
	// id updates what the app shows) and returns what the till keeps.
	PairTillQR(ctx context.Context, t *kvitt.Till, beaconID string, sticker bool) (beacon, posID string, err error)
	// UnpairTill deletes t's QR at the provider; one already gone is no error.
	UnpairTill(ctx context.Context, t *kvitt.Till) error
	// TillQRImage returns t's QR as an image for printing ("SVG" or "PNG").
	TillQRImage(ctx context.Context, t *kvitt.Till, format string, size int) ([]byte, string, error)
}

// tillQRPairer returns the MobilePay adapter's pairing side.
func (h *Hub) tillQRPairer() (TillQRPairer, error) {
	prov, ok := h.Provider(mobilePayMethod)
	if !ok {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "MobilePay is not enabled on this server (no mobilepay section in the configuration)")
	}
	p, ok := prov.(TillQRPairer)
	if !ok {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "the %s method registered here cannot pair tills", mobilePayMethod)
	}
	return p, nil
}

// mobilePayTill reads a till and checks that its store is in a country
// MobilePay serves.
func mobilePayTill(tx kvitt.Tx, tillID string) (*kvitt.Till, error) {
	t, err := tx.GetTill(tillID)
	if err != nil {
		return nil, err
	}
	s, err := tx.GetShop(t.StoreID)
	if err != nil {
		return nil, err
	}
	m, err := tx.GetMerchant(s.MerchantID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(mobilePayCountries, m.Country) {
		return nil, &kvitt.Error{Code: kvitt.EUNPROCESSABLE, Field: "till_id", Message: "MobilePay serves stores in " +
			strings.Join(mobilePayCountries, ", ") + "; till " + t.ID + " belongs to a store in " + quote(m.Country)}
	}
	return t, nil
}

// pairingLocks serialize the pairings of one till, and of one beacon id
// over all tills, on one node or several. Taken in this order.
func pairingLocks(tx kvitt.Tx, tillID, beacon string) error {
	if err := tx.Lock("mobilepay-till:" + tillID); err != nil {
		return err
	}
	if beacon == "" {
		return nil
	}
	return tx.Lock("mobilepay-beacon:" + beacon)
}

// otherTillWith returns another till paired with beacon, or nil.
func otherTillWith(tx kvitt.Tx, tillID, beacon string) (*kvitt.Till, error) {
	ts, err := tx.ListTills()
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.ID != tillID && t.MobilePayBeaconID == beacon {
			return t, nil
		}
	}
	return nil, nil
}

func beaconTaken(other *kvitt.Till, beacon string) error {
	return &kvitt.Error{Code: kvitt.ECONFLICT, Field: "beacon_id", Message: "the MobilePay QR " + beacon + " is paired with till " + other.ID +
		"; a QR belongs to one till: unpair it there first"}
}

// PairTill pairs the till with the MobilePay QR (or NFC tag) whose beacon
// id the cashier typed or scanned; sticker says it is an existing MobilePay
// PoS sticker to move over rather than a new QR to print. The QR is
// registered with MobilePay first, then the beacon id and MobilePay's
// identifier are stored on the till. Pairing a till again with another
// beacon id re-pairs it: the old QR is deleted at MobilePay once the new one
// is stored (if that fails, the old QR stays registered but belongs to no
// till, so its scans reach no payment). Errors: EUNPROCESSABLE (beacon_id
// of the wrong form, a store outside MobilePay's countries), ECONFLICT (the
// QR is another till's, MobilePay not enabled), ENOTFOUND, and the
// provider's errors.
func (h *Hub) PairTill(ctx context.Context, tillID, beaconID string, sticker bool) (*kvitt.Till, error) {
	pr, err := h.tillQRPairer()
	if err != nil {
		return nil, err
	}
	beacon, err := pr.ParseTillQR(beaconID)
	if err != nil {
		return nil, err
	}
	var till *kvitt.Till
	err = h.Store.View(ctx, func(tx kvitt.Tx) error {
		if till, err = mobilePayTill(tx, tillID); err != nil {
			return err
		}
		other, err := otherTillWith(tx, tillID, beacon)
		if err == nil && other != nil {
			err = beaconTaken(other, beacon)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	beacon, posID, err := pr.PairTillQR(cctx, till, beacon, sticker)
	if err != nil {
		return nil, mobilePayUnreachable(err)
	}
	var old string
	err = h.update(ctx, func(tx kvitt.Tx) error {
		if err := pairingLocks(tx, tillID, beacon); err != nil {
			return err
		}
		t, err := tx.GetTill(tillID)
		if err != nil {
			return err
		}
		if other, err := otherTillWith(tx, tillID, beacon); err != nil {
			return err
		} else if other != nil {
			return beaconTaken(other, beacon)
		}
		old = t.MobilePayBeaconID
		t.MobilePayBeaconID, t.MobilePayPosID = beacon, posID
		if err := tx.UpdateTill(t); err != nil {
			return err
		}
		till = t
		return journalPairing(tx, h, "till.mobilepay_paired", t.ID, beacon, old, sticker)
	})
	if err != nil {
		return nil, err
	}
	h.Logger.Info("mobilepay: till paired", "till", tillID, "beacon", beacon, "previous", old, "sticker", sticker)
	if old != "" && old != beacon {
		gone := *till
		gone.MobilePayBeaconID = old
		if err := pr.UnpairTill(cctx, &gone); err != nil {
			h.Logger.Warn("mobilepay: the till's previous QR is still registered (it belongs to no till)", "till", tillID, "beacon", old, "err", err)
		}
	}
	return till, nil
}

// UnpairTill deletes the till's QR at MobilePay and then forgets it on the
// till: its scans no longer reach kvitt, and MobilePay payments at the
// till use a one-time QR or the customer's number. Errors: ECONFLICT (not
// paired, MobilePay not enabled), ENOTFOUND, the provider's errors.
func (h *Hub) UnpairTill(ctx context.Context, tillID string) (*kvitt.Till, error) {
	pr, err := h.tillQRPairer()
	if err != nil {
		return nil, err
	}
	var till *kvitt.Till
	if err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { till, err = tx.GetTill(tillID); return err }); err != nil {
		return nil, err
	}
	if till.MobilePayBeaconID == "" {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "till %s has no MobilePay QR paired", tillID)
	}
	old := till.MobilePayBeaconID
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	if err := pr.UnpairTill(cctx, till); err != nil {
		return nil, mobilePayUnreachable(err)
	}
	err = h.update(ctx, func(tx kvitt.Tx) error {
		if err := pairingLocks(tx, tillID, ""); err != nil {
			return err
		}
		t, err := tx.GetTill(tillID)
		if err != nil {
			return err
		}
		till = t
		if t.MobilePayBeaconID != old {
			return nil // paired anew meanwhile: that pairing stands
		}
		t.MobilePayBeaconID, t.MobilePayPosID = "", ""
		if err := tx.UpdateTill(t); err != nil {
			return err
		}
		return journalPairing(tx, h, "till.mobilepay_unpaired", t.ID, "", old, false)
	})
	if err != nil {
		return nil, err
	}
	h.Logger.Info("mobilepay: till unpaired", "till", tillID, "beacon", old)
	return till, nil
}

// TillQR returns the till's paired MobilePay QR as an image to print:
// format "SVG" or "PNG", size in pixels for PNG (0 for MobilePay's
// default). Errors: ECONFLICT (not paired), ENOTFOUND, the provider's.
func (h *Hub) TillQR(ctx context.Context, tillID, format string, size int) ([]byte, string, error) {
	pr, err := h.tillQRPairer()
	if err != nil {
		return nil, "", err
	}
	var till *kvitt.Till
	if err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { till, err = tx.GetTill(tillID); return err }); err != nil {
		return nil, "", err
	}
	if till.MobilePayBeaconID == "" {
		return nil, "", kvitt.Errorf(kvitt.ECONFLICT, "till %s has no MobilePay QR paired; pair it first", tillID)
	}
	cctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	b, ct, err := pr.TillQRImage(cctx, till, format, size)
	if err != nil {
		return nil, "", mobilePayUnreachable(err)
	}
	return b, ct, nil
}

// journalPairing records a pairing change: which QR a till's MobilePay
// payments are sent through is part of the audit trail.
func journalPairing(tx kvitt.Tx, h *Hub, kind, tillID, beacon, previous string, sticker bool) error {
	data, _ := json.Marshal(struct {
		Till     string `json:"till"`
		Beacon   string `json:"beacon_id,omitempty"`
		Previous string `json:"previous,omitempty"`
		Sticker  bool   `json:"sticker,omitempty"`
	}{tillID, beacon, previous, sticker})
	return tx.AppendJournal(&kvitt.JournalEntry{At: h.now(), Kind: kind, Ref: tillID, Data: string(data)})
}

// mobilePayUnreachable words a lost answer of a pairing call: nothing is
// stored until MobilePay answers, and pairing again is safe (the same beacon
// id updates the same QR).
func mobilePayUnreachable(err error) error {
	if kvitt.ErrorCode(err) != kvitt.EINTERNAL {
		return err
	}
	return kvitt.Errorf(kvitt.EUNAVAILABLE, "MobilePay did not answer (%v); nothing was changed on the till: try again", err)
}
