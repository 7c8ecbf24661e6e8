package ldapserver

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// compileFilter parses an RFC 4515 filter string into f.
func compileFilter(t testing.TB, f *filter, s string) int32 {
	t.Helper()
	p, err := ldap.CompileFilter(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	r := berReader{p.Bytes()}
	tag, c, err := r.next()
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	f.reset()
	root, err := f.parse(tag, c, 1)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return root
}

// matches runs the filter compiled into c.filt over ranges.
func matches(c *conn, snap *snapshot, ranges rangeSet, root int32) []int32 {
	var got []int32
	c.forMatches(snap, &ranges, root, time.Now().Add(time.Hour), func(i int32) bool {
		got = append(got, i)
		return true
	})
	return got
}

const randAlphabet = "abcdeABC 01@.éÉ"

func randString(rng *rand.Rand, maxLen int) string {
	runes := []rune(randAlphabet)
	var b strings.Builder
	for range rng.IntN(maxLen + 1) {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	return b.String()
}

func randomEntries(rng *rand.Rand, n int) []Entry {
	entries := make([]Entry, n)
	domains := []string{"ex.org", "Ex.net", "abc.de"}
	for i := range entries {
		e := &entries[i]
		e.Mail = strings.ReplaceAll(randString(rng, 6), "@", "") + fmt.Sprint(i) + "@" + domains[rng.IntN(len(domains))]
		for range rng.IntN(3) {
			e.Aliases = append(e.Aliases, randString(rng, 8)+"@"+domains[rng.IntN(len(domains))])
		}
		e.CN = randString(rng, 10)
		e.SN = randString(rng, 6)
		e.GivenName = randString(rng, 6)
		e.DisplayName = randString(rng, 12)
		if rng.IntN(10) == 0 {
			e.Group = true
			e.CN += fmt.Sprint(i)
			e.Members = []string{entries[rng.IntN(i+1)].Mail}
		}
	}
	return entries
}

var randAttrs = []string{"mail", "cn", "sn", "givenName", "displayName", "uid", "ou", "objectClass", "member", "unknownAttr", "userCertificate"}

// randomValue is a random string or a piece of a value of a random entry,
// with its case changed at random.
func randomValue(rng *rand.Rand, entries []Entry) string {
	if rng.IntN(2) == 0 {
		return randString(rng, 5)
	}
	e := &entries[rng.IntN(len(entries))]
	v := []string{e.Mail, e.CN, e.SN, e.GivenName, e.DisplayName}[rng.IntN(5)]
	if v == "" {
		return randString(rng, 4)
	}
	i := rng.IntN(len(v))
	j := i + rng.IntN(len(v)-i+1)
	v = strings.ToValidUTF8(v[i:j], "")
	if rng.IntN(2) == 0 {
		v = strings.ToUpper(v)
	}
	return v
}

func randomFilter(rng *rand.Rand, entries []Entry, depth int) string {
	if depth > 0 && rng.IntN(3) == 0 {
		var b strings.Builder
		b.WriteString("(" + string("&|!"[rng.IntN(3)]))
		n := rng.IntN(4)
		if b.String() == "(!" {
			n = 1
		}
		for range n {
			b.WriteString(randomFilter(rng, entries, depth-1))
		}
		return b.String() + ")"
	}
	attr := randAttrs[rng.IntN(len(randAttrs))]
	switch rng.IntN(12) {
	case 0:
		return "(" + attr + "=" + ldap.EscapeFilter(randomValue(rng, entries)) + ")"
	case 1:
		return "(" + attr + "=*)"
	case 2:
		return "(" + attr + []string{">=", "<=", "~="}[rng.IntN(3)] + ldap.EscapeFilter(randomValue(rng, entries)) + ")"
	case 3:
		return "(" + attr + ":caseExactMatch:=" + ldap.EscapeFilter(randomValue(rng, entries)) + ")"
	}
	var parts []string
	if rng.IntN(2) == 0 {
		parts = append(parts, randomValue(rng, entries))
	} else {
		parts = append(parts, "")
	}
	for range rng.IntN(3) {
		if v := randomValue(rng, entries); v != "" {
			parts = append(parts, v)
		}
	}
	if rng.IntN(2) == 0 {
		parts = append(parts, randomValue(rng, entries))
	} else {
		parts = append(parts, "")
	}
	for i := range parts {
		parts[i] = ldap.EscapeFilter(parts[i])
	}
	return "(" + attr + "=" + strings.Join(parts, "*") + ")"
}

// TestIndexMatchesScan compares indexed searches with full scans over
// random directories and random filters.
func TestIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	rounds, filters := 12, 400
	if testing.Short() {
		rounds = 3
	}
	indexed, nonEmpty := 0, 0
	for range rounds {
		entries := randomEntries(rng, 200+rng.IntN(300))
		s, err := New(Config{BaseDN: testBase})
		if err != nil {
			t.Fatal(err)
		}
		s.SetEntries(entries)
		snap := s.snap.Load()
		c := &conn{s: s}
		someEntry := int32(3 + rng.IntN(len(snap.entries)-3))
		scopes := []rangeSet{
			snap.scopeRanges(idxBase, scopeSub),
			snap.scopeRanges(idxPeople, scopeOne),
			snap.scopeRanges(idxGroups, scopeSub),
			snap.scopeRanges(someEntry, scopeBase),
		}
		for range filters {
			fs := randomFilter(rng, entries, 3)
			root := compileFilter(t, &c.filt, fs)
			if _, ok := c.filt.candidates(snap, root); ok {
				indexed++
			}
			// Sometimes with the budget (nearly) spent: fewer
			// intersections, ORs scanned.
			c.filt.budget = []int{candidateBudget, 0, 40}[rng.IntN(3)]
			for k, ranges := range scopes {
				s.scanOnly = false
				got := matches(c, snap, ranges, root)
				s.scanOnly = true
				want := matches(c, snap, ranges, root)
				if !slices.Equal(got, want) {
					t.Fatalf("%s (scope %d): index found %v, scan %v", fs, k, got, want)
				}
				if len(want) > 0 {
					nonEmpty++
				}
			}
		}
	}
	// The test means something only if the index is used and finds
	// entries.
	total := rounds * filters
	t.Logf("of %d filters, %d used an index; %d searches found entries", total, indexed, nonEmpty)
	if indexed < total/4 || nonEmpty < total/4 {
		t.Errorf("of %d filters, %d used an index; %d searches found entries", total, indexed, nonEmpty)
	}
}

// TestPlanner checks which filters the indexes answer and with which
// candidates.
func TestPlanner(t *testing.T) {
	f := getFixtures(t)
	s, err := New(Config{BaseDN: testBase})
	if err != nil {
		t.Fatal(err)
	}
	s.SetEntries(testEntries(f))
	snap := s.snap.Load()
	idx := func(dn string) int32 {
		i, ok := snap.byDN[dn]
		if !ok {
			t.Fatalf("no %s", dn)
		}
		return i
	}
	alice := idx("mail=alice@example.org,ou=people,dc=example,dc=org")
	bob := idx("mail=bob@example.org,ou=people,dc=example,dc=org")
	carol := idx("mail=carol@example.org,ou=people,dc=example,dc=org")
	team := idx("cn=team,ou=groups,dc=example,dc=org")
	none := []int32{}
	tests := []struct {
		filter string
		want   []int32 // nil: scan
	}{
		{"(mail=alice@example.org)", []int32{alice}},
		{"(mail=*liddell*)", []int32{alice}},
		{"(MAIL=*LIDDELL*)", []int32{alice}},
		{"(cn=*o*builder)", []int32{bob}},
		{"(cn=bob*)", []int32{bob}},
		{"(cn=*lder)", []int32{bob}},
		{"(cn=  bob   b*)", []int32{bob}}, // folded: "bob b"
		{"(givenName=*lic*)", []int32{alice}},
		{"(displayName=*ice lid*)", []int32{alice}},
		{"(sn=*dde*)", []int32{alice}},
		{"(mail=*example.net)", []int32{carol}},
		{"(mail=*zzz*)", none},
		{"(uid=*abc*)", none},
		{"(uid=abc)", none},
		{"(mail=*li*)", nil},   // no trigram
		{"(mail=al*ce)", nil},  // no component of three
		{"(ou=*peo*)", nil},    // not indexed
		{"(mail=*)", nil},      // presence
		{"(mail>=alice)", nil}, // ordering
		{"(unknownAttr=*abc*)", none},
		{"(userCertificate=*abc*)", none},
		{"(mail:caseExactMatch:=x)", none},
		{"(unknownAttr=*)", none},
		{"(&(objectClass=person)(mail=*liddell*))", []int32{alice}},
		{"(&(mail=*example*)(cn=*builder*))", []int32{bob}}, // the shorter list
		{"(&(objectClass=person)(ou=people))", nil},
		{"(&(mail=*zzz*)(objectClass=person))", none},
		{"(|(mail=*liddell*)(cn=*builder*))", []int32{alice, bob}},
		{"(|(sn=*liddell*)(|(cn=*liddell*)(mail=*liddell*)))", []int32{alice}},
		{"(|(mail=*liddell*)(mail=a.liddell@example.org))", []int32{alice}},
		{"(|(mail=*liddell*)(objectClass=person))", nil},
		{"(|(mail=*liddell*)(mail=*li*))", nil},
		{"(|(mail=*liddell*)(unknownAttr=x))", []int32{alice}},
		{"(|(mail=*example*)(cn=*builder*))", nil}, // over half the directory
		{"(|)", none},
		{"(!(mail=*liddell*))", nil},
		{"(mail=*team@*)", []int32{team}},
	}
	var fl filter
	for _, tt := range tests {
		root := compileFilter(t, &fl, tt.filter)
		got, ok := fl.candidates(snap, root)
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: candidates %v, want a scan", tt.filter, got)
		case tt.want != nil && !ok:
			t.Errorf("%s: scan, want candidates %v", tt.filter, tt.want)
		case tt.want != nil && !slices.Equal(got, tt.want) && (len(got) > 0 || len(tt.want) > 0):
			t.Errorf("%s: candidates %v, want %v", tt.filter, got, tt.want)
		}
	}

	// Without budget, ORs that must merge lists are scanned; single lists
	// are still used.
	for _, tt := range []struct {
		filter string
		ok     bool
	}{
		{"(|(mail=*liddell*)(cn=*builder*))", false},
		{"(|(mail=*liddell*)(cn=*zzz*))", true},
		{"(mail=*liddell*)", true},
		{"(&(mail=*liddell*)(cn=*builder*))", true},
	} {
		root := compileFilter(t, &fl, tt.filter)
		fl.budget = 0
		if _, ok := fl.candidates(snap, root); ok != tt.ok {
			t.Errorf("%s without budget: ok %v, want %v", tt.filter, ok, tt.ok)
		}
	}
}

