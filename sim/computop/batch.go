package simcomputop

// The Batch Manager: a merchant uploads a credit batch file (in Computop
// Analytics, or by SFTP), the Paygate carries out each record and the
// processed file, each record followed by its Status and Code, comes back
// for download. The layout is seed 003's ("Batch-Nutzung der
// Schnittstelle"); the file names are the Batch Manager's (phase T, W or P,
// the date, the MerchantID and a counter). This is the simulator's own
// reading and writing of the files: it shares no code with package computop.
//
//	PUT /sim/batch/{T…dat}   upload; the answer is the processed file, also at
//	GET /sim/batch/{P…dat}

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BatchError is a batch file the Batch Manager refuses as a whole: nothing
// in it is carried out.
type BatchError struct {
	Line   int
	Reason string
}

func (e *BatchError) Error() string {
	if e.Line == 0 {
		return "batch file refused: " + e.Reason
	}
	return fmt.Sprintf("batch file refused: line %d: %s", e.Line, e.Reason)
}

// BatchSummary is what processing a batch file did.
type BatchSummary struct {
	Records int64 // credits in the file
	Sum     int64 // their amounts
	OK      int64 // carried out
	Failed  int64 // refused, with their Code in the response file
}

var (
	batchVersionRE = regexp.MustCompile(`^[12]\.[0-9]{1,3}$`)
	batchDateRE    = regexp.MustCompile(`^[0-9]{8}$`)
	batchAmountRE  = regexp.MustCompile(`^[0-9]{1,10}$`)
	batchPayIDRE   = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	batchCountRE   = regexp.MustCompile(`^[0-9]{1,18}$`)
)

// batchLayout is what a file's HEAD says about its records.
type batchLayout struct {
	refNr  bool // RefNr in every version except 1.0
	code   bool // Code in the response for 1.x/2.x, not for 1.0/2.0
	master bool // a Master MID file: each record names its MID
}

func (l batchLayout) fields() int {
	n := 6 // Swish,Credit,Amount,Currency,TransID,PayID
	if l.refNr {
		n++
	}
	if l.master {
		n++
	}
	return n
}

// batchRecord is one credit line of a batch file.
type batchRecord struct {
	mid, amount, currency, transID, refNr, payID string
}

func (l batchLayout) record(f []string) batchRecord {
	var r batchRecord
	i := 2
	if l.master {
		r.mid = f[i]
		i++
	}
	r.amount, r.currency, r.transID = f[i], f[i+1], f[i+2]
	i += 3
	if l.refNr {
		r.refNr = f[i]
		i++
	}
	r.payID = f[i]
	return r
}

// batchLines reads a batch file line by line (LF or CRLF), skipping empty lines.
type batchLines struct {
	sc   *bufio.Scanner
	line int
}

func newBatchLines(r io.Reader) *batchLines {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	return &batchLines{sc: sc}
}

func (b *batchLines) next() (string, bool, error) {
	for b.sc.Scan() {
		b.line++
		if s := strings.TrimRight(b.sc.Text(), "\r"); s != "" {
			return s, true, nil
		}
	}
	if err := b.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return "", false, &BatchError{Line: b.line + 1, Reason: "line longer than 64 KiB"}
		}
		return "", false, err
	}
	return "", false, nil
}

