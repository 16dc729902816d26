-- Values every node must share, made once by whichever node needs them
-- first (the key of the callback URLs' tokens).
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
