package receipt

import (
	"bytes"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// ESC/POS commands (Epson TM series and compatibles).
var (
	escInit       = []byte{0x1b, '@'}        // ESC @: initialise
	escCodePage   = []byte{0x1b, 't', 0}     // ESC t 0: code page PC437 (has å ä ö Å Ä Ö é)
	escBoldOn     = []byte{0x1b, 'E', 1}     // ESC E 1
	escBoldOff    = []byte{0x1b, 'E', 0}     // ESC E 0
	escCentre     = []byte{0x1b, 'a', 1}     // ESC a 1
	escLeft       = []byte{0x1b, 'a', 0}     // ESC a 0
	escDoubleSize = []byte{0x1d, '!', 0x11}  // GS ! 0x11: double width and height
	escNormalSize = []byte{0x1d, '!', 0x00}  // GS ! 0
	escFeedCut    = []byte{0x1d, 'V', 66, 3} // GS V 66 3: feed 3 lines, partial cut
)

// ESCPOS renders r as ESC/POS bytes for a printer width characters wide.
// Marks are printed at double width and height (GS ! 0x11), twice the
// amount text, centred and bold; text is encoded in code page PC437.
func ESCPOS(r *kvitt.Receipt, width int) []byte {
	var buf bytes.Buffer
	buf.Write(escInit)
	buf.Write(escCodePage)
	for _, l := range layout(r, width) {
		switch l.style {
		case mark:
			buf.Write(escCentre)
			buf.Write(escBoldOn)
			buf.Write(escDoubleSize)
			buf.Write(pc437(l.text))
			buf.WriteByte('\n')
			buf.Write(escNormalSize)
			buf.Write(escBoldOff)
			buf.Write(escLeft)
		case heading, big:
			buf.Write(escBoldOn)
			buf.Write(pc437(strings.TrimRight(l.text, " ")))
			buf.WriteByte('\n')
			buf.Write(escBoldOff)
		default:
			buf.Write(pc437(strings.TrimRight(l.text, " ")))
			buf.WriteByte('\n')
		}
	}
	buf.Write(escFeedCut)
	return buf.Bytes()
}

var pc437Map = map[rune]byte{
	'å': 0x86, 'ä': 0x84, 'ö': 0x94, 'Å': 0x8f, 'Ä': 0x8e, 'Ö': 0x99,
	'é': 0x82, 'É': 0x90, 'ü': 0x81, 'Ü': 0x9a, 'æ': 0x91, 'Æ': 0x92,
	'ø': 'o', 'Ø': 'O', '×': 'x', '–': '-', '—': '-', '…': '.',
}

// pc437 encodes s in code page 437; characters it lacks become '?'. So do
// control characters (below 0x20, and DEL): s is text, and only ESCPOS
// itself writes commands and line feeds to the printer.
func pc437(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			out = append(out, '?')
		case r < 0x80:
			out = append(out, byte(r))
		case pc437Map[r] != 0:
			out = append(out, pc437Map[r])
		default:
			out = append(out, '?')
		}
	}
	return out
}
