package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser tests of the screens share these helpers: the sandbox's demo
// user, signing in through the sign-in page, and a screenshot of every
// screen a test passes through, saved in a folder the test log names
// ($KVITT_SCREENSHOTS, else a folder under the test's temporary directory,
// which go test removes: set the variable to keep them).

// demoPassword reads the sandbox demo user's password from the data directory.
func demoPassword(t *testing.T, m *Main) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.Config.Data, "demo-user.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// shots saves screenshots of one test.
type shots struct {
	t   *testing.T
	dir string
	n   int
}

func newShots(t *testing.T) *shots {
	dir := os.Getenv("KVITT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of %s: %s", t.Name(), dir)
	return &shots{t: t, dir: dir}
}

// take saves the page of ctx as <n>-<name>.png.
func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	s.n++
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(s.dir, strings.ReplaceAll(strings.ToLower(name), " ", "-"))
	if err := os.WriteFile(filepath.Join(s.dir, twoDigits(s.n)+"-"+filepath.Base(path)+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func twoDigits(n int) string { return string(rune('0'+n/10%10)) + string(rune('0'+n%10)) }

// signInAs signs in through the sign-in page and waits for the page it leads to.
func signInAs(t *testing.T, ctx context.Context, base, user, password, next string, sh *shots) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/signin?next="+next),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), user),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
	)
	if err != nil {
		t.Fatal(err)
	}
	if sh != nil {
		sh.take(ctx, "sign in")
	}
	// Enter in the password field, as a person signs in.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#password`), "\r")); err != nil {
		t.Fatal(err)
	}
}

// text waits for the element sel to be visible and returns its text.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("waiting for %s: %v", sel, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSignInPage: a wrong password is refused on the page in words; the
// demo user's password leads to the page asked for; sign-out ends it.
func TestSignInPage(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	signInAs(t, ctx, base, "demo", "not the password", "/admin/", sh)
	msg := text(t, ctx, `#signin-error`)
	sh.take(ctx, "wrong password")
	if !strings.Contains(msg, "lösenord") && !strings.Contains(msg, "password") {
		t.Fatalf("wrong password shows %q", msg)
	}
	signInAs(t, ctx, base, "demo", demoPassword(t, m), "/admin/payments", sh)
	who := text(t, ctx, `#who`)
	sh.take(ctx, "signed in")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if who != "Demo" || !strings.HasSuffix(loc, "/admin/payments") {
		t.Fatalf("after sign-in: %q at %s", who, loc)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#signout`)), chromedp.WaitVisible(chromedp.CSS(`#signin-form`))); err != nil {
		t.Fatal(err)
	}
	// The session is over: the back office sends the browser to sign in again.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`#signin-form`))); err != nil {
		t.Fatal(err)
	}
}
