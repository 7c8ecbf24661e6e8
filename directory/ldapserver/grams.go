package ldapserver

import (
	"cmp"
	"slices"
)

// Substring index.
//
// Every value an entry has for an indexed attribute is split, in its
// caseIgnore form (attrData.fold, as filters match it), into its 3-byte
// substrings — trigrams, bytes of UTF-8 for non-ASCII text. The index maps
// each (attribute, trigram) to the sorted list of entries with a value
// holding it. A value matching a substring assertion holds each of the
// assertion's components, hence each of their trigrams: the entries on
// the posting lists of all those trigrams are a superset of the matches,
// and the filter is evaluated on each of them as in a scan. Components
// shorter than three bytes have no trigram; an assertion without a longer
// component cannot use the index.

// gramIndex is the substring index of a snapshot, in three flat arrays.
type gramIndex struct {
	keys []uint32 // sorted gramKey values
	off  []int32  // the postings of keys[k] are post[off[k]:off[k+1]]
	post []int32  // entry indexes, ascending within each key
}

// gramKey identifies trigram v[i:i+3] of attribute id.
func gramKey(id attrID, v string, i int) uint32 {
	return uint32(id)<<24 | uint32(v[i])<<16 | uint32(v[i+1])<<8 | uint32(v[i+2])
}

// postings returns the entries having key; callers must not modify it.
func (g *gramIndex) postings(key uint32) []int32 {
	k, ok := slices.BinarySearch(g.keys, key)
	if !ok {
		return nil
	}
	return g.post[g.off[k]:g.off[k+1]:g.off[k+1]]
}

// bytes is the memory the index holds.
func (g *gramIndex) bytes() int {
	return 4*cap(g.keys) + 4*cap(g.off) + 4*cap(g.post)
}

// buildGramIndex indexes the indexed attributes of entries. It makes two
// passes: the first numbers the distinct keys and records, per entry, the
// keys it has (each once); the second places the entries into one flat
// posting array by counting sort, so every posting list comes out sorted.
func buildGramIndex(entries []*dirEntry) gramIndex {
	slot := make(map[uint32]int32)
	var keys []uint32 // by slot
	var last []int32  // by slot: last entry that had it
	var count []int32 // by slot: entries that have it
	var seq []int32   // the slots of each entry, deduplicated, entry after entry
	ends := make([]int32, len(entries))
	for i, e := range entries {
		for _, id := range indexedAttrs {
			a := e.attr(id)
			if a == nil {
				continue
			}
			for _, v := range a.fold {
				for j := 0; j+3 <= len(v); j++ {
					key := gramKey(id, v, j)
					s, ok := slot[key]
					if !ok {
						s = int32(len(keys))
						slot[key] = s
						keys = append(keys, key)
						last = append(last, -1)
						count = append(count, 0)
					}
					if last[s] != int32(i) {
						last[s] = int32(i)
						count[s]++
						seq = append(seq, s)
					}
				}
			}
		}
		ends[i] = int32(len(seq))
	}
	order := make([]int32, len(keys))
	for s := range order {
		order[s] = int32(s)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(keys[a], keys[b]) })
	g := gramIndex{
		keys: make([]uint32, len(keys)),
		off:  make([]int32, len(keys)+1),
		post: make([]int32, len(seq)),
	}
	pos := last // reused: the next free place of each slot's postings
	n := int32(0)
	for k, s := range order {
		g.keys[k] = keys[s]
		g.off[k] = n
		pos[s] = n
		n += count[s]
	}
	g.off[len(keys)] = n
	start := int32(0)
	for i, end := range ends {
		for _, s := range seq[start:end] {
			g.post[pos[s]] = int32(i)
			pos[s]++
		}
		start = end
	}
	return g
}

// Planner limits for substring assertions.
const (
	// maxIntersect is how many further posting lists are intersected with
	// the shortest one.
	maxIntersect = 3
	// fewCandidates is a candidate count not worth narrowing further.
	fewCandidates = 8
	// candidateBudget bounds the list elements that merging posting lists
	// may touch in one search, so that a filter of many assertions on
	// common trigrams cannot cost more than a scan.
	candidateBudget = 1 << 20
)

