// Package controlunit registers receipts with a Swedish control unit
// (kontrollenhet, SKVFS 2009:2) that speaks Infrasec's cloud "TCS" protocol:
// one XML TcsRequest POSTed over HTTPS with a client certificate, answered by a
// TcsResponse carrying the control code. Element names and formats follow the
// public MewsSystems/fiscalizations client (DTOs/TcsRequest.cs,
// Mappers/TransactionMappers.cs): DateTime as yyyyMMddHHmmss, amounts with a
// decimal comma, four VAT slots VAT1..VAT4 for 25, 12, 6 and 0 %.
package controlunit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Stockholm on hosts without a zone database

	"github.com/kvitt-hub/kvitt"
)

// DefaultPath is the TCS endpoint path, used when Config.URL has no path.
const DefaultPath = "/tcsserver"

// DefaultTimeout bounds one registration round trip when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config configures a Client.
type Config struct {
	// URL is the control unit's TCS endpoint ("https://host/tcsserver"); a URL
	// without a path gets DefaultPath.
	URL string
	// TLS carries the client certificate the unit requires and the roots that
	// verify the unit's server certificate.
	TLS *tls.Config
	// Timeout bounds one request; DefaultTimeout when zero.
	Timeout time.Duration
	// ApplicationID names the sending application in every request (TCS
	// ApplicationID); "kvitt" when empty.
	ApplicationID string
	// RegisterAddress is sent as TCS RegisterAddress (the address of the point
	// of sale). kvitt.Registration has no address yet, so it is configured per
	// client; empty is sent as an empty element.
	RegisterAddress string
	// HTTPClient overrides the client built from TLS and Timeout (tests).
	HTTPClient *http.Client
}

// Client is a kvitt.ControlUnit over the TCS protocol.
type Client struct {
	url     string
	appID   string
	address string
	hc      *http.Client
}

var _ kvitt.ControlUnit = (*Client)(nil)

// New returns a Client for cfg. It fails only on a malformed URL.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, kvitt.FieldError("url", "%q is not an http(s) URL", cfg.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultPath
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS
		tr.ResponseHeaderTimeout = timeout
		hc = &http.Client{Transport: tr, Timeout: timeout}
	}
	appID := cfg.ApplicationID
	if appID == "" {
		appID = "kvitt"
	}
	return &Client{url: u.String(), appID: appID, address: cfg.RegisterAddress, hc: hc}, nil
}

// Slots are the TCS VAT slots: VAT1 is 25 %, VAT2 12 %, VAT3 6 %, VAT4 0 %.
var Slots = [4]int64{2500, 1200, 600, 0}

// Register sends r to the control unit and returns the unit's manufacturing
// number and the control code. The same registration sent again carries the
// same RequestID and gets the same code. Errors: EUNPROCESSABLE (a
// kvitt.FieldError) when r is invalid or the unit refuses it, EUNAVAILABLE
// when the unit cannot be reached, times out or answers 5xx.
func (c *Client) Register(ctx context.Context, r *kvitt.Registration) (kvitt.ControlCode, error) {
	req, err := c.request(r)
	if err != nil {
		return kvitt.ControlCode{}, err
	}
	body, err := xml.Marshal(req)
	if err != nil {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EINTERNAL, "control unit: encoding request: %v", err)
	}
	body = append([]byte(xml.Header), body...)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EINTERNAL, "control unit: %v", err)
	}
	hreq.Header.Set("Content-Type", "application/xml; charset=utf-8")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return kvitt.ControlCode{}, unavailable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return kvitt.ControlCode{}, unavailable(err)
	}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode == http.StatusRequestTimeout:
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit answered %s: %s", resp.Status, snippet(data))
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		// A certificate problem: not the receipt's fault, so retry once fixed.
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit refused the client certificate (%s): %s", resp.Status, snippet(data))
	case resp.StatusCode >= 300:
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNPROCESSABLE, "control unit refused the receipt (%s): %s", resp.Status, snippet(data))
	}
	var tr tcsResponse
	if err := xml.Unmarshal(data, &tr); err != nil {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit: unreadable answer: %v", err)
	}
	if tr.ResponseCode != 0 {
		msg := strings.TrimSpace(tr.ResponseMessage)
		if tr.ResponseReason != "" {
			msg += ": " + strings.TrimSpace(tr.ResponseReason)
		}
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNPROCESSABLE, "control unit refused receipt %d (code %d): %s", r.Serial, tr.ResponseCode, msg)
	}
	if tr.ControlCode.ControlServerID == "" {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit: answer without ControlServerID")
	}
	if tr.ControlCode.Code == "" && r.Type != kvitt.ReceiptCopy && r.Type != kvitt.ReceiptProForma {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit: answer without a control code")
	}
	// Both go onto every printed receipt: an answer with control characters
	// (a line feed, a bidi override) is not a control code.
	if kvitt.CheckText("ControlServerID", tr.ControlCode.ControlServerID) != nil || kvitt.CheckText("ControlCode", tr.ControlCode.Code) != nil {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit: answer with control characters in its control code or unit id: %q %q",
			tr.ControlCode.ControlServerID, tr.ControlCode.Code)
	}
	return kvitt.ControlCode{UnitID: tr.ControlCode.ControlServerID, Code: tr.ControlCode.Code}, nil
}

