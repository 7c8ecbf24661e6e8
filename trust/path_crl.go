package trust

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

type revStatus int

const (
	revGood revStatus = iota
	revRevoked
	revUnknown
)

var (
	oidCRLNumber        = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDeltaCRL         = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIDP              = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidAKI              = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidFreshestCRL      = asn1.ObjectIdentifier{2, 5, 29, 46}
	oidCertIssuer       = asn1.ObjectIdentifier{2, 5, 29, 29}
	oidReasonCode       = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDate   = asn1.ObjectIdentifier{2, 5, 29, 24}
	oidCDP              = asn1.ObjectIdentifier{2, 5, 29, 31}
	allReasons          = uint16(0x1fe) // bits 1..8 of ReasonFlags
	reasonRemoveFromCRL = 8
)

// idp is a parsed issuingDistributionPoint.
type idp struct {
	present                    bool
	dpNames                    []string // canonical names; nil if no distributionPoint
	onlyUser, onlyCA, onlyAttr bool
	reasons                    uint16 // 0 = all
	indirect                   bool
}

// certDP is one parsed distributionPoint of a certificate.
type certDP struct {
	names     []string
	reasons   uint16
	crlIssuer []string
}

func canonDN(dn pkix.RDNSequence) string {
	var parts []string
	for _, rdn := range dn {
		var as []string
		for _, atv := range rdn {
			v := fmt.Sprint(atv.Value)
			if s, ok := atv.Value.(string); ok {
				v = normName(s)
			}
			as = append(as, atv.Type.String()+"="+v)
		}
		sort.Strings(as)
		parts = append(parts, strings.Join(as, "+"))
	}
	return "dn:" + strings.Join(parts, ",")
}

func canonRawDN(raw []byte) string {
	var dn pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &dn); err != nil {
		return "raw:" + hex.EncodeToString(raw)
	}
	return canonDN(dn)
}

// readGeneralNames turns the contents of a GeneralNames into canonical strings.
func readGeneralNames(s cryptobyte.String) ([]string, bool) {
	var out []string
	for !s.Empty() {
		var v cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1(&v, &tag) {
			return nil, false
		}
		switch tag {
		case cbasn1.Tag(4).ContextSpecific().Constructed():
			out = append(out, canonRawDN(v))
		case cbasn1.Tag(6).ContextSpecific():
			out = append(out, "uri:"+string(v))
		default:
			out = append(out, fmt.Sprintf("%x:%x", uint8(tag), []byte(v)))
		}
	}
	return out, true
}

// readDPName reads a DistributionPointName body (content of the [0] wrapper).
func readDPName(s cryptobyte.String, issuer []byte) ([]string, bool) {
	var v cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&v, &tag) {
		return nil, false
	}
	switch tag {
	case cbasn1.Tag(0).ContextSpecific().Constructed():
		return readGeneralNames(v)
	case cbasn1.Tag(1).ContextSpecific().Constructed():
		var dn pkix.RDNSequence
		if _, err := asn1.Unmarshal(issuer, &dn); err != nil {
			return nil, false
		}
		var rdn pkix.RelativeDistinguishedNameSET
		full := append([]byte{0x31}, asn1Len(len(v))...)
		full = append(full, v...)
		if _, err := asn1.Unmarshal(full, &rdn); err != nil {
			return nil, false
		}
		dn = append(dn, rdn)
		return []string{canonDN(dn)}, true
	}
	return nil, false
}

func asn1Len(n int) []byte {
	if n < 128 {
		return []byte{byte(n)}
	}
	var b []byte
	for x := n; x > 0; x >>= 8 {
		b = append([]byte{byte(x)}, b...)
	}
	return append([]byte{0x80 | byte(len(b))}, b...)
}

func readReasons(v cryptobyte.String) uint16 {
	// BIT STRING body: unused-bits byte then bits, MSB first.
	if len(v) < 2 {
		return 0
	}
	var r uint16
	bits := v[1:]
	for i := 0; i < 9 && i/8 < len(bits); i++ {
		if bits[i/8]&(0x80>>(i%8)) != 0 {
			r |= 1 << i
		}
	}
	return r
}

