// Package simcontrolunit simulates a Swedish cloud control unit speaking
// Infrasec's TCS protocol (XML over HTTPS with a required client certificate),
// for tests and the sandbox. It shares no wire structs with the controlunit
// client: both sides are pinned by literal XML fixtures.
//
// The unit keeps its own tamper-evident record: an append-only hash chain of
// every registration it accepted, in memory and optionally in a JSON-lines
// file, checked by Verify. Control codes are HMAC-SHA256 of the unit id and
// the registration under the unit's secret, base32, 32 characters, so tests
// can pin them.
//
// Rules, per register (organisation number + ManRegisterID):
//   - a registration repeated with identical data gets the same answer and no
//     second record (the client's retries are safe);
//   - a serial already registered with other data is refused, and so is a
//     serial below the highest registered one (serials never go backwards);
//   - normal and training (ovning) receipts get their own control code; a
//     pro forma (profo) receipt is recorded but gets no code; a copy (kopia)
//     is recorded against its original (CopySequenceNumber, which must be
//     registered with the same date and time) and answers the original's code.
//     Only one copy per original is accepted (SKVFS 2014:9 6 kap.: no more
//     than one copy). A copy's own SequenceNumber takes no part in the series.
package simcontrolunit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Unit.
type Config struct {
	// UnitID is the control unit's manufacturing number, returned as
	// ControlServerID and printed on receipts; "CU-SIM-0001" when empty.
	UnitID string
	// Secret keys the control codes; a fixed development secret when empty.
	Secret []byte
	// JournalPath, when set, is a JSON-lines file the record is appended to
	// and reloaded (and verified) from at start.
	JournalPath string
	// Now is the clock for record times; time.Now when nil.
	Now func() time.Time
	// CertsDir, when set, keeps the unit's certificates across restarts:
	// Start loads the CA, the server certificate and the client certificate
	// (ca.pem, server.pem, server-key.pem, client.pem, client-key.pem) when
	// all are there and valid, makes and writes a new set when none is, and
	// refuses to start when only some are or one is not valid. Without it,
	// every Start makes a new set.
	CertsDir string
}

// Entry is one accepted registration in the unit's hash chain.
type Entry struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Key      string    `json:"key"`
	Data     string    `json:"data"` // canonical JSON of the registration
	Code     string    `json:"code"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"` // hex SHA-256(prev_hash|seq|at|key|data|code)
}

func (e *Entry) sum() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%s|%s|%s|%s", e.PrevHash, e.Seq, e.At.UTC().Format(time.RFC3339Nano), e.Key, e.Data, e.Code)
	return hex.EncodeToString(h.Sum(nil))
}

// Unit is the simulated control unit.
type Unit struct {
	unitID string
	secret []byte
	now    func() time.Time

	mu       sync.Mutex
	entries  []Entry
	byKey    map[string]int   // key → index in entries
	last     map[string]int64 // register → highest serial
	file     *os.File
	path     string
	down     bool
	drop     int
	requests int

	certsDir string
	newCerts bool // Start made the certificates (rather than loading them)
	pki      *pki
	ln       net.Listener
	srv      *http.Server
	url      string
}

// New returns a unit with its record loaded from cfg.JournalPath, if any; the
// loaded chain must verify. Call Start to serve it over HTTPS, or use Handler.
func New(cfg Config) (*Unit, error) {
	u := &Unit{
		unitID:   cfg.UnitID,
		secret:   cfg.Secret,
		now:      cfg.Now,
		byKey:    map[string]int{},
		last:     map[string]int64{},
		path:     cfg.JournalPath,
		certsDir: cfg.CertsDir,
	}
	if u.unitID == "" {
		u.unitID = "CU-SIM-0001"
	}
	if len(u.secret) == 0 {
		u.secret = []byte("kvitt control unit simulator secret")
	}
	if u.now == nil {
		u.now = time.Now
	}
	if u.path != "" {
		f, err := os.OpenFile(u.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		entries, err := readJournal(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("control unit journal %s: %w", u.path, err)
		}
		for _, e := range entries {
			var d regData
			if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
				f.Close()
				return nil, fmt.Errorf("control unit journal %s: entry %d: %w", u.path, e.Seq, err)
			}
			u.apply(e, &d)
		}
		u.file = f
	}
	return u, nil
}

// UnitID is the unit's manufacturing number.
func (u *Unit) UnitID() string { return u.unitID }

// SetDown makes the unit answer 503 Service Unavailable to every request
// (true) or work again (false), for outage tests.
func (u *Unit) SetDown(down bool) {
	u.mu.Lock()
	u.down = down
	u.mu.Unlock()
}

