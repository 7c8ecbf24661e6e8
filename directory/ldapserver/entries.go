package ldapserver

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Entry is one recipient (or distribution list) as the directory serves it.
type Entry struct {
	Mail    string   // primary address (lower case); RDN is mail=<Mail> (or cn=... for groups), under ou=people / ou=groups of BaseDN
	Aliases []string // further addresses; served as extra `mail` values
	Group   bool     // a distribution list (objectClass groupOfNames + mail; `member` values are DNs of member entries, `mail` the list's address)
	Members []string // groups: members' primary addresses

	CN, DisplayName, SN, GivenName string

	Certs [][]byte // DER certificates, preferred first: each one `userCertificate;binary` value
	Chain [][]byte // CA certificates to add into userSMIMECertificate
}

// entry kinds
const (
	kindBase = iota
	kindOU
	kindPerson
	kindGroup
	kindRootDSE
)

// attrData is one attribute of an entry, encoded at SetEntries time.
type attrData struct {
	id   attrID
	set  []byte   // the DER SET OF values, ready to copy into a response
	fold []string // caseIgnore forms of the values for matching (nil for binary values)
}

// dirEntry is an entry of the snapshot.
type dirEntry struct {
	dn    string
	dnEnc []byte // LDAPDN as OCTET STRING TLV
	kind  uint8
	attrs []attrData
}

func (e *dirEntry) attr(id attrID) *attrData {
	for i := range e.attrs {
		if e.attrs[i].id == id {
			return &e.attrs[i]
		}
	}
	return nil
}

// indexed attributes answer equality filters from a map and substring
// filters from the trigram index: those anonymous clients may search by.
var indexedAttrs = [...]attrID{atMail, atCN, atSN, atGivenName, atDisplayName, atUID}

// snapshot is an immutable view of the directory.
type snapshot struct {
	entries []*dirEntry // 0 base, 1 ou=people, 2 ou=groups, then people, then groups
	byDN    map[string]int32
	index   [numAttrs]map[string][]int32 // equality, for indexedAttrs
	grams   gramIndex                    // substrings of indexedAttrs

	peopleStart, peopleEnd int32
	groupsStart, groupsEnd int32
}

const (
	idxBase   = 0
	idxPeople = 1
	idxGroups = 2
)

// rangeSet is up to two half-open ranges of entry indexes (unused ones
// empty); a fixed array so that a search allocates nothing for it.
type rangeSet [2][2]int32

// scopeRanges returns the entries a search from base b with the given scope
// covers.
func (s *snapshot) scopeRanges(b int32, scope int) rangeSet {
	switch scope {
	case scopeBase:
		return rangeSet{{b, b + 1}}
	case scopeOne:
		switch b {
		case idxBase:
			return rangeSet{{idxPeople, idxGroups + 1}}
		case idxPeople:
			return rangeSet{{s.peopleStart, s.peopleEnd}}
		case idxGroups:
			return rangeSet{{s.groupsStart, s.groupsEnd}}
		}
		return rangeSet{}
	default:
		switch b {
		case idxBase:
			return rangeSet{{0, int32(len(s.entries))}}
		case idxPeople:
			return rangeSet{{idxPeople, idxPeople + 1}, {s.peopleStart, s.peopleEnd}}
		case idxGroups:
			return rangeSet{{idxGroups, idxGroups + 1}, {s.groupsStart, s.groupsEnd}}
		}
		return rangeSet{{b, b + 1}}
	}
}

func (r *rangeSet) has(i int32) bool {
	return (r[0][0] <= i && i < r[0][1]) || (r[1][0] <= i && i < r[1][1])
}

// entryBuilder collects attributes of one entry.
type entryBuilder struct {
	e *dirEntry
}

func newEntry(dn string, kind uint8) *entryBuilder {
	return &entryBuilder{e: &dirEntry{dn: dn, dnEnc: appendTLVString(nil, tagOctetString, dn), kind: kind}}
}

func (b *entryBuilder) add(id attrID, vals ...string) {
	var dedup []string
	var fold []string
	for _, v := range vals {
		if v == "" {
			continue
		}
		f := foldString(v)
		if slices.Contains(fold, f) {
			continue
		}
		dedup = append(dedup, v)
		fold = append(fold, f)
	}
	if len(dedup) == 0 {
		return
	}
	raw := make([][]byte, len(dedup))
	for i, v := range dedup {
		raw[i] = []byte(v)
	}
	b.e.attrs = append(b.e.attrs, attrData{id: id, set: encodeSet(raw), fold: fold})
}

