package computop

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Batch files (seed 003, "Batch-Nutzung der Schnittstelle") carry Swish
// credits to the Paygate's Batch Manager and bring back their results:
//
//	HEAD,<MerchantID>,<Date>,<Version>
//	Swish,Credit,<Amount>,<Currency>,<TransID>,(<RefNr>,)<PayID>
//	FOOT,<CountRecords>,<SumAmount>
//
// The response file repeats each record followed by <Status>,<Code>. With a
// Master MID the HEAD names the master and every record carries the slave
// MID after the action. Versions: 1.0 and 2.0 are the standard versions
// without Code in the response; 1.x and 2.x (x a digit from 1) return Code;
// RefNr is in every version except 1.0.

// BatchHeader is a batch's HEAD line.
type BatchHeader struct {
	MerchantID string // the MID, or the master MID with Master set
	Date       time.Time
	Version    string // "1.0", "2.0", "1.1", "2.1", …
	// Master: the records carry their (slave) MID.
	Master bool
}

// BatchDateLayout is the layout of <Date> in HEAD (the seed gives none;
// kvitt writes the date as in Computop's batch file names, YYYYMMDD).
const BatchDateLayout = "20060102"

// BatchRecord is one credit, with its result in a response file.
type BatchRecord struct {
	MID      string // Master MID files only: the slave MID
	Amount   int64
	Currency string
	TransID  string
	RefNr    string
	PayID    string
	// Response files only.
	Status string
	Code   string // versions other than 1.0 and 2.0
	// Line is the record's line number in the file (1 is HEAD).
	Line int
}

type version struct{ refNr, code bool }

func parseVersion(v string) (version, error) {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || (major != "1" && major != "2") || minor == "" || len(minor) > 3 {
		return version{}, fmt.Errorf("version %q: must be 1.0, 2.0, 1.x or 2.x", v)
	}
	for _, c := range minor {
		if c < '0' || c > '9' {
			return version{}, fmt.Errorf("version %q: must be 1.0, 2.0, 1.x or 2.x with x a number", v)
		}
	}
	standard := strings.TrimLeft(minor, "0") == ""
	return version{refNr: v != "1.0", code: !standard}, nil
}

// BatchError is a batch file that breaks the format, with its line.
type BatchError struct {
	Line   int
	Reason string
}

func (e *BatchError) Error() string {
	if e.Line == 0 {
		return "computop batch: " + e.Reason
	}
	return fmt.Sprintf("computop batch: line %d: %s", e.Line, e.Reason)
}

// checkBatchRecord checks a record's fields against the seed's batch table.
func checkBatchRecord(r *BatchRecord, v version, master bool) string {
	check := func(name, class string, max int, exact bool, val string) string {
		if val == "" {
			return name + " is required"
		}
		if msg := checkFormat(class, max, exact, val); msg != "" {
			return name + ": " + msg
		}
		if strings.ContainsAny(val, ",\r\n") {
			return name + ": may not contain a comma or a line break"
		}
		return ""
	}
	if master {
		if m := check("MID", "ans", 30, false, r.MID); m != "" {
			return m
		}
	}
	if r.Amount <= 0 || r.Amount > 9999999999 {
		return fmt.Sprintf("Amount %d: n..10, more than 0", r.Amount)
	}
	if r.Currency != "SEK" {
		return fmt.Sprintf("Currency %q: a3, SEK only", r.Currency)
	}
	if m := check("TransID", "ans", 35, false, r.TransID); m != "" {
		return m
	}
	if v.refNr && r.RefNr != "" {
		if m := check("RefNr", "ans", 55, false, r.RefNr); m != "" {
			return m
		}
	}
	return check("PayID", "an", 32, true, r.PayID)
}

// BatchWriter writes a credit batch, streaming.
type BatchWriter struct {
	w     *bufio.Writer
	v     version
	h     BatchHeader
	count int64
	sum   int64
	buf   []byte
	err   error
}