// DropAnswers makes the unit register the next n requests and then close the
// connection without answering: a lost answer, for idempotency tests.
func (u *Unit) DropAnswers(n int) {
	u.mu.Lock()
	u.drop = n
	u.mu.Unlock()
}

// Registrations is the number of registrations recorded (replays excluded).
func (u *Unit) Registrations() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.entries)
}

// Requests is the number of requests answered or refused since start.
func (u *Unit) Requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests
}

// Entries returns a copy of the record.
func (u *Unit) Entries() []Entry {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Entry(nil), u.entries...)
}

// Verify checks the in-memory chain and, when the unit has a journal file,
// that the file holds the same verified chain.
func (u *Unit) Verify() error {
	u.mu.Lock()
	entries := append([]Entry(nil), u.entries...)
	path := u.path
	u.mu.Unlock()
	if err := VerifyChain(entries); err != nil {
		return err
	}
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	onDisk, err := readJournal(f)
	if err != nil {
		return err
	}
	if len(onDisk) != len(entries) {
		return fmt.Errorf("journal file holds %d entries, memory %d", len(onDisk), len(entries))
	}
	for i := range onDisk {
		if onDisk[i].Hash != entries[i].Hash {
			return fmt.Errorf("journal file entry %d differs from memory", onDisk[i].Seq)
		}
	}
	return nil
}

// VerifyChain checks that entries form an unbroken hash chain from seq 1.
func VerifyChain(entries []Entry) error {
	prev := ""
	for i := range entries {
		e := &entries[i]
		if e.Seq != int64(i+1) {
			return fmt.Errorf("entry %d: sequence %d, want %d", i, e.Seq, i+1)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("entry %d: previous hash does not match", e.Seq)
		}
		if e.sum() != e.Hash {
			return fmt.Errorf("entry %d: hash does not match its content", e.Seq)
		}
		prev = e.Hash
	}
	return nil
}

func readJournal(r io.Reader) ([]Entry, error) {
	var entries []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(entries)+1, err)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return entries, VerifyChain(entries)
}

// apply adds e to the state; u.mu is held (or the unit is not yet shared).
func (u *Unit) apply(e Entry, d *regData) {
	u.entries = append(u.entries, e)
	u.byKey[e.Key] = len(u.entries) - 1
	if d.Type != "kopia" {
		if reg := d.register(); d.Serial > u.last[reg] {
			u.last[reg] = d.Serial
		}
	}
}

// regData is a registration in canonical form: what makes two requests "the same".
type regData struct {
	DateTime     string    `json:"date_time"`
	OrgNr        string    `json:"org_nr"`
	Register     string    `json:"register"`
	Address      string    `json:"address"`
	Serial       int64     `json:"serial"`
	Type         string    `json:"type"`
	Refund       bool      `json:"refund"`
	Amount       int64     `json:"amount"`
	VAT          [4]vatSum `json:"vat"`
	CopyDateTime string    `json:"copy_date_time,omitempty"`
	CopySerial   int64     `json:"copy_serial,omitempty"`
}

type vatSum struct {
	Rate int64 `json:"rate"` // basis points
	VAT  int64 `json:"vat"`
	Net  int64 `json:"net"`
}

func (d *regData) register() string { return d.OrgNr + "/" + d.Register }

func (d *regData) key() string {
	if d.Type == "kopia" {
		return fmt.Sprintf("%s/kopia/%d", d.register(), d.CopySerial)
	}
	return fmt.Sprintf("%s/%d", d.register(), d.Serial)
}

// refusal is a TCS answer with a non-zero ResponseCode.
type refusal struct {
	code   int
	msg    string
	reason string
}

func (r *refusal) Error() string { return r.msg + ": " + r.reason }

// Response codes the simulator answers with (its own choice: 0 is success as
// in Infrasec's TCS; the others are not published).
const (
	CodeOK       = 0
	CodeInvalid  = 1 // the request data breaks a format rule
	CodeConflict = 2 // the serial is taken by other data, goes backwards, or a second copy
	CodeUnknown  = 3 // a copy of a receipt the unit never registered
)

