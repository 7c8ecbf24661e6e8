package ldapserver

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// FuzzHandle feeds arbitrary LDAPMessage bodies to a connection: whatever
// comes in, the handler answers or reports a protocol violation, and never
// panics.
func FuzzHandle(f *testing.F) {
	fx := getFixtures(f)
	s, err := New(Config{BaseDN: testBase, AllowAnonymousList: true})
	if err != nil {
		f.Fatal(err)
	}
	s.SetEntries(testEntries(fx))
	body := func(p *ber.Packet) []byte {
		raw := p.Bytes()
		if raw[1]&0x80 != 0 {
			return raw[2+int(raw[1]&0x7f):]
		}
		return raw[2:]
	}
	subs := ber.Encode(ber.ClassContext, ber.TypeConstructed, fSubstrings, nil, "")
	subs.AppendChild(ldapString("mail"))
	seq := ber.NewSequence("")
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "al", ""))
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, "@", ""))
	seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, "org", ""))
	subs.AppendChild(seq)
	for _, p := range []*ber.Packet{
		searchPacket(1, 2, eqFilter("mail", "alice@example.org")),
		searchPacket(2, 1, nested(3)),
		searchPacket(3, 2, wide(5)),
		searchPacket(4, 2, subs),
	} {
		f.Add(body(p))
	}
	f.Add([]byte{0x02, 0x01, 0x01, 0x77, 0x05, 0x80, 0x03, '1', '.', '2'})
	f.Add([]byte{0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, pdu []byte) {
		c := &conn{s: s}
		c.setConn(discardConn{})
		c.handle(pdu)
	})
}