// NewBatchWriter writes HEAD and returns the writer.
func NewBatchWriter(w io.Writer, h BatchHeader) (*BatchWriter, error) {
	v, err := parseVersion(h.Version)
	if err != nil {
		return nil, &BatchError{Reason: err.Error()}
	}
	if h.Master && !strings.HasPrefix(h.Version, "2.") {
		return nil, &BatchError{Reason: "a Master MID batch needs version 2.x"}
	}
	if msg := checkFormat("ans", 30, false, h.MerchantID); msg != "" || h.MerchantID == "" || strings.Contains(h.MerchantID, ",") {
		return nil, &BatchError{Reason: "MerchantID: ans..30 without commas"}
	}
	if h.Date.IsZero() {
		return nil, &BatchError{Reason: "the date is required"}
	}
	bw := &BatchWriter{w: bufio.NewWriterSize(w, 64<<10), v: v, h: h}
	_, bw.err = fmt.Fprintf(bw.w, "HEAD,%s,%s,%s\n", h.MerchantID, h.Date.Format(BatchDateLayout), h.Version)
	return bw, bw.err
}

// Write checks and writes one credit.
func (bw *BatchWriter) Write(r *BatchRecord) error {
	if bw.err != nil {
		return bw.err
	}
	if msg := checkBatchRecord(r, bw.v, bw.h.Master); msg != "" {
		return &BatchError{Line: int(bw.count) + 2, Reason: msg}
	}
	if bw.sum > math.MaxInt64-r.Amount {
		return &BatchError{Reason: "the sum of the amounts overflows"}
	}
	b := append(bw.buf[:0], "Swish,Credit,"...)
	if bw.h.Master {
		b = append(append(b, r.MID...), ',')
	}
	b = strconv.AppendInt(b, r.Amount, 10)
	b = append(append(append(b, ','), r.Currency...), ',')
	b = append(append(b, r.TransID...), ',')
	if bw.v.refNr {
		b = append(append(b, r.RefNr...), ',')
	}
	b = append(append(b, r.PayID...), '\n')
	bw.buf = b
	if _, err := bw.w.Write(b); err != nil {
		bw.err = err
		return err
	}
	bw.count++
	bw.sum += r.Amount
	return nil
}

// Close writes FOOT with the count and the sum, and flushes.
func (bw *BatchWriter) Close() error {
	if bw.err != nil {
		return bw.err
	}
	if _, err := fmt.Fprintf(bw.w, "FOOT,%d,%d\n", bw.count, bw.sum); err != nil {
		return err
	}
	return bw.w.Flush()
}

// BatchReader reads a batch or response file record by record in
// constant memory, and checks FOOT's count and sum at the end.
type BatchReader struct {
	sc       *bufio.Scanner
	response bool
	h        BatchHeader
	v        version
	line     int
	count    int64
	sum      int64
	done     bool
	fields   [12]string
}

// NewBatchReader reads HEAD. response says whether the file is a
// response file (records end in Status and Code).
func NewBatchReader(r io.Reader, response bool) (*BatchReader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	br := &BatchReader{sc: sc, response: response}
	f, err := br.next()
	if err == io.EOF {
		return nil, &BatchError{Line: 1, Reason: "the file is empty: HEAD is missing"}
	}
	if err != nil {
		return nil, err
	}
	if len(f) != 4 || f[0] != "HEAD" {
		return nil, &BatchError{Line: 1, Reason: "the first line must be HEAD,<MerchantID>,<Date>,<Version>"}
	}
	if br.v, err = parseVersion(f[3]); err != nil {
		return nil, &BatchError{Line: 1, Reason: err.Error()}
	}
	d, err := time.Parse(BatchDateLayout, f[2])
	if err != nil {
		return nil, &BatchError{Line: 1, Reason: fmt.Sprintf("date %q: want YYYYMMDD", f[2])}
	}
	br.h = BatchHeader{MerchantID: f[1], Date: d, Version: f[3]}
	return br, nil
}

// Header is the file's HEAD.
func (br *BatchReader) Header() BatchHeader { return br.h }

// Count and Sum are the records and their amounts read so far.
func (br *BatchReader) Count() int64 { return br.count }
func (br *BatchReader) Sum() int64   { return br.sum }

// Line is the number of lines read so far.
func (br *BatchReader) Line() int { return br.line }

func (br *BatchReader) next() ([]string, error) {
	for br.sc.Scan() {
		br.line++
		b := bytes.TrimRight(br.sc.Bytes(), "\r")
		if len(b) == 0 {
			continue
		}
		s := string(b)
		n := 0
		for {
			i := strings.IndexByte(s, ',')
			if n == len(br.fields) {
				return nil, &BatchError{Line: br.line, Reason: "too many fields"}
			}
			if i < 0 {
				br.fields[n] = s
				n++
				break
			}
			br.fields[n] = s[:i]
			n++
			s = s[i+1:]
		}
		return br.fields[:n], nil
	}
	if err := br.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &BatchError{Line: br.line + 1, Reason: "line longer than 64 KiB"}
		}
		return nil, err
	}
	return nil, io.EOF
}

