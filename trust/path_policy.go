package trust

import (
	"crypto/x509"
	"errors"
)

const anyPolicyOID = "2.5.29.32.0"

// policyNode is a node of the RFC 5280 valid_policy_tree.
type policyNode struct {
	policy   string
	expected map[string]bool
	parent   *policyNode
	children []*policyNode
	depth    int
}

type policyState struct {
	n                             int
	levels                        [][]*policyNode // levels[d] = nodes at depth d; nil tree when levels == nil
	explicit, mapping, inhibitAny int
	initial                       []string
}

func newPolicyState(n int, opts ValidateOptions) *policyState {
	s := &policyState{n: n, explicit: n + 1, mapping: n + 1, inhibitAny: n + 1}
	if opts.RequireExplicitPolicy {
		s.explicit = 0
	}
	if opts.InhibitPolicyMapping {
		s.mapping = 0
	}
	if opts.InhibitAnyPolicy {
		s.inhibitAny = 0
	}
	for _, p := range opts.InitialPolicies {
		s.initial = append(s.initial, p.String())
	}
	root := &policyNode{policy: anyPolicyOID, expected: map[string]bool{anyPolicyOID: true}}
	s.levels = [][]*policyNode{{root}}
	return s
}

func certPolicies(c *x509.Certificate) []string {
	var out []string
	if len(c.Policies) > 0 {
		for _, p := range c.Policies {
			out = append(out, p.String())
		}
		return out
	}
	for _, p := range c.PolicyIdentifiers {
		out = append(out, p.String())
	}
	return out
}

func (s *policyState) addChild(parent *policyNode, p string, expected map[string]bool, depth int) {
	ch := &policyNode{policy: p, expected: expected, parent: parent, depth: depth}
	parent.children = append(parent.children, ch)
	for len(s.levels) <= depth {
		s.levels = append(s.levels, nil)
	}
	s.levels[depth] = append(s.levels[depth], ch)
}

// prune removes childless nodes above depth, bottom up; tree becomes nil if
// the root goes.
func (s *policyState) prune(depth int) {
	for d := depth - 1; d >= 0; d-- {
		var keep []*policyNode
		for _, nd := range s.levels[d] {
			if len(nd.children) > 0 {
				keep = append(keep, nd)
				continue
			}
			if nd.parent != nil {
				nd.parent.removeChild(nd)
			}
		}
		s.levels[d] = keep
	}
	if len(s.levels[0]) == 0 {
		s.levels = nil
	}
}

func (nd *policyNode) removeChild(c *policyNode) {
	for i, x := range nd.children {
		if x == c {
			nd.children = append(nd.children[:i], nd.children[i+1:]...)
			return
		}
	}
}

// process is 6.1.3 (d)-(f) for certificate i (1-based).
func (s *policyState) process(i int, c *x509.Certificate, last bool) error {
	pols := certPolicies(c)
	if len(pols) > 0 && s.levels != nil {
		for len(s.levels) <= i {
			s.levels = append(s.levels, nil)
		}
		prev := s.levels[i-1]
		hasAny := false
		for _, p := range pols {
			if p == anyPolicyOID {
				hasAny = true
				continue
			}
			matched := false
			for _, nd := range prev {
				if nd.expected[p] {
					s.addChild(nd, p, map[string]bool{p: true}, i)
					matched = true
				}
			}
			if !matched {
				for _, nd := range prev {
					if nd.policy == anyPolicyOID {
						s.addChild(nd, p, map[string]bool{p: true}, i)
					}
				}
			}
		}
		if hasAny && (s.inhibitAny > 0 || (!last && isSelfIssued(c))) {
			for _, nd := range prev {
				have := map[string]bool{}
				for _, ch := range nd.children {
					have[ch.policy] = true
				}
				for e := range nd.expected {
					if !have[e] {
						s.addChild(nd, e, map[string]bool{e: true}, i)
					}
				}
			}
		}
		s.prune(i)
	} else if len(pols) == 0 {
		s.levels = nil
	}
	if s.explicit <= 0 && s.levels == nil {
		return errors.New("no valid policy (explicit policy required)")
	}
	return nil
}

