package http

import (
	"net/http"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Staff users (admin only): who may sign in to the screens, with which role
// and at which tills. Passwords are only ever written, never read back.

type userJSON struct {
	ID          string     `json:"id"`
	Username    string     `json:"username"`
	Name        string     `json:"name,omitempty"`
	Role        string     `json:"role"`
	Tills       []string   `json:"tills,omitempty"`
	Disabled    bool       `json:"disabled,omitempty"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
}

func toUserJSON(u *kvitt.User) userJSON {
	j := userJSON{ID: u.ID, Username: u.Username, Name: u.Name, Role: string(u.Role), Tills: u.Tills, Disabled: u.Disabled}
	if !u.LockedUntil.IsZero() && u.LockedUntil.After(time.Now()) {
		t := u.LockedUntil.UTC()
		j.LockedUntil = &t
	}
	if !u.Created.IsZero() {
		c := u.Created.UTC()
		j.CreatedAt = &c
	}
	return j
}

type userRequest struct {
	Username *string   `json:"username"`
	Name     *string   `json:"name"`
	Role     *string   `json:"role"`
	Tills    *[]string `json:"tills"`
	Password *string   `json:"password"`
	Disabled *bool     `json:"disabled"`
	// Unlock ends a lock-out after wrong passwords.
	Unlock bool `json:"unlock"`
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	var req userRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Username == nil {
		return kvitt.FieldError("username", "is required")
	}
	if req.Password == nil {
		return kvitt.FieldError("password", "is required")
	}
	u := &kvitt.User{ID: kvitt.NewID("usr"), Username: *req.Username}
	if err := applyUserRequest(u, &req); err != nil {
		return err
	}
	u, err := CreateUser(r, s.Store, u, *req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

func applyUserRequest(u *kvitt.User, req *userRequest) error {
	if req.Name != nil {
		u.Name = *req.Name
	}
	if req.Role != nil {
		u.Role = kvitt.Role(*req.Role)
	}
	if req.Tills != nil {
		u.Tills = *req.Tills
	}
	if req.Disabled != nil {
		u.Disabled = *req.Disabled
	}
	if req.Unlock {
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
	}
	return u.Validate()
}

// CreateUser validates and stores a new user with the password; the tills must exist.
func CreateUser(r *http.Request, store kvitt.Store, u *kvitt.User, password string) (*kvitt.User, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if err := kvitt.CheckPasswordRule(password); err != nil {
		return nil, err
	}
	u.PasswordHash = kvitt.HashPassword(password)
	err := store.Update(r.Context(), func(tx kvitt.Tx) error {
		if err := checkTills(tx, u.Tills); err != nil {
			return err
		}
		if _, err := tx.GetUserByUsername(u.Username); err == nil {
			return kvitt.FieldError("username", "%q is taken", u.Username)
		}
		return tx.CreateUser(u)
	})
	return u, err
}

func checkTills(tx kvitt.Tx, tills []string) error {
	for i, id := range tills {
		if _, err := tx.GetTill(id); err != nil {
			return kvitt.FieldError("tills["+itoa(i)+"]", "no till %q", id)
		}
	}
	return nil
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	var us []*kvitt.User
	if err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { us, err = tx.ListUsers(); return err }); err != nil {
		return err
	}
	out := []userJSON{}
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// handleUpdateUser is PATCH /v1/users/{id}: name, role, tills, disabled, a
// new password, unlock. A new password, a new role or disabling signs the
// user out everywhere.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r.Context())
	if err := require(p, kvitt.ScopeAdmin); err != nil {
		return err
	}
	var req userRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Username != nil {
		return kvitt.FieldError("username", "cannot be changed; make a new user")
	}
	if req.Password != nil {
		if err := kvitt.CheckPasswordRule(*req.Password); err != nil {
			return err
		}
	}
	var hash string
	if req.Password != nil {
		hash = kvitt.HashPassword(*req.Password)
	}
	var out *kvitt.User
	err := s.Store.Update(r.Context(), func(tx kvitt.Tx) error {
		u, err := tx.GetUser(r.PathValue("id"))
		if err != nil {
			return err
		}
		before := *u
		if err := applyUserRequest(u, &req); err != nil {
			return err
		}
		if err := checkTills(tx, u.Tills); err != nil {
			return err
		}
		if u.ID == p.UserID && (u.Disabled || u.Role != kvitt.RoleAdmin) {
			return kvitt.FieldError("role", "you cannot take away your own admin role or disable yourself")
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		if err := tx.UpdateUser(u); err != nil {
			return err
		}
		out = u
		// Role and tills are read again on every request; a new password
		// or a disabled user ends the sessions.
		if hash != "" || (u.Disabled && !before.Disabled) {
			return tx.DeleteUserSessions(u.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(out))
	return nil
}