// TestSubstringIndexNarrows checks that dirmngr's lookup of one address
// among many entries evaluates only a few of them, and finds it.
func TestSubstringIndexNarrows(t *testing.T) {
	const n = 20_000
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{Mail: fmt.Sprintf("user%06d@example.org", i), DisplayName: fmt.Sprintf("User %d", i)}
	}
	s, err := New(Config{BaseDN: testBase})
	if err != nil {
		t.Fatal(err)
	}
	s.SetEntries(entries)
	snap := s.snap.Load()
	c := &conn{s: s}
	for _, i := range []int{0, 1234, 19999} {
		mail := fmt.Sprintf("user%06d@example.org", i)
		root := compileFilter(t, &c.filt, dirmngrFilter(mail))
		list, ok := c.filt.candidates(snap, root)
		if !ok || len(list) > 50 {
			t.Errorf("%s: %d candidates, ok %v", mail, len(list), ok)
		}
		got := matches(c, snap, snap.scopeRanges(idxBase, scopeSub), root)
		if len(got) != 1 || snap.entries[got[0]].dn != "mail="+mail+",ou=people,"+testBase {
			t.Errorf("%s: found %v", mail, got)
		}
	}
}

// TestGramIndex compares the index with one built naively.
func TestGramIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	s := buildSnapshot(testBase, randomEntries(rng, 500), func(string, ...any) {})
	want := map[uint32][]int32{}
	for i, e := range s.entries {
		for _, id := range indexedAttrs {
			if a := e.attr(id); a != nil {
				for _, v := range a.fold {
					for j := 0; j+3 <= len(v); j++ {
						k := gramKey(id, v, j)
						if l := want[k]; len(l) == 0 || l[len(l)-1] != int32(i) {
							want[k] = append(l, int32(i))
						}
					}
				}
			}
		}
	}
	g := &s.grams
	if len(g.keys) != len(want) || !slices.IsSorted(g.keys) {
		t.Fatalf("%d keys (sorted %v), want %d", len(g.keys), slices.IsSorted(g.keys), len(want))
	}
	for k, l := range want {
		if got := g.postings(k); !slices.Equal(got, l) {
			t.Errorf("key %06x: %v, want %v", k, got, l)
		}
	}
	if g.postings(0xffffffff) != nil {
		t.Error("postings of a missing key")
	}
	t.Logf("%d keys, %d postings, %d bytes", len(g.keys), len(g.post), g.bytes())
}

