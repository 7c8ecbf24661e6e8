package policy

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// local: example.org and its subdomains belong to the organisation.
func local(a string) bool { return domainMatches(domainOf(a), "example.org") }

// msg builds a message; header is "Name: value" lines.
func msg(dir, sender string, rcpts []string, subject string, header ...string) *Message {
	h := textproto.MIMEHeader{}
	for _, l := range header {
		n, v, _ := strings.Cut(l, ":")
		h.Add(n, strings.TrimSpace(v))
	}
	return &Message{Direction: dir, Sender: sender, Recipients: rcpts, Local: local, Subject: subject,
		Header: func(name string) []string { return h.Values(name) }}
}

// got is a decision in short: S sign, E encrypt, R require, N none.
func got(d *Decision) string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		c  string
	}{{d.Sign, "S"}, {d.Encrypt, "E"}, {d.RequireEncryption, "R"}, {d.None, "N"}} {
		if f.on {
			b.WriteString(f.c)
		}
	}
	return b.String()
}

func TestDecideSettings(t *testing.T) {
	e, ctx := newEngine(t)
	set(t, e, "domain:example.org", "AlwaysSign", "true")
	set(t, e, "user:bob@example.org", "AlwaysEncrypt", "true")
	set(t, e, "user:carol@example.org", "AlwaysSign", "false")
	set(t, e, "domain:partner.test", "AlwaysSign", "true") // not local: cannot apply
	set(t, e, "domain:partner.test", "AlwaysEncrypt", "true")
	ext := []string{"x@partner.test"}
	for _, c := range []struct {
		m     *Message
		want  string
		why   []string
		scope string
	}{
		{msg(Outbound, "alice@example.org", ext, "hi"), "S",
			[]string{"AlwaysSign=true (domain example.org)"}, "alice@example.org"},
		{msg(Outbound, "Bob@Example.org", ext, "hi"), "SE",
			[]string{"AlwaysSign=true (domain example.org)", "AlwaysEncrypt=true (user bob@example.org)"}, "bob@example.org"},
		{msg(Outbound, "carol@example.org", ext, "hi"), "", nil, "carol@example.org"},
		{msg(Outbound, "y@partner.test", ext, "relayed"), "E",
			[]string{`AlwaysSign=true (domain partner.test): not applied: the sender "y@partner.test" is not local`,
				"AlwaysEncrypt=true (domain partner.test)"}, "y@partner.test"},
		// Bounces and inbound mail take the organisation's settings; inbound
		// mail is never signed or encrypted by them.
		{msg(Outbound, "", ext, "bounce"), "", nil, ""},
		{msg(Inbound, "y@partner.test", []string{"bob@example.org"}, "hi"), "", nil, ""},
		// LocalToLocal is pass by default.
		{msg(Internal, "bob@example.org", []string{"alice@example.org"}, "hi"), "N",
			[]string{"LocalToLocal=pass (default): internal mail is left alone"}, "bob@example.org"},
	} {
		d, err := e.Decide(ctx, c.m)
		if err != nil {
			t.Fatal(err)
		}
		if got(d) != c.want || !slices.Equal(d.Why, c.why) || d.Settings.User != c.scope {
			t.Errorf("%s from %q: %q %q (settings of %q); want %q %q (%q)", c.m.Direction, c.m.Sender,
				got(d), d.Why, d.Settings.User, c.want, c.why, c.scope)
		}
	}

	// The organisation's AlwaysSign applies to a local sender without
	// settings of their own, but not to bounces.
	set(t, e, "", "AlwaysSign", "true")
	d, err := e.Decide(ctx, msg(Outbound, "zoe@sub.example.org", ext, "hi"))
	if err != nil || got(d) != "S" || !slices.Equal(d.Why, []string{"AlwaysSign=true (organisation)"}) {
		t.Errorf("organisation AlwaysSign: %v %q %v", got(d), d.Why, err)
	}
	d, err = e.Decide(ctx, msg(Outbound, "", ext, "bounce"))
	if err != nil || got(d) != "" || len(d.Why) != 1 || !strings.Contains(d.Why[0], "a bounce has no sender") {
		t.Errorf("bounce: %v %q %v", got(d), d.Why, err)
	}
	// Without Local, the direction says the sender is local.
	m := msg(Outbound, "zoe@elsewhere.test", ext, "hi")
	m.Local = nil
	if d, err := e.Decide(ctx, m); err != nil || got(d) != "S" {
		t.Errorf("nil Local: %v %q %v", got(d), d.Why, err)
	}
}

