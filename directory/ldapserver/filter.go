package ldapserver

import (
	"errors"
	"strings"
)

// Filter choices (RFC 4511 §4.5.1.7), the low bits of the context tag.
const (
	fAnd        = 0
	fOr         = 1
	fNot        = 2
	fEquality   = 3
	fSubstrings = 4
	fGreater    = 5
	fLess       = 6
	fPresent    = 7
	fApprox     = 8
	fExtensible = 9
)

// Limits on filters; beyond them the request is treated as malformed.
const (
	maxFilterDepth = 32
	maxFilterNodes = 512
)

var errFilterTooComplex = errors.New("ldapserver: filter nested too deep or too many elements")

// three-valued filter results (RFC 4511 §4.5.1.7)
const (
	vFalse = iota
	vTrue
	vUndefined
)

type fnode struct {
	op      byte
	attr    attrID
	value   []byte // folded assertion value; substrings: initial
	final   []byte // substrings: final
	anyLo   int32  // substrings: any components are anys[anyLo:anyHi]
	anyHi   int32
	hasInit bool
	hasFin  bool
	child   int32 // first child (and, or, not), -1 if none
	next    int32 // next sibling, -1 if none
}

// filter is a parsed filter. Its slices are reused between requests of a
// connection; values point into arena, which is only appended to.
type filter struct {
	nodes []fnode
	anys  [][]byte
	arena []byte

	// scratch space of candidates
	keys   []uint32
	lists  [][]int32
	bufs   [][]int32
	nbuf   int
	budget int // see candidateBudget
}

func (f *filter) reset() {
	f.nodes = f.nodes[:0]
	f.anys = f.anys[:0]
	f.arena = f.arena[:0]
	f.resetBufs()
}

// fold appends the caseIgnore form of v to the arena and returns it.
func (f *filter) fold(v []byte) []byte {
	start := len(f.arena)
	f.arena = append(f.arena, foldValue(f.arena[len(f.arena):], v)...)
	// foldValue may have written into the spare capacity already; the
	// append above copies it onto itself in that case.
	return f.arena[start:len(f.arena):len(f.arena)]
}

// parse parses the filter element with the given identifier and contents
// and returns the index of its node.
func (f *filter) parse(tag byte, c []byte, depth int) (int32, error) {
	if depth > maxFilterDepth || len(f.nodes) >= maxFilterNodes {
		return -1, errFilterTooComplex
	}
	if tag&0xc0 != classContext {
		return -1, errMalformed
	}
	op := tag & 0x1f
	isCons := tag&constructed != 0
	idx := int32(len(f.nodes))
	f.nodes = append(f.nodes, fnode{op: op, attr: atUnknown, child: -1, next: -1})
	switch op {
	case fAnd, fOr, fNot:
		if !isCons {
			return -1, errMalformed
		}
		r := berReader{c}
		last := int32(-1)
		n := 0
		for !r.empty() {
			t, cc, err := r.next()
			if err != nil {
				return -1, err
			}
			k, err := f.parse(t, cc, depth+1)
			if err != nil {
				return -1, err
			}
			if last < 0 {
				f.nodes[idx].child = k
			} else {
				f.nodes[last].next = k
			}
			last = k
			n++
		}
		if op == fNot && n != 1 {
			return -1, errMalformed
		}
	case fEquality, fGreater, fLess, fApprox:
		if !isCons {
			return -1, errMalformed
		}
		r := berReader{c}
		desc, err := r.expect(tagOctetString)
		if err != nil {
			return -1, err
		}
		val, err := r.expect(tagOctetString)
		if err != nil || !r.empty() {
			return -1, errMalformed
		}
		id, _ := lookupAttr(desc)
		f.nodes[idx].attr = id
		f.nodes[idx].value = f.fold(val)
	case fSubstrings:
		if !isCons {
			return -1, errMalformed
		}
		r := berReader{c}
		desc, err := r.expect(tagOctetString)
		if err != nil {
			return -1, err
		}
		subs, err := r.expect(tagSequence)
		if err != nil || !r.empty() {
			return -1, errMalformed
		}
		id, _ := lookupAttr(desc)
		n := fnode{op: op, attr: id, child: -1, next: -1, anyLo: int32(len(f.anys))}
		sr := berReader{subs}
		count := 0
		for !sr.empty() {
			t, v, err := sr.next()
			if err != nil {
				return -1, err
			}
			count++
			if count > maxFilterNodes {
				return -1, errFilterTooComplex
			}
			if n.hasFin {
				return -1, errMalformed // final must be last
			}
			switch t {
			case classContext:
				if count != 1 {
					return -1, errMalformed
				}
				n.hasInit = true
				n.value = f.fold(v)
			case classContext | 1:
				f.anys = append(f.anys, f.fold(v))
			case classContext | 2:
				n.hasFin = true
				n.final = f.fold(v)
			default:
				return -1, errMalformed
			}
		}
		if count == 0 {
			return -1, errMalformed
		}
		n.anyHi = int32(len(f.anys))
		f.nodes[idx] = n
	case fPresent:
		if isCons {
			return -1, errMalformed
		}
		id, _ := lookupAttr(c)
		f.nodes[idx].attr = id
	case fExtensible:
		if !isCons {
			return -1, errMalformed
		}
		// MatchingRuleAssertion: checked for structure only; evaluates to
		// Undefined (no extensible matching rules are supported).
		r := berReader{c}
		for !r.empty() {
			if _, _, err := r.next(); err != nil {
				return -1, err
			}
		}
	default:
		return -1, errMalformed
	}
	return idx, nil
}

