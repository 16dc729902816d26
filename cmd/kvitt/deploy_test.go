package main

import (
	"bufio"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The files in deploy/ are checked as far as can be without Docker or a
// booted systemd: the example configuration loads and validates through
// kvitt's own loader with the arguments the Dockerfile and the unit give;
// the Dockerfile's build command builds a static binary; the unit has the
// hardening docs/operations.md promises (and passes systemd-analyze verify
// where systemd-analyze is installed).

const (
	deployDir     = "../../deploy"
	exampleConfig = deployDir + "/kvitt.json.example"
	// installedConfig is where the Dockerfile and the unit read the configuration.
	installedConfig = "/etc/kvitt/kvitt.json"
)

// deployMain parses args as "kvitt serve" does, with the installed
// configuration's path replaced by the example, and env as the environment.
func deployMain(t *testing.T, args []string, env map[string]string) *Main {
	t.Helper()
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == installedConfig {
			args[i] = exampleConfig
		}
	}
	m := NewMain(func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err := m.ParseFlags(args); err != nil {
		t.Fatalf("kvitt serve %s: %v", strings.Join(args, " "), err)
	}
	return m
}

// checkTwoNodeConfig checks what the two-node setup of docs/operations.md needs.
func checkTwoNodeConfig(t *testing.T, c Config, dsn string) {
	t.Helper()
	if c.Sandbox {
		t.Error("the deployed configuration runs the sandbox; want live mode")
	}
	if c.Database != dsn {
		t.Errorf("database = %q; want it from KVITT_DATABASE (%q): the password stays in the environment file", c.Database, dsn)
	}
	if host, _, ok := strings.Cut(c.Addr, ":"); !ok || host == "127.0.0.1" || host == "localhost" {
		t.Errorf("addr %q: the load balancer on another host cannot reach a node listening on loopback", c.Addr)
	}
	if c.Data != "/var/lib/kvitt" {
		t.Errorf("data = %q; the unit and the image give /var/lib/kvitt", c.Data)
	}
	if !strings.HasPrefix(c.PublicURL, "https://") {
		t.Errorf("public_url %q: with two nodes it is the load balancer's address", c.PublicURL)
	}
	if c.Swish == nil || c.Card == nil || len(c.Tills) < 2 || len(c.ControlUnits) == 0 {
		t.Fatalf("want Swish, tills with terminals, a control unit and card settings; got swish %v, %d tills, %d control units, card %v",
			c.Swish, len(c.Tills), len(c.ControlUnits), c.Card)
	}
	if !strings.HasPrefix(c.Swish.CallbackURL, "https://") {
		t.Errorf("swish.callback_url %q: want the public https address", c.Swish.CallbackURL)
	}
	paths := []string{c.Swish.CertFile, c.Swish.KeyFile, c.Card.CAFile}
	for _, cu := range c.ControlUnits {
		paths = append(paths, cu.CertFile, cu.KeyFile, cu.CAFile)
	}
	for _, path := range paths {
		if !strings.HasPrefix(path, "/etc/kvitt/") {
			t.Errorf("%q: the certificates live in /etc/kvitt, which the unit leaves read-only and the image mounts", path)
		}
	}
}

func TestDeployExampleConfig(t *testing.T) {
	c, err := LoadConfig(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", exampleConfig, err)
	}
	if c.Database != "" {
		t.Errorf("the example holds the database URL %q; keep it (and its password) in KVITT_DATABASE", c.Database)
	}
	const dsn = "postgres://kvitt:secret@db.internal:5432/kvitt?sslmode=verify-full"
	m := deployMain(t, []string{"--config", installedConfig}, map[string]string{"KVITT_DATABASE": dsn})
	checkTwoNodeConfig(t, m.Config, dsn)
}

// dockerfile is a parsed Dockerfile: its instructions, continuation lines joined.
type dockerInstr struct{ cmd, args string }

func readDockerfile(t *testing.T) []dockerInstr {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerInstr
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// jsonArgs reads an exec-form argument list: ["a", "b"].
func jsonArgs(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	if !strings.HasPrefix(s, "[") || len(out) == 0 {
		t.Fatalf("%s: want the exec form [\"…\"]", s)
	}
	return out
}

// shellWords splits a RUN command line at spaces, keeping "double quoted" words whole.
func shellWords(s string) []string {
	var out []string
	var w strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

func TestDeployDockerfile(t *testing.T) {
	instrs := readDockerfile(t)
	var froms []string
	var final []dockerInstr // the instructions of the last stage
	var buildCmd string
	for _, in := range instrs {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
			final = nil
		}
		final = append(final, in)
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			buildCmd = in.args
		}
	}
	if len(froms) < 2 {
		t.Fatalf("FROM %v: want a build stage and a runtime stage", froms)
	}

	// The build stage's Go is the one go.mod asks for (or newer).
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(goMod)
	have := regexp.MustCompile(`^golang:(\d+)\.(\d+)`).FindStringSubmatch(froms[0])
	if want == nil || have == nil {
		t.Fatalf("build stage %q, go.mod's go line %q", froms[0], want)
	}
	wMaj, _ := strconv.Atoi(string(want[1]))
	wMin, _ := strconv.Atoi(string(want[2]))
	hMaj, _ := strconv.Atoi(have[1])
	hMin, _ := strconv.Atoi(have[2])
	if hMaj < wMaj || hMaj == wMaj && hMin < wMin {
		t.Errorf("build stage %s is older than go.mod's go %s.%s", froms[0], want[1], want[2])
	}

	// The runtime stage: distroless/static or scratch, a non-root user,
	// the data volume, the port kvitt listens on, kvitt serve in live mode.
	last := froms[len(froms)-1]
	if !strings.HasPrefix(last, "gcr.io/distroless/static") && !strings.HasPrefix(last, "scratch") {
		t.Errorf("runtime stage %q: want distroless/static or scratch", last)
	}
	var user, volume, expose string
	var entry, cmd []string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "VOLUME":
			volume = in.args
		case "EXPOSE":
			expose = in.args
		case "ENTRYPOINT":
			entry = jsonArgs(t, in.args)
		case "CMD":
			cmd = jsonArgs(t, in.args)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q: the runtime stage must not run as root", user)
	}
	if !strings.Contains(volume, "/var/lib/kvitt") {
		t.Errorf("VOLUME %q: want the data directory /var/lib/kvitt", volume)
	}
	if len(entry) != 1 || len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("ENTRYPOINT %v CMD %v: want the binary, then serve and its flags", entry, cmd)
	}
	const dsn = "postgres://kvitt@db/kvitt"
	m := deployMain(t, cmd[1:], map[string]string{"KVITT_DATABASE": dsn})
	checkTwoNodeConfig(t, m.Config, dsn)
	if _, port, _ := strings.Cut(m.Config.Addr, ":"); port != expose {
		t.Errorf("kvitt listens on %s; the image EXPOSEs %q", m.Config.Addr, expose)
	}

	// The build command, as written, builds a static binary.
	if !strings.Contains(buildCmd, "CGO_ENABLED=0") || !strings.Contains(buildCmd, "./cmd/kvitt") {
		t.Fatalf("RUN %q: want CGO_ENABLED=0 go build … ./cmd/kvitt", buildCmd)
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	words := shellWords(buildCmd)
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	// The command as written (it shares its build cache with make build,
	// whose flags it has).
	bin := filepath.Join(t.TempDir(), "kvitt")
	for i, w := range words {
		w = strings.ReplaceAll(w, "${VERSION}", "deploy-test")
		if i > 0 && words[i-1] == "-o" {
			w = bin
		}
		words[i] = w
	}
	if words[0] != "go" || words[1] != "build" {
		t.Fatalf("RUN %q: not a go build", buildCmd)
	}
	build := exec.Command("go", words[1:]...)
	build.Dir = "../.."
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", buildCmd, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: the binary asks for a dynamic loader: it would not run on distroless/static or scratch", buildCmd)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s: the binary needs %v", buildCmd, libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "kvitt deploy-test" {
		t.Errorf("kvitt version: %v %q; want the VERSION build argument", err, out)
	}
}

