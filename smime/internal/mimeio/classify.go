package mimeio

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
	if len(p) == 0 {
		return 0, nil
	}
	for _, b := range p {
		if c.cr {
			c.cr = false
			if b != '\n' {
				c.bareCR = true
			}
		}
		switch {
		case b == '\r':
			c.cr = true
			c.lineLen = 0
		case b == '\n':
			if c.size == 0 || c.lastByte != '\r' {
				c.bareLF = true
			}
			c.lineLen = 0
		default:
			if b == 0 {
				c.hasNUL = true
			} else if b >= 0x80 {
				c.has8Bit = true
			}
			c.lineLen++
			if c.lineLen > c.maxLine {
				c.maxLine = c.lineLen
			}
		}
		c.lastByte = b
		c.size++
	}
	return len(p), nil
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
