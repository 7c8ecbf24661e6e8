package ldapserver

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
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
	benchLookupsFilter(b, url, base, n, func(mail string) string { return "(mail=" + mail + ")" })
}

// benchLookupsFilter runs parallel anonymous searches for
// user%06d@example.org with the filters filt makes, each finding one
// entry.
func benchLookupsFilter(b *testing.B, url, base string, n int, filt func(mail string) string) {
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
				filt(mail), benchAttrs, nil))
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
	benchServerRequests(b, func(mail string) *ber.Packet { return eqFilter("mail", mail) })
}

// dirmngrFilter is how GnuPG's dirmngr looks a pattern up.
func dirmngrFilter(pattern string) string {
	p := ldap.EscapeFilter(pattern)
	return "(|(sn=*" + p + "*)(|(cn=*" + p + "*)(mail=*" + p + "*)))"
}

// BenchmarkSearchSubstring is BenchmarkServerSearch with the substring
// filter GnuPG's dirmngr sends for an address.
func BenchmarkSearchSubstring(b *testing.B) {
	benchServerRequests(b, func(mail string) *ber.Packet {
		p, err := ldap.CompileFilter(dirmngrFilter(mail))
		if err != nil {
			b.Fatal(err)
		}
		return p
	})
}

// benchServerRequests answers anonymous searches with the filters filt
// makes for random addresses among 100,000 entries, on the server side.
func benchServerRequests(b *testing.B, filt func(mail string) *ber.Packet) {
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
		p := searchPacket(int64(i+1), 2, filt(fmt.Sprintf("user%06d@example.org", (i*7919)%n)))
		attrs := p.Children[1].Children[7]
		for _, a := range benchAttrs {
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

// BenchmarkSetEntries builds the snapshot of 100,000 entries; heap-MB is
// the live heap the directory holds afterwards, grams-MB the part of it
// that is the substring index.
func BenchmarkSetEntries(b *testing.B) {
	const n = 100_000
	entries := benchEntries(b, n)
	s, err := New(Config{BaseDN: testBase})
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	b.ReportAllocs()
	for b.Loop() {
		s.SetEntries(entries)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(before))/(1<<20), "heap-MB")
	b.ReportMetric(float64(s.snap.Load().grams.bytes())/(1<<20), "grams-MB")
	runtime.KeepAlive(s)
	runtime.KeepAlive(entries)
}
