package ldapserver

import (
	"fmt"
	"testing"

	"github.com/signet-smime/signet/internal/slapdtest"
)

// BenchmarkVsSlapd compares lookups by mail on 100,000 entries without
// certificates (slapdtest's generated entries, indexed on mail) between
// this server and OpenLDAP slapd, with the same client and requests.
func BenchmarkVsSlapd(b *testing.B) {
	const n = 100_000
	b.Run("signet", func(b *testing.B) {
		entries := make([]Entry, n)
		for i := range entries {
			entries[i] = Entry{Mail: fmt.Sprintf("user%06d@example.org", i), CN: fmt.Sprintf("User %06d", i)}
		}
		_, addr := startServer(b, Config{}, entries)
		benchLookups(b, "ldap://"+addr, testBase, n)
	})
	b.Run("slapd", func(b *testing.B) {
		s := slapdtest.Start(b, slapdtest.Options{Entries: n})
		benchLookups(b, s.URL, s.Suffix, n)
	})
}