func (b *entryBuilder) addBinary(id attrID, vals [][]byte) {
	if len(vals) == 0 {
		return
	}
	b.e.attrs = append(b.e.attrs, attrData{id: id, set: encodeSet(vals)})
}

// encodeSet encodes a SET OF OCTET STRING holding vals in the given order
// (LDAP attribute values are a set; the order is kept so the preferred
// certificate comes first).
func encodeSet(vals [][]byte) []byte {
	n := 0
	for _, v := range vals {
		n += tlvLen(len(v))
	}
	out := make([]byte, 0, tlvLen(n))
	out = appendHeader(out, tagSet, n)
	for _, v := range vals {
		out = appendTLV(out, tagOctetString, v)
	}
	return out
}

// buildSnapshot turns entries into a snapshot. It never fails: entries that
// cannot be served are skipped and reported through logf.
func buildSnapshot(baseDN string, entries []Entry, logf func(string, ...any)) *snapshot {
	s := &snapshot{byDN: make(map[string]int32, 2*len(entries)+6)}
	for _, id := range indexedAttrs {
		hint := len(entries)
		if id == atUID {
			hint = 0 // Entry has no uid: the map stays empty
		}
		s.index[id] = make(map[string][]int32, hint)
	}
	s.addEntry(baseEntry(baseDN))
	people := newEntry("ou=people,"+baseDN, kindOU)
	people.add(atObjectClass, "top", "organizationalUnit")
	people.add(atOU, "people")
	s.addEntry(people.e)
	groups := newEntry("ou=groups,"+baseDN, kindOU)
	groups.add(atObjectClass, "top", "organizationalUnit")
	groups.add(atOU, "groups")
	s.addEntry(groups.e)

	peopleDN := ",ou=people," + baseDN
	groupsDN := ",ou=groups," + baseDN
	s.peopleStart = int32(len(s.entries))
	for i := range entries {
		e := &entries[i]
		if e.Group {
			continue
		}
		mail := strings.ToLower(strings.TrimSpace(e.Mail))
		if mail == "" {
			logf("ldapserver: entry %d: person without mail skipped", i)
			continue
		}
		dn := "mail=" + escapeDNValue(mail) + peopleDN
		if _, dup := s.byDN[normalizeDNOrRaw(dn)]; dup {
			logf("ldapserver: duplicate entry %s skipped", dn)
			continue
		}
		b := newEntry(dn, kindPerson)
		b.add(atObjectClass, "top", "person", "organizationalPerson", "inetOrgPerson")
		b.add(atMail, append([]string{mail}, e.Aliases...)...)
		local, _, _ := strings.Cut(mail, "@")
		cn := firstNonEmpty(e.CN, e.DisplayName, local)
		b.add(atCN, cn)
		sn := e.SN
		if sn == "" {
			if f := strings.Fields(firstNonEmpty(e.DisplayName, e.CN)); len(f) > 1 {
				sn = f[len(f)-1]
			} else {
				sn = cn
			}
		}
		b.add(atSN, sn)
		b.add(atGivenName, e.GivenName)
		b.add(atDisplayName, e.DisplayName)
		b.addBinary(atUserCertificate, e.Certs)
		if len(e.Certs) > 0 {
			p7, err := certsOnly(append(slices.Clip(e.Certs), e.Chain...))
			if err != nil {
				logf("ldapserver: %s: userSMIMECertificate: %v", dn, err)
			} else {
				b.addBinary(atUserSMIMECertificate, [][]byte{p7})
			}
		}
		s.addEntry(b.e)
	}
	s.peopleEnd = int32(len(s.entries))
	s.groupsStart = s.peopleEnd
	for i := range entries {
		e := &entries[i]
		if !e.Group {
			continue
		}
		mail := strings.ToLower(strings.TrimSpace(e.Mail))
		local, _, _ := strings.Cut(mail, "@")
		name := firstNonEmpty(e.CN, local)
		if name == "" {
			logf("ldapserver: entry %d: group without name or mail skipped", i)
			continue
		}
		dn := "cn=" + escapeDNValue(name) + groupsDN
		if _, dup := s.byDN[normalizeDNOrRaw(dn)]; dup {
			logf("ldapserver: duplicate entry %s skipped", dn)
			continue
		}
		b := newEntry(dn, kindGroup)
		b.add(atObjectClass, "top", "groupOfNames")
		b.add(atCN, name)
		b.add(atMail, append([]string{mail}, e.Aliases...)...)
		b.add(atDisplayName, e.DisplayName)
		members := make([]string, 0, len(e.Members))
		for _, m := range e.Members {
			if m = strings.ToLower(strings.TrimSpace(m)); m != "" {
				members = append(members, "mail="+escapeDNValue(m)+peopleDN)
			}
		}
		b.add(atMember, members...)
		s.addEntry(b.e)
	}
	s.groupsEnd = int32(len(s.entries))
	s.grams = buildGramIndex(s.entries)
	return s
}