func TestDecideInternal(t *testing.T) {
	e, ctx := newEngine(t)
	set(t, e, "domain:example.org", "AlwaysSign", "true")
	if _, err := e.AddRule(ctx, Rule{Direction: Internal, Action: ActionEncrypt}, actor); err != nil {
		t.Fatal(err)
	}
	m := msg(Internal, "alice@example.org", []string{"bob@example.org"}, "hi")
	d, err := e.Decide(ctx, m)
	if err != nil || got(d) != "N" || len(d.Rules) != 0 {
		t.Errorf("pass: %q rules %v %q %v", got(d), d.Rules, d.Why, err)
	}
	set(t, e, "", "LocalToLocal", "process")
	d, err = e.Decide(ctx, m)
	if err != nil || got(d) != "SE" || len(d.Rules) != 1 {
		t.Errorf("process: %q rules %v %q %v", got(d), d.Rules, d.Why, err)
	}
	// LocalToLocal is organisation-wide: a domain's pass is ignored.
	set(t, e, "domain:example.org", "LocalToLocal", "pass")
	if d, err = e.Decide(ctx, m); err != nil || got(d) != "SE" {
		t.Errorf("domain pass: %q %q %v", got(d), d.Why, err)
	}
}

func TestDecideConditions(t *testing.T) {
	out := func(sender string, rcpts ...string) *Message { return msg(Outbound, sender, rcpts, "hi") }
	subj := func(s string) *Message { return msg(Outbound, "alice@example.org", []string{"x@partner.test"}, s) }
	hdr := func(h ...string) *Message {
		return msg(Outbound, "alice@example.org", []string{"x@partner.test"}, "hi", h...)
	}
	noHeader := subj("hi")
	noHeader.Header = nil
	type probe struct {
		m      *Message
		match  bool
		remove []string
	}
	for _, c := range []struct {
		name   string
		r      Rule
		probes []probe
	}{
		{"sender", Rule{Sender: "Alice@Example.org"}, []probe{
			{m: out("alice@example.org", "x@partner.test"), match: true},
			{m: out("ALICE@EXAMPLE.ORG", "x@partner.test"), match: true},
			{m: out("bob@example.org", "x@partner.test")},
			{m: out("", "x@partner.test")},
		}},
		{"sender domain", Rule{SenderDomain: "Example.org"}, []probe{
			{m: out("alice@example.org", "x@partner.test"), match: true},
			{m: out("alice@Sales.Example.ORG", "x@partner.test"), match: true},
			{m: out("alice@badexample.org", "x@partner.test")},
			{m: out("alice@example.org.evil.test", "x@partner.test")},
			{m: out("", "x@partner.test")},
		}},
		{"recipient", Rule{Recipient: "bob@partner.test"}, []probe{
			{m: out("alice@example.org", "x@other.test", "Bob@Partner.TEST"), match: true},
			{m: out("alice@example.org", "x@other.test", "bob@partner.test.evil")},
		}},
		{"recipient domain", Rule{RecipientDomain: "partner.test"}, []probe{
			{m: out("alice@example.org", "x@other.test", "y@mail.partner.test"), match: true},
			{m: out("alice@example.org", "x@partner.test"), match: true},
			{m: out("alice@example.org", "x@notpartner.test")},
			{m: out("alice@example.org")},
		}},
		{"direction external", Rule{Direction: "external"}, []probe{
			{m: out("alice@example.org", "x@partner.test"), match: true},
			{m: msg(Inbound, "x@partner.test", []string{"alice@example.org"}, "hi")},
			{m: msg(Internal, "alice@example.org", []string{"bob@example.org"}, "hi")},
		}},
		{"direction outbound", Rule{Direction: Outbound}, []probe{
			{m: out("alice@example.org", "x@partner.test"), match: true},
			{m: msg(Inbound, "x@partner.test", []string{"alice@example.org"}, "hi")},
		}},
		{"direction inbound", Rule{Direction: Inbound}, []probe{
			{m: msg(Inbound, "x@partner.test", []string{"alice@example.org"}, "hi"), match: true},
			{m: out("alice@example.org", "x@partner.test")},
		}},
		{"direction internal", Rule{Direction: Internal}, []probe{
			{m: msg(Internal, "alice@example.org", []string{"bob@example.org"}, "hi"), match: true},
			{m: out("alice@example.org", "x@partner.test")},
		}},
		{"subject trigger", Rule{SubjectTrigger: "[Encrypt]"}, []probe{
			{m: subj("Re: [ENCRYPT] plans"), match: true, remove: []string{"[ENCRYPT]"}},
			{m: subj("[encrypt]"), match: true, remove: []string{"[encrypt]"}},
			{m: subj("[Encrypt] a [encrypt] b [Encrypt]"), match: true, remove: []string{"[Encrypt]", "[encrypt]"}},
			{m: subj("Encrypt this")},
			{m: subj("")},
		}},
		{"subject trigger, non-ASCII", Rule{SubjectTrigger: "[vertraulich-ÄÖ]"}, []probe{
			{m: subj("Übersicht [VERTRAULICH-äö] Q3"), match: true, remove: []string{"[VERTRAULICH-äö]"}},
			{m: subj("Übersicht [vertraulich-ao]")},
		}},
		{"header present", Rule{HeaderName: "X-Classification"}, []probe{
			{m: hdr("x-classification: public"), match: true},
			{m: hdr("X-Other: x")},
			{m: noHeader},
		}},
		{"header value", Rule{HeaderName: "x-classification", HeaderValue: "Confidential"}, []probe{
			{m: hdr("X-Classification: public", "X-Classification: strictly CONFIDENTIAL"), match: true},
			{m: hdr("X-Classification: public")},
			{m: hdr("X-Other: confidential")},
		}},
		{"every condition", Rule{SenderDomain: "example.org", RecipientDomain: "partner.test", Direction: "external",
			SubjectTrigger: "##", HeaderName: "X-A"}, []probe{
			{m: msg(Outbound, "alice@example.org", []string{"x@partner.test"}, "## hi", "X-A: 1"), match: true, remove: []string{"##"}},
			{m: msg(Outbound, "alice@example.org", []string{"x@partner.test"}, "## hi")},
			{m: msg(Outbound, "alice@example.org", []string{"x@other.test"}, "## hi", "X-A: 1")},
			{m: msg(Outbound, "alice@example.org", []string{"x@partner.test"}, "hi", "X-A: 1")},
		}},
		{"no conditions", Rule{}, []probe{
			{m: out("", "x@partner.test"), match: true},
			{m: msg(Inbound, "x@partner.test", []string{"alice@example.org"}, "hi"), match: true},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, ctx := newEngine(t)
			set(t, e, "", "LocalToLocal", "process")
			r := c.r
			r.Action = ActionEncrypt
			id, err := e.AddRule(ctx, r, actor)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range c.probes {
				d, err := e.Decide(ctx, p.m)
				if err != nil {
					t.Fatal(err)
				}
				matched := slices.Equal(d.Rules, []int64{id})
				if matched != p.match || (!matched && len(d.Rules) != 0) {
					t.Errorf("probe %d (%s %q → %q, %q): rules %v, want match %v", i, p.m.Direction, p.m.Sender,
						p.m.Recipients, p.m.Subject, d.Rules, p.match)
				}
				if matched && p.m.Direction != Inbound && !d.Encrypt {
					t.Errorf("probe %d: matched but not encrypting: %q", i, d.Why)
				}
				if !slices.Equal(d.RemoveFromSubject, p.remove) {
					t.Errorf("probe %d: remove %q, want %q", i, d.RemoveFromSubject, p.remove)
				}
			}
		})
	}
}