// eval evaluates node i against e.
func (f *filter) eval(i int32, e *dirEntry) int {
	n := &f.nodes[i]
	switch n.op {
	case fAnd:
		res := vTrue
		for k := n.child; k >= 0; k = f.nodes[k].next {
			switch f.eval(k, e) {
			case vFalse:
				return vFalse
			case vUndefined:
				res = vUndefined
			}
		}
		return res
	case fOr:
		res := vFalse
		for k := n.child; k >= 0; k = f.nodes[k].next {
			switch f.eval(k, e) {
			case vTrue:
				return vTrue
			case vUndefined:
				res = vUndefined
			}
		}
		return res
	case fNot:
		switch f.eval(n.child, e) {
		case vTrue:
			return vFalse
		case vFalse:
			return vTrue
		}
		return vUndefined
	case fPresent:
		if n.attr == atObjectClass {
			return vTrue
		}
		if n.attr != atUnknown && e.attr(n.attr) != nil {
			return vTrue
		}
		return vFalse
	case fExtensible:
		return vUndefined
	}
	if n.attr == atUnknown || n.attr.binary() {
		return vUndefined
	}
	a := e.attr(n.attr)
	if a == nil {
		return vFalse
	}
	for _, v := range a.fold {
		var ok bool
		switch n.op {
		case fEquality, fApprox:
			ok = v == string(n.value)
		case fGreater:
			ok = v >= string(n.value)
		case fLess:
			ok = v <= string(n.value)
		case fSubstrings:
			ok = f.substrMatch(n, v)
		}
		if ok {
			return vTrue
		}
	}
	return vFalse
}

func (f *filter) substrMatch(n *fnode, v string) bool {
	// string(x) in comparisons neither allocates nor copies.
	if n.hasInit {
		if len(v) < len(n.value) || v[:len(n.value)] != string(n.value) {
			return false
		}
		v = v[len(n.value):]
	}
	if n.hasFin {
		if len(v) < len(n.final) || v[len(v)-len(n.final):] != string(n.final) {
			return false
		}
		v = v[:len(v)-len(n.final)]
	}
	for _, a := range f.anys[n.anyLo:n.anyHi] {
		k := indexBytes(v, a)
		if k < 0 {
			return false
		}
		v = v[k+len(a):]
	}
	return true
}