func parseIDP(crl *x509.RevocationList) (idp, error) {
	var out idp
	for _, e := range crl.Extensions {
		if !e.Id.Equal(oidIDP) {
			continue
		}
		out.present = true
		in := cryptobyte.String(e.Value)
		var seq cryptobyte.String
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return out, fmt.Errorf("malformed issuingDistributionPoint")
		}
		for !seq.Empty() {
			var v cryptobyte.String
			var tag cbasn1.Tag
			if !seq.ReadAnyASN1(&v, &tag) {
				return out, fmt.Errorf("malformed issuingDistributionPoint")
			}
			boolv := len(v) == 1 && v[0] != 0
			switch tag {
			case cbasn1.Tag(0).ContextSpecific().Constructed():
				names, ok := readDPName(v, crl.RawIssuer)
				if !ok {
					return out, fmt.Errorf("malformed distributionPoint name")
				}
				out.dpNames = names
			case cbasn1.Tag(1).ContextSpecific():
				out.onlyUser = boolv
			case cbasn1.Tag(2).ContextSpecific():
				out.onlyCA = boolv
			case cbasn1.Tag(3).ContextSpecific():
				out.reasons = readReasons(v)
			case cbasn1.Tag(4).ContextSpecific():
				out.indirect = boolv
			case cbasn1.Tag(5).ContextSpecific():
				out.onlyAttr = boolv
			}
		}
	}
	return out, nil
}

func parseCertDPs(c *x509.Certificate) ([]certDP, bool) {
	var out []certDP
	found := false
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidCDP) {
			continue
		}
		found = true
		in := cryptobyte.String(e.Value)
		var seq cryptobyte.String
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return nil, true
		}
		for !seq.Empty() {
			var dp cryptobyte.String
			if !seq.ReadASN1(&dp, cbasn1.SEQUENCE) {
				return out, true
			}
			var d certDP
			var nameRaw cryptobyte.String
			hasName := false
			base := c.RawIssuer
			for !dp.Empty() {
				var v cryptobyte.String
				var tag cbasn1.Tag
				if !dp.ReadAnyASN1(&v, &tag) {
					break
				}
				switch tag {
				case cbasn1.Tag(0).ContextSpecific().Constructed():
					nameRaw, hasName = v, true
				case cbasn1.Tag(1).ContextSpecific():
					d.reasons = readReasons(v)
				case cbasn1.Tag(2).ContextSpecific().Constructed():
					d.crlIssuer, _ = readGeneralNames(v)
					// A name relative to the CRL issuer is relative to cRLIssuer (§4.2.1.13).
					gns := v
					for !gns.Empty() {
						var g cryptobyte.String
						var gt cbasn1.Tag
						if !gns.ReadAnyASN1(&g, &gt) {
							break
						}
						if gt == cbasn1.Tag(4).ContextSpecific().Constructed() {
							base = []byte(g)
							break
						}
					}
				}
			}
			if hasName {
				d.names, _ = readDPName(nameRaw, base)
			}
			out = append(out, d)
		}
	}
	return out, found
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func deltaBase(crl *x509.RevocationList) (*big.Int, bool) {
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidDeltaCRL) {
			var n *big.Int
			if _, err := asn1.Unmarshal(e.Value, &n); err != nil {
				return nil, true
			}
			return n, true
		}
	}
	return nil, false
}

var knownCRLExt = map[string]bool{
	oidCRLNumber.String(): true, oidDeltaCRL.String(): true, oidIDP.String(): true,
	oidAKI.String(): true, oidFreshestCRL.String(): true,
}

var knownEntryExt = map[string]bool{
	oidCertIssuer.String(): true, oidReasonCode.String(): true, oidInvalidityDate.String(): true,
	"2.5.29.23": true, // holdInstructionCode
}

