package ldapserver

import (
	"encoding/binary"
	"strings"
	"time"
)

const (
	scopeBase = 0
	scopeOne  = 1
	scopeSub  = 2
)

// maxPagedStates bounds the paged searches a connection keeps open.
const maxPagedStates = 8

// attrSel is the requested attribute list of a search.
type attrSel struct {
	all, ops    bool   // "*" (or an empty list), "+"
	mask        uint32 // attributes asked for by name
	smimeBinary bool   // "userSMIMECertificate;binary" asked for
}

func (a *attrSel) has(id attrID) bool {
	if a.mask&(1<<id) != 0 {
		return true
	}
	if id.operational() {
		return a.ops
	}
	return a.all
}

func (a *attrSel) name(id attrID) string {
	if id == atUserSMIMECertificate && a.smimeBinary {
		return "userSMIMECertificate;binary"
	}
	return attrNames[id]
}

type pagedState struct {
	snap *snapshot
	list []int32
	pos  int
	sent int
	key  string
}

func (c *conn) search(m *message) error {
	r := berReader{m.op}
	base, err := r.expect(tagOctetString)
	if err != nil {
		return violation("bad search base")
	}
	scope, err := r.readInt(tagEnumerated)
	if err != nil {
		return violation("bad search scope")
	}
	deref, err := r.readInt(tagEnumerated)
	if err != nil {
		return violation("bad derefAliases")
	}
	sizeLimit, err := r.readInt(tagInteger)
	if err != nil {
		return violation("bad sizeLimit")
	}
	timeLimit, err := r.readInt(tagInteger)
	if err != nil {
		return violation("bad timeLimit")
	}
	typesOnly, err := r.readBool()
	if err != nil {
		return violation("bad typesOnly")
	}
	rest := r.b // filter and attributes: the paging key
	ftag, fcont, err := r.next()
	if err != nil {
		return violation("bad filter")
	}
	filterRaw := rest[:len(rest)-len(r.b)]
	c.filt.reset()
	froot, err := c.filt.parse(ftag, fcont, 1)
	if err == errFilterTooComplex {
		return violation("filter nested deeper than %d or with more than %d elements", maxFilterDepth, maxFilterNodes)
	} else if err != nil {
		return violation("bad filter")
	}
	attrs, err := r.expect(tagSequence)
	if err != nil || !r.empty() {
		return violation("bad attribute selection")
	}
	var sel attrSel
	none, count := false, 0
	for ar := (berReader{attrs}); !ar.empty(); {
		a, err := ar.expect(tagOctetString)
		if err != nil {
			return violation("bad attribute selection")
		}
		count++
		switch string(a) {
		case "1.1":
			none = true
			count--
		case "*":
			sel.all = true
		case "+":
			sel.ops = true
		default:
			if id, bin := lookupAttr(a); id != atUnknown {
				sel.mask |= 1 << id
				if id == atUserSMIMECertificate && bin {
					sel.smimeBinary = true
				}
			}
		}
	}
	if count == 0 && !none {
		sel.all = true
	}

	done := func(code int, matched, diag string, controls []byte) error {
		return c.result(m.id, opSearchDone, code, matched, diag, nil, controls)
	}
	if m.critical != nil {
		return done(resultUnavailableCritical, "", "unsupported critical control "+string(m.critical), nil)
	}
	if scope < scopeBase || scope > scopeSub || deref < 0 || deref > 3 || sizeLimit < 0 || timeLimit < 0 {
		return done(resultProtocolError, "", "invalid search parameters", nil)
	}
	s := c.s
	s.searchCount.Add(1)
	if s.traceSearch != nil {
		s.traceSearch(c.bound, string(base), scope, append([]byte(nil), filterRaw...))
	}
	start := s.now()
	deadline := start.Add(s.cfg.TimeLimit)
	if timeLimit > 0 && time.Duration(timeLimit)*time.Second < s.cfg.TimeLimit {
		deadline = start.Add(time.Duration(timeLimit) * time.Second)
	}

	trimmed := strings.TrimSpace(string(base))
	if trimmed == "" && scope == scopeBase {
		// The root DSE: always readable.
		if c.filt.eval(froot, s.root) == vTrue {
			if err := c.writeEntry(m.id, s.root, &sel, typesOnly); err != nil {
				return err
			}
		}
		return done(resultSuccess, "", "", nil)
	}

	snap := s.snap.Load()
	var ranges rangeSet
	if trimmed == "" {
		// Below the root DSE lies the one naming context.
		if scope == scopeOne {
			ranges = rangeSet{{idxBase, idxBase + 1}}
		} else {
			ranges = snap.scopeRanges(idxBase, scopeSub)
		}
	} else {
		bi, ok := snap.byDN[string(base)]
		if !ok {
			norm, valid := normalizeDN(string(base))
			if !valid {
				return done(resultInvalidDNSyntax, "", "invalid base DN", nil)
			}
			if bi, ok = snap.byDN[norm]; !ok {
				return done(resultNoSuchObject, snap.matchedDN(norm), "", nil)
			}
		}
		ranges = snap.scopeRanges(bi, int(scope))
	}

	anon := !c.bound
	if anon && !s.cfg.AllowAnonymousList && scope != scopeBase && !c.filt.restricted(froot) {
		return done(resultInsufficientAccess, "", "anonymous clients may only look up specific entries, e.g. (mail=user@example.org); listing the directory needs a bind", nil)
	}
	limit := s.cfg.SizeLimit
	if anon {
		limit = s.cfg.AnonymousSizeLimit
	}
	clientLimit := int(min(sizeLimit, 1<<31-1))

	if m.paged != nil {
		size, cookie, ok := parsePaged(m.paged.value)
		if !ok {
			return done(resultProtocolError, "", "malformed paged results control", nil)
		}
		if clientLimit == 0 || size < clientLimit {
			key := strings.Join([]string{string(base), string(rune('0' + scope)), string(rune('0' + deref)), boolStr(typesOnly), string(rest)}, "\x00")
			return c.pagedSearch(m, snap, &ranges, froot, &sel, typesOnly, size, cookie, key, limit, clientLimit, anon, deadline)
		}
		// RFC 2696 §3: a page as big as the size limit: answer in one go.
	}

	if clientLimit > 0 && clientLimit < limit {
		limit = clientLimit
	}
	sent, code := 0, resultSuccess
	var werr error
	timedOut := c.forMatches(snap, &ranges, froot, deadline, func(i int32) bool {
		if sent == limit {
			code = resultSizeLimitExceeded
			return false
		}
		if werr = c.writeEntry(m.id, snap.entries[i], &sel, typesOnly); werr != nil {
			return false
		}
		sent++
		return true
	})
	if werr != nil {
		return werr
	}
	if timedOut {
		code = resultTimeLimitExceeded
	}
	return done(code, "", "", nil)
}

