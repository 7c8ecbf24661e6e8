package trust

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// namesEqual compares two DER distinguished names per RFC 5280 §7.1 in a
// simplified form: attribute types equal and string values equal after
// trimming, whitespace folding and case folding.
func namesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) > 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) > 0 {
		return false
	}
	return len(ra) == len(rb) && rdnPrefix(ra, rb)
}

// rdnPrefix reports whether prefix is an RDN-wise prefix of name.
func rdnPrefix(prefix, name pkix.RDNSequence) bool {
	if len(prefix) > len(name) {
		return false
	}
	for i := range prefix {
		if !rdnEqual(prefix[i], name[i]) {
			return false
		}
	}
	return true
}

func rdnEqual(a, b pkix.RelativeDistinguishedNameSET) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && x.Type.Equal(y.Type) && attrValueEqual(x.Value, y.Value) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func attrValueEqual(a, b any) bool {
	sa, oka := a.(string)
	sb, okb := b.(string)
	if oka && okb {
		return normName(sa) == normName(sb)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func normName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// nameConstraints is one CA certificate's nameConstraints extension.
type nameConstraints struct {
	c              *x509.Certificate
	permittedDN    []pkix.RDNSequence
	excludedDN     []pkix.RDNSequence
	hasPermittedDN bool
}

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

// parseNameConstraints returns nil when c has no nameConstraints.
func parseNameConstraints(c *x509.Certificate) (*nameConstraints, error) {
	var raw []byte
	for _, e := range c.Extensions {
		if e.Id.Equal(oidNameConstraints) {
			raw = e.Value
		}
	}
	if raw == nil {
		return nil, nil
	}
	nc := &nameConstraints{c: c}
	in := cryptobyte.String(raw)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed nameConstraints")
	}
	for _, tag := range []cbasn1.Tag{cbasn1.Tag(0).ContextSpecific().Constructed(), cbasn1.Tag(1).ContextSpecific().Constructed()} {
		var subtrees cryptobyte.String
		var present bool
		if !seq.ReadOptionalASN1(&subtrees, &present, tag) {
			return nil, errors.New("malformed nameConstraints")
		}
		for !subtrees.Empty() {
			var st cryptobyte.String
			if !subtrees.ReadASN1(&st, cbasn1.SEQUENCE) {
				return nil, errors.New("malformed GeneralSubtree")
			}
			var gn cryptobyte.String
			var gtag cbasn1.Tag
			if !st.ReadAnyASN1(&gn, &gtag) {
				return nil, errors.New("malformed GeneralName")
			}
			if gtag == cbasn1.Tag(4).ContextSpecific().Constructed() {
				var dn pkix.RDNSequence
				if _, err := asn1.Unmarshal(gn, &dn); err != nil {
					return nil, fmt.Errorf("malformed directoryName constraint: %v", err)
				}
				if tag == cbasn1.Tag(0).ContextSpecific().Constructed() {
					nc.permittedDN = append(nc.permittedDN, dn)
					nc.hasPermittedDN = true
				} else {
					nc.excludedDN = append(nc.excludedDN, dn)
				}
			}
		}
	}
	return nc, nil
}

// check applies the constraints to the subject and subjectAltNames of sub.
func (nc *nameConstraints) check(sub *x509.Certificate) error {
	c := nc.c
	var subj pkix.RDNSequence
	if _, err := asn1.Unmarshal(sub.RawSubject, &subj); err != nil {
		return err
	}
	dns := []pkix.RDNSequence{}
	if len(subj) > 0 {
		dns = append(dns, subj)
	}
	dns = append(dns, sanDirNames(sub)...)
	for _, subj := range dns {
		if nc.hasPermittedDN {
			ok := false
			for _, p := range nc.permittedDN {
				if rdnPrefix(p, subj) {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("name %s not within permitted subtrees", canonDN(subj))
			}
		}
		for _, e := range nc.excludedDN {
			if rdnPrefix(e, subj) {
				return fmt.Errorf("name %s within excluded subtree", canonDN(subj))
			}
		}
	}
	// rfc822Name constraints apply to subjectAltName addresses and to
	// emailAddress attributes of the subject (RFC 5280 §4.2.1.10).
	emails := append([]string(nil), sub.EmailAddresses...)
	for _, rdn := range subj {
		for _, atv := range rdn {
			if atv.Type.Equal(oidEmailAddress) {
				if s, ok := atv.Value.(string); ok {
					emails = append(emails, s)
				}
			}
		}
	}
	for _, e := range emails {
		if err := checkList(e, c.PermittedEmailAddresses, c.ExcludedEmailAddresses, matchEmail); err != nil {
			return fmt.Errorf("email %q: %v", e, err)
		}
	}
	for _, d := range sub.DNSNames {
		if err := checkList(d, c.PermittedDNSDomains, c.ExcludedDNSDomains, matchDNS); err != nil {
			return fmt.Errorf("DNS name %q: %v", d, err)
		}
	}
	for _, u := range sub.URIs {
		host := u.Hostname()
		if err := checkList(host, c.PermittedURIDomains, c.ExcludedURIDomains, matchURIHost); err != nil {
			return fmt.Errorf("URI %q: %v", u, err)
		}
	}
	for _, ip := range sub.IPAddresses {
		if len(c.PermittedIPRanges) > 0 {
			ok := false
			for _, r := range c.PermittedIPRanges {
				if r.Contains(ip) {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("IP %s not permitted", ip)
			}
		}
		for _, r := range c.ExcludedIPRanges {
			if r.Contains(ip) {
				return fmt.Errorf("IP %s excluded", ip)
			}
		}
	}
	return nil
}

func checkList(name string, permitted, excluded []string, match func(name, constraint string) bool) error {
	if len(permitted) > 0 {
		ok := false
		for _, p := range permitted {
			if match(name, p) {
				ok = true
				break
			}
		}
		if !ok {
			return errors.New("not within permitted subtrees")
		}
	}
	for _, e := range excluded {
		if match(name, e) {
			return fmt.Errorf("within excluded subtree %q", e)
		}
	}
	return nil
}

func matchEmail(name, constraint string) bool {
	name, constraint = strings.ToLower(name), strings.ToLower(constraint)
	if strings.Contains(constraint, "@") {
		return name == constraint
	}
	at := strings.LastIndexByte(name, '@')
	host := name[at+1:]
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(host, constraint)
	}
	return host == constraint
}

func matchDNS(name, constraint string) bool {
	name, constraint = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(constraint)
	if constraint == "" {
		return true
	}
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

func matchURIHost(host, constraint string) bool {
	host, constraint = strings.ToLower(host), strings.ToLower(constraint)
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(host, constraint)
	}
	return host == constraint
}

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// sanDirNames returns the directoryName entries of c's subjectAltName.
func sanDirNames(c *x509.Certificate) []pkix.RDNSequence {
	var out []pkix.RDNSequence
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSAN) {
			continue
		}
		in := cryptobyte.String(e.Value)
		var seq cryptobyte.String
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return out
		}
		for !seq.Empty() {
			var v cryptobyte.String
			var tag cbasn1.Tag
			if !seq.ReadAnyASN1(&v, &tag) {
				return out
			}
			if tag == cbasn1.Tag(4).ContextSpecific().Constructed() {
				var dn pkix.RDNSequence
				if _, err := asn1.Unmarshal(v, &dn); err == nil {
					out = append(out, dn)
				}
			}
		}
	}
	return out
}
