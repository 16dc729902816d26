package simcontrolunit

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A literal TCS request as Mews' client sends it (TransactionTests: 116,26 SEK).
const request = `<?xml version="1.0" encoding="utf-8"?>
<TcsRequest>
  <ApplicationID>Test client</ApplicationID>
  <RequestID>3f2504e0-4f89-11d3-9a0c-0305e82c3301</RequestID>
  <ControlData>
    <DateTime>20261123140509</DateTime>
    <OrgNr>4444444444</OrgNr>
    <ManRegisterID>REGISTER_ID</ManRegisterID>
    <RegisterAddress>Regeringsgatan 67 111 56 Stockholm</RegisterAddress>
    <SequenceNumber>SERIAL</SequenceNumber>
    <ReceiptType Type="TYPE" />
    <SaleAmount>116,26</SaleAmount>
    <VAT1><Percent>25,00</Percent><Amount>12,61</Amount><SubtotalAmount>50,45</SubtotalAmount></VAT1>
    <VAT2><Percent>12,00</Percent><Amount>5,70</Amount><SubtotalAmount>47,50</SubtotalAmount></VAT2>
    <VAT3><Percent>6,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT3>
    <VAT4><Percent>0,00</Percent><Amount>0,00</Amount><SubtotalAmount>0,00</SubtotalAmount></VAT4>
  </ControlData>
</TcsRequest>`