const resultInvalidDNSyntax = 34

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// matchedDN returns the longest existing superior of the normalized DN n.
func (s *snapshot) matchedDN(n string) string {
	parts := splitDN(n, ',')
	for i := 1; i < len(parts); i++ {
		if bi, ok := s.byDN[strings.Join(parts[i:], ",")]; ok {
			return s.entries[bi].dn
		}
	}
	return ""
}

// forMatches calls fn with the index of each entry in ranges that the
// filter matches, in directory order, until fn returns false. It reports
// whether the deadline passed first.
func (c *conn) forMatches(snap *snapshot, ranges *rangeSet, froot int32, deadline time.Time, fn func(int32) bool) bool {
	f := &c.filt
	if c.s.scanOnly {
		// test hook: as if no index could help
	} else if list, ok := f.candidates(snap, froot); ok {
		for k, i := range list {
			if k&255 == 255 && c.s.now().After(deadline) {
				return true
			}
			if ranges.has(i) && f.eval(froot, snap.entries[i]) == vTrue && !fn(i) {
				return false
			}
		}
		return false
	}
	n := 0
	for _, rg := range ranges {
		for i := rg[0]; i < rg[1]; i++ {
			n++
			if n&255 == 0 && c.s.now().After(deadline) {
				return true
			}
			if f.eval(froot, snap.entries[i]) == vTrue && !fn(i) {
				return false
			}
		}
	}
	return false
}

// parsePaged decodes realSearchControlValue (RFC 2696).
func parsePaged(v []byte) (size int, cookie []byte, ok bool) {
	r := berReader{v}
	seq, err := r.expect(tagSequence)
	if err != nil || !r.empty() {
		return 0, nil, false
	}
	r = berReader{seq}
	n, err := r.readInt(tagInteger)
	if err != nil || n < 0 {
		return 0, nil, false
	}
	cookie, err = r.expect(tagOctetString)
	if err != nil || !r.empty() {
		return 0, nil, false
	}
	return int(min(n, 1<<31-1)), cookie, true
}

// pagedControl encodes the response controls holding a paged results
// control with cookie.
func pagedControl(cookie []byte) []byte {
	valLen := 3 + tlvLen(len(cookie))
	ctlLen := tlvLen(len(oidPaged)) + tlvLen(tlvLen(valLen))
	b := make([]byte, 0, tlvLen(tlvLen(ctlLen)))
	b = appendHeader(b, classContext|constructed, tlvLen(ctlLen))
	b = appendHeader(b, tagSequence, ctlLen)
	b = appendTLVString(b, tagOctetString, oidPaged)
	b = appendHeader(b, tagOctetString, tlvLen(valLen))
	b = appendHeader(b, tagSequence, valLen)
	b = appendInt(b, tagInteger, 0)
	return appendTLV(b, tagOctetString, cookie)
}

