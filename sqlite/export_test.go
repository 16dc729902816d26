package sqlite_test

import "time"

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }
