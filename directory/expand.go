package directory

import (
	"context"
	"fmt"
	"strings"

	"github.com/signet-smime/signet/store"
)

// Expansion is a distribution group expanded into the certificate lookups
// of its members.
type Expansion struct {
	// Group is the group's primary address; "" when the address expanded
	// is not a group (then Members has its one lookup).
	Group string
	// Members has one Result per final (non-group) member address, in
	// the order met (depth first, members in address order), de-duplicated.
	Members []*Result
	// Missing are the member addresses without a usable certificate
	// (including members whose address is malformed).
	Missing []string
	// Loops describes each membership cycle met, as the path of groups,
	// for example "a@x → b@x → a@x". The cycle is not followed.
	Loops []string
	// TimedOut is true when DLExpansionTimeout ran out before the end;
	// Unexpanded then lists the member addresses not looked up (groups
	// among them not expanded), next first.
	TimedOut   bool
	Unexpanded []string
}

// Usable reports whether every member has a usable certificate and the
// expansion finished.
func (e *Expansion) Usable() bool {
	return e != nil && !e.TimedOut && len(e.Missing) == 0 && len(e.Members) > 0
}

// frame is one group being expanded: its members and the next to visit.
type frame struct {
	group   string // "" for the pseudo-group holding the address expanded
	members []string
	next    int
}

// Expand looks up the certificates of every member of the group addr,
// expanding nested groups (cycles are detected and recorded in Loops;
// a group met twice on different paths is expanded once). An address that
// is not a group gives an Expansion with its one lookup. The whole
// expansion has DLExpansionTimeout (default 60 s): when it runs out,
// Expand stops and returns what it has with TimedOut set and the members
// not reached in Unexpanded. Errors are as for Find; a ctx that ends
// (rather than the budget) is an error.
func (l *Lookup) Expand(ctx context.Context, addr string) (*Expansion, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return nil, err
	}
	budget := l.DLExpansionTimeout
	if budget <= 0 {
		budget = DefaultDLExpansionTimeout
	}
	bctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	exp := &Expansion{}
	stack := []frame{{members: []string{a}}}
	seen := map[string]bool{}     // final members looked up
	expanded := map[string]bool{} // groups expanded (primary addresses)
	timedOut := false

	// stop records that the budget ran out (or ctx ended) before the
	// current frame's member next-1 was done.
	stop := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("directory: expand %s: %w", a, err)
		}
		stack[len(stack)-1].next--
		timedOut = true
		return nil
	}

loop:
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next == len(top.members) {
			stack = stack[:len(stack)-1]
			continue
		}
		m := top.members[top.next]
		top.next++
		if bctx.Err() != nil {
			if err := stop(); err != nil {
				return nil, err
			}
			break
		}
		ma, err := NormalizeAddress(m)
		if err != nil {
			exp.Missing = appendNew(exp.Missing, m)
			continue
		}
		rec, err := l.resolve(bctx, ma)
		if err != nil {
			if bctx.Err() != nil {
				if err := stop(); err != nil {
					return nil, err
				}
				break
			}
			return nil, err
		}
		if u := rec.user; u != nil && u.Kind == store.KindGroup {
			g := u.Email
			if len(stack) == 1 && stack[0].group == "" {
				exp.Group = g
			}
			for i, f := range stack {
				if f.group == g {
					path := []string{}
					for _, f := range stack[i:] {
						path = append(path, f.group)
					}
					exp.Loops = append(exp.Loops, strings.Join(append(path, g), " → "))
					continue loop
				}
			}
			if expanded[g] {
				continue
			}
			members, err := l.Store.GroupMembers(bctx, g)
			if err != nil {
				if bctx.Err() != nil {
					if err := stop(); err != nil {
						return nil, err
					}
					break
				}
				return nil, fmt.Errorf("directory: members of %s: %w", g, err)
			}
			expanded[g] = true
			stack = append(stack, frame{group: g, members: members})
			continue
		}
		key := strings.ToLower(ma)
		if seen[key] {
			continue
		}
		res, err := l.find(bctx, ma, rec)
		if err != nil {
			if bctx.Err() != nil {
				if err := stop(); err != nil {
					return nil, err
				}
				break
			}
			return nil, err
		}
		seen[key] = true
		exp.Members = append(exp.Members, res)
		if len(res.Found) == 0 {
			exp.Missing = append(exp.Missing, res.Address)
		}
	}
	if timedOut {
		exp.TimedOut = true
		listed := map[string]bool{}
		for i := len(stack) - 1; i >= 0; i-- {
			for _, m := range stack[i].members[stack[i].next:] {
				k := strings.ToLower(strings.TrimSpace(m))
				if seen[k] || expanded[k] || listed[k] {
					continue
				}
				listed[k] = true
				exp.Unexpanded = append(exp.Unexpanded, m)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("directory: expand %s: %w", a, err)
	}
	return exp, nil
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