// pagedSearch serves one page of a paged search (RFC 2696). The matches
// are computed on the first request; the cookie names the state kept on
// this connection, so it is useless elsewhere. A page holds at most the
// server's size limit; bound clients may page through the whole result,
// anonymous ones through AnonymousSizeLimit entries, and a client's own
// sizeLimit applies to the whole result.
func (c *conn) pagedSearch(m *message, snap *snapshot, ranges *rangeSet, froot int32, sel *attrSel, typesOnly bool,
	size int, cookie []byte, key string, limit, clientLimit int, anon bool, deadline time.Time) error {
	done := func(code int, diag string, next []byte) error {
		return c.result(m.id, opSearchDone, code, "", diag, nil, pagedControl(next))
	}
	total := 0 // cap on the whole result; 0: none
	if anon {
		total = limit
	}
	if clientLimit > 0 && (total == 0 || clientLimit < total) {
		total = clientLimit
	}
	var st *pagedState
	if len(cookie) == 0 {
		if size == 0 {
			return done(resultSuccess, "", nil)
		}
		st = &pagedState{snap: snap, key: key}
		timedOut := c.forMatches(snap, ranges, froot, deadline, func(i int32) bool {
			st.list = append(st.list, i)
			return total == 0 || len(st.list) <= total
		})
		if timedOut {
			return done(resultTimeLimitExceeded, "", nil)
		}
	} else {
		st = c.paged[string(cookie)]
		if st == nil {
			return done(resultUnwillingToPerform, "paged results cookie is invalid", nil)
		}
		c.dropPaged(string(cookie))
		if st.key != key {
			return done(resultUnwillingToPerform, "paged search parameters changed", nil)
		}
		if size == 0 {
			return done(resultSuccess, "", nil) // abandoned by the client
		}
	}
	page := min(size, limit)
	for n := 0; n < page && st.pos < len(st.list) && (total == 0 || st.sent < total); n++ {
		if err := c.writeEntry(m.id, st.snap.entries[st.list[st.pos]], sel, typesOnly); err != nil {
			return err
		}
		st.pos++
		st.sent++
	}
	if st.pos >= len(st.list) {
		return done(resultSuccess, "", nil)
	}
	if total > 0 && st.sent >= total {
		return done(resultSizeLimitExceeded, "", nil)
	}
	c.cookie++
	next := binary.BigEndian.AppendUint64(nil, c.cookie)
	if c.paged == nil {
		c.paged = map[string]*pagedState{}
	}
	if len(c.pagedQ) >= maxPagedStates {
		c.dropPaged(c.pagedQ[0])
	}
	c.paged[string(next)] = st
	c.pagedQ = append(c.pagedQ, string(next))
	return done(resultSuccess, "", next)
}

func (c *conn) dropPaged(cookie string) {
	delete(c.paged, cookie)
	for i, k := range c.pagedQ {
		if k == cookie {
			c.pagedQ = append(c.pagedQ[:i], c.pagedQ[i+1:]...)
			break
		}
	}
}

// writeEntry writes a SearchResultEntry with the selected attributes.
func (c *conn) writeEntry(id int64, e *dirEntry, sel *attrSel, typesOnly bool) error {
	attrsLen := 0
	for i := range e.attrs {
		a := &e.attrs[i]
		if !sel.has(a.id) {
			continue
		}
		setLen := len(a.set)
		if typesOnly {
			setLen = 2
		}
		attrsLen += tlvLen(tlvLen(len(sel.name(a.id))) + setLen)
	}
	opLen := len(e.dnEnc) + tlvLen(attrsLen)
	b := c.out[:0]
	b = appendHeader(b, tagSequence, tlvLen(intLen(id))+tlvLen(opLen))
	b = appendInt(b, tagInteger, id)
	b = appendHeader(b, opSearchEntry, opLen)
	b = append(b, e.dnEnc...)
	b = appendHeader(b, tagSequence, attrsLen)
	for i := range e.attrs {
		a := &e.attrs[i]
		if !sel.has(a.id) {
			continue
		}
		name := sel.name(a.id)
		if typesOnly {
			b = appendHeader(b, tagSequence, tlvLen(len(name))+2)
			b = appendTLVString(b, tagOctetString, name)
			b = append(b, tagSet, 0)
			continue
		}
		b = appendHeader(b, tagSequence, tlvLen(len(name))+len(a.set))
		b = appendTLVString(b, tagOctetString, name)
		b = append(b, a.set...)
	}
	c.out = b
	_, err := c.w.Write(b)
	return err
}