// register records d (or finds its earlier identical record) and returns the code.
func (u *Unit) register(d *regData) (string, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	data := string(raw)
	key := d.key()
	if i, ok := u.byKey[key]; ok {
		if u.entries[i].Data == data {
			return u.entries[i].Code, nil
		}
		if d.Type == "kopia" {
			return "", &refusal{CodeConflict, "Copy already registered", fmt.Sprintf("receipt %d of register %s already has a copy; only one copy is allowed", d.CopySerial, d.Register)}
		}
		return "", &refusal{CodeConflict, "Sequence number already used", fmt.Sprintf("receipt %d of register %s is already registered with other data", d.Serial, d.Register)}
	}
	var code string
	switch d.Type {
	case "kopia":
		i, ok := u.byKey[fmt.Sprintf("%s/%d", d.register(), d.CopySerial)]
		if !ok {
			return "", &refusal{CodeUnknown, "Original not found", fmt.Sprintf("receipt %d of register %s is not registered", d.CopySerial, d.Register)}
		}
		var orig regData
		_ = json.Unmarshal([]byte(u.entries[i].Data), &orig)
		if orig.DateTime != d.CopyDateTime || orig.Amount != d.Amount || orig.Refund != d.Refund {
			return "", &refusal{CodeInvalid, "Copy does not match original", fmt.Sprintf("receipt %d was registered at %s for %d öre", orig.Serial, orig.DateTime, orig.Amount)}
		}
		code = u.entries[i].Code
	default:
		if last := u.last[d.register()]; d.Serial <= last {
			return "", &refusal{CodeConflict, "Sequence number goes backwards", fmt.Sprintf("receipt %d of register %s is below the last registered %d", d.Serial, d.Register, last)}
		}
		if d.Type != "profo" {
			code = u.controlCode(data)
		}
	}
	e := Entry{Seq: int64(len(u.entries) + 1), At: u.now().UTC(), Key: key, Data: data, Code: code}
	if n := len(u.entries); n > 0 {
		e.PrevHash = u.entries[n-1].Hash
	}
	e.Hash = e.sum()
	if u.file != nil {
		line, _ := json.Marshal(e)
		if _, err := u.file.Write(append(line, '\n')); err != nil {
			return "", err
		}
		if err := u.file.Sync(); err != nil {
			return "", err
		}
	}
	u.apply(e, d)
	return code, nil
}

// ControlCode computes the code the unit gives canonical registration data.
func (u *Unit) controlCode(data string) string {
	m := hmac.New(sha256.New, u.secret)
	m.Write([]byte(u.unitID))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return base32.StdEncoding.EncodeToString(m.Sum(nil)[:20])
}

// Handler serves TCS requests: POST /tcsserver.
func (u *Unit) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tcsserver", u.serveTCS)
	return mux
}

