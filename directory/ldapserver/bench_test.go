package ldapserver

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// benchEntries makes n people, each with a certificate.
func benchEntries(tb testing.TB, n int) []Entry {
	f := getFixtures(tb)
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{
			Mail:        fmt.Sprintf("user%06d@example.org", i),
			DisplayName: fmt.Sprintf("User %d", i),
			Certs:       [][]byte{f.alice.Cert.Raw},
		}
	}
	return entries
}

// BenchmarkSearchByMail looks up random addresses among 100,000 entries
// over parallel go-ldap connections (anonymous, as mail clients do),
// asking for the attributes a mail client wants.
func BenchmarkSearchByMail(b *testing.B) {
	const n = 100_000
	_, addr := startServer(b, Config{}, benchEntries(b, n))
	benchLookups(b, "ldap://"+addr, testBase, n)
}

var benchAttrs = []string{"mail", "cn", "userCertificate;binary", "userSMIMECertificate"}

// benchLookups runs parallel anonymous lookups of user%06d@example.org.
func benchLookups(b *testing.B, url, base string, n int) {
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := ldap.DialURL(url)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		rng := rand.New(rand.NewPCG(seed.Add(1), 7))
		for pb.Next() {
			mail := fmt.Sprintf("user%06d@example.org", rng.IntN(n))
			res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				"(mail="+mail+")", benchAttrs, nil))
			if err != nil || len(res.Entries) != 1 {
				b.Errorf("%s: %v", mail, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "searches/s")
}

// BenchmarkServerSearch measures the server side alone: one search request
// decoded, looked up and answered, without a client or the network.
func BenchmarkServerSearch(b *testing.B) {
	const n = 100_000
	s, err := New(Config{BaseDN: testBase})
	if err != nil {
		b.Fatal(err)
	}
	s.SetEntries(benchEntries(b, n))
	c := &conn{s: s}
	c.setConn(discardConn{})
	reqs := make([][]byte, 1024)
	for i := range reqs {
		p := searchPacket(int64(i+1), 2, eqFilter("mail", fmt.Sprintf("user%06d@example.org", (i*7919)%n)))
		attrs := p.Children[1].Children[7]
		for _, a := range []string{"mail", "cn", "userCertificate;binary", "userSMIMECertificate"} {
			attrs.AppendChild(ldapString(a))
		}
		raw := p.Bytes()
		reqs[i] = raw[2:] // the PDU body: skip the outer header (short form for these sizes)
		if raw[1]&0x80 != 0 {
			reqs[i] = raw[2+int(raw[1]&0x7f):]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := c.handle(reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}
