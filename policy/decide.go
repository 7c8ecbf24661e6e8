package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Decide decides what the gateway does with one message.
//
// Settings are the sender's (Resolve(m.Sender)) for outbound and internal
// mail, and the organisation's (Resolve("")) for inbound mail and for
// bounces (empty sender); a recipient's own settings are Resolve(recipient).
//
//   - Internal mail while LocalToLocal is pass: None, and nothing else is
//     looked at.
//   - AlwaysSign gives Sign, on outbound and internal mail whose sender is
//     local (m.Local; when m.Local is nil the direction is trusted: outbound
//     and internal senders are local). AlwaysEncrypt gives Encrypt, on
//     outbound and internal mail.
//   - Every rule whose conditions all hold contributes its action, in
//     priority order: sign gives Sign (local senders only, as above),
//     encrypt gives Encrypt, encrypt-or-refuse gives Encrypt and
//     RequireEncryption, none gives None. Its subject trigger, as it
//     appears in the subject, goes to RemoveFromSubject.
//   - On inbound mail, which the gateway decrypts and verifies, settings
//     and rules never give Sign or Encrypt; a matching rule with action
//     none still gives None (and its trigger is still removed).
//   - None wins: with it, Sign, Encrypt and RequireEncryption are false.
//
// Why says, in order, where each part came from, for example
// `AlwaysSign=true (user alice@example.org)` and
// `rule 3 "subject trigger [encrypt]": encrypt-or-refuse`.
func (e *Engine) Decide(ctx context.Context, m *Message) (*Decision, error) {
	if m == nil {
		return nil, errors.New("policy: decide: no message")
	}
	switch m.Direction {
	case Outbound, Inbound, Internal:
	default:
		return nil, fmt.Errorf("policy: decide: unknown direction %q (want outbound, inbound or internal)", m.Direction)
	}
	outgoing := m.Direction != Inbound
	scope, senderLocal := "", false
	if outgoing && m.Sender != "" {
		if _, err := normAddr(m.Sender); err == nil {
			scope = m.Sender
			senderLocal = m.Local == nil || m.Local(m.Sender)
		}
	}
	s, err := e.Resolve(ctx, scope)
	if err != nil {
		return nil, err
	}
	d := &Decision{Settings: s}
	why := func(format string, a ...any) { d.Why = append(d.Why, fmt.Sprintf(format, a...)) }

	if m.Direction == Internal && s.LocalToLocal == "pass" {
		d.None = true
		why("LocalToLocal=pass (%s): internal mail is left alone", s.Source("LocalToLocal"))
		return d, nil
	}
	notLocal := fmt.Sprintf("not applied: the sender %q is not local", m.Sender)
	if m.Sender == "" {
		notLocal = "not applied: a bounce has no sender to sign for"
	}
	if outgoing && s.AlwaysSign {
		if senderLocal {
			d.Sign = true
			why("AlwaysSign=true (%s)", s.Source("AlwaysSign"))
		} else {
			why("AlwaysSign=true (%s): %s", s.Source("AlwaysSign"), notLocal)
		}
	}
	if outgoing && s.AlwaysEncrypt {
		d.Encrypt = true
		why("AlwaysEncrypt=true (%s)", s.Source("AlwaysEncrypt"))
	}

	rules, err := e.Rules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		ok, found := r.matches(m)
		if !ok {
			continue
		}
		d.Rules = append(d.Rules, r.ID)
		applied := true
		switch {
		case r.Action == ActionNone:
			d.None = true
			why("%s: none", r)
		case !outgoing:
			applied = false
			why("%s: %s not applied: inbound mail is decrypted and verified, not signed or encrypted", r, r.Action)
		case r.Action == ActionSign && !senderLocal:
			applied = false
			why("%s: sign %s", r, notLocal)
		case r.Action == ActionSign:
			d.Sign = true
			why("%s: sign", r)
		case r.Action == ActionEncrypt:
			d.Encrypt = true
			why("%s: encrypt", r)
		case r.Action == ActionEncryptOrRefuse:
			d.Encrypt, d.RequireEncryption = true, true
			why("%s: encrypt-or-refuse", r)
		}
		if applied {
			for _, t := range found {
				if !contains(d.RemoveFromSubject, t) {
					d.RemoveFromSubject = append(d.RemoveFromSubject, t)
				}
			}
		}
	}
	if d.None && (d.Sign || d.Encrypt) {
		d.Sign, d.Encrypt, d.RequireEncryption = false, false, false
		why("none wins: no signing or encryption")
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// matches reports whether every condition of r holds for m and, for a
// subject trigger, returns each distinct text of the subject it matched.
func (r Rule) matches(m *Message) (bool, []string) {
	if r.Sender != "" && !strings.EqualFold(r.Sender, m.Sender) {
		return false, nil
	}
	if r.SenderDomain != "" && !domainMatches(domainOf(m.Sender), r.SenderDomain) {
		return false, nil
	}
	if r.Recipient != "" && !anyRecipient(m, func(a string) bool { return strings.EqualFold(a, r.Recipient) }) {
		return false, nil
	}
	if r.RecipientDomain != "" && !anyRecipient(m, func(a string) bool { return domainMatches(domainOf(a), r.RecipientDomain) }) {
		return false, nil
	}
	if dir := r.Direction; dir != "" {
		if dir == directionExternal {
			dir = Outbound
		}
		if dir != m.Direction {
			return false, nil
		}
	}
	if r.HeaderName != "" {
		var vals []string
		if m.Header != nil {
			vals = m.Header(r.HeaderName)
		}
		if len(vals) == 0 {
			return false, nil
		}
		if r.HeaderValue != "" {
			found := false
			for _, v := range vals {
				found = found || len(findFold(v, r.HeaderValue)) > 0
			}
			if !found {
				return false, nil
			}
		}
	}
	var found []string
	if r.SubjectTrigger != "" {
		if found = findFold(m.Subject, r.SubjectTrigger); len(found) == 0 {
			return false, nil
		}
	}
	return true, found
}

func anyRecipient(m *Message, f func(string) bool) bool {
	for _, a := range m.Recipients {
		if f(a) {
			return true
		}
	}
	return false
}

// domainMatches reports whether domain is want or one of its subdomains.
func domainMatches(domain, want string) bool {
	domain, want = strings.ToLower(domain), strings.ToLower(want)
	return domain != "" && (domain == want || strings.HasSuffix(domain, "."+want))
}

// findFold returns the distinct texts of s that equal sub under Unicode
// case folding, in order of appearance, as they are written in s.
func findFold(s, sub string) []string {
	n := utf8.RuneCountInString(sub)
	var out []string
	for i := 0; i < len(s); {
		j := i
		for k := 0; k < n && j < len(s); k++ {
			_, w := utf8.DecodeRuneInString(s[j:])
			j += w
		}
		if t := s[i:j]; strings.EqualFold(t, sub) {
			if !contains(out, t) {
				out = append(out, t)
			}
			i = j
			continue
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return out
}