// prepare is 6.1.4 (a),(b),(h),(i),(j).
func (s *policyState) prepare(i int, c *x509.Certificate) error {
	if len(c.PolicyMappings) > 0 {
		mapped := map[string][]string{}
		var order []string
		for _, m := range c.PolicyMappings {
			idp, sdp := m.IssuerDomainPolicy.String(), m.SubjectDomainPolicy.String()
			if idp == anyPolicyOID || sdp == anyPolicyOID {
				return errors.New("policy mapping to or from anyPolicy")
			}
			if _, ok := mapped[idp]; !ok {
				order = append(order, idp)
			}
			mapped[idp] = append(mapped[idp], sdp)
		}
		if s.levels != nil && len(s.levels) > i {
			for _, idp := range order {
				if s.mapping > 0 {
					found := false
					for _, nd := range s.levels[i] {
						if nd.policy == idp {
							found = true
							nd.expected = map[string]bool{}
							for _, sdp := range mapped[idp] {
								nd.expected[sdp] = true
							}
						}
					}
					if !found {
						for _, nd := range s.levels[i] {
							if nd.policy == anyPolicyOID {
								exp := map[string]bool{}
								for _, sdp := range mapped[idp] {
									exp[sdp] = true
								}
								s.addChild(nd.parent, idp, exp, i)
								break
							}
						}
					}
				} else {
					var keep []*policyNode
					for _, nd := range s.levels[i] {
						if nd.policy == idp {
							nd.parent.removeChild(nd)
							continue
						}
						keep = append(keep, nd)
					}
					s.levels[i] = keep
					s.prune(i)
					if s.levels == nil {
						break
					}
				}
			}
		}
	}
	if !isSelfIssued(c) {
		if s.explicit > 0 {
			s.explicit--
		}
		if s.mapping > 0 {
			s.mapping--
		}
		if s.inhibitAny > 0 {
			s.inhibitAny--
		}
	}
	if v, ok := constraint(c.RequireExplicitPolicy, c.RequireExplicitPolicyZero); ok && v < s.explicit {
		s.explicit = v
	}
	if v, ok := constraint(c.InhibitPolicyMapping, c.InhibitPolicyMappingZero); ok && v < s.mapping {
		s.mapping = v
	}
	if v, ok := constraint(c.InhibitAnyPolicy, c.InhibitAnyPolicyZero); ok && v < s.inhibitAny {
		s.inhibitAny = v
	}
	return nil
}

func constraint(v int, zero bool) (int, bool) {
	if v > 0 {
		return v, true
	}
	if zero {
		return 0, true
	}
	return 0, false
}

// wrapUp is 6.1.5 (a),(b),(g) and the final explicit-policy test.
func (s *policyState) wrapUp(leaf *x509.Certificate) error {
	if s.explicit > 0 {
		s.explicit--
	}
	if v, ok := constraint(leaf.RequireExplicitPolicy, leaf.RequireExplicitPolicyZero); ok && v == 0 {
		s.explicit = 0
	}
	s.intersect()
	if s.explicit <= 0 && s.levels == nil {
		return errors.New("no valid policy for the path (explicit policy required)")
	}
	return nil
}

// intersect is 6.1.5 (g) for a user-initial-policy-set other than anyPolicy.
func (s *policyState) intersect() {
	if s.levels == nil || len(s.initial) == 0 {
		return
	}
	init := map[string]bool{}
	for _, p := range s.initial {
		if p == anyPolicyOID {
			return
		}
		init[p] = true
	}
	n := s.n
	for len(s.levels) <= n {
		s.levels = append(s.levels, nil)
	}
	// valid_policy_node_set: nodes whose parent is anyPolicy (and which are not anyPolicy themselves).
	var vset []*policyNode
	for d := 1; d < len(s.levels); d++ {
		for _, nd := range s.levels[d] {
			if nd.parent != nil && nd.parent.policy == anyPolicyOID {
				vset = append(vset, nd)
			}
		}
	}
	for _, nd := range vset {
		if nd.policy != anyPolicyOID && !init[nd.policy] {
			s.removeSubtree(nd)
		}
	}
	// anyPolicy leaf at depth n: replace with explicit nodes.
	for _, nd := range append([]*policyNode(nil), s.levels[n]...) {
		if nd.policy != anyPolicyOID {
			continue
		}
		have := map[string]bool{}
		for _, v := range vset {
			if v.policy != anyPolicyOID && init[v.policy] {
				have[v.policy] = true
			}
		}
		for p := range init {
			if !have[p] {
				s.addChild(nd.parent, p, map[string]bool{p: true}, n)
			}
		}
		s.removeSubtree(nd)
	}
	s.prune(n)
}

func (s *policyState) removeSubtree(nd *policyNode) {
	if nd.parent != nil {
		nd.parent.removeChild(nd)
	}
	var rm func(x *policyNode)
	rm = func(x *policyNode) {
		if x.depth < len(s.levels) {
			lv := s.levels[x.depth]
			for i, y := range lv {
				if y == x {
					s.levels[x.depth] = append(lv[:i:i], lv[i+1:]...)
					break
				}
			}
		}
		for _, ch := range x.children {
			rm(ch)
		}
	}
	rm(nd)
}
