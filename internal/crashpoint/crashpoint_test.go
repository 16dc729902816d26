package crashpoint

import (
	"bufio"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"z.before-commit", []string{"z.before-commit"}},
		{"payment.before-start, svea.deliver.after-call ,,batch.between-lines",
			[]string{"batch.between-lines", "payment.before-start", "svea.deliver.after-call"}},
	} {
		m := parse(tc.in)
		var got []string
		for n := range m {
			got = append(got, n)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, tc.want) || (tc.want == nil) != (m == nil) {
			t.Errorf("parse(%q) = %v, want %v", tc.in, m, tc.want)
		}
	}
}

// The test process has no KVITT_CRASHPOINT: Hit returns, allocating nothing.
func TestUnarmedHitReturns(t *testing.T) {
	if os.Getenv(EnvVar) != "" {
		t.Skipf("%s is set in the test's environment", EnvVar)
	}
	done := make(chan struct{})
	go func() {
		Hit("payment.before-start")
		Hit("")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("an unarmed Hit did not return")
	}
	if n := testing.AllocsPerRun(100, func() { Hit("z.before-commit") }); n != 0 {
		t.Errorf("an unarmed Hit allocates %v times", n)
	}
}

// helper runs this test binary as a process of its own: mode "hit" calls
// Hit(name) and then prints "returned"; mode "setenv" first sets the
// variable to name in its own environment, as code in the process could.
func helper(ctx context.Context, env, mode, name string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), EnvVar+"="+env, "CRASHPOINT_HELPER="+mode+":"+name)
	return cmd
}

func TestHelperProcess(t *testing.T) {
	mode, name, ok := strings.Cut(os.Getenv("CRASHPOINT_HELPER"), ":")
	if !ok {
		t.Skip("a helper process for the other tests")
	}
	if mode == "setenv" {
		os.Setenv(EnvVar, name)
	}
	Hit(name)
	os.Stdout.WriteString("returned\n")
}

// Armed, Hit writes its line to stderr and blocks until the process is
// killed, as the kill -9 tests use it.
func TestArmedHitBlocksUntilKilled(t *testing.T) {
	cmd := helper(context.Background(), "batch.between-lines, z.before-commit", "hit", "z.before-commit")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	timeout := time.After(30 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the process ended before the crash point: stderr %q, stdout %q, %v", got, stdout.String(), cmd.Wait())
			}
			got = append(got, l)
			if l == "kvitt: crash point z.before-commit reached" {
				break wait
			}
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("no crash point line: %q", got)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], "crash points armed") || !strings.Contains(got[0], "batch.between-lines, z.before-commit") {
		t.Errorf("stderr %q: want the armed points named, then the point's line", got)
	}
	// It stays there: still running a while later, until killed.
	exited := make(chan error, 1)
	go func() {
		for range lines {
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		t.Fatalf("the process left the crash point by itself: %v, stdout %q", err, stdout.String())
	case <-time.After(300 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err = <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("exit %v, want killed by SIGKILL", err)
	}
	if strings.Contains(stdout.String(), "returned") {
		t.Errorf("Hit returned: %q", stdout.String())
	}
}

// A point not named in the variable returns; so does one named only after
// the process started: the variable is read once, at start.
func TestArmedOnlyFromTheStartEnvironment(t *testing.T) {
	for _, tc := range []struct{ env, mode, name string }{
		{"payment.before-start", "hit", "z.before-commit"},
		{"payment.before-start", "hit", "payment"},
		{"", "setenv", "z.before-commit"},
		{"payment.before-start", "setenv", "z.before-commit"},
	} {
		// A Hit that blocks is killed after a while, and fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := helper(ctx, tc.env, tc.mode, tc.name).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "returned") || strings.Contains(string(out), "reached") {
			t.Errorf("%s=%q, %s %s: %v\n%s", EnvVar, tc.env, tc.mode, tc.name, err, out)
		}
	}
}

// Nothing but the environment arms a point: the package exports Hit and
// the variable's name, and no way to change what is armed.
func TestNoOtherWayToArm(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() {
					exported = append(exported, "func "+d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								exported = append(exported, d.Tok.String()+" "+n.Name)
							}
						}
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							exported = append(exported, "type "+s.Name.Name)
						}
					}
				}
			}
		}
	}
	sort.Strings(exported)
	if want := []string{"const EnvVar", "func Hit"}; !reflect.DeepEqual(exported, want) {
		t.Errorf("exported %v, want only %v", exported, want)
	}
}
