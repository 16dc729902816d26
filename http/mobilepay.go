package http

import (
	"net/http"
	"strconv"

	"github.com/kvitt-hub/kvitt"
)

// MobilePay till pairing (seed 001): the back office pairs a till with its
// MobilePay QR sticker (or a new QR to print), re-pairs it with another,
// unpairs it, and fetches the QR as an image for printing. Admin and
// back-office keys only: a till must not move its customers' payments to
// another QR.

type mobilePayPairRequest struct {
	// BeaconID is the id typed at the till, or the scanned content of the
	// sticker (mobilepaypos://pos?id=…).
	BeaconID flexString `json:"beacon_id"`
	// Sticker moves an existing MobilePay PoS sticker over instead of
	// creating a new QR to print.
	Sticker bool `json:"sticker"`
}

// mobilePayTillFor checks the caller may pair tills and returns the till id.
func mobilePayTillFor(r *http.Request) (string, error) {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return "", err
	}
	return r.PathValue("id"), nil
}

// handleMobilePayPair is POST /v1/tills/{id}/mobilepay/pair {"beacon_id","sticker"}.
func (s *Server) handleMobilePayPair(w http.ResponseWriter, r *http.Request) error {
	id, err := mobilePayTillFor(r)
	if err != nil {
		return err
	}
	var req mobilePayPairRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	t, err := s.Hub.PairTill(r.Context(), id, string(req.BeaconID), req.Sticker)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTillJSON(t))
	return nil
}

// handleMobilePayUnpair is DELETE /v1/tills/{id}/mobilepay/pair (or POST
// /v1/tills/{id}/mobilepay/unpair, for clients that cannot send DELETE).
func (s *Server) handleMobilePayUnpair(w http.ResponseWriter, r *http.Request) error {
	id, err := mobilePayTillFor(r)
	if err != nil {
		return err
	}
	t, err := s.Hub.UnpairTill(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTillJSON(t))
	return nil
}

// mobilePayQR serves GET /v1/tills/{id}/mobilepay/qr.svg and qr.png
// (?size=100…2000 pixels for PNG): the till's QR to print.
func (s *Server) mobilePayQR(format string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := mobilePayTillFor(r)
		if err != nil {
			return err
		}
		size := 0
		if v := r.URL.Query().Get("size"); v != "" {
			if size, err = strconv.Atoi(v); err != nil || format == "SVG" {
				return kvitt.FieldError("size", "must be a whole number of pixels from 100 to 2000, for PNG only")
			}
		}
		b, ct, err := s.Hub.TillQR(r.Context(), id, format, size)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Write(b)
		return nil
	}
}
