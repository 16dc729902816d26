package http

import "time"

// SetIdempotencyWait sets how long a request waits for the same request
// under its Idempotency-Key, for a test; it returns the restore function.
func SetIdempotencyWait(d time.Duration) func() {
	old := idempotencyWait
	idempotencyWait = d
	return func() { idempotencyWait = old }
}
