package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/computop"
	"github.com/kvitt-hub/kvitt/hub"
	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
)

func init() {
	sandboxProviders = append(sandboxProviders, sandboxComputop)
	liveProviders = append(liveProviders, func(ctx context.Context, m *Main, publicURL string) error {
		return liveComputop(ctx, m, computopSection(&m.Config))
	})
}

// computopSection returns the configuration's "computop" section.
func computopSection(c *Config) *ComputopConfig { return c.Computop }

// ComputopConfig is the Computop Paygate connection (Swish through the Paygate).
type ComputopConfig struct {
	BaseURL    string `json:"base_url"`    // https://www.computop-paygate.com/
	MerchantID string `json:"merchant_id"` // the MID Computop assigned
	// Password enciphers Data (Blowfish password, or the AES key with
	// encryption "aes"); HMACKey keys the MAC. PasswordEnv and HMACKeyEnv
	// name environment variables to read them from instead.
	Password    string `json:"password"`
	PasswordEnv string `json:"password_env"`
	HMACKey     string `json:"hmac_key"`
	HMACKeyEnv  string `json:"hmac_key_env"`
	Encryption  string `json:"encryption"` // "blowfish" (default) or "aes"
	// CallbackURL is kvitt's public https base URL on port 443; URLNotify is
	// CallbackURL + /v1/callbacks/computop/<token>.
	CallbackURL string `json:"callback_url"`
	// OrderDesc is shown to the customer: a-ö, A-Ö, 0-9 and :;.,?!()" only.
	OrderDesc string `json:"order_desc"`
	// AllowSmallAmounts: the Computop Helpdesk has enabled amounts under 100 öre.
	AllowSmallAmounts bool `json:"allow_small_amounts"`
	// CAFile is a CA bundle to trust instead of the system roots (a test Paygate).
	CAFile string `json:"ca_file"`
}

// keys reads the credentials, from the environment where configured.
func (cc *ComputopConfig) keys(getenv func(string) string) (computop.Keys, error) {
	k := computop.Keys{MerchantID: cc.MerchantID, Password: cc.Password, HMACKey: cc.HMACKey, Encryption: computop.Encryption(cc.Encryption)}
	if cc.PasswordEnv != "" {
		k.Password = getenv(cc.PasswordEnv)
	}
	if cc.HMACKeyEnv != "" {
		k.HMACKey = getenv(cc.HMACKeyEnv)
	}
	if err := k.Validate(); err != nil {
		return k, fmt.Errorf("config: computop: %w", err)
	}
	return k, nil
}

