package controlunit_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/controlunit"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
)

var stockholm, _ = time.LoadLocation("Europe/Stockholm")

// sale is Mews' TransactionTests example: 25 % and 12 % VAT, 116.26 SEK.
func sale() *kvitt.Registration {
	return &kvitt.Registration{
		Time:       time.Date(2026, 11, 23, 14, 5, 9, 0, stockholm),
		OrgNr:      "5566778899",
		RegisterID: "KASSA-0001",
		Serial:     123,
		Type:       kvitt.ReceiptNormal,
		Kind:       kvitt.ReceiptSale,
		Amount:     11626,
		VAT: []kvitt.VATTotal{
			{Rate: 2500, Gross: 6306, Net: 5045, VAT: 1261},
			{Rate: 1200, Gross: 5320, Net: 4750, VAT: 570},
		},
	}
}

// Literal wire fixtures, written from Mews' TcsRequest.cs and
// TransactionMappers.cs, not from this package's structs.
const saleXML = `<?xml version="1.0" encoding="UTF-8"?>
<TcsRequest><ApplicationID>kvitt-test</ApplicationID><RequestID>REQ</RequestID><ControlData><DateTime>20261123140509</DateTime><OrgNr>5566778899</OrgNr><ManRegisterID>KASSA-0001</ManRegisterID><RegisterAddress>Regeringsgatan 67 111 56 Stockholm</RegisterAddress><SequenceNumber>123</SequenceNumber><ReceiptType Type="normal"></ReceiptType><SaleAmount>116,26</SaleAmount><VAT1><Percent>25,00</Percent><Amount>12,61</Amount><SubtotalAmount>50,45</SubtotalAmount></VAT1><VAT2><Percent>12,00</Percent><Amount>5,70</Amount><SubtotalAmount>47,50</SubtotalAmount></VAT2><VAT3><Percent>6,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT3><VAT4><Percent>0,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT4></ControlData></TcsRequest>`

const returnCopyXML = `<?xml version="1.0" encoding="UTF-8"?>
<TcsRequest><ApplicationID>kvitt-test</ApplicationID><RequestID>REQ</RequestID><ControlData><DateTime>20261123150000</DateTime><CopyDateTime>20261123140509</CopyDateTime><OrgNr>5566778899</OrgNr><ManRegisterID>KASSA-0001</ManRegisterID><RegisterAddress>Regeringsgatan 67 111 56 Stockholm</RegisterAddress><SequenceNumber>130</SequenceNumber><CopySequenceNumber>124</CopySequenceNumber><ReceiptType Type="kopia"></ReceiptType><RefundAmount>1 250,00</RefundAmount><VAT1><Percent>25,00</Percent><Amount>-250,00</Amount><SubtotalAmount>-1000,00</SubtotalAmount></VAT1><VAT2><Percent>12,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT2><VAT3><Percent>6,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT3><VAT4><Percent>0,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT4></ControlData></TcsRequest>`

const okResponse = `<?xml version="1.0" encoding="utf-8"?>
<TcsResponse><ResponseCode>0</ResponseCode><ResponseMessage>OK</ResponseMessage><ResponseReason></ResponseReason><ApplicationID>kvitt-test</ApplicationID><RequestID>x</RequestID><SKVResponseCode>0</SKVResponseCode><SKVResponseMessage>OK</SKVResponseMessage><SequenceNumber>123</SequenceNumber><ControlCode><ControlServerID>CU-INFRASEC-42</ControlServerID><Code>ABCDEFGHIJKLMNOPQRSTUVWXYZ234567</Code></ControlCode></TcsResponse>`

