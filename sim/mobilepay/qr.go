package simmobilepay

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kvitt-hub/kvitt/qr"
)

// callbackQR is a merchant callback QR as the simulator keeps it.
type callbackQR struct {
	ID       string
	Location string
	Content  string
	Sticker  bool // moved over from MobilePay PoS
}

type callbackQROut struct {
	MerchantSerialNumber string `json:"merchantSerialNumber"`
	MerchantQrID         string `json:"merchantQrId"`
	LocationDescription  string `json:"locationDescription"`
	QrImageURL           string `json:"qrImageUrl"`
	QrContent            string `json:"qrContent"`
}

// qrProblem is the QR API's error body (its list is invalidParams).
type qrProblem struct {
	Type          string        `json:"type,omitempty"`
	Title         string        `json:"title"`
	Detail        string        `json:"detail"`
	Instance      string        `json:"instance"`
	InvalidParams []extraDetail `json:"invalidParams,omitempty"`
}

var beaconRE = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9]{15})$`)

func writeQRProblem(w http.ResponseWriter, status int, title, detail string, params ...extraDetail) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(qrProblem{Title: title, Detail: detail, Instance: randomUUID(), InvalidParams: params})
}

// putCallbackQR creates or updates a merchant callback QR; sticker moves an
// existing MobilePay PoS beacon over (PUT .../mobilepay/{beaconId}), whose
// printed QR keeps its content.
func (s *Sim) putCallbackQR(sticker bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		raw, _ := io.ReadAll(r.Body)
		var b struct {
			LocationDescription *string `json:"locationDescription"`
		}
		if err := decodeStrict(raw, &b, callbackQRKeys); err != nil {
			writeQRProblem(w, http.StatusBadRequest, "Validation error", err.Error())
			return
		}
		if b.LocationDescription == nil || *b.LocationDescription == "" || len([]rune(*b.LocationDescription)) > 36 {
			writeQRProblem(w, http.StatusBadRequest, "One or more validation errors occurred.", "BadRequest",
				extraDetail{Name: "LocationDescription", Reason: "The field LocationDescription is required and at most 36 characters."})
			return
		}
		if id == "" || len(id) > 128 {
			writeQRProblem(w, http.StatusBadRequest, "One or more validation errors occurred.", "BadRequest",
				extraDetail{Name: "MerchantQrId", Reason: "The merchantQrId is required and at most 128 characters."})
			return
		}
		if sticker && !beaconRE.MatchString(id) {
			writeQRProblem(w, http.StatusBadRequest, "One or more validation errors occurred.", "BadRequest",
				extraDetail{Name: "BeaconId", Reason: "The beaconId is not a MobilePay PoS beacon id (a GUID or 15 digits)."})
			return
		}
		if sticker {
			id = strings.ToLower(id)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		q := s.qrs[id]
		if q == nil {
			q = &callbackQR{ID: id, Sticker: sticker}
			if sticker {
				q.Content = "mobilepaypos://pos?id=" + id + "&source=qr"
			} else {
				q.Content = s.RootURL() + "sim/qr/c/" + s.opts.MSN + "/" + url.PathEscape(id)
			}
			s.qrs[id] = q
		}
		q.Location = *b.LocationDescription
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Sim) qrOut(q *callbackQR, format string, size int) callbackQROut {
	img := s.RootURL() + "sim/qr/" + url.PathEscape(q.ID) + "?format=" + format
	if size > 0 {
		img += "&size=" + strconv.Itoa(size)
	}
	return callbackQROut{MerchantSerialNumber: s.opts.MSN, MerchantQrID: q.ID, LocationDescription: q.Location, QrImageURL: img, QrContent: q.Content}
}

func imageParams(r *http.Request) (string, int, string) {
	format := r.URL.Query().Get("QrImageFormat")
	if format == "" {
		format = "SVG"
	}
	if format != "SVG" && format != "PNG" {
		return "", 0, "QrImageFormat must be PNG or SVG."
	}
	size := 0
	if v := r.URL.Query().Get("QrImageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 2000 {
			return "", 0, "QrImageSize must be between 100 and 2000."
		}
		size = n
	}
	return format, size, ""
}

func (s *Sim) getCallbackQR(w http.ResponseWriter, r *http.Request) {
	format, size, bad := imageParams(r)
	if bad != "" {
		writeQRProblem(w, http.StatusBadRequest, "Validation error", bad)
		return
	}
	s.mu.Lock()
	q := s.qrs[r.PathValue("id")]
	if q == nil {
		q = s.qrs[strings.ToLower(r.PathValue("id"))]
	}
	var out callbackQROut
	if q != nil {
		out = s.qrOut(q, format, size)
	}
	s.mu.Unlock()
	if q == nil {
		writeQRProblem(w, http.StatusNotFound, "Not Found", "No merchant callback QR "+r.PathValue("id")+".")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) listCallbackQRs(w http.ResponseWriter, r *http.Request) {
	format, size, bad := imageParams(r)
	if bad != "" {
		writeQRProblem(w, http.StatusBadRequest, "Validation error", bad)
		return
	}
	s.mu.Lock()
	out := []callbackQROut{}
	for _, q := range s.qrs {
		out = append(out, s.qrOut(q, format, size))
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].MerchantQrID < out[j].MerchantQrID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) deleteCallbackQR(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.qrs[id] == nil {
		id = strings.ToLower(id)
	}
	if s.qrs[id] == nil {
		writeQRProblem(w, http.StatusNotFound, "Not Found", "No merchant callback QR "+r.PathValue("id")+".")
		return
	}
	delete(s.qrs, id)
	w.WriteHeader(http.StatusOK)
}

// qrImage serves the image behind qrImageUrl and behind a one-time
// payment's redirectUrl ("pay-" + token).
func (s *Sim) qrImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	content := ""
	if q := s.qrs[id]; q != nil {
		content = q.Content
	}
	if tok, ok := strings.CutPrefix(id, "pay-"); ok {
		for _, p := range s.payments {
			if p.QRToken == tok {
				content = s.RootURL() + "sim/qr/pay-" + tok
			}
		}
	}
	s.mu.Unlock()
	if content == "" {
		http.Error(w, "no such QR", http.StatusNotFound)
		return
	}
	size := qr.DefaultSize
	if n, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil && n >= 100 && n <= 2000 {
		size = n
	}
	var b []byte
	var err error
	ct := "image/svg+xml"
	if strings.EqualFold(r.URL.Query().Get("format"), "PNG") {
		ct = "image/png"
		b, err = qr.PNG(content, size)
	} else if r.URL.Query().Get("format") != "" {
		b, err = qr.SVG(content, size)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, content)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Write(b)
}
