// Package crashpoint names the instants at which a test kills kvitt with
// SIGKILL (issue 15; docs/reliability.md, "Crashes").
//
// A crash point is a call Hit("<flow>.<step>") at one exact place in a
// flow: after one write is committed and before the next thing happens.
// A test arms points by starting a kvitt process with the environment
// variable KVITT_CRASHPOINT, a comma-separated list of names. When the
// process reaches an armed point, Hit writes one line to stderr,
//
//	kvitt: crash point <name> reached
//
// and blocks the calling goroutine for ever; the test waits for that line
// and kills the process. Nothing after the point runs, exactly as when
// the machine dies there. The test then starts kvitt again without the
// variable and checks what it recovers.
//
// The variable is read once, when the process starts, and nothing else
// arms a point: the package has no setter. Unarmed (the variable unset or
// empty, as in production), Hit is a nil check.
package crashpoint

import (
	"os"
	"sort"
	"strings"
	"time"
)

// EnvVar is the environment variable that arms crash points.
const EnvVar = "KVITT_CRASHPOINT"

// armed holds the names armed in the environment; nil when none is.
var armed = parse(os.Getenv(EnvVar))

func init() {
	if armed == nil {
		return
	}
	// An armed process stops for good at a point: say so where an
	// operator looks first, should the variable ever be set by mistake.
	names := make([]string, 0, len(armed))
	for n := range armed {
		names = append(names, n)
	}
	sort.Strings(names)
	os.Stderr.WriteString("kvitt: crash points armed by " + EnvVar + " (this process stops at them): " + strings.Join(names, ", ") + "\n")
}

// parse reads a comma-separated list of names; nil for none.
func parse(v string) map[string]bool {
	var m map[string]bool
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if m == nil {
			m = map[string]bool{}
		}
		m[n] = true
	}
	return m
}

// Hit marks the crash point name. Armed, it writes
// "kvitt: crash point <name> reached" to stderr and never returns: the
// test kills the process there. Unarmed, it returns at once.
func Hit(name string) {
	if armed == nil || !armed[name] {
		return
	}
	os.Stderr.WriteString("kvitt: crash point " + name + " reached\n")
	// Sleep rather than block on nothing: a process whose goroutines all
	// block would be ended by the runtime ("all goroutines are asleep"),
	// and the kill is the test's to make.
	for {
		time.Sleep(time.Hour)
	}
}