// sandboxComputop runs the Paygate simulator with an HTTPS listener for its
// notifications (on loopback, so not on port 443: both sides are told to
// allow that), and registers the computop method against it.
func sandboxComputop(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error {
	sim, err := simcomputop.New(simcomputop.Options{AllowAnyNotifyPort: true})
	if err != nil {
		return err
	}
	sb.closers = append(sb.closers, sim.Close)
	cert, err := sim.IssueServerCertificate()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cbSrv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := sb.callbacks.Load().(http.Handler); ok {
				h.ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go cbSrv.ServeTLS(ln, "", "")
	sb.closers = append(sb.closers, cbSrv.Close)
	o := sim.Options()
	client, err := computop.NewClient(computop.ClientConfig{BaseURL: sim.URL(), TLS: sim.ClientTLS(),
		Keys:  computop.Keys{MerchantID: o.MerchantID, Password: o.Password, HMACKey: o.HMACKey},
		Rules: computop.RuleContext{AllowAnyNotifyPort: true}})
	if err != nil {
		return err
	}
	secret, err := callbackSecret(ctx, h.Store, c.Data)
	if err != nil {
		return err
	}
	p, err := computop.NewProvider(computop.Config{Client: client, CallbackBaseURL: "https://" + ln.Addr().String(),
		CallbackSecret: secret, OrderDesc: "Demobutiken"})
	if err != nil {
		return err
	}
	h.Register(p, sim.Customer())
	logger.Info("sandbox computop", "api", sim.URL(), "notifications", "https://"+ln.Addr().String())
	return nil
}

// liveComputop connects to the Paygate configured in cc (nil: not configured).
func liveComputop(ctx context.Context, m *Main, cc *ComputopConfig) error {
	if cc == nil {
		return nil
	}
	keys, err := cc.keys(os.Getenv)
	if err != nil {
		return err
	}
	base := cc.BaseURL
	if base == "" {
		base = computop.ProductionURL
	}
	var tlsc *tls.Config
	if cc.CAFile != "" {
		b, err := os.ReadFile(cc.CAFile)
		if err != nil {
			return fmt.Errorf("config: computop.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("config: computop.ca_file %s holds no PEM certificate", cc.CAFile)
		}
		tlsc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client, err := computop.NewClient(computop.ClientConfig{BaseURL: base, Keys: keys, TLS: tlsc,
		Rules: computop.RuleContext{AllowSmallAmounts: cc.AllowSmallAmounts}})
	if err != nil {
		return fmt.Errorf("config: computop: %w", err)
	}
	secret, err := callbackSecret(ctx, m.hub.Store, m.Config.Data)
	if err != nil {
		return err
	}
	p, err := computop.NewProvider(computop.Config{Client: client, CallbackBaseURL: cc.CallbackURL, CallbackSecret: secret, OrderDesc: cc.OrderDesc})
	if err != nil {
		switch field := kvitt.ErrorField(err); field {
		case "callback_base_url":
			return fmt.Errorf("config: computop.callback_url %q: %s: the Paygate notifies over https on port 443 only, "+
				"so put a TLS-terminating reverse proxy with a public https address in front of kvitt", cc.CallbackURL, kvitt.ErrorMessage(err))
		case "order_desc":
			return fmt.Errorf("config: computop.order_desc %q: %s", cc.OrderDesc, kvitt.ErrorMessage(err))
		}
		return fmt.Errorf("config: computop: %w", err)
	}
	m.hub.Register(p, nil)
	return nil
}

// runComputop is "kvitt computop batch build|check|apply".
func runComputop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: kvitt computop batch build --merchant-id MID [--version 2.1] [--date YYYYMMDD] [--out FILE] CREDITS.csv\n" +
		"       kvitt computop batch check [--response] FILE\n" +
		"       kvitt computop batch apply [--data DIR | --database URL] [--merchant-id MID] RESPONSE_FILE"
	if len(args) < 2 || args[0] != "batch" {
		return errors.New(usage)
	}
	switch args[1] {
	case "build":
		return computopBatchBuild(args[2:], stdout, stderr)
	case "check":
		return computopBatchCheck(args[2:], stdout, stderr)
	case "apply":
		return computopBatchApply(ctx, args[2:], stdout, stderr)
	}
	return errors.New(usage)
}

// computopBatchBuild turns a CSV of credits (PayID,TransID,Amount[,RefNr[,MID]],
// amounts in öre, SEK) into a batch file named as Computop expects.
func computopBatchBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("computop batch build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mid := fs.String("merchant-id", "", "MerchantID (the master MID with --master)")
	version := fs.String("version", "2.1", "batch version: 1.0, 2.0, 1.x or 2.x")
	date := fs.String("date", "", "date YYYYMMDD (default today)")
	master := fs.Bool("master", false, "Master MID batch: the CSV's fifth column is each record's MID")
	out := fs.String("out", "", "output file (default: T<date><MerchantID>001.dat in the current directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *mid == "" {
		return errors.New("usage: kvitt computop batch build --merchant-id MID [--version 2.1] [--date YYYYMMDD] [--master] [--out FILE] CREDITS.csv")
	}
	d := time.Now()
	if *date != "" {
		var err error
		if d, err = time.Parse(computop.BatchDateLayout, *date); err != nil {
			return fmt.Errorf("--date %q: want YYYYMMDD", *date)
		}
	}
	name := *out
	if name == "" {
		var err error
		if name, err = computop.BatchFileName('T', d, *mid, 1, false); err != nil {
			return err
		}
	}
	in, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(name)
		}
	}()
	w, err := computop.NewBatchWriter(f, computop.BatchHeader{MerchantID: *mid, Date: d, Version: *version, Master: *master})
	if err != nil {
		return err
	}
	r := csv.NewReader(bufio.NewReaderSize(in, 64<<10))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	line := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		line++
		if len(rec) < 3 {
			return fmt.Errorf("%s:%d: want PayID,TransID,Amount[,RefNr[,MID]]", fs.Arg(0), line)
		}
		amount, err := strconv.ParseInt(strings.TrimSpace(rec[2]), 10, 64)
		if err != nil {
			return fmt.Errorf("%s:%d: amount %q in öre", fs.Arg(0), line, rec[2])
		}
		br := computop.BatchRecord{PayID: rec[0], TransID: rec[1], Amount: amount, Currency: "SEK"}
		if len(rec) > 3 {
			br.RefNr = rec[3]
		}
		if len(rec) > 4 {
			br.MID = rec[4]
		}
		if err := w.Write(&br); err != nil {
			return fmt.Errorf("%s:%d: %w", fs.Arg(0), line, err)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	ok = true
	fmt.Fprintf(stdout, "%s: %d credits\n", name, line)
	return nil
}

// computopBatchCheck reads a batch or response file in constant memory and
// checks every record and FOOT's count and sum, with progress on a terminal.
func computopBatchCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("computop batch check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	response := fs.Bool("response", false, "the file is a response file (records end in Status and Code)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: kvitt computop batch check [--response] FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := computop.NewBatchReader(bufio.NewReaderSize(f, 256<<10), *response)
	if err != nil {
		return err
	}
	tty := isTerminal(stderr)
	var failed int64
	var rec computop.BatchRecord
	for {
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			if tty {
				fmt.Fprintln(stderr)
			}
			return err
		}
		if rec.Status == computop.StatusFailed {
			failed++
		}
		if tty && r.Count()%100000 == 0 {
			fmt.Fprintf(stderr, "\r%d records", r.Count())
		}
	}
	if tty {
		fmt.Fprint(stderr, "\r")
	}
	h := r.Header()
	fmt.Fprintf(stdout, "%s: MerchantID %s, %s, version %s: %d records, sum %s SEK", fs.Arg(0), h.MerchantID,
		h.Date.Format("2006-01-02"), h.Version, r.Count(), kvitt.FormatAmount(r.Sum(), kvitt.SEK))
	if *response {
		fmt.Fprintf(stdout, ", %d failed", failed)
	}
	fmt.Fprintln(stdout)
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// batchSummary counts what apply did with a response file's records.
type batchSummary struct {
	applied, refused, unreadable, already, unknown, failed int64
}

// computopBatchApply applies a Computop response file to kvitt's refunds:
// each record, matched as the batch was built (TransID the payment's
// reference, RefNr the refund's id, PayID and amount agreeing), decides its
// refund through the hub. The file is read whole first (FOOT's count and
// sum, every record): a damaged file applies nothing. A record's result is
// applied once: the refund keeps the file's digest and the record's place,
// so applying the same file again changes nothing. It fails (exit status 1)
// when a record matches no refund or could not be applied.
func computopBatchApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("computop batch apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs)
	mid := fs.String("merchant-id", "", "refuse a file whose HEAD (or, with a Master MID, whose records) names another MerchantID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: kvitt computop batch apply [--data DIR | --database URL] [--merchant-id MID] RESPONSE_FILE")
	}
	name := fs.Arg(0)
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	digest, count, err := computopCheckResponse(f, *mid)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was applied)", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r, err := computop.NewBatchReader(bufio.NewReaderSize(f, 256<<10), true)
	if err != nil {
		return err
	}
	db, err := data.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	h := hub.New(db, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer h.Close()
	base := filepath.Base(name)
	tty := isTerminal(stderr)
	var sum batchSummary
	var rec computop.BatchRecord
	report := func(format string, a ...any) {
		if tty {
			fmt.Fprint(stderr, "\r\033[K")
		}
		fmt.Fprintf(stdout, format+"\n", a...)
	}
	for i := int64(1); ; i++ {
		if err := r.Next(&rec); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("%s changed while it was applied: %w", name, err)
		}
		if rec.RefNr == "" {
			sum.unknown++
			report("line %d: unknown: no RefNr (version %s): kvitt cannot tell which refund it credited", rec.Line, r.Header().Version)
			continue
		}
		u := rec.RefundUpdate()
		u.Provider[computop.KeyBatchFile] = fmt.Sprintf("%s line %d", base, rec.Line)
		result := rec.Status
		if rec.Code != "" {
			result += " " + rec.Code
		}
		res, err := h.ApplyRefundResult(ctx, hub.RefundResult{
			Method: computop.Method, PaymentReference: rec.TransID, RefundID: rec.RefNr,
			Amount: rec.Amount, Currency: kvitt.Currency(rec.Currency),
			PaymentProvider: map[string]string{computop.KeyPayID: rec.PayID},
			Update:          u,
			Source:          fmt.Sprintf("computop-batch:%s#%d", digest, i),
			Note:            fmt.Sprintf("Computop batch response %s line %d (%s)", base, rec.Line, result),
		})
		switch {
		case err != nil:
			sum.failed++
			report("line %d: failed: refund %s: %v", rec.Line, rec.RefNr, err)
		case res.Outcome == hub.ResultApplied:
			sum.applied++
			switch u.State {
			case kvitt.RefundFailed:
				sum.refused++
			case kvitt.RefundUnknown:
				sum.unreadable++
				report("line %d: refund %s is unknown now: %s", rec.Line, rec.RefNr, u.Message)
			}
		case res.Outcome == hub.ResultAlreadyApplied:
			sum.already++
		case res.Outcome == hub.ResultUnmatched:
			sum.unknown++
			report("line %d: unknown: %s", rec.Line, res.Reason)
		default:
			sum.failed++
			report("line %d: failed: %s", rec.Line, res.Reason)
		}
		if tty && i%1000 == 0 {
			fmt.Fprintf(stderr, "\r%d of %d records", i, count)
		}
	}
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	fmt.Fprintf(stdout, "%s: %d records: %d applied", name, r.Count(), sum.applied)
	if sum.refused > 0 || sum.unreadable > 0 {
		fmt.Fprintf(stdout, " (refused by Computop: %d, unreadable: %d)", sum.refused, sum.unreadable)
	}
	fmt.Fprintf(stdout, ", %d already applied, %d unknown, %d failed\n", sum.already, sum.unknown, sum.failed)
	if sum.unknown > 0 || sum.failed > 0 {
		return fmt.Errorf("%s: %d records match no refund of kvitt's and %d could not be applied; see the lines above", name, sum.unknown, sum.failed)
	}
	return nil
}