func TestDecideCombine(t *testing.T) {
	e, ctx := newEngine(t)
	set(t, e, "", "AlwaysEncrypt", "true")
	// Added in an order other than priority order.
	idNone, err := e.AddRule(ctx, Rule{Priority: 30, Description: "no S/MIME when asked", HeaderName: "X-No-Smime", Action: ActionNone}, actor)
	if err != nil {
		t.Fatal(err)
	}
	idEOR, err := e.AddRule(ctx, Rule{Priority: 20, RecipientDomain: "partner.test", Action: ActionEncryptOrRefuse}, actor)
	if err != nil {
		t.Fatal(err)
	}
	idSign, err := e.AddRule(ctx, Rule{Priority: 10, Description: "subject trigger [sign]", SubjectTrigger: "[sign]", Action: ActionSign}, actor)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(ctx, msg(Outbound, "alice@example.org", []string{"a@other.test", "b@partner.test"}, "[SIGN] report"))
	if err != nil {
		t.Fatal(err)
	}
	why := []string{
		"AlwaysEncrypt=true (organisation)",
		fmt.Sprintf(`rule %d "subject trigger [sign]": sign`, idSign),
		fmt.Sprintf(`rule %d (recipient domain partner.test): encrypt-or-refuse`, idEOR),
	}
	if got(d) != "SER" || !slices.Equal(d.Rules, []int64{idSign, idEOR}) || !slices.Equal(d.Why, why) ||
		!slices.Equal(d.RemoveFromSubject, []string{"[SIGN]"}) {
		t.Errorf("combined: %q rules %v why %q remove %q", got(d), d.Rules, d.Why, d.RemoveFromSubject)
	}

	// none wins over the settings and every other rule, but the trigger of
	// the matching sign rule is still removed from the subject.
	d, err = e.Decide(ctx, msg(Outbound, "alice@example.org", []string{"b@partner.test"}, "[sign] report", "X-No-Smime: yes"))
	if err != nil {
		t.Fatal(err)
	}
	why = append(why, fmt.Sprintf(`rule %d "no S/MIME when asked": none`, idNone), "none wins: no signing or encryption")
	if got(d) != "N" || !slices.Equal(d.Rules, []int64{idSign, idEOR, idNone}) || !slices.Equal(d.Why, why) ||
		!slices.Equal(d.RemoveFromSubject, []string{"[sign]"}) {
		t.Errorf("none: %q rules %v why %q remove %q", got(d), d.Rules, d.Why, d.RemoveFromSubject)
	}

	// A sign rule does not sign for a sender who is not local.
	d, err = e.Decide(ctx, msg(Outbound, "y@partner.test", []string{"a@other.test"}, "[sign] x"))
	if err != nil || got(d) != "E" || !strings.Contains(strings.Join(d.Why, "\n"), `sign not applied: the sender "y@partner.test" is not local`) {
		t.Errorf("non-local sign: %q %q %v", got(d), d.Why, err)
	}
}

