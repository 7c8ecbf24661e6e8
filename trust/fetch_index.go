package trust

import (
	"crypto/x509"
	"math/big"
	"sort"
	"sync"
)

// crlIndex is a sorted index of a CRL's entries by serial number, built once
// per CRL, for O(log n) lookups in large CRLs. It serves direct CRLs only:
// an entry with a certificateIssuer extension (indirect CRLs) makes the
// index decline, and callers fall back to the linear scan.
type crlIndex struct {
	crl   *x509.RevocationList
	order []int32 // entry positions sorted by serial
}

// newCRLIndex indexes crl, or returns nil when it has indirect entries.
func newCRLIndex(crl *x509.RevocationList) *crlIndex {
	es := crl.RevokedCertificateEntries
	ix := &crlIndex{crl: crl, order: make([]int32, len(es))}
	for i := range es {
		for _, x := range es[i].Extensions {
			if x.Id.Equal(oidCertIssuer) {
				return nil
			}
		}
		ix.order[i] = int32(i)
	}
	sort.Slice(ix.order, func(a, b int) bool {
		return es[ix.order[a]].SerialNumber.Cmp(es[ix.order[b]].SerialNumber) < 0
	})
	return ix
}

// lookup returns the entry for serial, if listed.
func (ix *crlIndex) lookup(serial *big.Int) (*x509.RevocationListEntry, bool) {
	es := ix.crl.RevokedCertificateEntries
	i := sort.Search(len(ix.order), func(i int) bool { return es[ix.order[i]].SerialNumber.Cmp(serial) >= 0 })
	if i < len(ix.order) && es[ix.order[i]].SerialNumber.Cmp(serial) == 0 {
		return &es[ix.order[i]], true
	}
	return nil, false
}

// indexMinEntries is the CRL size from which lookups go through an index.
const indexMinEntries = 1024

// indexes keeps the indexes of recently used large CRLs; it is emptied when
// it grows past maxIndexes, so a long-running process stays bounded.
var (
	indexMu sync.Mutex
	indexes = map[*x509.RevocationList]*crlIndex{}
)

const maxIndexes = 64

// indexFor returns the (cached) index of crl, or nil for an indirect CRL.
func indexFor(crl *x509.RevocationList) *crlIndex {
	indexMu.Lock()
	defer indexMu.Unlock()
	if ix, ok := indexes[crl]; ok {
		return ix
	}
	if len(indexes) >= maxIndexes {
		clear(indexes)
	}
	ix := newCRLIndex(crl)
	indexes[crl] = ix
	return ix
}
