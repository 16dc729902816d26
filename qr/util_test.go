package qr

import "fmt"

var fmtSscanf = fmt.Sscanf
