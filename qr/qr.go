// Package qr renders QR codes for the customer display: the Swish
// payment-request QR ("D" + token) and any other text, as SVG or PNG.
package qr

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/skip2/go-qrcode"
)

// DefaultSize is the side in pixels for a customer display; Swish's own
// generator asks for at least 300.
const DefaultSize = 300

// level is medium error correction (15 %): robust on a screen, still small.
const level = qrcode.Medium

func encode(text string) (*qrcode.QRCode, error) {
	if text == "" {
		return nil, errors.New("qr: empty text")
	}
	q, err := qrcode.New(text, level)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return q, nil
}

// PNG renders text as a size×size PNG with a quiet zone (size ≤ 0 means DefaultSize).
func PNG(text string, size int) ([]byte, error) {
	q, err := encode(text)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		size = DefaultSize
	}
	return q.PNG(size)
}

// SVG renders text as a square SVG of size pixels (size ≤ 0 means
// DefaultSize), one module per unit of the viewBox and the 4-module quiet
// zone included, with crisp edges so it stays sharp at any scale.
func SVG(text string, size int) ([]byte, error) {
	q, err := encode(text)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		size = DefaultSize
	}
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes(), nil
}