// computopCheckResponse reads a response file whole, checking every record
// and FOOT's count and sum, and returns the digest of its content (the
// records as parsed, so line endings and empty lines do not change it) and
// the number of records. With mid, the file must be that merchant's.
func computopCheckResponse(f io.Reader, mid string) (string, int64, error) {
	r, err := computop.NewBatchReader(bufio.NewReaderSize(f, 256<<10), true)
	if err != nil {
		return "", 0, err
	}
	hd := r.Header()
	sha := sha256.New()
	fmt.Fprintf(sha, "HEAD,%s,%s,%s\n", hd.MerchantID, hd.Date.Format(computop.BatchDateLayout), hd.Version)
	var rec computop.BatchRecord
	for {
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, err
		}
		if mine := rec.MID; mid != "" && hd.MerchantID != mid && (mine == "" || mine != mid) {
			if mine == "" {
				mine = hd.MerchantID
			}
			return "", 0, fmt.Errorf("line %d: a credit of MerchantID %s, not %s", rec.Line, mine, mid)
		}
		fmt.Fprintf(sha, "%s,%d,%s,%s,%s,%s,%s,%s\n", rec.MID, rec.Amount, rec.Currency, rec.TransID, rec.RefNr, rec.PayID, rec.Status, rec.Code)
	}
	fmt.Fprintf(sha, "FOOT,%d,%d\n", r.Count(), r.Sum())
	return hex.EncodeToString(sha.Sum(nil))[:32], r.Count(), nil
}