// checkBatch reads the whole file once: HEAD, every record's shape, FOOT's
// count and sum, nothing after FOOT. It returns the layout.
func (s *Sim) checkBatch(r io.Reader) (batchLayout, BatchSummary, error) {
	var l batchLayout
	var sum BatchSummary
	in := newBatchLines(r)
	head, ok, err := in.next()
	if err != nil {
		return l, sum, err
	}
	h := strings.Split(head, ",")
	if !ok || len(h) != 4 || h[0] != "HEAD" {
		return l, sum, &BatchError{Line: in.line, Reason: "the first line must be HEAD,<MerchantID>,<Date>,<Version>"}
	}
	if !batchVersionRE.MatchString(h[3]) {
		return l, sum, &BatchError{Line: in.line, Reason: "version " + h[3] + ": 1.0, 2.0, 1.x or 2.x"}
	}
	if !batchDateRE.MatchString(h[2]) {
		return l, sum, &BatchError{Line: in.line, Reason: "date " + h[2] + ": YYYYMMDD"}
	}
	minor := h[3][2:]
	l.refNr = h[3] != "1.0"
	l.code = strings.Trim(minor, "0") != ""
	shape := 0 // fields per record, fixed by the first record
	for {
		line, ok, err := in.next()
		if err != nil {
			return l, sum, err
		}
		if !ok {
			return l, sum, &BatchError{Line: in.line, Reason: "FOOT is missing: the file is truncated"}
		}
		f := strings.Split(line, ",")
		if f[0] == "FOOT" {
			if len(f) != 3 || !batchCountRE.MatchString(f[1]) || !batchCountRE.MatchString(f[2]) {
				return l, sum, &BatchError{Line: in.line, Reason: "FOOT must be FOOT,<CountRecords>,<SumAmount>"}
			}
			count, _ := strconv.ParseInt(f[1], 10, 64)
			total, _ := strconv.ParseInt(f[2], 10, 64)
			if count != sum.Records || total != sum.Sum {
				return l, sum, &BatchError{Line: in.line, Reason: fmt.Sprintf("FOOT says %d records summing %d; the file has %d summing %d", count, total, sum.Records, sum.Sum)}
			}
			if _, more, err := in.next(); err != nil || more {
				if err == nil {
					err = &BatchError{Line: in.line, Reason: "lines after FOOT"}
				}
				return l, sum, err
			}
			break
		}
		if f[0] != "Swish" || len(f) < 2 || f[1] != "Credit" {
			return l, sum, &BatchError{Line: in.line, Reason: "records must be Swish,Credit,…"}
		}
		if shape == 0 {
			shape = len(f)
			l.master = strings.HasPrefix(h[3], "2.") && len(f) == l.fields()+1
		}
		if len(f) != shape || len(f) != l.fields() {
			return l, sum, &BatchError{Line: in.line, Reason: fmt.Sprintf("%d fields; version %s has %d", len(f), h[3], l.fields())}
		}
		amount := l.record(f).amount
		if !batchAmountRE.MatchString(amount) {
			return l, sum, &BatchError{Line: in.line, Reason: "Amount " + amount + ": n..10"}
		}
		a, _ := strconv.ParseInt(amount, 10, 64)
		if sum.Sum > math.MaxInt64-a {
			return l, sum, &BatchError{Line: in.line, Reason: "the sum overflows"}
		}
		sum.Records++
		sum.Sum += a
	}
	if !l.master && h[1] != s.opts.MerchantID {
		return l, sum, &BatchError{Line: 1, Reason: "MerchantID " + h[1] + " is not this merchant's"}
	}
	return l, sum, nil
}

// ProcessBatch carries out a credit batch file as the Batch Manager does and
// writes the response file to out. The file is read twice: first whole, so
// that a file with a broken HEAD, record or FOOT (count or sum) is refused
// (*BatchError) with nothing carried out; then record by record, each a
// credit with reference under the same rules as credit.aspx (a paid
// payment, SEK, its notification acknowledged, at most captured minus
// credited). Each record is written back followed by Status (OK or FAILED)
// and, except in versions 1.0 and 2.0, Code. name is the file's name, kept
// in the ledger with each credit.
func (s *Sim) ProcessBatch(name string, in io.ReadSeeker, out io.Writer) (*BatchSummary, error) {
	start, err := in.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	l, _, err := s.checkBatch(in)
	if err != nil {
		return nil, err
	}
	if _, err := in.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(out, 64<<10)
	lines := newBatchLines(in)
	var sum BatchSummary
	for {
		line, ok, err := lines.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		f := strings.Split(line, ",")
		if f[0] == "HEAD" || f[0] == "FOOT" {
			w.WriteString(line)
			w.WriteByte('\n')
			continue
		}
		r := l.record(f)
		status, code := s.batchCredit(r, fmt.Sprintf("batch %s line %d", name, lines.line))
		a, _ := strconv.ParseInt(r.amount, 10, 64)
		sum.Records++
		sum.Sum += a
		if status == "OK" {
			sum.OK++
		} else {
			sum.Failed++
		}
		w.WriteString(line)
		w.WriteString("," + status)
		if l.code {
			w.WriteString("," + code)
		}
		w.WriteByte('\n')
	}
	return &sum, w.Flush()
}

