package http

import (
	"net/http"
	"strconv"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
	"github.com/kvitt-hub/kvitt/report"
)

func (s *Server) tillFor(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := canTill(principalOf(r.Context()), id); err != nil {
		return "", kvitt.Errorf(kvitt.ENOTFOUND, "till %q not found", id)
	}
	return id, nil
}

// writeReport answers with the report as JSON, or as printer text with ?format=text.
func writeReport(w http.ResponseWriter, r *http.Request, status int, rep *report.Report) error {
	switch r.URL.Query().Get("format") {
	case "", "json":
		writeJSON(w, status, rep)
	case "text":
		width := 42
		if r.URL.Query().Get("width") == "48" {
			width = 48
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte(report.Text(rep, width)))
	default:
		return &kvitt.Error{Code: kvitt.EUNPROCESSABLE, Field: "format", Message: "must be json or text"}
	}
	return nil
}

func (s *Server) handleXReport(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tillFor(r)
	if err != nil {
		return err
	}
	rep, err := s.Hub.Report(r.Context(), id, report.X)
	if err != nil {
		return err
	}
	return writeReport(w, r, http.StatusOK, rep)
}

func (s *Server) handleZReport(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tillFor(r)
	if err != nil {
		return err
	}
	rep, err := s.Hub.Report(r.Context(), id, report.Z)
	if err != nil {
		return err
	}
	return writeReport(w, r, http.StatusCreated, rep)
}

func (s *Server) handleGetZReport(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tillFor(r)
	if err != nil {
		return err
	}
	serial, err := strconv.ParseInt(r.PathValue("serial"), 10, 64)
	if err != nil || serial < 1 {
		return kvitt.Errorf(kvitt.ENOTFOUND, "no Z report %q", r.PathValue("serial"))
	}
	rep, err := s.Hub.ZReport(r.Context(), id, serial)
	if err != nil {
		return err
	}
	return writeReport(w, r, http.StatusOK, rep)
}

func (s *Server) handleCopyReceipt(w http.ResponseWriter, r *http.Request) error {
	rc, err := s.receiptFor(r)
	if err != nil {
		return err
	}
	cp, err := s.Hub.CopyReceipt(r.Context(), rc.ID)
	if err != nil {
		return err
	}
	writeReceiptJSON(w, http.StatusCreated, cp)
	return nil
}

func (s *Server) handleProForma(w http.ResponseWriter, r *http.Request) error {
	sale, err := s.saleFor(r)
	if err != nil {
		return err
	}
	rc, err := s.Hub.ProForma(r.Context(), sale.ID)
	if err != nil {
		return err
	}
	writeReceiptJSON(w, http.StatusCreated, rc)
	return nil
}

// handleMerchantCopy prints the card slip the merchant keeps when the
// terminal asked for the cardholder's signature.
func (s *Server) handleMerchantCopy(w http.ResponseWriter, r *http.Request) error {
	rc, err := s.receiptFor(r)
	if err != nil {
		return err
	}
	width := 42
	if r.URL.Query().Get("width") == "48" {
		width = 48
	}
	slip, ok := receipt.MerchantCopy(rc, width)
	if !ok {
		return kvitt.Errorf(kvitt.ENOTFOUND, "receipt %s has no merchant copy: no signature was asked for", rc.ID)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(slip))
	return nil
}
