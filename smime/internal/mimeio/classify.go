package mimeio

import (
	"bytes"
	"encoding/binary"
)

// MaxLine7Bit is the longest line, excluding CRLF, allowed in 7bit and 8bit
// content (RFC 5322 §2.1.1, RFC 2045 §2.7).
const MaxLine7Bit = 998

// Classifier inspects a body as it is written to it, in constant memory, to
// decide how it must be transfer-encoded. Write never fails. The results
// describe everything written so far; a CR at the very end counts as bare.
//
// Lines are separated by CRLF, bare LF or bare CR (that is, by the line
// breaks NewCanonicalWriter would produce), and MaxLineLen does not count
// the line break itself.
type Classifier struct {
	size     int64
	has8Bit  bool
	hasNUL   bool
	bareCR   bool
	bareLF   bool
	cr       bool // last byte was CR (not yet known to be bare)
	lineLen  int
	maxLine  int
	lastByte byte
}

// Write records p. It always returns len(p), nil.
func (c *Classifier) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if !c.hasNUL && bytes.IndexByte(p, 0) >= 0 {
		c.hasNUL = true
	}
	if !c.has8Bit && has8Bit(p) {
		c.has8Bit = true
	}
	p = c.fastLines(p)
	for len(p) > 0 {
		if c.cr {
			c.cr = false
			if p[0] != '\n' {
				c.bareCR = true
			}
		}
		// The next line break: LF, or a CR before it.
		j := bytes.IndexByte(p, '\n')
		line := p
		if j >= 0 {
			line = p[:j]
		}
		if k := bytes.IndexByte(line, '\r'); k >= 0 {
			// A CR ends the line here; what follows decides if it is bare.
			c.addLine(k)
			c.cr = true
			c.lastByte = '\r'
			c.size += int64(k + 1)
			p = p[k+1:]
			continue
		}
		if j < 0 {
			c.lineLen += len(p)
			c.maxLine = max(c.maxLine, c.lineLen)
			c.lastByte = p[len(p)-1]
			c.size += int64(len(p))
			break
		}
		// A LF; bare unless the byte before it (here or in the last Write) is CR.
		prev := c.lastByte
		if j > 0 {
			prev = p[j-1]
		}
		if (j == 0 && c.size == 0) || prev != '\r' {
			c.bareLF = true
		}
		c.addLine(j)
		c.lineLen = 0
		c.lastByte = '\n'
		c.size += int64(j + 1)
		p = p[j+1:]
	}
	return n, nil
}

// fastLines consumes the leading run of whole CRLF lines of p when they
// hold no bare CR or LF (the common case of canonical text), with one
// vectorised count and one scan per line, and returns the rest of p.
func (c *Classifier) fastLines(p []byte) []byte {
	if c.cr {
		return p
	}
	last := bytes.LastIndexByte(p, '\n')
	if last < 1 {
		return p
	}
	q := p[:last+1]
	crs := bytes.Count(q, []byte{'\r'})
	lfs, longest, carry := 0, 0, c.lineLen // carry: the line begun in an earlier Write
	for i := 0; i < len(q); {
		j := bytes.IndexByte(q[i:], '\n')
		if j == 0 || q[i+j-1] != '\r' {
			return p // a bare LF: leave it to the exact path
		}
		longest = max(longest, carry+j-1)
		carry = 0
		lfs++
		i += j + 1
	}
	if crs != lfs {
		return p // a bare CR somewhere
	}
	c.maxLine = max(c.maxLine, longest)
	c.lineLen = 0
	c.lastByte = '\n'
	c.size += int64(len(q))
	return p[len(q):]
}

// addLine adds k bytes to the current line and ends it.
func (c *Classifier) addLine(k int) {
	c.lineLen += k
	c.maxLine = max(c.maxLine, c.lineLen)
	c.lineLen = 0
}

// has8Bit reports whether any byte of p has its high bit set, a word at a time.
func has8Bit(p []byte) bool {
	var acc uint64
	for len(p) >= 8 {
		acc |= binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	for _, b := range p {
		acc |= uint64(b)
	}
	return acc&0x8080808080808080 != 0
}

// Size returns the number of bytes written.
func (c *Classifier) Size() int64 { return c.size }

// Has8Bit reports whether any byte has the high bit set.
func (c *Classifier) Has8Bit() bool { return c.has8Bit }

// HasNUL reports whether any byte is zero.
func (c *Classifier) HasNUL() bool { return c.hasNUL }

// MaxLineLen returns the length of the longest line, excluding its line
// break.
func (c *Classifier) MaxLineLen() int { return c.maxLine }

// HasBareCR reports whether a CR occurs that is not followed by LF.
func (c *Classifier) HasBareCR() bool { return c.bareCR || c.cr }

// HasBareLF reports whether an LF occurs that is not preceded by CR.
func (c *Classifier) HasBareLF() bool { return c.bareLF }

// EndsWithNewline reports whether the content ends with a line break
// (CRLF, LF or a bare CR). Empty content does not.
func (c *Classifier) EndsWithNewline() bool {
	return c.size > 0 && (c.lastByte == '\n' || c.lastByte == '\r')
}

// Is7Bit reports whether the content can be sent as 7bit without encoding
// (RFC 2045 §2.7): no NUL, no 8-bit bytes, CR and LF only as CRLF, and no
// line longer than 998 bytes.
func (c *Classifier) Is7Bit() bool {
	return !c.has8Bit && !c.hasNUL && !c.HasBareCR() && !c.bareLF && c.maxLine <= MaxLine7Bit
}
