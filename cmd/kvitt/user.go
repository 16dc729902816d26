package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

const userUsage = `usage:
  kvitt user add USERNAME --role admin|backoffice|cashier [--till ID,ID] [--name NAME] [--data DIR]
  kvitt user password USERNAME [--data DIR]     set a new password (signs the user out everywhere)
  kvitt user unlock USERNAME [--data DIR]       end a lock-out after wrong passwords
The password is read from $KVITT_PASSWORD, else from the first line of standard input;
it is never taken from the command line, where other users of the machine could see it.`

// runUser manages staff users from the shell: how the first user of a live
// installation is made (the sandbox makes its demo user by itself).
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("%s", userUsage)
	}
	cmd, username := args[0], strings.ToLower(strings.TrimSpace(args[1]))
	fs := flag.NewFlagSet("user "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs)
	role := fs.String("role", "", "admin, backoffice or cashier")
	tills := fs.String("till", "", "a cashier's tills, comma-separated")
	name := fs.String("name", "", "the name shown on screens")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	readPassword := func() (string, error) {
		pw := getenv("KVITT_PASSWORD")
		if pw == "" {
			fmt.Fprintf(stderr, "password for %s: ", username)
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && line == "" {
				return "", fmt.Errorf("no password: set KVITT_PASSWORD or give it on standard input")
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if err := kvitt.CheckPasswordRule(pw); err != nil {
			return "", fmt.Errorf("%s: %s", kvitt.ErrorField(err), kvitt.ErrorMessage(err))
		}
		return pw, nil
	}
	db, err := data.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	fieldErr := func(err error) error {
		if f := kvitt.ErrorField(err); f != "" {
			return fmt.Errorf("%s: %s", f, kvitt.ErrorMessage(err))
		}
		return err
	}
	switch cmd {
	case "add":
		u := &kvitt.User{ID: kvitt.NewID("usr"), Username: username, Name: *name, Role: kvitt.Role(*role)}
		if *tills != "" {
			u.Tills = strings.Split(*tills, ",")
		}
		if err := u.Validate(); err != nil {
			return fieldErr(err)
		}
		err := db.View(ctx, func(tx kvitt.Tx) error {
			for _, id := range u.Tills {
				if _, err := tx.GetTill(id); err != nil {
					return kvitt.FieldError("till", "no till %q", id)
				}
			}
			if _, err := tx.GetUserByUsername(u.Username); err == nil {
				return kvitt.FieldError("username", "%q is taken", u.Username)
			}
			return nil
		})
		if err != nil {
			return fieldErr(err)
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		u.PasswordHash = kvitt.HashPassword(pw)
		err = db.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateUser(u) })
		if err != nil {
			return fieldErr(err)
		}
		fmt.Fprintf(stdout, "user %s (%s) added\n", u.Username, u.Role)
	case "password", "unlock":
		var hash string
		if cmd == "password" {
			pw, err := readPassword()
			if err != nil {
				return err
			}
			hash = kvitt.HashPassword(pw)
		}
		err := db.Update(ctx, func(tx kvitt.Tx) error {
			u, err := tx.GetUserByUsername(username)
			if err != nil {
				return err
			}
			u.FailedLogins, u.LockedUntil = 0, time.Time{}
			if hash != "" {
				u.PasswordHash = hash
			}
			if err := tx.UpdateUser(u); err != nil {
				return err
			}
			if hash != "" {
				return tx.DeleteUserSessions(u.ID)
			}
			return nil
		})
		if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
			return fmt.Errorf("no user %q", username)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: done\n", username)
	default:
		return fmt.Errorf("%s", userUsage)
	}
	return nil
}

var stdinReader io.Reader = os.Stdin