func unavailable(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit did not answer in time: %v", err)
	case errors.Is(err, context.Canceled):
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit request cancelled: %v", err)
	}
	return kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit cannot be reached: %v", err)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Validate checks r against what a control unit takes. Errors are
// kvitt.FieldError naming the field.
func Validate(r *kvitt.Registration) error {
	if r == nil {
		return kvitt.FieldError("registration", "is missing")
	}
	if r.Time.IsZero() {
		return kvitt.FieldError("time", "is required")
	}
	if len(r.OrgNr) != 10 || strings.Trim(r.OrgNr, "0123456789") != "" {
		return kvitt.FieldError("org_nr", "%q is not a 10-digit organisation number", r.OrgNr)
	}
	if strings.TrimSpace(r.RegisterID) == "" {
		return kvitt.FieldError("register_id", "is required")
	}
	if r.Serial <= 0 {
		return kvitt.FieldError("serial", "must be above zero")
	}
	if _, ok := receiptTypes[r.Type]; !ok {
		return kvitt.FieldError("type", "%q is not a receipt type (normal, copy, training, proforma)", r.Type)
	}
	if r.Kind != kvitt.ReceiptSale && r.Kind != kvitt.ReceiptReturn {
		return kvitt.FieldError("kind", "%q is neither sale nor return", r.Kind)
	}
	if r.Amount < 0 {
		return kvitt.FieldError("amount", "must not be negative; a return sends its absolute sum")
	}
	if r.Amount > kvitt.MaxAmount {
		return kvitt.FieldError("amount", "is above the maximum")
	}
	if r.Type == kvitt.ReceiptCopy {
		if r.CopySerial <= 0 {
			return kvitt.FieldError("copy_serial", "a copy names the original receipt's serial")
		}
		if r.CopyTime.IsZero() {
			return kvitt.FieldError("copy_time", "a copy names the original receipt's time")
		}
	}
	if len(r.VAT) > 4 {
		return kvitt.FieldError("vat", "a control unit takes at most four VAT rates; this receipt has %d", len(r.VAT))
	}
	seen := map[int64]bool{}
	var sum int64
	for i, v := range r.VAT {
		f := fmt.Sprintf("vat[%d]", i)
		if slot(v.Rate) < 0 {
			return kvitt.FieldError(f+".rate", "%s %% is not a rate the control unit takes (25, 12, 6, 0)", kvitt.FormatRate(v.Rate))
		}
		if seen[v.Rate] {
			return kvitt.FieldError(f+".rate", "%s %% appears twice", kvitt.FormatRate(v.Rate))
		}
		seen[v.Rate] = true
		if v.Net+v.VAT != v.Gross {
			return kvitt.FieldError(f, "net %d + VAT %d is not gross %d", v.Net, v.VAT, v.Gross)
		}
		sum += abs(v.Gross)
	}
	if sum != r.Amount {
		return kvitt.FieldError("vat", "the VAT split adds up to %d, the amount is %d", sum, r.Amount)
	}
	return nil
}

var receiptTypes = map[kvitt.ReceiptType]string{
	kvitt.ReceiptNormal:   "normal",
	kvitt.ReceiptCopy:     "kopia",
	kvitt.ReceiptTraining: "ovning",
	kvitt.ReceiptProForma: "profo",
}

