package kvitt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// JournalHash is the hash of an entry, chained to the previous one:
// hex SHA-256 over the previous hash, the sequence number, the time in
// microseconds, kind, ref and data, each length-prefixed so no two different
// entries hash the same input.
func JournalHash(e *JournalEntry) string {
	h := sha256.New()
	for _, f := range []string{e.PrevHash, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.UnixMicro(), 10), e.Kind, e.Ref, e.Data} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// JournalGenesis is the PrevHash of the first entry.
const JournalGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// JournalVerifier checks a journal read in order, entry by entry, so a
// journal of any length is verified in constant memory.
type JournalVerifier struct {
	prev    string
	nextSeq int64
	Count   int64
}

// Check verifies the next entry: its sequence number follows the previous
// one's (no entry removed or reordered), it links to the previous hash, and
// its own hash matches its content (not edited).
func (v *JournalVerifier) Check(e *JournalEntry) error {
	if v.nextSeq == 0 {
		v.nextSeq, v.prev = 1, JournalGenesis
	}
	if e.Seq != v.nextSeq {
		return fmt.Errorf("journal entry %d: expected sequence number %d: an entry is missing or out of order", e.Seq, v.nextSeq)
	}
	if e.PrevHash != v.prev {
		return fmt.Errorf("journal entry %d: does not link to entry %d: the chain was altered", e.Seq, e.Seq-1)
	}
	if got := JournalHash(e); got != e.Hash {
		return fmt.Errorf("journal entry %d: content does not match its hash: the entry was edited", e.Seq)
	}
	v.prev, v.nextSeq = e.Hash, e.Seq+1
	v.Count++
	return nil
}
