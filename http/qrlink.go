package http

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// QR links: a payment's action carries qr_svg_url and qr_png_url that work
// without the Bearer key, so a display or a till can put them straight into
// an <img src>. Each is signed (HMAC-SHA256 under a key kept in the
// database, so every node honours every node's links) and short-lived: it
// names one payment's QR code in one format and expires with the
// customer's window, 15 minutes at most. It shows nothing the customer's
// screen does not show anyway. A request with the Bearer key needs no
// signature.

// qrLinkLife bounds how long a QR link works.
const qrLinkLife = 15 * time.Minute

type qrLinks struct {
	store kvitt.Store
	once  sync.Once
	key   []byte
	err   error
}

func (q *qrLinks) secret(ctx context.Context) ([]byte, error) {
	q.once.Do(func() {
		var v string
		q.err = q.store.Update(ctx, func(tx kvitt.Tx) (err error) {
			v, err = tx.Setting("qr.link_key", kvitt.RandomToken(32))
			return err
		})
		q.key = []byte(v)
	})
	return q.key, q.err
}

func qrSig(key []byte, paymentID, format string, exp int64) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(paymentID + "\n" + format + "\n" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// qrURL returns the signed link to p's QR code in format ("svg", "png"),
// or "" when there is none to show.
func (s *Server) qrURL(p *kvitt.Payment, format string) string {
	if p.Action == nil || p.Action.QRData == "" {
		return ""
	}
	key, err := s.qr.secret(context.Background())
	if err != nil {
		s.Logger.Error("qr link key", "err", err)
		return s.PublicURL + "/v1/payments/" + p.ID + "/qr." + format
	}
	exp := time.Now().Add(qrLinkLife)
	if p.Action.ExpiresAt != nil && p.Action.ExpiresAt.Before(exp) && p.Action.ExpiresAt.After(time.Now()) {
		exp = *p.Action.ExpiresAt
	}
	v := url.Values{"exp": {strconv.FormatInt(exp.Unix(), 10)}, "sig": {qrSig(key, p.ID, format, exp.Unix())}}
	return s.PublicURL + "/v1/payments/" + p.ID + "/qr." + format + "?" + v.Encode()
}

// qrSigned reports whether r carries a valid, unexpired signature for the
// QR code of payment id in format. A wrong or expired one is an error that
// says which.
func (s *Server) qrSigned(r *http.Request, id, format string) (bool, error) {
	q := r.URL.Query()
	sig, expS := q.Get("sig"), q.Get("exp")
	if sig == "" && expS == "" {
		return false, nil
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil {
		return false, &kvitt.Error{Code: kvitt.EUNAUTHORIZED, Field: "exp", Message: "the QR link is malformed; take a new one from the payment"}
	}
	key, err := s.qr.secret(r.Context())
	if err != nil {
		return false, err
	}
	if !hmac.Equal([]byte(sig), []byte(qrSig(key, id, format, exp))) {
		return false, &kvitt.Error{Code: kvitt.EUNAUTHORIZED, Field: "sig", Message: "the QR link's signature is not valid; take a new one from the payment"}
	}
	if time.Now().Unix() > exp {
		return false, &kvitt.Error{Code: kvitt.EUNAUTHORIZED, Field: "exp", Message: "the QR link has expired; take a new one from the payment"}
	}
	return true, nil
}
