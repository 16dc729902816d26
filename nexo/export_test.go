package nexo

import "sort"

// Outcome exposes the failure mapping to the tests.
func Outcome(r Response) outcome { o, _ := failure(r); return o }

// RefusalReasons lists the refined refusal reasons.
func RefusalReasons() []string {
	var s []string
	for k := range refusalReasons {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
