package sqlstore

import (
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// JobStats reads the job queue for /metrics in one pass over the jobs
// table. The table holds open work and dead jobs only (a finished job is
// deleted), so its size follows what is in flight, not the ledger; the due
// condition is ClaimJobs's (dead = 0 AND run_at <= now AND lease_until <
// now), the one the jobs_due index (dead, run_at) serves.
func (t *tx) JobStats(now time.Time) ([]kvitt.JobStats, error) {
	rows, err := t.query(`SELECT kind,
			SUM(CASE WHEN dead = 0 THEN 1 ELSE 0 END),
			SUM(CASE WHEN dead = 0 AND run_at <= $1 AND lease_until < $1 THEN 1 ELSE 0 END),
			MIN(CASE WHEN dead = 0 AND run_at <= $1 AND lease_until < $1 THEN run_at END),
			SUM(CASE WHEN dead = 0 THEN 0 ELSE 1 END)
		FROM jobs GROUP BY kind`, micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []kvitt.JobStats
	for rows.Next() {
		var s kvitt.JobStats
		var queued, due, dead int64
		var oldest sql.NullInt64
		if err := rows.Scan(&s.Kind, &queued, &due, &oldest, &dead); err != nil {
			return nil, err
		}
		s.Queued, s.Due, s.Dead = int(queued), int(due), int(dead)
		if oldest.Valid {
			s.OldestDue = fromMicros(oldest.Int64)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Sorted here: PostgreSQL's collation may order kinds otherwise than bytes.
	slices.SortFunc(out, func(a, b kvitt.JobStats) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}