// readUnit reads a systemd unit: section → key → values (a key may repeat).
func readUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: %q is not KEY=value in a section", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestDeploySystemdUnit(t *testing.T) {
	path := filepath.Join(deployDir, "kvitt.service")
	u := readUnit(t, path)
	svc := u["Service"]
	one := func(k string) string {
		if len(svc[k]) != 1 {
			t.Errorf("[Service] %s: %q, want one value", k, svc[k])
			return ""
		}
		return svc[k][0]
	}
	if user := one("User"); user == "" || user == "root" {
		t.Errorf("User=%q: want a dedicated user", user)
	}
	for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "on-failure",
		"PrivateTmp": "yes", "ProtectHome": "yes"} {
		if got := one(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if rw := strings.Fields(one("ReadWritePaths")); len(rw) != 1 || rw[0] != "/var/lib/kvitt" {
		t.Errorf("ReadWritePaths=%v: want the data directory only", rw)
	}
	if one("EnvironmentFile") == "" {
		t.Error("no EnvironmentFile: KVITT_DATABASE and KVITT_ADMIN_KEY belong there")
	}
	// kvitt takes up to 30 s to finish requests and 10 s for running jobs.
	if stop := strings.TrimSuffix(one("TimeoutStopSec"), "s"); stop == "" {
		t.Error("no TimeoutStopSec: systemd's default (90 s) is fine, but say it")
	} else if n, err := strconv.Atoi(stop); err != nil || n < 40 {
		t.Errorf("TimeoutStopSec=%s: kvitt's graceful shutdown takes up to 40 s", stop)
	}
	exec0 := strings.Fields(one("ExecStart"))
	if len(exec0) < 2 || exec0[1] != "serve" {
		t.Fatalf("ExecStart=%v: want kvitt serve", exec0)
	}
	const dsn = "postgres://kvitt@db/kvitt"
	m := deployMain(t, exec0[2:], map[string]string{"KVITT_DATABASE": dsn})
	checkTwoNodeConfig(t, m.Config, dsn)

	// systemd's own check, where it is installed (no booted systemd needed).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: systemd's own check skipped")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	copyPath := filepath.Join(t.TempDir(), "kvitt.service")
	// verify wants ExecStart's binary to exist: the test binary stands in.
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(b), exec0[0], self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, copyPath) || strings.Contains(line, "kvitt.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