func slot(rate int64) int {
	for i, s := range Slots {
		if s == rate {
			return i
		}
	}
	return -1
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Amount formats minor units (öre) as TCS does: two decimals and a decimal
// comma, no thousands separator ("116,26", "-12,61", "0,00").
func Amount(v int64) string {
	return strings.Replace(kvitt.FormatAmount(v, kvitt.SEK), ".", ",", 1)
}

// TimeFormat is the TCS date and time layout (yyyyMMddHHmmss, local time of the register).
const TimeFormat = "20060102150405"

// Location is the time zone registrations are expressed in.
var Location = mustLoadStockholm()

func mustLoadStockholm() *time.Location {
	if loc, err := time.LoadLocation("Europe/Stockholm"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}

func (c *Client) request(r *kvitt.Registration) (*tcsRequest, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	cd := tcsControlData{
		DateTime:        r.Time.In(Location).Format(TimeFormat),
		OrgNr:           r.OrgNr,
		ManRegisterID:   r.RegisterID,
		RegisterAddress: registerAddress(r.Address, c.address),
		SequenceNumber:  r.Serial,
		ReceiptType:     tcsReceiptType{Type: receiptTypes[r.Type]},
	}
	if r.Type == kvitt.ReceiptCopy {
		cd.CopyDateTime = r.CopyTime.In(Location).Format(TimeFormat)
		cd.CopySequenceNumber = r.CopySerial
	}
	if r.Kind == kvitt.ReceiptReturn {
		cd.RefundAmount = Amount(r.Amount)
	} else {
		cd.SaleAmount = Amount(r.Amount)
	}
	var vats [4]tcsVAT
	for i, rate := range Slots {
		vats[i] = tcsVAT{Percent: Amount(rate), Amount: Amount(0), SubtotalAmount: Amount(0)}
	}
	for _, v := range r.VAT {
		vat, net := v.VAT, v.Net
		if r.Kind == kvitt.ReceiptReturn {
			// SKVFS 2009:2: a return's VAT is sent negative.
			vat, net = -abs(vat), -abs(net)
		}
		i := slot(v.Rate)
		vats[i].Amount = Amount(vat)
		vats[i].SubtotalAmount = Amount(net)
	}
	cd.VAT1, cd.VAT2, cd.VAT3, cd.VAT4 = vats[0], vats[1], vats[2], vats[3]
	return &tcsRequest{ApplicationID: c.appID, RequestID: RequestID(r), ControlData: cd}, nil
}

// RequestID derives the TCS RequestID from what identifies a registration
// (organisation, register, serial, type and copied serial), as a UUID, so a
// retry of the same registration carries the same RequestID.
func RequestID(r *kvitt.Registration) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("kvitt-tcs\x00%s\x00%s\x00%d\x00%s\x00%d", r.OrgNr, r.RegisterID, r.Serial, r.Type, r.CopySerial)))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 layout (name-based, SHA)
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// The wire structs: element names as in Infrasec's TCS (see the package comment).
type tcsRequest struct {
	XMLName       xml.Name       `xml:"TcsRequest"`
	ApplicationID string         `xml:"ApplicationID"`
	RequestID     string         `xml:"RequestID"`
	ControlData   tcsControlData `xml:"ControlData"`
}

type tcsControlData struct {
	DateTime           string         `xml:"DateTime"`
	CopyDateTime       string         `xml:"CopyDateTime,omitempty"`
	OrgNr              string         `xml:"OrgNr"`
	ManRegisterID      string         `xml:"ManRegisterID"`
	RegisterAddress    string         `xml:"RegisterAddress"`
	SequenceNumber     int64          `xml:"SequenceNumber"`
	CopySequenceNumber int64          `xml:"CopySequenceNumber,omitempty"`
	ReceiptType        tcsReceiptType `xml:"ReceiptType"`
	SaleAmount         string         `xml:"SaleAmount,omitempty"`
	RefundAmount       string         `xml:"RefundAmount,omitempty"`
	VAT1               tcsVAT         `xml:"VAT1"`
	VAT2               tcsVAT         `xml:"VAT2"`
	VAT3               tcsVAT         `xml:"VAT3"`
	VAT4               tcsVAT         `xml:"VAT4"`
}

type tcsReceiptType struct {
	Type string `xml:"Type,attr"`
}

type tcsVAT struct {
	Percent        string `xml:"Percent"`
	Amount         string `xml:"Amount"`
	SubtotalAmount string `xml:"SubtotalAmount"`
}

type tcsResponse struct {
	XMLName            xml.Name `xml:"TcsResponse"`
	ResponseCode       int      `xml:"ResponseCode"`
	ResponseMessage    string   `xml:"ResponseMessage"`
	ResponseReason     string   `xml:"ResponseReason"`
	ApplicationID      string   `xml:"ApplicationID"`
	RequestID          string   `xml:"RequestID"`
	SKVResponseCode    string   `xml:"SKVResponseCode"`
	SKVResponseMessage string   `xml:"SKVResponseMessage"`
	SequenceNumber     string   `xml:"SequenceNumber"`
	ControlCode        struct {
		ControlServerID string `xml:"ControlServerID"`
		Code            string `xml:"Code"`
	} `xml:"ControlCode"`
}

// registerAddress prefers the receipt's own point-of-sale address over the
// configured fallback.
func registerAddress(fromReceipt, configured string) string {
	if fromReceipt != "" {
		return fromReceipt
	}
	return configured
}
