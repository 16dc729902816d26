package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUserCommand: the operator makes a cashier from the shell, with the
// password on standard input; the served kvitt signs the cashier in; a bad
// role or a short password is refused naming the rule; a new password
// ends the old one.
func TestUserCommand(t *testing.T) {
	m, base := startServe(t)
	cli := func(stdin string, env map[string]string, args ...string) error {
		old := stdinReader
		stdinReader = strings.NewReader(stdin)
		defer func() { stdinReader = old }()
		return run(context.Background(), args, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	data := m.Config.Data
	if err := cli("", nil, "user", "add", "kim", "--role", "boss", "--data", data); err == nil || !strings.Contains(err.Error(), "role") {
		t.Fatalf("bad role: %v", err)
	}
	if err := cli("short\n", nil, "user", "add", "kim", "--role", "cashier", "--till", "1", "--data", data); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("short password: %v", err)
	}
	if err := cli("", nil, "user", "add", "kim", "--role", "cashier", "--till", "9", "--data", data); err == nil || !strings.Contains(err.Error(), "till") {
		t.Fatalf("unknown till: %v", err)
	}
	if err := cli("correct horse 1\n", nil, "user", "add", "Kim", "--role", "cashier", "--till", "1", "--data", data); err != nil {
		t.Fatal(err)
	}
	signIn := func(pw string) int {
		res, err := http.Post(base+"/v1/session", "application/json", bytes.NewBufferString(`{"username":"kim","password":"`+pw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := signIn("correct horse 1"); st != 200 {
		t.Fatalf("sign in with the password set on the shell: %d", st)
	}
	if err := cli("", map[string]string{"KVITT_PASSWORD": "battery staple 2"}, "user", "password", "kim", "--data", data); err != nil {
		t.Fatal(err)
	}
	if signIn("correct horse 1") != 401 || signIn("battery staple 2") != 200 {
		t.Fatal("the new password does not replace the old one")
	}
}