// capture answers every request with answer and hands the request body to the test.
func capture(t *testing.T, status int, answer string) (*controlunit.Client, <-chan string) {
	t.Helper()
	bodies := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/tcsserver" {
			t.Errorf("request %s %s, want POST /tcsserver", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
			t.Errorf("Content-Type %q", ct)
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := controlunit.New(controlunit.Config{URL: srv.URL, ApplicationID: "kvitt-test", RegisterAddress: "Regeringsgatan 67 111 56 Stockholm"})
	if err != nil {
		t.Fatal(err)
	}
	return c, bodies
}

func normalize(xml, reqID string) string {
	return strings.Replace(strings.ReplaceAll(xml, "\n", ""), "<RequestID>"+reqID+"</RequestID>", "<RequestID>REQ</RequestID>", 1)
}

func TestRequestWireFormat(t *testing.T) {
	c, bodies := capture(t, 200, okResponse)
	r := sale()
	code, err := c.Register(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if code != (kvitt.ControlCode{UnitID: "CU-INFRASEC-42", Code: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"}) {
		t.Errorf("code %+v", code)
	}
	got := <-bodies
	want := strings.ReplaceAll(saleXML, "\n", "")
	if g := normalize(got, controlunit.RequestID(r)); !strings.EqualFold(g[:38], want[:38]) || g[38:] != want[38:] {
		t.Errorf("request\n got %s\nwant %s", g, want)
	}
}

func TestReturnCopyWireFormat(t *testing.T) {
	c, bodies := capture(t, 200, okResponse)
	r := &kvitt.Registration{
		Time:       time.Date(2026, 11, 23, 15, 0, 0, 0, stockholm),
		OrgNr:      "5566778899",
		RegisterID: "KASSA-0001",
		Serial:     130,
		Type:       kvitt.ReceiptCopy,
		Kind:       kvitt.ReceiptReturn,
		Amount:     125000,
		VAT:        []kvitt.VATTotal{{Rate: 2500, Gross: -125000, Net: -100000, VAT: -25000}},
		CopyTime:   time.Date(2026, 11, 23, 14, 5, 9, 0, stockholm),
		CopySerial: 124,
	}
	if _, err := c.Register(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := normalize(<-bodies, controlunit.RequestID(r))
	// kvitt writes no thousands separator; the fixture has .NET's "1 250,00".
	want := strings.Replace(strings.ReplaceAll(returnCopyXML, "\n", ""), "1 250,00", "1250,00", 1)
	if !strings.EqualFold(got[:38], want[:38]) || got[38:] != want[38:] {
		t.Errorf("request\n got %s\nwant %s", got, want)
	}
	// Positive VAT on a return is sent negative all the same.
	r.VAT = []kvitt.VATTotal{{Rate: 2500, Gross: 125000, Net: 100000, VAT: 25000}}
	if _, err := c.Register(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got2 := normalize(<-bodies, controlunit.RequestID(r)); got2 != got {
		t.Errorf("positive return VAT sent as\n%s", got2)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *kvitt.Registration)
		field string
	}{
		{"ok", func(r *kvitt.Registration) {}, ""},
		{"org nr short", func(r *kvitt.Registration) { r.OrgNr = "556677889" }, "org_nr"},
		{"org nr dash", func(r *kvitt.Registration) { r.OrgNr = "556677-8899" }, "org_nr"},
		{"no register", func(r *kvitt.Registration) { r.RegisterID = " " }, "register_id"},
		{"serial zero", func(r *kvitt.Registration) { r.Serial = 0 }, "serial"},
		{"no time", func(r *kvitt.Registration) { r.Time = time.Time{} }, "time"},
		{"bad type", func(r *kvitt.Registration) { r.Type = "x" }, "type"},
		{"bad kind", func(r *kvitt.Registration) { r.Kind = "" }, "kind"},
		{"negative amount", func(r *kvitt.Registration) { r.Amount = -1 }, "amount"},
		{"rate 8", func(r *kvitt.Registration) { r.VAT[1].Rate = 800 }, "vat[1].rate"},
		{"rate twice", func(r *kvitt.Registration) { r.VAT[1].Rate = 2500 }, "vat[1].rate"},
		{"five rates", func(r *kvitt.Registration) {
			r.VAT = append(r.VAT, kvitt.VATTotal{Rate: 600}, kvitt.VATTotal{Rate: 0}, kvitt.VATTotal{Rate: 0})
		}, "vat"},
		{"split off", func(r *kvitt.Registration) { r.Amount = 11627 }, "vat"},
		{"no split", func(r *kvitt.Registration) { r.VAT = nil }, "vat"},
		{"net+vat≠gross", func(r *kvitt.Registration) { r.VAT[0].VAT = 1260 }, "vat[0]"},
		{"copy without serial", func(r *kvitt.Registration) { r.Type = kvitt.ReceiptCopy; r.CopyTime = r.Time }, "copy_serial"},
		{"copy without time", func(r *kvitt.Registration) { r.Type = kvitt.ReceiptCopy; r.CopySerial = 1 }, "copy_time"},
	}
	c, err := controlunit.New(controlunit.Config{URL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sale()
			tt.edit(r)
			err := controlunit.Validate(r)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != tt.field {
				t.Fatalf("err %v, want field %s", err, tt.field)
			}
			// Register validates before anything is sent (the URL is unreachable).
			if _, err := c.Register(context.Background(), r); kvitt.ErrorField(err) != tt.field {
				t.Fatalf("Register: %v", err)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		status int
		body   string
		code   string
	}{
		{500, "boom", kvitt.EUNAVAILABLE},
		{503, "down", kvitt.EUNAVAILABLE},
		{403, "who are you", kvitt.EUNAVAILABLE},
		{400, "bad xml", kvitt.EUNPROCESSABLE},
		{200, "<html>captive portal</html>", kvitt.EUNAVAILABLE},
		{200, `<TcsResponse><ResponseCode>2</ResponseCode><ResponseMessage>Sequence number already used</ResponseMessage><ResponseReason>other data</ResponseReason><ControlCode><ControlServerID>X</ControlServerID><Code></Code></ControlCode></TcsResponse>`, kvitt.EUNPROCESSABLE},
	}
	for _, tt := range tests {
		c, _ := capture(t, tt.status, tt.body)
		_, err := c.Register(context.Background(), sale())
		if kvitt.ErrorCode(err) != tt.code {
			t.Errorf("%d %q: %v, want %s", tt.status, tt.body, err, tt.code)
		}
		if tt.status == 200 && tt.code == kvitt.EUNPROCESSABLE && !strings.Contains(kvitt.ErrorMessage(err), "Sequence number already used: other data") {
			t.Errorf("message %q lacks the unit's words", kvitt.ErrorMessage(err))
		}
	}
}

func TestTimeoutAndConnectionRefused(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c, _ := controlunit.New(controlunit.Config{URL: srv.URL, Timeout: 100 * time.Millisecond})
	if _, err := c.Register(context.Background(), sale()); kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Errorf("timeout: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ = controlunit.New(controlunit.Config{URL: "https://" + addr})
	if _, err := c.Register(context.Background(), sale()); kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Errorf("refused: %v", err)
	}
}

func startSim(t *testing.T) *simcontrolunit.Unit {
	t.Helper()
	u, err := simcontrolunit.New(simcontrolunit.Config{UnitID: "CU-SIM-0001", Secret: []byte("test secret")})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func TestAgainstSimulator(t *testing.T) {
	u := startSim(t)
	ctx := context.Background()
	c, err := controlunit.New(controlunit.Config{URL: u.URL(), TLS: u.ClientTLS(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := sale()
	code, err := c.Register(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if code.UnitID != "CU-SIM-0001" || len(code.Code) != 32 {
		t.Fatalf("code %+v", code)
	}
	// Idempotent: the same registration again gives the same code, one record.
	again, err := c.Register(ctx, sale())
	if err != nil || again != code {
		t.Fatalf("again: %+v %v, want %+v", again, err, code)
	}
	if n := u.Registrations(); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
	// The same serial with other data is refused with the unit's words.
	other := sale()
	other.Time = other.Time.Add(time.Minute)
	if _, err := c.Register(ctx, other); kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("same serial, other data: %v", err)
	}
	// A lost answer: the unit records, the connection drops, the retry gets the same code.
	next := sale()
	next.Serial = 124
	u.DropAnswers(1)
	if _, err := c.Register(ctx, next); kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Fatalf("dropped answer: %v", err)
	}
	retried, err := c.Register(ctx, next)
	if err != nil || retried.Code == "" || retried.Code == code.Code {
		t.Fatalf("retry: %+v %v", retried, err)
	}
	if n := u.Registrations(); n != 2 {
		t.Errorf("%d registrations after the retry, want 2", n)
	}
	// A copy answers the original's code; a pro forma gets none.
	cp := sale()
	cp.Type, cp.Serial, cp.CopySerial, cp.CopyTime = kvitt.ReceiptCopy, 125, 123, r.Time
	cp.Time = r.Time.Add(time.Hour)
	got, err := c.Register(ctx, cp)
	if err != nil || got != code {
		t.Errorf("copy: %+v %v, want %+v", got, err, code)
	}
	pf := sale()
	pf.Type, pf.Serial = kvitt.ReceiptProForma, 126
	if got, err := c.Register(ctx, pf); err != nil || got.Code != "" || got.UnitID != "CU-SIM-0001" {
		t.Errorf("pro forma: %+v %v", got, err)
	}
	// Down: 503 → EUNAVAILABLE; back up: works.
	u.SetDown(true)
	nx := sale()
	nx.Serial = 127
	if _, err := c.Register(ctx, nx); kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Errorf("down: %v", err)
	}
	u.SetDown(false)
	if _, err := c.Register(ctx, nx); err != nil {
		t.Errorf("back up: %v", err)
	}
	// A return (negative VAT on the wire) and a training receipt get codes of their own.
	ret := sale()
	ret.Kind, ret.Serial, ret.Amount = kvitt.ReceiptReturn, 128, 6306
	ret.VAT = []kvitt.VATTotal{{Rate: 2500, Gross: -6306, Net: -5045, VAT: -1261}}
	tr := sale()
	tr.Type, tr.Serial = kvitt.ReceiptTraining, 129
	for _, r := range []*kvitt.Registration{ret, tr} {
		if got, err := c.Register(ctx, r); err != nil || len(got.Code) != 32 || got.Code == code.Code {
			t.Errorf("%s %s: %+v %v", r.Type, r.Kind, got, err)
		}
	}
	// Serials never go backwards.
	old := sale()
	old.Serial, old.Time = 100, old.Time.Add(-time.Hour)
	if _, err := c.Register(ctx, old); kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE {
		t.Errorf("serial backwards: %v", err)
	}
	if n := u.Registrations(); n != 7 {
		t.Errorf("%d registrations, want 7", n)
	}
	if err := u.Verify(); err != nil {
		t.Error(err)
	}
}

func TestSimulatorRequiresClientCertificate(t *testing.T) {
	u := startSim(t)
	c, _ := controlunit.New(controlunit.Config{URL: u.URL(), TLS: &tls.Config{RootCAs: u.CAPool()}})
	if _, err := c.Register(context.Background(), sale()); kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE {
		t.Errorf("without a client certificate: %v", err)
	}
	if u.Registrations() != 0 {
		t.Error("registered without a client certificate")
	}
}

// TestGuardRegistration fails when kvitt.Registration grows a field that
// the request mapping was not written for.
func TestGuardRegistration(t *testing.T) {
	mapped := map[string]bool{"Time": true, "OrgNr": true, "RegisterID": true, "Serial": true, "Type": true,
		"Kind": true, "Amount": true, "VAT": true, "CopyTime": true, "CopySerial": true, "Address": true}
	for f := range reflect.TypeFor[kvitt.Registration]().Fields() {
		if !mapped[f.Name] {
			t.Errorf("kvitt.Registration.%s is not sent to the control unit: map it in request()", f.Name)
		}
	}
}
