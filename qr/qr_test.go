package qr

import (
	"bytes"
	"image"
	"image/draw"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gqr "github.com/makiuchi-d/gozxing/qrcode"
)

func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// gozxing's finder-pattern detector misreads some clean version-4
		// symbols at some sizes; the pure-barcode reader still checks every
		// module and the Reed-Solomon code.
		res, err = gqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		t.Fatalf("decode %v: %v", img.Bounds(), err)
	}
	return res.GetText()
}

func TestPNGRoundTrip(t *testing.T) {
	for _, text := range []string{
		"D" + "c28a4061470f4af48973bd2a4642b4fa",
		"C1234679304;12,50;Kvitto 42;0",
		"swish://paymentrequest?token=abc&callbackurl=https%3A%2F%2Fexample.com",
	} {
		b, err := PNG(text, 0)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if got := img.Bounds().Dx(); got != DefaultSize {
			t.Errorf("width %d, want %d", got, DefaultSize)
		}
		if got := decode(t, img); got != text {
			t.Errorf("decoded %q, want %q", got, text)
		}
	}
}

// TestSVGRoundTrip rasterises the SVG's path (only axis-aligned unit-height
// rectangles) and decodes it, so a wrong module position fails.
func TestSVGRoundTrip(t *testing.T) {
	text := "D8d8a9e1bb1a146aa90b6c3fe7e6e9d2b"
	b, err := SVG(text, 320)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `width="320"`) || !strings.Contains(s, `shape-rendering="crispEdges"`) {
		t.Fatalf("unexpected SVG header: %.200s", s)
	}
	var n int
	if _, err := fmtSscanf(s[strings.Index(s, "viewBox"):], `viewBox="0 0 %d`, &n); err != nil {
		t.Fatal(err)
	}
	const scale = 8
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := s[strings.Index(s, ` d="`)+4:]
	d = d[:strings.Index(d, `"`)]
	for _, cmd := range strings.Split(d, "z") {
		if cmd == "" {
			continue
		}
		var x, y, w, w2 int
		if _, err := fmtSscanf(cmd, "M%d %dh%dv1h-%d", &x, &y, &w, &w2); err != nil {
			t.Fatalf("path %q: %v", cmd, err)
		}
		draw.Draw(img, image.Rect(x*scale, y*scale, (x+w)*scale, (y+1)*scale), image.Black, image.Point{}, draw.Src)
	}
	// The quiet zone: the first four rows and columns are empty.
	for i := 0; i < 4*scale; i++ {
		if img.GrayAt(i, i).Y != 255 {
			t.Fatalf("quiet zone is not white at %d", i)
		}
	}
	if got := decode(t, img); got != text {
		t.Errorf("decoded %q, want %q", got, text)
	}
}

func TestEmpty(t *testing.T) {
	if _, err := SVG("", 100); err == nil {
		t.Error("SVG of empty text: no error")
	}
	if _, err := PNG("", 100); err == nil {
		t.Error("PNG of empty text: no error")
	}
}