func TestIntersectUnion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	randList := func(n, max int) []int32 {
		l := make([]int32, n)
		for i := range l {
			l[i] = int32(rng.IntN(max))
		}
		slices.Sort(l)
		return slices.Compact(l)
	}
	for range 2000 {
		a := randList(rng.IntN(20), 60)
		b := randList(rng.IntN(300), 60+rng.IntN(300)) // often 8 times longer: the binary search path
		var wantI, wantU []int32
		for x := range int32(400) {
			inA, inB := slices.Contains(a, x), slices.Contains(b, x)
			if inA && inB {
				wantI = append(wantI, x)
			}
			if inA || inB {
				wantU = append(wantU, x)
			}
		}
		if got := intersect(nil, a, b); !slices.Equal(got, wantI) {
			t.Fatalf("intersect(%v, %v) = %v, want %v", a, b, got, wantI)
		}
		if got := intersect(nil, b, a); !slices.Equal(got, wantI) {
			t.Fatalf("intersect(%v, %v) = %v, want %v", b, a, got, wantI)
		}
		a2 := slices.Clone(a)
		if got := intersect(a2[:0], a2, b); !slices.Equal(got, wantI) {
			t.Fatalf("in place intersect(%v, %v) = %v, want %v", a, b, got, wantI)
		}
		if got := union(nil, a, b); !slices.Equal(got, wantU) {
			t.Fatalf("union(%v, %v) = %v, want %v", a, b, got, wantU)
		}
	}
}