func req(serial, typ string, edits ...string) string {
	s := strings.NewReplacer("SERIAL", serial, "TYPE", typ).Replace(request)
	for i := 0; i+1 < len(edits); i += 2 {
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return s
}

func post(t *testing.T, h http.Handler, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/tcsserver", strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func field(body, name string) string {
	i := strings.Index(body, "<"+name+">")
	j := strings.Index(body, "</"+name+">")
	if i < 0 || j < i {
		return ""
	}
	return body[i+len(name)+2 : j]
}

func newUnit(t *testing.T, path string) *Unit {
	t.Helper()
	u, err := New(Config{UnitID: "CU-SIM-0001", Secret: []byte("test secret"), JournalPath: path,
		Now: func() time.Time { return time.Date(2026, 11, 23, 13, 5, 10, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func TestRegisterAndPinnedCode(t *testing.T) {
	u := newUnit(t, "")
	h := u.Handler()
	status, body := post(t, h, req("123", "normal"))
	if status != 200 || field(body, "ResponseCode") != "0" {
		t.Fatalf("%d %s", status, body)
	}
	// Pinned: a change to the code derivation breaks printed receipts' meaning.
	const want = "TJIO4DMYRERE2R3PNPB3CN57TA6C5TXJ"
	if got := field(body, "Code"); got != want {
		t.Errorf("code %q, want %q", got, want)
	}
	for _, f := range []struct{ name, want string }{
		{"ControlServerID", "CU-SIM-0001"}, {"SequenceNumber", "123"},
		{"RequestID", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}, {"ApplicationID", "Test client"},
	} {
		if got := field(body, f.name); got != f.want {
			t.Errorf("%s %q, want %q", f.name, got, f.want)
		}
	}
	// Replay: same answer, no new record. Thousands separators as .NET writes them are read.
	_, again := post(t, h, req("123", "normal", "<SaleAmount>116,26", "<SaleAmount>116,26"))
	if field(again, "Code") != field(body, "Code") || u.Registrations() != 1 {
		t.Errorf("replay: %s (%d records)", again, u.Registrations())
	}
	// Training gets its own code; pro forma none.
	_, tr := post(t, h, req("124", "ovning"))
	if c := field(tr, "Code"); len(c) != 32 || c == want {
		t.Errorf("training code %q", c)
	}
	_, pf := post(t, h, req("125", "profo"))
	if field(pf, "ResponseCode") != "0" || field(pf, "Code") != "" {
		t.Errorf("pro forma: %s", pf)
	}
	if u.Requests() != 4 || u.Registrations() != 3 {
		t.Errorf("requests %d registrations %d", u.Requests(), u.Registrations())
	}
}

func TestRefusals(t *testing.T) {
	u := newUnit(t, "")
	h := u.Handler()
	copyOf := func(serial, copySerial, copyTime string) string {
		return req(serial, "kopia", "<OrgNr>", "<CopyDateTime>"+copyTime+"</CopyDateTime><OrgNr>",
			"<ReceiptType", "<CopySequenceNumber>"+copySerial+"</CopySequenceNumber><ReceiptType")
	}
	if _, b := post(t, h, req("10", "normal")); field(b, "ResponseCode") != "0" {
		t.Fatal(b)
	}
	tests := []struct {
		name, body, code string
	}{
		{"same serial, other data", req("10", "normal", "140509", "140510"), "2"},
		{"serial backwards", req("9", "normal"), "2"},
		{"copy of unknown receipt", copyOf("11", "8", "20261123140509"), "3"},
		{"copy with wrong original time", copyOf("11", "10", "20261123140500"), "1"},
		{"bad date", req("11", "normal", "20261123140509", "2026-11-23"), "1"},
		{"dot decimals", req("11", "normal", "116,26", "116.26"), "1"},
		{"org nr", req("11", "normal", "4444444444", "444444444"), "1"},
		{"type", req("11", "sale"), "1"},
		{"VAT sum", req("11", "normal", "116,26", "116,27"), "1"},
		{"VAT rate", req("11", "normal", "<Amount>12,61", "<Amount>13,61"), "1"},
		{"percent slot", req("11", "normal", "12,00", "8,00"), "1"},
		{"sale with negative VAT", req("11", "normal", "<Amount>0,00</Amount><SubtotalAmount>0,00", "<Amount>-1,00</Amount><SubtotalAmount>1,00"), "1"},
	}
	for _, tt := range tests {
		status, body := post(t, h, tt.body)
		if status != 200 || field(body, "ResponseCode") != tt.code || field(body, "ResponseReason") == "" {
			t.Errorf("%s: %d %s, want ResponseCode %s", tt.name, status, body, tt.code)
		}
	}
	// One copy per receipt: the same copy again is a replay, another copy is refused.
	_, first := post(t, h, copyOf("11", "10", "20261123140509"))
	_, orig := post(t, h, req("10", "normal"))
	if field(first, "ResponseCode") != "0" || field(first, "Code") != field(orig, "Code") {
		t.Errorf("copy: %s", first)
	}
	if _, b := post(t, h, copyOf("11", "10", "20261123140509")); field(b, "Code") != field(orig, "Code") {
		t.Errorf("copy replay: %s", b)
	}
	if _, b := post(t, h, copyOf("12", "10", "20261123140509")); field(b, "ResponseCode") != "2" {
		t.Errorf("second copy: %s", b)
	}
	if status, _ := post(t, h, "<html/>"); status != 400 {
		t.Errorf("not XML: %d", status)
	}
	if u.Registrations() != 2 {
		t.Errorf("%d registrations, want 2", u.Registrations())
	}
}

func TestJournalReloadAndTamper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cu.jsonl")
	u := newUnit(t, path)
	for _, s := range []string{"1", "2", "3"} {
		if _, b := post(t, u.Handler(), req(s, "normal")); field(b, "ResponseCode") != "0" {
			t.Fatal(b)
		}
	}
	if err := u.Verify(); err != nil {
		t.Fatal(err)
	}
	_, before := post(t, u.Handler(), req("2", "normal"))
	u.Close()

	// Reloaded: the replay still answers the same code, and serials stay monotonic.
	u2 := newUnit(t, path)
	if u2.Registrations() != 3 {
		t.Fatalf("reloaded %d entries", u2.Registrations())
	}
	if _, b := post(t, u2.Handler(), req("2", "normal")); field(b, "Code") != field(before, "Code") {
		t.Errorf("after reload: %s", b)
	}
	if _, b := post(t, u2.Handler(), req("2", "normal", "140509", "140511")); field(b, "ResponseCode") != "2" {
		t.Errorf("after reload, reuse: %s", b)
	}
	u2.Close()

	data, _ := os.ReadFile(path)
	tampered := bytes.Replace(data, []byte(`\"amount\":11626`), []byte(`\"amount\":11625`), 1)
	if bytes.Equal(tampered, data) {
		t.Fatal("tamper target not found")
	}
	os.WriteFile(path, tampered, 0o600)
	if _, err := New(Config{JournalPath: path}); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Errorf("tampered journal loaded: %v", err)
	}
	entries := u.Entries()
	entries[1].Code = "X"
	if VerifyChain(entries) == nil {
		t.Error("VerifyChain missed a changed code")
	}
}

func TestMain_(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-addr", "127.0.0.1:0", "-certs", dir, "-journal", filepath.Join(dir, "j")}, &out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "j")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "client-key.pem")); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("Main did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
