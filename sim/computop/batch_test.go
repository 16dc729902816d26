package simcomputop

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// batchSim is a simulator whose notifications an HTTPS listener
// acknowledges, so that its payments can be credited.
func batchSim(t *testing.T) (*Sim, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	s, err := New(Options{MerchantID: "kvitt_test", NotifyTLS: srv.Client().Transport.(*http.Transport).TLSClientConfig, AllowAnyNotifyPort: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv.URL + "/notify"
}

// paid makes a Swish payment of amount öre, approved and notified; it
// returns its PayID.
func paid(t *testing.T, s *Sim, notify, trans string, amount int64) string {
	t.Helper()
	am, cur := strconv.FormatInt(amount, 10), "SEK"
	a := post(t, s, "swish.aspx", [][2]string{{"MerchantID", s.opts.MerchantID}, {"TransID", trans}, {"Amount", am}, {"Currency", cur},
		{"MAC", s.mac("", trans, s.opts.MerchantID, am, cur)}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}, {"URLNotify", notify}})
	if a["status"] != "AUTHORIZE_REQUEST" {
		t.Fatalf("payment %s: %v", trans, a)
	}
	if err := s.Customer().Do(context.Background(), trans, "approve"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, p := range s.Ledger().Payments {
			if p.TransID == trans && p.Notified {
				return a["payid"]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment %s: no acknowledged notification", trans)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func upload(t *testing.T, s *Sim, name, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"sim/batch/"+name, strings.NewReader(body))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.ClientTLS()}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The Batch Manager carries out each record as a credit with reference and
// answers with the same records followed by Status and Code; the credits
// are in the ledger with the file and line they came from.
func TestBatchUpload(t *testing.T) {
	s, notify := batchSim(t)
	pay1 := paid(t, s, notify, "4F1C2B3A4D5E6F708192A3B4C5D6E7F8", 25000)
	pay2 := paid(t, s, notify, "5A1C2B3A4D5E6F708192A3B4C5D6E7F8", 10000)
	file := "HEAD,kvitt_test,20250314,2.1\n" +
		"Swish,Credit,12550,SEK,4F1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_01," + pay1 + "\n" +
		"Swish,Credit,10100,SEK,5A1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_02," + pay2 + "\n" + // above what was paid
		"Swish,Credit,100,SEK,5A1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_03,fedcba9876543210fedcba9876543210\n" + // no such PayID
		"Swish,Credit,12450,SEK,4F1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_04," + pay1 + "\n" + // the rest of pay1
		"FOOT,4,35200\n"
	code, got := upload(t, s, "T20250314kvitt_test001.dat", file)
	want := "HEAD,kvitt_test,20250314,2.1\n" +
		"Swish,Credit,12550,SEK,4F1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_01," + pay1 + ",OK,00000000\n" +
		"Swish,Credit,10100,SEK,5A1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_02," + pay2 + ",FAILED," + CodeCreditLimit + "\n" +
		"Swish,Credit,100,SEK,5A1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_03,fedcba9876543210fedcba9876543210,FAILED," + CodeUnknown + "\n" +
		"Swish,Credit,12450,SEK,4F1C2B3A4D5E6F708192A3B4C5D6E7F8,ref_04," + pay1 + ",OK,00000000\n" +
		"FOOT,4,35200\n"
	if code != http.StatusCreated || got != want {
		t.Fatalf("upload: %d\n%s\nwant\n%s", code, got, want)
	}
	l := s.Ledger()
	if len(l.Credits) != 2 || l.Credits[0].RefNr != "ref_01" || l.Credits[0].Via != "batch T20250314kvitt_test001.dat line 2" ||
		l.Credits[1].RefNr != "ref_04" || l.Credits[1].Amount != 12450 {
		t.Fatalf("credits %+v", l.Credits)
	}
	if _, _, captured, credited, _ := s.Payment("4F1C2B3A4D5E6F708192A3B4C5D6E7F8"); captured != 25000 || credited != 25000 {
		t.Errorf("pay1 captured %d credited %d", captured, credited)
	}

	// The processed file can be fetched again; the same upload is not
	// carried out twice.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.ClientTLS()}}
	resp, err := hc.Get(s.URL() + "sim/batch/P20250314kvitt_test001.dat")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != want {
		t.Errorf("download: %d %s", resp.StatusCode, b)
	}
	if code, msg := upload(t, s, "T20250314kvitt_test001.dat", file); code != http.StatusConflict {
		t.Errorf("second upload of one name: %d %s", code, msg)
	}
	if n := len(s.Ledger().Credits); n != 2 {
		t.Errorf("%d credits after the refused second upload", n)
	}
}

// A file the Batch Manager cannot read whole is refused, and nothing in it
// is carried out: not even the records before the fault.
func TestBatchRefusedWhole(t *testing.T) {
	s, notify := batchSim(t)
	pay := paid(t, s, notify, "T1", 10000)
	rec := "Swish,Credit,5000,SEK,T1,ref_01," + pay + "\n"
	for name, file := range map[string]string{
		"FOOT sum":        "HEAD,kvitt_test,20250314,2.1\n" + rec + "FOOT,1,5001\n",
		"FOOT count":      "HEAD,kvitt_test,20250314,2.1\n" + rec + "FOOT,2,5000\n",
		"truncated":       "HEAD,kvitt_test,20250314,2.1\n" + rec,
		"after FOOT":      "HEAD,kvitt_test,20250314,2.1\n" + rec + "FOOT,1,5000\n" + rec,
		"other MID":       "HEAD,someone_else,20250314,2.1\n" + rec + "FOOT,1,5000\n",
		"version":         "HEAD,kvitt_test,20250314,3.0\n" + rec + "FOOT,1,5000\n",
		"fields":          "HEAD,kvitt_test,20250314,1.0\n" + rec + "FOOT,1,5000\n",
		"amount":          "HEAD,kvitt_test,20250314,2.1\nSwish,Credit,50x0,SEK,T1,ref_01," + pay + "\nFOOT,1,5000\n",
		"action":          "HEAD,kvitt_test,20250314,2.1\nSwish,Capture,5000,SEK,T1,ref_01," + pay + "\nFOOT,1,5000\n",
		"no HEAD":         rec + "FOOT,1,5000\n",
		"mixed master":    "HEAD,kvitt_test,20250314,2.1\n" + rec + "Swish,Credit,kvitt_test,5000,SEK,T1,ref_01," + pay + "\nFOOT,2,10000\n",
		"empty":           "",
		"HEAD date":       "HEAD,kvitt_test,14.03.2025,2.1\n" + rec + "FOOT,1,5000\n",
		"FOOT not number": "HEAD,kvitt_test,20250314,2.1\n" + rec + "FOOT,one,5000\n",
	} {
		var out strings.Builder
		_, err := s.ProcessBatch("T20250314kvitt_test001.dat", strings.NewReader(file), &out)
		var be *BatchError
		if !errors.As(err, &be) {
			t.Errorf("%s: %v", name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote %q", name, out.String())
		}
	}
	if code, msg := upload(t, s, "T20250314kvitt_test001.dat", "HEAD,kvitt_test,20250314,2.1\n"+rec+"FOOT,1,5001\n"); code != http.StatusUnprocessableEntity || !strings.Contains(msg, "FOOT says") {
		t.Errorf("upload with a wrong FOOT: %d %s", code, msg)
	}
	if n := len(s.Ledger().Credits); n != 0 {
		t.Fatalf("%d credits from refused files", n)
	}
	// A refused file takes no name: corrected, it is carried out.
	if code, msg := upload(t, s, "T20250314kvitt_test001.dat", "HEAD,kvitt_test,20250314,2.1\n"+rec+"FOOT,1,5000\n"); code != http.StatusCreated {
		t.Errorf("corrected upload: %d %s", code, msg)
	}
	for _, name := range []string{"T20250314other_mid001.dat", "X20250314kvitt_test001.dat", "T2025031kvitt_test001.dat",
		"T20250314kvitt_test000.dat", "T20250314kvitt_test001.txt", "T20251314kvitt_test001.dat"} {
		if code, _ := upload(t, s, name, "HEAD,kvitt_test,20250314,2.1\nFOOT,0,0\n"); code != http.StatusUnprocessableEntity {
			t.Errorf("name %s: %d", name, code)
		}
	}
	if code, msg := upload(t, s, "T20250314002kvitt_test.dat", "HEAD,kvitt_test,20250314,2.1\nFOOT,0,0\n"); code != http.StatusCreated {
		t.Errorf("SFTP name: %d %s", code, msg)
	}
}

// Versions 1.0 and 2.0 answer without Code (1.0 also without RefNr); a
// Master MID file names each record's MID, and a record for another MID fails.
func TestBatchVersions(t *testing.T) {
	s, notify := batchSim(t)
	pay := paid(t, s, notify, "T1", 30000)
	for _, c := range []struct{ in, want string }{
		{"HEAD,kvitt_test,20250314,1.0\nSwish,Credit,1000,SEK,T1," + pay + "\nSwish,Credit,99999,SEK,T1," + pay + "\nFOOT,2,100999\n",
			"HEAD,kvitt_test,20250314,1.0\nSwish,Credit,1000,SEK,T1," + pay + ",OK\nSwish,Credit,99999,SEK,T1," + pay + ",FAILED\nFOOT,2,100999\n"},
		{"HEAD,kvitt_test,20250314,2.0\r\nSwish,Credit,1000,SEK,T1,ref_2," + pay + "\r\n\r\nFOOT,1,1000\r\n",
			"HEAD,kvitt_test,20250314,2.0\nSwish,Credit,1000,SEK,T1,ref_2," + pay + ",OK\nFOOT,1,1000\n"},
		{"HEAD,master,20250314,2.1\nSwish,Credit,kvitt_test,1000,SEK,T1,ref_3," + pay + "\nSwish,Credit,slave_2,1000,SEK,T1,ref_4," + pay + "\nSwish,Credit,kvitt_test,1000,EUR,T1,ref_5," + pay + "\nFOOT,3,3000\n",
			"HEAD,master,20250314,2.1\nSwish,Credit,kvitt_test,1000,SEK,T1,ref_3," + pay + ",OK,00000000\nSwish,Credit,slave_2,1000,SEK,T1,ref_4," + pay + ",FAILED," + CodeUnknown +
				"\nSwish,Credit,kvitt_test,1000,EUR,T1,ref_5," + pay + ",FAILED," + CodeCurrency + "\nFOOT,3,3000\n"},
	} {
		var out strings.Builder
		if _, err := s.ProcessBatch("T20250314kvitt_test001.dat", strings.NewReader(c.in), &out); err != nil || out.String() != c.want {
			t.Errorf("%v\n%s\nwant\n%s", err, out.String(), c.want)
		}
	}
	if _, _, _, credited, _ := s.Payment("T1"); credited != 3000 {
		t.Errorf("credited %d, want 3000", credited)
	}
}

// A payment whose notification was never acknowledged cannot be credited,
// by batch as online.
func TestBatchNeedsNotification(t *testing.T) {
	s, err := New(Options{MerchantID: "kvitt_test", AllowAnyNotifyPort: true, DropNotifications: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	am := "10000"
	a := post(t, s, "swish.aspx", [][2]string{{"MerchantID", "kvitt_test"}, {"TransID", "T1"}, {"Amount", am}, {"Currency", "SEK"},
		{"MAC", s.mac("", "T1", "kvitt_test", am, "SEK")}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}, {"URLNotify", "https://127.0.0.1/n"}})
	if err := s.Customer().Do(context.Background(), "T1", "approve"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	s.ProcessBatch("T20250314kvitt_test001.dat", strings.NewReader("HEAD,kvitt_test,20250314,2.1\nSwish,Credit,100,SEK,T1,r,"+a["payid"]+"\nFOOT,1,100\n"), &out)
	if !strings.Contains(out.String(), ",FAILED,"+CodeNotifyFirst) {
		t.Errorf("response %s", out.String())
	}
}

// The test controls a separate process needs: a request held until
// released, handled or dropped, and the ledger.
func TestHoldAndLedger(t *testing.T) {
	s, notify := batchSim(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.ClientTLS()}}
	ctl := func(path string) int {
		resp, err := hc.Post(s.URL()+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if ctl("sim/faults/swish.aspx/hold") != http.StatusNoContent || ctl("sim/faults/swish.aspx/explode") != http.StatusBadRequest ||
		ctl("sim/faults/other.aspx/hold") != http.StatusBadRequest {
		t.Fatal("fault endpoint")
	}
	am := "10000"
	done := make(chan string, 1)
	go func() {
		data, n := s.seal([][2]string{{"MerchantID", "kvitt_test"}, {"TransID", "T1"}, {"Amount", am}, {"Currency", "SEK"},
			{"MAC", s.mac("", "T1", "kvitt_test", am, "SEK")}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}, {"URLNotify", notify}, {"ReqID", "R1"}})
		resp, err := hc.PostForm(s.URL()+"swish.aspx", url.Values{"MerchantID": {"kvitt_test"}, "Len": {strconv.Itoa(n)}, "Data": {data}})
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		q, _ := url.ParseQuery(string(b))
		f, err := s.open(q.Get("Data"), q.Get("Len"))
		if err != nil {
			done <- err.Error()
			return
		}
		done <- f["status"]
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Held()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h := s.Held()[0]
	if h.Endpoint != "swish.aspx" || h.TransID != "T1" || h.ReqID != "R1" || s.PaymentCount() != 0 {
		t.Fatalf("held %+v, %d payments", h, s.PaymentCount())
	}
	if ctl("sim/held/"+strconv.Itoa(h.ID)+"/process") != http.StatusNoContent {
		t.Fatal("release")
	}
	if a := <-done; a != "AUTHORIZE_REQUEST" {
		t.Fatalf("answer after release: %v", a)
	}
	if ctl("sim/held/"+strconv.Itoa(h.ID)+"/process") != http.StatusNotFound {
		t.Error("released twice")
	}
	resp, err := hc.Get(s.URL() + "sim/ledger.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"trans_id":"T1"`) || !strings.Contains(string(b), `"req_id":"R1"`) || !strings.Contains(string(b), `"held":[]`) {
		t.Errorf("ledger %s", b)
	}
}

// Notifications go to URLNotify's path under NotifyForward, as a reverse
// proxy on URLNotify's host would forward them.
func TestNotifyForward(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.URL.Path }))
	defer srv.Close()
	s, err := New(Options{MerchantID: "kvitt_test", NotifyForward: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	am := "10000"
	a := post(t, s, "swish.aspx", [][2]string{{"MerchantID", "kvitt_test"}, {"TransID", "T1"}, {"Amount", am}, {"Currency", "SEK"},
		{"MAC", s.mac("", "T1", "kvitt_test", am, "SEK")}, {"OrderDesc", "Kvitto"}, {"Channel", "App"}, {"URLNotify", "https://shop.example/v1/callbacks/computop/tok"}})
	if a["status"] != "AUTHORIZE_REQUEST" {
		t.Fatalf("%v", a)
	}
	s.Customer().Do(context.Background(), "T1", "approve")
	select {
	case p := <-got:
		if p != "/v1/callbacks/computop/tok" {
			t.Errorf("path %s", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
}
