package mimeio

import (
	"strings"
	"testing"
)

func TestClassifier(t *testing.T) {
	type want struct {
		eightBit, nul, bareCR, bareLF, endsNL, sevenBit bool
		maxLine                                         int
	}
	tests := []struct {
		in string
		want
	}{
		{"", want{sevenBit: true}},
		{"hello", want{maxLine: 5, sevenBit: true}},
		{"hello\r\nworld!\r\n", want{maxLine: 6, endsNL: true, sevenBit: true}},
		{"hi\nthere", want{bareLF: true, maxLine: 5}},
		{"\nx", want{bareLF: true, maxLine: 1}},
		{"a\rb", want{bareCR: true, maxLine: 1}},
		{"ab\r", want{bareCR: true, maxLine: 2, endsNL: true}},
		{"\r\r\n", want{bareCR: true, endsNL: true}},
		{"caf\xc3\xa9\r\n", want{eightBit: true, maxLine: 5, endsNL: true}},
		{"a\x00b", want{nul: true, maxLine: 3}},
		{strings.Repeat("x", 998) + "\r\n", want{maxLine: 998, endsNL: true, sevenBit: true}},
		{strings.Repeat("x", 999) + "\r\nshort", want{maxLine: 999}},
		{"ab\r\n" + strings.Repeat("y", 10) + "\n", want{bareLF: true, maxLine: 10, endsNL: true}},
		{"abc\rdefg\n", want{bareCR: true, bareLF: true, maxLine: 4, endsNL: true}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, len(tt.in) + 1} {
			var c Classifier
			for i := 0; i < len(tt.in); i += chunk {
				p := []byte(tt.in[i:min(i+chunk, len(tt.in))])
				if n, err := c.Write(p); n != len(p) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			got := want{
				eightBit: c.Has8Bit(), nul: c.HasNUL(), bareCR: c.HasBareCR(), bareLF: c.HasBareLF(),
				endsNL: c.EndsWithNewline(), sevenBit: c.Is7Bit(), maxLine: c.MaxLineLen(),
			}
			if got != tt.want {
				t.Errorf("classify(%.40q) chunk %d = %+v, want %+v", tt.in, chunk, got, tt.want)
			}
			if c.Size() != int64(len(tt.in)) {
				t.Errorf("Size = %d, want %d", c.Size(), len(tt.in))
			}
		}
	}
}