func (u *Unit) serveTCS(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests++
	if u.down {
		http.Error(w, "control unit unavailable", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64*1024))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	var req tcsRequest
	if err := xml.Unmarshal(body, &req); err != nil || req.XMLName.Local != "TcsRequest" {
		http.Error(w, "not a TcsRequest", http.StatusBadRequest)
		return
	}
	resp := tcsResponse{
		ApplicationID:   req.ApplicationID,
		RequestID:       req.RequestID,
		SequenceNumber:  req.ControlData.SequenceNumber,
		ControlServerID: u.unitID,
	}
	d, err := parse(&req.ControlData)
	if err == nil {
		resp.Code, err = u.register(d)
	}
	var rf *refusal
	switch {
	case errors.As(err, &rf):
		resp.ResponseCode, resp.ResponseMessage, resp.ResponseReason = rf.code, rf.msg, rf.reason
		resp.SKVResponseCode, resp.SKVResponseMessage = strconv.Itoa(rf.code), rf.msg
	case err != nil:
		http.Error(w, "control unit storage failed", http.StatusInternalServerError)
		return
	default:
		resp.ResponseMessage, resp.SKVResponseCode, resp.SKVResponseMessage = "OK", "0", "OK"
	}
	if u.drop > 0 {
		u.drop--
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(resp.wire())
}

// Start serves the unit over HTTPS on addr ("127.0.0.1:0" for a free port),
// with its CA, a server certificate for the listening host and a client
// certificate, and requires that client certificate on every connection.
// The certificates are new, or those kept in Config.CertsDir (see there);
// a new set is written there once the unit listens.
func (u *Unit) Start(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	var p *pki
	if u.certsDir != "" {
		if p, err = loadPKI(u.certsDir, host, time.Now()); err != nil {
			return err
		}
	}
	fresh := p == nil
	if fresh {
		hosts := []string{"127.0.0.1", "::1", "localhost"}
		if host != "" {
			hosts = append(hosts, host)
		}
		if p, err = newPKI(hosts); err != nil {
			return err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if fresh && u.certsDir != "" {
		if err := p.write(u.certsDir); err != nil {
			ln.Close()
			return fmt.Errorf("control unit certificates: %w", err)
		}
	}
	srv := &http.Server{
		Handler: u.Handler(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{p.server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
		// HTTP/1.1 only, so DropAnswers can cut a connection.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
	}
	u.mu.Lock()
	u.pki, u.ln, u.srv, u.newCerts = p, ln, srv, fresh
	u.url = "https://" + ln.Addr().String() + "/tcsserver"
	u.mu.Unlock()
	go srv.ServeTLS(ln, "", "")
	return nil
}

// URL is the TCS endpoint of a started unit ("https://127.0.0.1:port/tcsserver").
func (u *Unit) URL() string { return u.url }

// CAPool holds the simulator's CA, which issued its server and client certificates.
func (u *Unit) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(u.pki.caCert)
	return pool
}

// CAPEM is the simulator's CA certificate, PEM.
func (u *Unit) CAPEM() []byte { return u.pki.caPEM }

// ClientCertPEM returns the client certificate and its private key, PEM.
func (u *Unit) ClientCertPEM() (cert, key []byte) { return u.pki.clientPEM, u.pki.clientKey }

// ClientTLS is the TLS configuration for the kvitt side: the client
// certificate the unit requires and the CA that verifies the unit.
func (u *Unit) ClientTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{u.pki.client},
		RootCAs:      u.CAPool(),
		MinVersion:   tls.VersionTLS12,
	}
}

// Close stops the server and closes the journal file.
func (u *Unit) Close() error {
	var err error
	if u.srv != nil {
		err = u.srv.Close()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.file != nil {
		if cerr := u.file.Close(); err == nil {
			err = cerr
		}
		u.file = nil
	}
	return err
}

// parse validates the TCS ControlData and returns its canonical form.
func parse(c *tcsControlData) (*regData, error) {
	bad := func(format string, args ...any) error {
		return &refusal{CodeInvalid, "Invalid request", fmt.Sprintf(format, args...)}
	}
	d := &regData{
		DateTime: c.DateTime, OrgNr: c.OrgNr, Register: strings.TrimSpace(c.ManRegisterID),
		Address: c.RegisterAddress, Type: c.ReceiptType.Type,
	}
	if _, err := time.Parse("20060102150405", c.DateTime); err != nil {
		return nil, bad("DateTime %q is not yyyyMMddHHmmss", c.DateTime)
	}
	if len(c.OrgNr) != 10 || strings.Trim(c.OrgNr, "0123456789") != "" {
		return nil, bad("OrgNr %q is not 10 digits", c.OrgNr)
	}
	if d.Register == "" {
		return nil, bad("ManRegisterID is missing")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(c.SequenceNumber), 10, 64)
	if err != nil || n <= 0 {
		return nil, bad("SequenceNumber %q is not a positive number", c.SequenceNumber)
	}
	d.Serial = n
	switch d.Type {
	case "normal", "ovning", "profo":
		if c.CopyDateTime != nil || c.CopySequenceNumber != nil {
			return nil, bad("CopyDateTime and CopySequenceNumber are for copies only")
		}
	case "kopia":
		if c.CopyDateTime == nil || c.CopySequenceNumber == nil {
			return nil, bad("a copy needs CopyDateTime and CopySequenceNumber")
		}
		if _, err := time.Parse("20060102150405", *c.CopyDateTime); err != nil {
			return nil, bad("CopyDateTime %q is not yyyyMMddHHmmss", *c.CopyDateTime)
		}
		d.CopyDateTime = *c.CopyDateTime
		cs, err := strconv.ParseInt(strings.TrimSpace(*c.CopySequenceNumber), 10, 64)
		if err != nil || cs <= 0 {
			return nil, bad("CopySequenceNumber %q is not a positive number", *c.CopySequenceNumber)
		}
		d.CopySerial = cs
	default:
		return nil, bad("ReceiptType Type %q is not normal, kopia, ovning or profo", d.Type)
	}
	switch {
	case c.SaleAmount != nil && c.RefundAmount != nil:
		return nil, bad("both SaleAmount and RefundAmount")
	case c.SaleAmount != nil:
		d.Amount, err = parseAmount(*c.SaleAmount)
	case c.RefundAmount != nil:
		d.Refund = true
		d.Amount, err = parseAmount(*c.RefundAmount)
	default:
		return nil, bad("SaleAmount or RefundAmount is required")
	}
	if err != nil {
		return nil, bad("amount: %v", err)
	}
	if d.Amount < 0 {
		return nil, bad("the amount is negative; a refund sends its absolute sum as RefundAmount")
	}
	var sum int64
	for i, v := range []*tcsVAT{c.VAT1, c.VAT2, c.VAT3, c.VAT4} {
		name := fmt.Sprintf("VAT%d", i+1)
		want := []string{"25,00", "12,00", "6,00", "0,00"}[i]
		if v == nil {
			return nil, bad("%s is missing", name)
		}
		if strings.TrimSpace(v.Percent) != want {
			return nil, bad("%s Percent is %q, want %q", name, v.Percent, want)
		}
		rate := []int64{2500, 1200, 600, 0}[i]
		vat, err1 := parseAmount(v.Amount)
		net, err2 := parseAmount(v.SubtotalAmount)
		if err := errors.Join(err1, err2); err != nil {
			return nil, bad("%s: %v", name, err)
		}
		if (d.Refund && (vat > 0 || net > 0)) || (!d.Refund && (vat < 0 || net < 0)) {
			return nil, bad("%s: a sale sends positive VAT, a refund negative", name)
		}
		// The VAT is rounded to öre from the gross, so allow one öre off.
		if diff := vat*10000 - net*rate; diff > 10000+rate || diff < -(10000+rate) {
			return nil, bad("%s: VAT %s is not %s %% of %s", name, v.Amount, want, v.SubtotalAmount)
		}
		d.VAT[i] = vatSum{Rate: rate, VAT: vat, Net: net}
		sum += vat + net
	}
	if sum < 0 {
		sum = -sum
	}
	if sum != d.Amount {
		return nil, bad("VAT1..VAT4 add up to %d öre, the amount is %d öre", sum, d.Amount)
	}
	return d, nil
}

// parseAmount reads a TCS amount: decimal comma, two decimals, optional
// thousands separators (space, no-break space, narrow no-break space, as
// .NET's "N2" in fr-FR writes them).
func parseAmount(s string) (int64, error) {
	t := strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "").Replace(strings.TrimSpace(s))
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	i := strings.IndexByte(t, ',')
	if i < 1 || len(t)-i-1 != 2 || strings.Trim(t[:i]+t[i+1:], "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an amount with a decimal comma and two decimals", s)
	}
	v, err := strconv.ParseInt(t[:i]+t[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %v", s, err)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// The simulator's own view of the TCS wire format.
type tcsRequest struct {
	XMLName       xml.Name
	ApplicationID string         `xml:"ApplicationID"`
	RequestID     string         `xml:"RequestID"`
	ControlData   tcsControlData `xml:"ControlData"`
}

type tcsControlData struct {
	DateTime           string  `xml:"DateTime"`
	CopyDateTime       *string `xml:"CopyDateTime"`
	OrgNr              string  `xml:"OrgNr"`
	ManRegisterID      string  `xml:"ManRegisterID"`
	RegisterAddress    string  `xml:"RegisterAddress"`
	SequenceNumber     string  `xml:"SequenceNumber"`
	CopySequenceNumber *string `xml:"CopySequenceNumber"`
	ReceiptType        struct {
		Type string `xml:"Type,attr"`
	} `xml:"ReceiptType"`
	SaleAmount   *string `xml:"SaleAmount"`
	RefundAmount *string `xml:"RefundAmount"`
	VAT1         *tcsVAT `xml:"VAT1"`
	VAT2         *tcsVAT `xml:"VAT2"`
	VAT3         *tcsVAT `xml:"VAT3"`
	VAT4         *tcsVAT `xml:"VAT4"`
}

type tcsVAT struct {
	Percent        string `xml:"Percent"`
	Amount         string `xml:"Amount"`
	SubtotalAmount string `xml:"SubtotalAmount"`
}

type tcsResponse struct {
	ResponseCode       int
	ResponseMessage    string
	ResponseReason     string
	ApplicationID      string
	RequestID          string
	SKVResponseCode    string
	SKVResponseMessage string
	SequenceNumber     string
	ControlServerID    string
	Code               string
}

type wireResponse struct {
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

func (r *tcsResponse) wire() *wireResponse {
	w := &wireResponse{
		ResponseCode: r.ResponseCode, ResponseMessage: r.ResponseMessage, ResponseReason: r.ResponseReason,
		ApplicationID: r.ApplicationID, RequestID: r.RequestID, SKVResponseCode: r.SKVResponseCode,
		SKVResponseMessage: r.SKVResponseMessage, SequenceNumber: r.SequenceNumber,
	}
	w.ControlCode.ControlServerID = r.ControlServerID
	w.ControlCode.Code = r.Code
	return w
}