func (s *snapshot) addEntry(e *dirEntry) {
	i := int32(len(s.entries))
	s.entries = append(s.entries, e)
	s.byDN[e.dn] = i
	s.byDN[normalizeDNOrRaw(e.dn)] = i
	for _, id := range indexedAttrs {
		if a := e.attr(id); a != nil {
			for _, v := range a.fold {
				s.index[id][v] = append(s.index[id][v], i)
			}
		}
	}
}

func baseEntry(baseDN string) *dirEntry {
	b := newEntry(baseDN, kindBase)
	rdn, _, _ := strings.Cut(baseDN, ",")
	typ, val, _ := strings.Cut(rdn, "=")
	val = unescapeDNValue(strings.TrimSpace(val))
	switch id, _ := lookupAttr([]byte(strings.TrimSpace(typ))); id {
	case atDC:
		b.add(atObjectClass, "top", "domain")
		b.add(atDC, val)
	case atO:
		b.add(atObjectClass, "top", "organization")
		b.add(atO, val)
	case atOU:
		b.add(atObjectClass, "top", "organizationalUnit")
		b.add(atOU, val)
	default:
		b.add(atObjectClass, "top", "extensibleObject")
	}
	return b.e
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x = strings.TrimSpace(x); x != "" {
			return x
		}
	}
	return ""
}

// certsOnly builds a degenerate CMS SignedData holding certs (RFC 5652 §5:
// version 1, no digest algorithms, id-data content, no signers), in DER.
func certsOnly(certs [][]byte) ([]byte, error) {
	var uniq [][]byte
	for _, c := range certs {
		s := cryptobyte.String(c)
		var elem cryptobyte.String
		if !s.ReadASN1Element(&elem, cbasn1.SEQUENCE) || !s.Empty() {
			return nil, fmt.Errorf("certificate is not a DER SEQUENCE")
		}
		if !slices.ContainsFunc(uniq, func(u []byte) bool { return bytes.Equal(u, c) }) {
			uniq = append(uniq, c)
		}
	}
	// DER orders the components of a SET OF by their encodings.
	sort.Slice(uniq, func(i, j int) bool { return bytes.Compare(uniq[i], uniq[j]) < 0 })
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier([]int{1, 2, 840, 113549, 1, 7, 2})
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier([]int{1, 2, 840, 113549, 1, 7, 1})
				})
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, c := range uniq {
						b.AddBytes(c)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {})
			})
		})
	})
	return b.Bytes()
}

// DN handling (RFC 4514).

// escapeDNValue escapes an attribute value for use in a DN string.
func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case (c == ' ' && (i == 0 || i == len(v)-1)) || (c == '#' && i == 0):
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeDNValue undoes RFC 4514 escapes (\c and \XX).
func unescapeDNValue(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b []byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			if i+2 < len(v) {
				if x, err := hex.DecodeString(v[i+1 : i+3]); err == nil {
					b = append(b, x[0])
					i += 2
					continue
				}
			}
			b = append(b, v[i+1])
			i++
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// splitDN splits s at unescaped sep bytes.
func splitDN(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// normalizeDN returns a canonical form of a DN for comparisons: attribute
// types by their canonical names, values unescaped, case-folded and
// re-escaped, no spaces around separators, multi-valued RDNs sorted.
func normalizeDN(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", true
	}
	var out strings.Builder
	for i, rdn := range splitDN(s, ',') {
		if i > 0 {
			out.WriteByte(',')
		}
		avas := splitDN(rdn, '+')
		norm := make([]string, 0, len(avas))
		for _, ava := range avas {
			typ, val, ok := strings.Cut(ava, "=")
			typ = strings.TrimSpace(typ)
			if !ok || typ == "" {
				return "", false
			}
			name := strings.ToLower(typ)
			if id, _ := lookupAttr([]byte(typ)); id != atUnknown {
				name = strings.ToLower(attrNames[id])
			}
			val = strings.TrimLeft(val, " ")
			for strings.HasSuffix(val, " ") && !strings.HasSuffix(val, `\ `) {
				val = val[:len(val)-1]
			}
			norm = append(norm, name+"="+escapeDNValue(foldString(unescapeDNValue(val))))
		}
		sort.Strings(norm)
		out.WriteString(strings.Join(norm, "+"))
	}
	return out.String(), true
}

func normalizeDNOrRaw(s string) string {
	if n, ok := normalizeDN(s); ok {
		return n
	}
	return s
}
