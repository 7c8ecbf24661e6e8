package ldapserver

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// searchPacket builds a SearchRequest message around filter.
func searchPacket(id int64, scope int64, filter *ber.Packet) *ber.Packet {
	msg := ber.NewSequence("LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "search")
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, testBase, "base"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, scope, "scope"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "deref"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "size"))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "time"))
	req.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "typesOnly"))
	req.AppendChild(filter)
	req.AppendChild(ber.NewSequence("attrs"))
	msg.AppendChild(req)
	return msg
}

func eqFilter(attr, val string) *ber.Packet {
	p := ber.Encode(ber.ClassContext, ber.TypeConstructed, fEquality, nil, "eq")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, attr, ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, val, ""))
	return p
}

func nested(depth int) *ber.Packet {
	f := eqFilter("mail", "alice@example.org")
	for range depth {
		n := ber.Encode(ber.ClassContext, ber.TypeConstructed, fNot, nil, "not")
		n.AppendChild(f)
		f = n
	}
	return f
}

func wide(n int) *ber.Packet {
	and := ber.Encode(ber.ClassContext, ber.TypeConstructed, fAnd, nil, "and")
	for range n {
		and.AppendChild(eqFilter("cn", "x"))
	}
	return and
}

// expectNotice reads the server's answer to raw bytes and checks it is a
// Notice of Disconnection followed by the end of the connection.
func expectNotice(t *testing.T, addr string, raw []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(raw); err != nil {
		t.Fatal(err)
	}
	p, err := ber.ReadPacket(nc)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if len(p.Children) != 2 || p.Children[0].Value != int64(0) {
		t.Fatalf("not an unsolicited notification: %s", dump(p))
	}
	op := p.Children[1]
	if op.ClassType != ber.ClassApplication || op.Tag != 24 || len(op.Children) != 4 {
		t.Fatalf("not an extended response: %s", dump(p))
	}
	if op.Children[0].Value != int64(ldap.LDAPResultProtocolError) || op.Children[3].Data.String() != oidNotice {
		t.Fatalf("notice: %s", dump(p))
	}
	t.Logf("notice: %s", op.Children[2].Value)
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection not closed: %d %v", n, err)
	}
}

func dump(p *ber.Packet) string {
	var b bytes.Buffer
	ber.WritePacket(&b, p)
	return b.String()
}

func TestMalformedRequests(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{MaxPDU: 16 << 10}, testEntries(f))
	// A client connected throughout keeps being served.
	other := dial(t, addr)

	good := searchPacket(1, 2, eqFilter("mail", "alice@example.org")).Bytes()
	msgIDString := func() []byte {
		msg := ber.NewSequence("LDAPMessage")
		msg.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "1", ""))
		msg.AppendChild(ber.Encode(ber.ClassApplication, ber.TypePrimitive, 2, nil, "unbind"))
		return msg.Bytes()
	}()
	unknownOp := func() []byte {
		msg := ber.NewSequence("LDAPMessage")
		msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 1, ""))
		msg.AppendChild(ber.Encode(ber.ClassApplication, ber.TypeConstructed, 30, nil, "?"))
		return msg.Bytes()
	}()
	truncatedInner := bytes.Clone(good)
	truncatedInner[len(truncatedInner)-1-2-len("alice@example.org")] = 0x7f // value claims 127 bytes
	zeroID := searchPacket(0, 2, eqFilter("mail", "alice@example.org")).Bytes()
	bigValue := searchPacket(1, 2, eqFilter("mail", strings.Repeat("a", 20<<10))).Bytes()
	badSubstr := func() []byte {
		p := ber.Encode(ber.ClassContext, ber.TypeConstructed, fSubstrings, nil, "subs")
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "mail", ""))
		seq := ber.NewSequence("")
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, "final", ""))
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "initial", ""))
		p.AppendChild(seq)
		return searchPacket(1, 2, p).Bytes()
	}()

	tests := []struct {
		name string
		raw  []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"2 GB claimed", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}},
		{"8-octet length", []byte{0x30, 0x88, 0, 0, 0, 1, 0, 0, 0, 0}},
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00}},
		{"over MaxPDU", bigValue},
		{"deep filter", searchPacket(1, 2, nested(40)).Bytes()},
		{"wide filter", searchPacket(1, 2, wide(600)).Bytes()},
		{"messageID not an INTEGER", msgIDString},
		{"unknown operation", unknownOp},
		{"inner length beyond the PDU", truncatedInner},
		{"messageID 0", zeroID},
		{"final before initial", badSubstr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectNotice(t, addr, tt.raw)
			res, err := search(other, testBase, ldap.ScopeWholeSubtree, "(mail=alice@example.org)")
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("server stopped serving: %v", err)
			}
		})
	}

	// Within the limits the same shapes are served.
	for name, p := range map[string]*ber.Packet{"depth 30": nested(30), "500 elements": wide(500)} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(searchPacket(7, 2, p).Bytes())
		resp, err := ber.ReadPacket(nc)
		nc.Close()
		if err != nil || len(resp.Children) < 2 || resp.Children[0].Value != int64(7) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A well-formed search with an invalid scope gets a protocolError
	// result and the connection stays open.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write(searchPacket(3, 7, eqFilter("mail", "alice@example.org")).Bytes())
	resp, err := ber.ReadPacket(nc)
	if err != nil || resp.Children[1].Tag != 5 || resp.Children[1].Children[0].Value != int64(ldap.LDAPResultProtocolError) {
		t.Fatalf("bad scope: %v", err)
	}
	nc.Write(good)
	if resp, err = ber.ReadPacket(nc); err != nil || resp.Children[1].Tag != 4 {
		t.Fatalf("after bad scope: %v", err)
	}
}

func TestIdleTimeoutAndMaxConns(t *testing.T) {
	f := getFixtures(t)
	s, addr := startServer(t, Config{MaxConns: 2, IdleTimeout: 200 * time.Millisecond}, testEntries(f))
	// An idle connection is closed by the server.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v", err)
	}
	// The server counts the connection out just after closing it.
	for deadline := time.Now().Add(5 * time.Second); s.connCount.Load() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// Beyond MaxConns: a notice (unavailable) and close.
	a, b := dial(t, addr), dial(t, addr)
	_ = a
	_ = b
	// make sure both are registered
	for _, c := range []*ldap.Conn{a, b} {
		if _, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)"); err != nil {
			t.Fatal(err)
		}
	}
	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	nc2.SetDeadline(time.Now().Add(10 * time.Second))
	p, err := ber.ReadPacket(nc2)
	if err != nil || len(p.Children) != 2 || p.Children[1].Children[0].Value != int64(ldap.LDAPResultUnavailable) {
		t.Fatalf("over MaxConns: %v", err)
	}
}

func ldapString(s string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, "")
}