// TestSubstrMatch compares substrMatch with a plain implementation.
func TestSubstrMatch(t *testing.T) {
	ref := func(init, fin []byte, hasInit, hasFin bool, anys [][]byte, v string) bool {
		b := []byte(v)
		if hasInit {
			if !bytes.HasPrefix(b, init) {
				return false
			}
			b = b[len(init):]
		}
		if hasFin {
			if !bytes.HasSuffix(b, fin) {
				return false
			}
			b = b[:len(b)-len(fin)]
		}
		for _, a := range anys {
			k := bytes.Index(b, a)
			if k < 0 {
				return false
			}
			b = b[k+len(a):]
		}
		return true
	}
	rng := rand.New(rand.NewPCG(5, 5))
	small := func(n int) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			b.WriteByte("aab"[rng.IntN(3)])
		}
		return b.String()
	}
	var f filter
	for range 20000 {
		f.reset()
		n := fnode{op: fSubstrings, hasInit: rng.IntN(2) == 0, hasFin: rng.IntN(2) == 0, value: []byte(small(2)), final: []byte(small(2))}
		n.anyLo = int32(len(f.anys))
		for range rng.IntN(3) {
			f.anys = append(f.anys, []byte(small(3)))
		}
		n.anyHi = int32(len(f.anys))
		v := small(8)
		if got, want := f.substrMatch(&n, v), ref(n.value, n.final, n.hasInit, n.hasFin, f.anys[n.anyLo:n.anyHi], v); got != want {
			t.Fatalf("%q ~ init %v %q, anys %q, final %v %q: %v, want %v", v, n.hasInit, n.value, f.anys[n.anyLo:n.anyHi], n.hasFin, n.final, got, want)
		}
	}
}
