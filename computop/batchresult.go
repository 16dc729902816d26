package computop

import (
	"fmt"

	"github.com/kvitt-hub/kvitt"
)

// Keys of Refund.Provider that a batch result writes.
const (
	KeyBatchStatus = "batch_status" // OK or FAILED, from the response file
	KeyBatchCode   = "batch_code"   // the record's A4 code (versions 1.x and 2.x)
	KeyBatchFile   = "batch_file"   // the response file and line the result came from
)

// RefundUpdate maps a response file's record to what it says about the
// credit it carried, read from Code where the version has one (seed 003:
// Code, not the description, decides), else from Status (versions 1.0 and
// 2.0 return no Code):
//
//   - Status OK with Code 00000000 (or no Code): the credit was carried
//     out, the refund succeeded;
//   - Status FAILED: the Paygate refused the credit, nothing was paid back;
//   - a record that contradicts itself (OK with an error or pending code,
//     FAILED with 00000000) decides nothing: the refund is unknown, for a
//     person to check in Computop Analytics. Neither guess is safe.
func (r *BatchRecord) RefundUpdate() kvitt.RefundUpdate {
	u := kvitt.RefundUpdate{Provider: map[string]string{KeyBatchStatus: r.Status}}
	if r.Code != "" {
		u.Provider[KeyBatchCode] = r.Code
	}
	class := ClassOK
	if r.Code != "" {
		class = CodeClass(r.Code)
	}
	switch {
	case r.Status == StatusOK && class == ClassOK:
		u.State = kvitt.RefundSucceeded
	case r.Status == StatusFailed && r.Code == "":
		u.State, u.ErrorCode = kvitt.RefundFailed, StatusFailed
		u.Message = "Computop's batch refused the credit (the response file gives no code). Nothing was paid back."
	case r.Status == StatusFailed && (class == ClassError || class == ClassFatal):
		u.State, u.ErrorCode = kvitt.RefundFailed, r.Code
		u.Message = fmt.Sprintf("Computop's batch refused the credit (%s). Nothing was paid back.", r.Code)
	default:
		u.State, u.ErrorCode = kvitt.RefundUnknown, r.Code
		u.Message = fmt.Sprintf("Computop's batch response says %s with code %s, which contradict each other: "+
			"check the credit in Computop Analytics, then resolve the refund.", r.Status, r.Code)
	}
	return u
}