// substrCandidates narrows substring assertion n with the trigram index:
// the shortest posting list of its trigrams, intersected with a few more.
// ok is false when no component has three bytes.
func (f *filter) substrCandidates(s *snapshot, n *fnode) (list []int32, ok bool) {
	keys := f.keys[:0]
	if n.hasInit {
		keys = appendGramKeys(keys, n.attr, n.value)
	}
	for _, a := range f.anys[n.anyLo:n.anyHi] {
		keys = appendGramKeys(keys, n.attr, a)
	}
	if n.hasFin {
		keys = appendGramKeys(keys, n.attr, n.final)
	}
	f.keys = keys
	if len(keys) == 0 {
		return nil, false
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	lists := f.lists[:0]
	for _, k := range keys {
		l := s.grams.postings(k)
		if len(l) == 0 {
			f.lists = lists
			return nil, true
		}
		lists = append(lists, l)
	}
	slices.SortFunc(lists, func(a, b []int32) int { return cmp.Compare(len(a), len(b)) })
	list = lists[0]
	buf := -1
	for _, l := range lists[1:min(len(lists), 1+maxIntersect)] {
		if len(list) <= fewCandidates || !f.spend(len(list)+min(len(l), 16*len(list))) {
			break
		}
		if buf < 0 {
			buf = f.takeBuf()
		}
		list = intersect(f.bufs[buf][:0], list, l)
		f.bufs[buf] = list
	}
	clear(lists) // drop references into the index
	f.lists = lists[:0]
	return list, true
}

func appendGramKeys(keys []uint32, id attrID, v []byte) []uint32 {
	for j := 0; j+3 <= len(v); j++ {
		keys = append(keys, uint32(id)<<24|uint32(v[j])<<16|uint32(v[j+1])<<8|uint32(v[j+2]))
	}
	return keys
}

// intersect appends to dst the elements of the sorted lists a and b that
// are in both. dst may share a's array (a[:0]).
func intersect(dst, a, b []int32) []int32 {
	if len(b) < 8*len(a) {
		i, j := 0, 0
		for i < len(a) && j < len(b) {
			switch {
			case a[i] < b[j]:
				i++
			case a[i] > b[j]:
				j++
			default:
				dst = append(dst, a[i])
				i++
				j++
			}
		}
		return dst
	}
	for _, x := range a {
		k, found := slices.BinarySearch(b, x)
		if found {
			dst = append(dst, x)
		}
		b = b[k:]
	}
	return dst
}

// union appends to dst the elements of the sorted lists a and b, each once.
// dst must not share an array with a or b.
func union(dst, a, b []int32) []int32 {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			dst = append(dst, a[i])
			i++
		case a[i] > b[j]:
			dst = append(dst, b[j])
			j++
		default:
			dst = append(dst, a[i])
			i++
			j++
		}
	}
	dst = append(dst, a[i:]...)
	return append(dst, b[j:]...)
}

// spend takes cost from the search's candidate budget; false when it has
// not that much left.
func (f *filter) spend(cost int) bool {
	if cost > f.budget {
		return false
	}
	f.budget -= cost
	return true
}

// maxKeptBuf is the capacity of candidate buffers a connection keeps
// between requests.
const maxKeptBuf = 1 << 14

// takeBuf returns the number of a free candidate buffer, f.bufs[k], reused
// between requests; it is free again after reset.
func (f *filter) takeBuf() int {
	if f.nbuf == len(f.bufs) {
		f.bufs = append(f.bufs, nil)
	}
	f.nbuf++
	return f.nbuf - 1
}

// resetBufs frees the candidate buffers, dropping big ones, and renews the
// budget.
func (f *filter) resetBufs() {
	for k := range f.bufs[:f.nbuf] {
		if cap(f.bufs[k]) > maxKeptBuf {
			f.bufs[k] = nil
		}
	}
	f.nbuf = 0
	if cap(f.keys) > maxKeptBuf {
		f.keys = nil
	}
	if cap(f.lists) > maxKeptBuf/8 {
		f.lists = nil
	}
	f.budget = candidateBudget
}
