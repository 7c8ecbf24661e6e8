package ber

import (
	"bytes"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

// FuzzNormalize checks that Normalize never panics and that its output is a
// fixed point: the output has definite, minimal lengths and flattened
// universal strings, so normalising it again must change nothing. The
// OpenSSL CMS fuzz corpus is the seed (in plain `go test` each seed runs
// once as a regression input).
func FuzzNormalize(f *testing.F) {
	if n := shareddata.AddSeeds(f, "fuzz-cms/cms"); n < 1000 {
		f.Fatalf("only %d seeds in shared test data fuzz-cms/cms", n)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Normalize(data)
		if err != nil {
			if out != nil {
				t.Fatalf("Normalize returned output %x with error %v", out, err)
			}
			return
		}
		if len(out) == 0 {
			t.Fatal("Normalize succeeded with empty output")
		}
		again, err := Normalize(out)
		if err != nil {
			t.Fatalf("Normalize(Normalize(x)) failed: %v\nx   = %x\nout = %x", err, data, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("Normalize is not idempotent\nx     = %x\nout   = %x\nagain = %x", data, out, again)
		}
		// The streaming path gives the same bytes.
		d := NewDecoder(bytes.NewReader(data))
		h, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		el, err := d.ReadElement(h, int64(len(data))*2+64)
		if err != nil || !bytes.Equal(el, out) {
			t.Fatalf("ReadElement disagrees with Normalize: %x, %v", el, err)
		}
	})
}
