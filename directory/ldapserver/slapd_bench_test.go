package ldapserver

import (
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/slapdtest"
)

// BenchmarkVsSlapd compares lookups on 100,000 entries without
// certificates (slapdtest's generated entries, indexed on mail and cn for
// equality and substrings) between this server and OpenLDAP slapd, with
// the same client and requests: by mail, and as GnuPG's dirmngr does
// (substrings of sn, cn and mail; slapdtest does not index sn, so slapd
// checks every entry), and with substrings of cn and mail only.
func BenchmarkVsSlapd(b *testing.B) {
	const n = 100_000
	lookups := []struct {
		name string
		filt func(mail string) string
	}{
		{"mail", func(mail string) string { return "(mail=" + mail + ")" }},
		{"dirmngr", dirmngrFilter},
		{"cn-mail-substrings", func(mail string) string { // what slapdtest indexes
			p := ldap.EscapeFilter(mail)
			return "(|(cn=*" + p + "*)(mail=*" + p + "*))"
		}},
	}
	b.Run("signet", func(b *testing.B) {
		entries := make([]Entry, n)
		for i := range entries {
			entries[i] = Entry{Mail: fmt.Sprintf("user%06d@example.org", i), CN: fmt.Sprintf("User %06d", i)}
		}
		_, addr := startServer(b, Config{}, entries)
		for _, l := range lookups {
			b.Run(l.name, func(b *testing.B) { benchLookupsFilter(b, "ldap://"+addr, testBase, n, l.filt) })
		}
	})
	b.Run("slapd", func(b *testing.B) {
		s := slapdtest.Start(b, slapdtest.Options{Entries: n})
		for _, l := range lookups {
			b.Run(l.name, func(b *testing.B) { benchLookupsFilter(b, s.URL, s.Suffix, n, l.filt) })
		}
	})
}
