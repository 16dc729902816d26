package mobilepay

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

const callbackQRPath = "/qr/v1/merchant-callback"

// Pairing is a till's static QR as registered with the QR API: a merchant
// callback QR whose merchantQrId is the till's beacon id. When a customer
// scans it, the platform sends user.checked-in.v1 with that id and a token
// for the customer; kvitt sends the till's payment to that customer.
type Pairing struct {
	// BeaconID is the merchantQrId, in canonical form (see ParseBeaconID).
	BeaconID string
	// MSN is the sales unit the QR belongs to. Together with BeaconID it is
	// what the platform knows the till by: keep both on the till.
	MSN string
	// Location is the text the app shows when the QR is scanned ("Kasse 1").
	Location string
	// Sticker is true for an existing MobilePay PoS sticker moved over with
	// the migration endpoint; false for a QR created for kvitt.
	Sticker bool
	// QRContent is the text the QR encodes; QRImageURL the platform's image.
	QRContent  string
	QRImageURL string
}

// Pair registers the till's static QR (PUT) and reads it back (GET). With
// sticker set, beaconID is an existing MobilePay PoS sticker's beacon id,
// moved over with PUT /qr/v1/merchant-callback/mobilepay/{beaconId} as the
// migration guide says (the printed sticker keeps working; the callback's
// merchantQrId is the beacon id). Otherwise a new merchant callback QR with
// merchantQrId = beaconID is created with PUT /qr/v1/merchant-callback/{id},
// to be printed (see QRImage). Pairing again with the same id updates the
// location text only: the image never changes. beaconID may be the scanned
// sticker content; a wrong form is an EUNPROCESSABLE error naming the rule.
func (c *Client) Pair(ctx context.Context, beaconID, location string, sticker bool) (*Pairing, error) {
	id, err := ParseBeaconID(beaconID)
	if err != nil {
		return nil, err
	}
	if err := ValidateLocationDescription(location); err != nil {
		return nil, err
	}
	p := callbackQRPath + "/" + url.PathEscape(id)
	if sticker {
		p = callbackQRPath + "/mobilepay/" + url.PathEscape(id)
	}
	if err := c.do(ctx, call{method: http.MethodPut, path: p, body: &CallbackQRRequest{LocationDescription: location}}); err != nil {
		return nil, KvittError(err)
	}
	pr, err := c.PairingOf(ctx, id)
	if err != nil {
		return nil, err
	}
	pr.Sticker = sticker
	return pr, nil
}

// PairingOf reads a till's QR (GET /qr/v1/merchant-callback/{id}); an
// unknown id is ENOTFOUND.
func (c *Client) PairingOf(ctx context.Context, beaconID string) (*Pairing, error) {
	q, err := c.CallbackQR(ctx, beaconID, "SVG", 0)
	if err != nil {
		return nil, err
	}
	return &Pairing{BeaconID: q.MerchantQRID, MSN: q.MerchantSerialNumber, Location: q.LocationDescription,
		QRContent: q.QRContent, QRImageURL: q.QRImageURL, Sticker: strings.HasPrefix(q.QRContent, "mobilepaypos:")}, nil
}

// CallbackQR sends GET /qr/v1/merchant-callback/{merchantQrId} with the
// image format ("SVG" or "PNG") and, for PNG, the size (100 to 2000 px; 0
// leaves it to the platform).
func (c *Client) CallbackQR(ctx context.Context, beaconID, format string, size int) (*CallbackQR, error) {
	id, err := ParseBeaconID(beaconID)
	if err != nil {
		return nil, err
	}
	q, err := imageQuery(format, size)
	if err != nil {
		return nil, err
	}
	var out CallbackQR
	if err := c.do(ctx, call{method: http.MethodGet, path: callbackQRPath + "/" + url.PathEscape(id), query: q, out: &out}); err != nil {
		return nil, KvittError(err)
	}
	return &out, nil
}

// CallbackQRs lists the sales unit's merchant callback QRs (GET /qr/v1/merchant-callback).
func (c *Client) CallbackQRs(ctx context.Context) ([]CallbackQR, error) {
	var out []CallbackQR
	if err := c.do(ctx, call{method: http.MethodGet, path: callbackQRPath, out: &out}); err != nil {
		return nil, KvittError(err)
	}
	return out, nil
}

// Unpair deletes the till's QR (DELETE /qr/v1/merchant-callback/{id}): its
// scans no longer reach kvitt. An unknown id is ENOTFOUND.
func (c *Client) Unpair(ctx context.Context, beaconID string) error {
	id, err := ParseBeaconID(beaconID)
	if err != nil {
		return err
	}
	if err := c.do(ctx, call{method: http.MethodDelete, path: callbackQRPath + "/" + url.PathEscape(id), want: []int{http.StatusOK, http.StatusNoContent}}); err != nil {
		return KvittError(err)
	}
	return nil
}

// QRImage fetches the till's QR as an image for printing: format "SVG" or
// "PNG", size in pixels for PNG (100 to 2000; 0 for the platform's
// default). It returns the image and its content type.
func (c *Client) QRImage(ctx context.Context, beaconID, format string, size int) ([]byte, string, error) {
	q, err := c.CallbackQR(ctx, beaconID, format, size)
	if err != nil {
		return nil, "", err
	}
	if q.QRImageURL == "" {
		return nil, "", kvitt.Errorf(kvitt.EPROVIDER, "MobilePay gave no image link for QR %s", beaconID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.QRImageURL, nil)
	if err != nil {
		return nil, "", kvitt.Errorf(kvitt.EPROVIDER, "MobilePay's image link %q: %v", q.QRImageURL, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", kvitt.Errorf(kvitt.EUNAVAILABLE, "fetching the QR image: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", kvitt.Errorf(kvitt.EPROVIDER, "fetching the QR image: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", kvitt.Errorf(kvitt.EUNAVAILABLE, "fetching the QR image: %v", err)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = map[string]string{"SVG": "image/svg+xml", "PNG": "image/png"}[strings.ToUpper(format)]
	}
	return b, ct, nil
}

func imageQuery(format string, size int) (url.Values, error) {
	q := url.Values{}
	switch f := strings.ToUpper(format); f {
	case "", "SVG":
		q.Set("QrImageFormat", "SVG")
	case "PNG":
		q.Set("QrImageFormat", "PNG")
		if size != 0 {
			if size < 100 || size > 2000 {
				return nil, kvitt.FieldError("size", "must be 100 to 2000 pixels, not %d", size)
			}
			q.Set("QrImageSize", strconv.Itoa(size))
		}
	default:
		return nil, kvitt.FieldError("format", "must be SVG or PNG, not %q", format)
	}
	return q, nil
}

// String describes the pairing for logs and screens.
func (p *Pairing) String() string {
	kind := "new QR"
	if p.Sticker {
		kind = "MobilePay PoS sticker"
	}
	return fmt.Sprintf("%s %s at MSN %s (%q)", kind, p.BeaconID, p.MSN, p.Location)
}