// indexBytes is strings.Index(s, string(sub)) without converting sub.
func indexBytes(s string, sub []byte) int {
	if len(sub) == 0 {
		return 0
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		k := strings.IndexByte(s[i:len(s)-len(sub)+1], sub[0])
		if k < 0 {
			return -1
		}
		i += k
		if s[i:i+len(sub)] == string(sub) {
			return i
		}
	}
	return -1
}

// candidates returns the entries an index can narrow node i to, in
// ascending order, or ok false when the whole scope must be scanned. Every
// entry the node matches is in the list; the caller evaluates the filter
// on each. Equality and approximate assertions on indexed attributes use
// the equality index, substring assertions with a component of three bytes
// or more the trigram index; assertions that can never be True (unknown or
// binary attributes, extensible matches) give no candidates. An AND takes
// its shortest indexable child; an OR is indexable when every child is (and
// their union is less than half the directory: a scan, which stops at the
// size limit, does as well then); a NOT is not indexable. The result may
// alias the index or a buffer of f; callers must not modify it.
func (f *filter) candidates(s *snapshot, i int32) (list []int32, ok bool) {
	n := &f.nodes[i]
	switch n.op {
	case fEquality, fApprox, fSubstrings, fGreater, fLess:
		if n.attr == atUnknown || n.attr.binary() {
			return nil, true // Undefined for every entry
		}
		if s.index[n.attr] == nil {
			return nil, false
		}
		switch n.op {
		case fEquality, fApprox:
			return s.index[n.attr][string(n.value)], true
		case fSubstrings:
			return f.substrCandidates(s, n)
		}
	case fPresent:
		if n.attr == atUnknown {
			return nil, true
		}
	case fExtensible:
		return nil, true
	case fAnd:
		for k := n.child; k >= 0; k = f.nodes[k].next {
			if l, ok2 := f.candidates(s, k); ok2 && (!ok || len(l) < len(list)) {
				list, ok = l, true
				if len(l) == 0 {
					break
				}
			}
		}
		return list, ok
	case fOr:
		total := 0
		acc, tmp := -1, -1
		for k := n.child; k >= 0; k = f.nodes[k].next {
			l, ok2 := f.candidates(s, k)
			if !ok2 {
				return nil, false
			}
			if total += len(l); total > len(s.entries)/2 {
				return nil, false
			}
			switch {
			case len(l) == 0:
			case list == nil:
				list = l
			default:
				if !f.spend(len(list) + len(l)) {
					return nil, false
				}
				if acc < 0 {
					acc, tmp = f.takeBuf(), f.takeBuf()
				}
				f.bufs[tmp] = union(f.bufs[tmp][:0], list, l)
				list = f.bufs[tmp]
				acc, tmp = tmp, acc
			}
		}
		return list, true
	}
	return nil, false
}

// restricted reports whether node i confines its matches the way an
// anonymous lookup must: by an equality, or a substring assertion with at
// least three literal characters, on a naming attribute.
func (f *filter) restricted(i int32) bool {
	n := &f.nodes[i]
	switch n.op {
	case fAnd:
		for k := n.child; k >= 0; k = f.nodes[k].next {
			if f.restricted(k) {
				return true
			}
		}
		return false
	case fOr:
		if n.child < 0 {
			return false
		}
		for k := n.child; k >= 0; k = f.nodes[k].next {
			if !f.restricted(k) {
				return false
			}
		}
		return true
	case fEquality, fApprox, fSubstrings:
	default:
		return false
	}
	switch n.attr {
	case atMail, atCN, atSN, atGivenName, atDisplayName, atUID:
	default:
		return false
	}
	if n.op != fSubstrings {
		return len(n.value) > 0
	}
	lit := len(n.value) + len(n.final)
	for _, a := range f.anys[n.anyLo:n.anyHi] {
		lit += len(a)
	}
	return lit >= 3
}
