package kvitt

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Staff users sign in to the screens (the till, the back office) with a
// password. A signed-in user acts with the scope of their role, through the
// same API and the same authorisation rules as an API key of that scope:
// admin = ScopeAdmin, back office = ScopeBackOffice, a cashier = ScopeTill
// for the tills the user is bound to.

// Role is what a staff user may do.
type Role string

const (
	RoleAdmin      Role = "admin"      // everything, including users, keys and settings
	RoleBackOffice Role = "backoffice" // orders, payments, refunds, reports of every till
	RoleCashier    Role = "cashier"    // sales at the tills in User.Tills
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleBackOffice, RoleCashier}

// Scope is the API scope a role acts with.
func (r Role) Scope() Scope {
	switch r {
	case RoleAdmin:
		return ScopeAdmin
	case RoleBackOffice:
		return ScopeBackOffice
	case RoleCashier:
		return ScopeTill
	}
	return ""
}

// User is a staff member who signs in to the screens.
type User struct {
	ID       string // "usr_…"
	Username string // unique, lower case: what is typed at sign-in
	Name     string // shown on screens and in the event log
	Role     Role
	// Tills a cashier may work at (by id); empty for the other roles.
	Tills []string
	// PasswordHash is PHC-formatted argon2id (see HashPassword).
	PasswordHash string
	// FailedLogins counts wrong passwords in a row; at MaxFailedLogins the
	// user is locked out until LockedUntil.
	FailedLogins int
	LockedUntil  time.Time
	Disabled     bool
	Created      time.Time
	Version      int64
}

// Sign-in limits.
const (
	MaxFailedLogins   = 5
	LockoutDuration   = 15 * time.Minute
	MinPasswordLength = 10
	MaxPasswordLength = 256
	SessionLifetime   = 12 * time.Hour
)

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{1,62}$`)

// Validate checks a user before it is stored; errors name the field.
func (u *User) Validate() error {
	u.Username = strings.ToLower(strings.TrimSpace(u.Username))
	if !usernameRE.MatchString(u.Username) {
		return FieldError("username", "%q must be 2 to 63 characters of a-z, 0-9, '.', '_', '@' and '-', starting with a letter or digit", u.Username)
	}
	if err := CheckText("name", u.Name); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(u.Name); n > 100 {
		return FieldError("name", "is %d characters; at most 100", n)
	}
	if !slices.Contains(Roles, u.Role) {
		return FieldError("role", "must be admin, backoffice or cashier")
	}
	if u.Role == RoleCashier && len(u.Tills) == 0 {
		return FieldError("tills", "a cashier needs at least one till")
	}
	if u.Role != RoleCashier && len(u.Tills) > 0 {
		return FieldError("tills", "only cashiers are bound to tills")
	}
	for i, t := range u.Tills {
		if t == "" || len(t) > 64 {
			return FieldError(fmt.Sprintf("tills[%d]", i), "is not a till id")
		}
	}
	return nil
}

// CheckPasswordRule says why a new password is refused.
func CheckPasswordRule(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLength:
		return FieldError("password", "is %d characters; at least %d", n, MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		return FieldError("password", "at most %d bytes", MaxPasswordLength)
	}
	return nil
}

// Argon2id parameters (RFC 9106's second recommended option, with a 64 MiB
// memory cost: about 50 ms per check on the reference machine).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

var b64 = base64.RawStdEncoding

// kdfSlots bounds the argon2id computations running at once: each takes
// 64 MiB, so a burst of sign-in attempts queues here instead of taking the
// machine's memory.
var kdfSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

func idKey(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	kdfSlots <- struct{}{}
	defer func() { <-kdfSlots }()
	return argon2.IDKey(pw, salt, t, m, p, n)
}

// HashPassword returns the PHC string of an argon2id hash of pw with a new
// random salt: "$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>".
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	key := idKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is checked when a username is unknown, so that an unknown
// user takes as long to refuse as a wrong password. Made on first use:
// at start-up it would cost every kvitt process 64 MiB.
var dummyHash = sync.OnceValue(func() string { return HashPassword("kvitt: no such user") })

// VerifyPassword reports whether pw matches the PHC hash, in constant time.
// A malformed hash never matches. An empty hash is checked against a dummy
// (for unknown users) and never matches.
func VerifyPassword(hash, pw string) bool {
	ok := true
	if hash == "" {
		hash, ok = dummyHash(), false
	}
	var v, m, t uint32
	var p uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := idKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}

// Session is a signed-in user's browser session. The cookie holds a random
// token; only its SHA-256 (ID) is stored. CSRF is the token every
// state-changing request of the session must send in X-CSRF-Token.
type Session struct {
	ID      string // hex SHA-256 of the cookie's token
	UserID  string
	CSRF    string
	Created time.Time
	Expires time.Time
}