// usableCRL checks a CRL's signature, signer, freshness and extensions for
// certificate c (issued by issuer). It returns the scope and a reason when unusable.
func usableCRL(crl *x509.RevocationList, c, issuer *x509.Certificate, path []*x509.Certificate, opts ValidateOptions) (idp, string) {
	for _, e := range crl.Extensions {
		if e.Critical && !knownCRLExt[e.Id.String()] {
			return idp{}, "unknown critical CRL extension " + e.Id.String()
		}
	}
	scope, err := parseIDP(crl)
	if err != nil {
		return idp{}, err.Error()
	}
	direct := namesEqual(crl.RawIssuer, c.RawIssuer)
	dps, hasDP := parseCertDPs(c)
	crlIssuerName := []string{canonRawDN(crl.RawIssuer)}
	// RFC 5280 §6.3.3 (b): pick a distribution point of the certificate
	// that this CRL can serve.
	dpMatch := func(dp certDP) bool {
		if dp.crlIssuer != nil {
			if !scope.indirect || !intersects(dp.crlIssuer, crlIssuerName) {
				return false
			}
		} else if !direct {
			return false
		}
		if scope.dpNames == nil {
			return true
		}
		if dp.names != nil {
			return intersects(dp.names, scope.dpNames)
		}
		return intersects(dp.crlIssuer, scope.dpNames)
	}
	if hasDP {
		ok := false
		for _, dp := range dps {
			if dpMatch(dp) {
				ok = true
			}
		}
		if !ok {
			return idp{}, "CRL does not serve any distribution point of the certificate"
		}
	} else {
		if !direct {
			return idp{}, "CRL issuer differs from the certificate issuer"
		}
		if scope.dpNames != nil && !intersects(scope.dpNames, crlIssuerName) {
			return idp{}, "CRL distribution point does not match the certificate"
		}
	}
	if crl.ThisUpdate.After(opts.At) {
		return idp{}, "CRL thisUpdate in the future"
	}
	if !crl.NextUpdate.IsZero() && crl.NextUpdate.Before(opts.At) {
		return idp{}, "CRL is stale (nextUpdate passed)"
	}
	if scope.onlyAttr {
		return idp{}, "CRL covers attribute certificates only"
	}
	isCA := c.BasicConstraintsValid && c.IsCA
	if scope.onlyUser && isCA {
		return idp{}, "CRL covers user certificates only"
	}
	if scope.onlyCA && !isCA {
		return idp{}, "CRL covers CA certificates only"
	}
	if why := crlSigner(crl, c, issuer, path, opts); why != "" {
		return idp{}, why
	}
	return scope, ""
}

// crlSigner verifies the CRL's signature against the path issuer or another
// known certificate of the CRL issuer's name, validating the latter's path.
func crlSigner(crl *x509.RevocationList, c, issuer *x509.Certificate, path []*x509.Certificate, opts ValidateOptions) string {
	try := func(s *x509.Certificate) bool {
		if !namesEqual(s.RawSubject, crl.RawIssuer) {
			return false
		}
		if len(crl.AuthorityKeyId) > 0 && len(s.SubjectKeyId) > 0 && !bytes.Equal(crl.AuthorityKeyId, s.SubjectKeyId) {
			return false
		}
		return checkSig(s, crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature) == nil
	}
	if try(issuer) {
		if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
			return "CRL signer lacks cRLSign"
		}
		return ""
	}
	for _, a := range opts.Anchors {
		if try(a) {
			return ""
		}
	}
	if crlDepth(opts) > 3 {
		return "CRL signer not found"
	}
	for _, s := range opts.Intermediates {
		if !try(s) {
			continue
		}
		if s.KeyUsage != 0 && s.KeyUsage&x509.KeyUsageCRLSign == 0 {
			return "CRL signer lacks cRLSign"
		}
		if bytes.Equal(s.Raw, c.Raw) {
			// The CRL signer's own status comes from its own CRL: the
			// signature was just checked and its path is being validated.
			return ""
		}
		sub := opts
		sub.InitialPolicies = nil
		sub.RequireExplicitPolicy, sub.InhibitPolicyMapping, sub.InhibitAnyPolicy = false, false, false
		sub.depth++
		r, err := Validate(s, sub)
		if err != nil || r.Code != CodeSuccess {
			why := "invalid"
			if r != nil {
				why = r.Reason
			}
			return "CRL signer certificate not valid: " + why
		}
		return ""
	}
	return "no certificate verifies the CRL signature"
}

func crlDepth(opts ValidateOptions) int { return opts.depth }

