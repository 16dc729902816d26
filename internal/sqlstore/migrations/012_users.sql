-- Staff users who sign in to the screens, and their sessions (user.go).
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL,
	tills         TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	failed_logins BIGINT NOT NULL,
	locked_until  BIGINT NOT NULL,
	disabled      BIGINT NOT NULL,
	created       BIGINT NOT NULL,
	version       BIGINT NOT NULL
);
CREATE TABLE sessions (
	id      TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users(id),
	csrf    TEXT NOT NULL,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