// Next returns the next record into r, or io.EOF after a FOOT whose count
// and sum agree with the records.
func (br *BatchReader) Next(r *BatchRecord) error {
	if br.done {
		return io.EOF
	}
	f, err := br.next()
	if err == io.EOF {
		return &BatchError{Line: br.line, Reason: "FOOT is missing: the file is truncated"}
	}
	if err != nil {
		return err
	}
	if f[0] == "FOOT" {
		if len(f) != 3 {
			return &BatchError{Line: br.line, Reason: "FOOT must be FOOT,<CountRecords>,<SumAmount>"}
		}
		count, err1 := strconv.ParseInt(f[1], 10, 64)
		sum, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return &BatchError{Line: br.line, Reason: "FOOT's count and sum must be numbers"}
		}
		if count != br.count || sum != br.sum {
			return &BatchError{Line: br.line, Reason: fmt.Sprintf("FOOT says %d records summing %d; the file has %d summing %d", count, sum, br.count, br.sum)}
		}
		if _, err := br.next(); err != io.EOF {
			if err == nil {
				err = &BatchError{Line: br.line, Reason: "lines after FOOT"}
			}
			return err
		}
		br.done = true
		return io.EOF
	}
	if f[0] != "Swish" {
		return &BatchError{Line: br.line, Reason: fmt.Sprintf("type %q: records of this file are Swish", f[0])}
	}
	want := 6
	if br.v.refNr {
		want++
	}
	if br.response {
		want++
		if br.v.code {
			want++
		}
	}
	master := len(f) == want+1
	if len(f) != want && !master {
		return &BatchError{Line: br.line, Reason: fmt.Sprintf("%d fields, want %d for version %s", len(f), want, br.h.Version)}
	}
	if f[1] != "Credit" {
		return &BatchError{Line: br.line, Reason: fmt.Sprintf("action %q: only Credit", f[1])}
	}
	*r = BatchRecord{Line: br.line}
	i := 2
	if master {
		r.MID = f[i]
		i++
	}
	amount, err := strconv.ParseInt(f[i], 10, 64)
	if err != nil || len(f[i]) > 10 {
		return &BatchError{Line: br.line, Reason: fmt.Sprintf("Amount %q: n..10", f[i])}
	}
	r.Amount, r.Currency, r.TransID = amount, f[i+1], f[i+2]
	i += 3
	if br.v.refNr {
		r.RefNr = f[i]
		i++
	}
	r.PayID = f[i]
	i++
	if br.response {
		r.Status = f[i]
		if r.Status != StatusOK && r.Status != StatusFailed {
			return &BatchError{Line: br.line, Reason: fmt.Sprintf("Status %q: OK or FAILED", r.Status)}
		}
		if br.v.code {
			r.Code = f[i+1]
			if CodeClass(r.Code) == 0 {
				return &BatchError{Line: br.line, Reason: fmt.Sprintf("Code %q: an A4 code of 8 characters", r.Code)}
			}
		}
	}
	if msg := checkBatchRecord(r, br.v, master); msg != "" {
		return &BatchError{Line: br.line, Reason: msg}
	}
	if br.sum > math.MaxInt64-r.Amount {
		return &BatchError{Line: br.line, Reason: "the sum of the amounts overflows"}
	}
	br.count++
	br.sum += r.Amount
	return nil
}

// BatchFileName names a batch file as Computop expects it: phase T (to
// transfer), W (waiting) or P (processed), the date YYYYMMDD, a counter from
// 001 each day and the MerchantID, in the order of the upload in Computop
// Analytics, or with sftp in the order of the automated SFTP transfer.
func BatchFileName(phase byte, date time.Time, merchantID string, counter int, sftp bool) (string, error) {
	if phase != 'T' && phase != 'W' && phase != 'P' {
		return "", fmt.Errorf("computop batch: phase %q: T, W or P", phase)
	}
	if counter < 1 || counter > 999 {
		return "", fmt.Errorf("computop batch: counter %d: 1 to 999", counter)
	}
	d, c := date.Format(BatchDateLayout), fmt.Sprintf("%03d", counter)
	if sftp {
		return string(phase) + d + c + merchantID + ".dat", nil
	}
	return string(phase) + d + merchantID + c + ".dat", nil
}