// checkRevocation is §6.3 for certificate c issued by issuer.
func checkRevocation(c, issuer *x509.Certificate, path []*x509.Certificate, opts ValidateOptions) (revStatus, string) {
	covered := uint16(0)
	var lastWhy string
	for _, crl := range opts.CRLs {
		if _, isDelta := deltaBase(crl); isDelta {
			continue
		}
		scope, why := usableCRL(crl, c, issuer, path, opts)
		if why != "" {
			if namesEqual(crl.RawIssuer, c.RawIssuer) || scope.indirect {
				lastWhy = why
			}
			continue
		}
		reasons := allReasons
		if scope.reasons != 0 {
			reasons = scope.reasons
		}
		st, why := lookupEntry(crl, c, scope)
		if st == revUnknown {
			lastWhy = why
			continue
		}
		// Delta CRLs on top of this base.
		for _, d := range opts.CRLs {
			base, isDelta := deltaBase(d)
			if !isDelta || base == nil || crl.Number == nil {
				continue
			}
			// Same issuer and scope (RFC 5280 §5.2.4, §6.3.3 (c)), for a base
			// at least as new as the delta's BaseCRLNumber.
			if !namesEqual(d.RawIssuer, crl.RawIssuer) || base.Cmp(crl.Number) > 0 || !bytes.Equal(rawIDP(d), rawIDP(crl)) {
				continue
			}
			if d.Number != nil && d.Number.Cmp(crl.Number) <= 0 {
				continue
			}
			dscope, dwhy := usableCRL(d, c, issuer, path, opts)
			if dwhy != "" {
				continue
			}
			_ = dscope
			dst, dr := lookupEntryReason(d, c, dscope)
			if dst == revUnknown {
				return revUnknown, "delta CRL entry has unknown critical extension"
			}
			if dst == revRevoked {
				if dr == reasonRemoveFromCRL {
					st, why = revGood, ""
				} else {
					st, why = revRevoked, "listed in delta CRL"
				}
			}
		}
		if st == revRevoked {
			return revRevoked, why
		}
		covered |= reasons
		if covered&allReasons == allReasons {
			return revGood, ""
		}
	}
	if lastWhy == "" {
		lastWhy = "no CRL for the issuer"
		if covered != 0 {
			lastWhy = "CRLs do not cover all reasons"
		}
	}
	return revUnknown, lastWhy
}

func lookupEntry(crl *x509.RevocationList, c *x509.Certificate, scope idp) (revStatus, string) {
	st, reason := lookupEntryReason(crl, c, scope)
	switch st {
	case revRevoked:
		if reason == reasonRemoveFromCRL {
			return revGood, ""
		}
		return revRevoked, fmt.Sprintf("serial %s listed (reason %d)", c.SerialNumber, reason)
	case revUnknown:
		return revUnknown, "CRL entry has an unknown critical extension"
	}
	return revGood, ""
}

func lookupEntryReason(crl *x509.RevocationList, c *x509.Certificate, scope idp) (revStatus, int) {
	entryIssuer := crl.RawIssuer
	want := canonRawDN(c.RawIssuer)
	cur := canonRawDN(entryIssuer)
	// A large direct CRL is searched through its serial index.
	if !scope.indirect && len(crl.RevokedCertificateEntries) >= indexMinEntries {
		if ix := indexFor(crl); ix != nil {
			e, ok := ix.lookup(c.SerialNumber)
			if !ok || cur != want {
				return revGood, 0
			}
			for _, x := range e.Extensions {
				if x.Critical && !knownEntryExt[x.Id.String()] {
					return revUnknown, 0
				}
			}
			return revRevoked, e.ReasonCode
		}
	}
	for _, e := range crl.RevokedCertificateEntries {
		for _, x := range e.Extensions {
			if x.Id.Equal(oidCertIssuer) && scope.indirect {
				in := cryptobyte.String(x.Value)
				var gns cryptobyte.String
				if in.ReadASN1(&gns, cbasn1.SEQUENCE) {
					if names, ok := readGeneralNames(gns); ok && len(names) > 0 {
						cur = names[0]
					}
				}
			}
		}
		if cur != want || e.SerialNumber.Cmp(c.SerialNumber) != 0 {
			continue
		}
		for _, x := range e.Extensions {
			if x.Critical && !knownEntryExt[x.Id.String()] {
				return revUnknown, 0
			}
		}
		return revRevoked, e.ReasonCode
	}
	return revGood, 0
}

func rawIDP(crl *x509.RevocationList) []byte {
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidIDP) {
			return e.Value
		}
	}
	return nil
}