// batchCredit carries out one record as a credit with reference.
func (s *Sim) batchCredit(r batchRecord, via string) (status, code string) {
	amount, _ := strconv.ParseInt(r.amount, 10, 64)
	switch {
	case r.mid != "" && r.mid != s.opts.MerchantID:
		return "FAILED", CodeUnknown
	case !ansRE.MatchString(r.transID) || len(r.transID) > 35:
		return "FAILED", "20110001"
	case r.refNr != "" && (!ansRE.MatchString(r.refNr) || len(r.refNr) > 55):
		return "FAILED", "20110002"
	case !batchPayIDRE.MatchString(r.payID):
		return "FAILED", "20110003"
	case amount == 0:
		return "FAILED", "20110004"
	case r.currency != "SEK":
		return "FAILED", CodeCurrency
	case amount < 100 && !s.opts.AllowSmallAmounts:
		return "FAILED", CodeAmountSmall
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byPayID[r.payID]
	switch {
	case p == nil || p.TransID != r.transID:
		return "FAILED", CodeUnknown
	case p.Status != "OK":
		return "FAILED", CodeNotPaid
	case p.URLNotify != "" && !p.notified:
		return "FAILED", CodeNotifyFirst
	case amount > p.AmountCap-p.AmountCred:
		return "FAILED", CodeCreditLimit
	}
	p.AmountCred += amount
	p.LastStatus = "OK"
	s.ledger = append(s.ledger, LedgerCredit{PayID: p.PayID, TransID: p.TransID, RefNr: r.refNr, Amount: amount, Via: via, At: s.opts.Now()})
	return "OK", CodeOK
}

// checkBatchName checks an uploaded file's name against the Batch
// Manager's: T<YYYYMMDD><MerchantID><NNN>.dat (upload) or
// T<YYYYMMDD><NNN><MerchantID>.dat (SFTP), with this merchant's MerchantID.
func (s *Sim) checkBatchName(name string) error {
	const want = "T<YYYYMMDD><MerchantID><NNN>.dat (or T<YYYYMMDD><NNN><MerchantID>.dat by SFTP)"
	if len(name) < 13 || name[0] != 'T' || !strings.HasSuffix(name, ".dat") || strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") {
		return fmt.Errorf("file name %q: %s", name, want)
	}
	if _, err := time.Parse("20060102", name[1:9]); err != nil {
		return fmt.Errorf("file name %q: the date is not YYYYMMDD", name)
	}
	counter := func(c string) bool { return len(c) == 3 && c != "000" && strings.Trim(c, "0123456789") == "" }
	rest, mid := strings.TrimSuffix(name[9:], ".dat"), s.opts.MerchantID
	if strings.HasPrefix(rest, mid) && counter(rest[len(mid):]) || strings.HasSuffix(rest, mid) && counter(rest[:len(rest)-len(mid)]) {
		return nil
	}
	return fmt.Errorf("file name %q: %s, with this merchant's MerchantID %s and a counter 001 to 999", name, want, mid)
}

// UploadBatch takes an uploaded batch file named name (phase T), carries it
// out and keeps the processed file (phase P) for DownloadBatch. A name
// already taken is refused, so the same upload is never carried out twice;
// a refused file (*BatchError) takes no name.
func (s *Sim) UploadBatch(name string, body io.Reader) (respName string, sum *BatchSummary, err error) {
	if err := s.checkBatchName(name); err != nil {
		return "", nil, &BatchError{Reason: err.Error()}
	}
	s.mu.Lock()
	if _, taken := s.batches[name]; taken {
		s.mu.Unlock()
		return "", nil, errBatchTaken
	}
	if s.batches == nil {
		s.batches = map[string]string{}
	}
	s.batches[name] = ""
	if s.batchDir == "" {
		if s.batchDir, err = os.MkdirTemp("", "kvitt-computop-batch-"); err != nil {
			delete(s.batches, name)
			s.mu.Unlock()
			return "", nil, err
		}
	}
	dir := s.batchDir
	s.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			delete(s.batches, name)
			s.mu.Unlock()
		}
	}()
	in, err := os.CreateTemp(dir, "upload-")
	if err != nil {
		return "", nil, err
	}
	defer func() { in.Close(); os.Remove(in.Name()) }()
	if _, err := io.Copy(in, body); err != nil {
		return "", nil, err
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return "", nil, err
	}
	respName = "P" + name[1:]
	respPath := filepath.Join(dir, respName)
	out, err := os.Create(respPath)
	if err != nil {
		return "", nil, err
	}
	sum, err = s.ProcessBatch(name, in, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(respPath)
		return "", nil, err
	}
	s.mu.Lock()
	s.batches[name] = respPath
	s.mu.Unlock()
	ok = true
	return respName, sum, nil
}

var errBatchTaken = errors.New("a batch file of this name was uploaded already")

// DownloadBatch opens a processed file (phase P) by name.
func (s *Sim) DownloadBatch(name string) (io.ReadCloser, error) {
	if !strings.HasPrefix(name, "P") {
		return nil, os.ErrNotExist
	}
	s.mu.Lock()
	path := s.batches["T"+name[1:]]
	s.mu.Unlock()
	if path == "" {
		return nil, os.ErrNotExist
	}
	return os.Open(path)
}

func (s *Sim) handleBatchUpload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	respName, sum, err := s.UploadBatch(name, http.MaxBytesReader(w, r.Body, 1<<30))
	var be *BatchError
	switch {
	case errors.As(err, &be):
		http.Error(w, be.Error(), http.StatusUnprocessableEntity)
		return
	case errors.Is(err, errBatchTaken):
		http.Error(w, name+": "+err.Error(), http.StatusConflict)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, err := s.DownloadBatch(respName)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Location", "/sim/batch/"+respName)
	w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
	w.Header().Set("Content-Disposition", `attachment; filename="`+respName+`"`)
	w.Header().Set("X-Batch-Records", strconv.FormatInt(sum.Records, 10))
	w.Header().Set("X-Batch-Failed", strconv.FormatInt(sum.Failed, 10))
	w.WriteHeader(http.StatusCreated)
	io.Copy(w, f)
}

func (s *Sim) handleBatchDownload(w http.ResponseWriter, r *http.Request) {
	f, err := s.DownloadBatch(r.PathValue("name"))
	if err != nil {
		http.Error(w, "no processed batch file "+r.PathValue("name"), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
	io.Copy(w, f)
}