func TestDecideInbound(t *testing.T) {
	e, ctx := newEngine(t)
	set(t, e, "", "AlwaysSign", "true")
	set(t, e, "", "AlwaysEncrypt", "true")
	set(t, e, "user:alice@example.org", "InboundSubjectTag", "[unverified]")
	idEnc, err := e.AddRule(ctx, Rule{Priority: 1, Action: ActionEncryptOrRefuse}, actor)
	if err != nil {
		t.Fatal(err)
	}
	idNone, err := e.AddRule(ctx, Rule{Priority: 2, SenderDomain: "newsletter.test", SubjectTrigger: "[plain]", Action: ActionNone}, actor)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(ctx, msg(Inbound, "x@partner.test", []string{"alice@example.org"}, "[plain] hi"))
	if err != nil {
		t.Fatal(err)
	}
	if got(d) != "" || !slices.Equal(d.Rules, []int64{idEnc}) || len(d.Why) != 1 ||
		!strings.Contains(d.Why[0], "encrypt-or-refuse not applied: inbound mail is decrypted and verified") ||
		len(d.RemoveFromSubject) != 0 || d.Settings.User != "" || d.Settings.InboundSubjectTag != "" {
		t.Errorf("inbound: %q rules %v why %q remove %q settings of %q", got(d), d.Rules, d.Why, d.RemoveFromSubject, d.Settings.User)
	}
	d, err = e.Decide(ctx, msg(Inbound, "news@mail.newsletter.test", []string{"alice@example.org"}, "[PLAIN] offers"))
	if err != nil {
		t.Fatal(err)
	}
	if got(d) != "N" || !slices.Equal(d.Rules, []int64{idEnc, idNone}) || !slices.Equal(d.RemoveFromSubject, []string{"[PLAIN]"}) {
		t.Errorf("inbound none: %q rules %v why %q remove %q", got(d), d.Rules, d.Why, d.RemoveFromSubject)
	}
	// A recipient's own settings: Resolve(recipient).
	if s := resolve(t, e, "alice@example.org"); s.InboundSubjectTag != "[unverified]" {
		t.Errorf("recipient's tag %q", s.InboundSubjectTag)
	}
}

func TestDecideErrors(t *testing.T) {
	e, ctx := newEngine(t)
	if _, err := e.Decide(ctx, nil); err == nil {
		t.Error("Decide(nil) succeeded")
	}
	if _, err := e.Decide(ctx, &Message{Direction: "external"}); err == nil || !strings.Contains(err.Error(), `unknown direction "external"`) {
		t.Errorf("Decide with direction external: %v", err)
	}
	if _, err := (&Engine{}).Resolve(ctx, ""); err == nil {
		t.Error("Resolve without a store succeeded")
	}
	// A malformed sender takes the organisation's settings and is not local.
	set(t, e, "", "AlwaysSign", "true")
	d, err := e.Decide(ctx, msg(Outbound, "not an address", []string{"x@partner.test"}, "hi"))
	if err != nil || got(d) != "" || d.Settings.User != "" {
		t.Errorf("malformed sender: %q %q %v", got(d), d.Why, err)
	}
}
