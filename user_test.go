package kvitt

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := HashPassword("correct horse 1")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q", h)
	}
	if h == HashPassword("correct horse 1") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !VerifyPassword(h, "correct horse 1") {
		t.Fatal("the right password is refused")
	}
	for _, bad := range []string{"correct horse 2", "", "correct horse 1 "} {
		if VerifyPassword(h, bad) {
			t.Fatalf("%q accepted", bad)
		}
	}
	parts := strings.Split(h, "$")
	for _, broken := range []string{
		"", "plain", "$argon2i$v=19$m=65536,t=3,p=2$" + parts[4] + "$" + parts[5], // another algorithm
		"$argon2id$v=18$m=65536,t=3,p=2$" + parts[4] + "$" + parts[5],   // another version
		"$argon2id$v=19$m=9999999,t=3,p=2$" + parts[4] + "$" + parts[5], // memory beyond bound
		"$argon2id$v=19$m=65536,t=3,p=2$" + parts[4] + "$",              // no hash
		"$argon2id$v=19$m=65536,t=3,p=2$!!$" + parts[5],                 // bad salt
	} {
		if VerifyPassword(broken, "correct horse 1") {
			t.Fatalf("malformed hash %q matched", broken)
		}
	}
}

func TestUserValidate(t *testing.T) {
	for _, c := range []struct {
		u     User
		field string
	}{
		{User{Username: "x", Role: RoleAdmin}, "username"},
		{User{Username: "Ann Svensson", Role: RoleAdmin}, "username"},
		{User{Username: "ann", Role: "boss"}, "role"},
		{User{Username: "ann", Role: RoleCashier}, "tills"},
		{User{Username: "ann", Role: RoleAdmin, Tills: []string{"1"}}, "tills"},
		{User{Username: "ann", Role: RoleAdmin, Name: "Ann\x1b[2J"}, "name"},
	} {
		if err := c.u.Validate(); ErrorField(err) != c.field {
			t.Errorf("%+v: %v, want an error on %s", c.u, err, c.field)
		}
	}
	u := User{Username: "  ANN@Butik.se ", Role: RoleCashier, Tills: []string{"1"}}
	if err := u.Validate(); err != nil || u.Username != "ann@butik.se" {
		t.Fatalf("%v %q", err, u.Username)
	}
	if err := CheckPasswordRule("short"); ErrorField(err) != "password" {
		t.Fatalf("short password: %v", err)
	}
}
