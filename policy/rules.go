package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/signet-smime/signet/store"
)

// directionExternal is the rule condition that means Outbound.
const directionExternal = "external"

// ruleSpec is a rule's stored form. ID and Priority are not in it: the
// store keeps them in their own columns.
type ruleSpec struct {
	Description     string `json:"description,omitempty"`
	Sender          string `json:"sender,omitempty"`
	SenderDomain    string `json:"senderDomain,omitempty"`
	Recipient       string `json:"recipient,omitempty"`
	RecipientDomain string `json:"recipientDomain,omitempty"`
	Direction       string `json:"direction,omitempty"`
	SubjectTrigger  string `json:"subjectTrigger,omitempty"`
	HeaderName      string `json:"headerName,omitempty"`
	HeaderValue     string `json:"headerValue,omitempty"`
	Action          string `json:"action"`
}

// EncodeRule returns a rule's stored form (store.PolicyRule.Spec): JSON of
// its description, conditions and action. ID and Priority are not encoded;
// the store keeps them beside the spec. The rule must be valid.
func EncodeRule(r Rule) (string, error) {
	if err := ValidateRule(r); err != nil {
		return "", err
	}
	b, err := json.Marshal(ruleSpec{
		Description: r.Description, Sender: r.Sender, SenderDomain: r.SenderDomain,
		Recipient: r.Recipient, RecipientDomain: r.RecipientDomain, Direction: r.Direction,
		SubjectTrigger: r.SubjectTrigger, HeaderName: r.HeaderName, HeaderValue: r.HeaderValue,
		Action: r.Action,
	})
	if err != nil {
		return "", fmt.Errorf("policy: encode rule: %w", err)
	}
	return string(b), nil
}

// DecodeRule reads a rule's stored form; ID and Priority are left zero. A
// spec with fields this version does not know is refused rather than
// read without them (a condition dropped would widen the rule), as is a
// rule that does not validate.
func DecodeRule(spec string) (Rule, error) {
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	var s ruleSpec
	if err := dec.Decode(&s); err != nil {
		return Rule{}, fmt.Errorf("policy: decode rule: %w", err)
	}
	if dec.More() {
		return Rule{}, errors.New("policy: decode rule: data after the rule")
	}
	r := Rule{
		Description: s.Description, Sender: s.Sender, SenderDomain: s.SenderDomain,
		Recipient: s.Recipient, RecipientDomain: s.RecipientDomain, Direction: s.Direction,
		SubjectTrigger: s.SubjectTrigger, HeaderName: s.HeaderName, HeaderValue: s.HeaderValue,
		Action: s.Action,
	}
	if err := ValidateRule(r); err != nil {
		return Rule{}, fmt.Errorf("policy: decode rule: %w", err)
	}
	return r, nil
}

// ValidateRule checks a rule: a known action; a direction of outbound,
// inbound, internal or external; a subject trigger of at least two
// characters; a header value only with a header name; well-formed
// addresses, domains and header name; no control characters. A rule
// without conditions is valid: it applies to every message.
func ValidateRule(r Rule) error {
	switch r.Action {
	case ActionSign, ActionEncrypt, ActionEncryptOrRefuse, ActionNone:
	case "":
		return errors.New("policy: rule: no action (want sign, encrypt, encrypt-or-refuse or none)")
	default:
		return fmt.Errorf("policy: rule: unknown action %q (want sign, encrypt, encrypt-or-refuse or none)", r.Action)
	}
	switch r.Direction {
	case "", Outbound, Inbound, Internal, directionExternal:
	default:
		return fmt.Errorf("policy: rule: unknown direction %q (want outbound, inbound, internal or external)", r.Direction)
	}
	for _, a := range []struct{ what, v string }{{"sender", r.Sender}, {"recipient", r.Recipient}} {
		if a.v == "" {
			continue
		}
		if _, err := normAddr(a.v); err != nil {
			return fmt.Errorf("policy: rule: %s: %w", a.what, err)
		}
	}
	for _, d := range []struct{ what, v string }{{"sender domain", r.SenderDomain}, {"recipient domain", r.RecipientDomain}} {
		if d.v == "" {
			continue
		}
		if err := checkDomain(d.v); err != nil {
			return fmt.Errorf("policy: rule: %s: %w", d.what, err)
		}
	}
	if r.SubjectTrigger != "" && len([]rune(strings.TrimSpace(r.SubjectTrigger))) < 2 {
		return fmt.Errorf("policy: rule: subject trigger %q is too short (at least 2 characters besides spaces, so it does not match by accident)", r.SubjectTrigger)
	}
	if r.HeaderValue != "" && r.HeaderName == "" {
		return errors.New("policy: rule: a header value needs a header name")
	}
	if r.HeaderName != "" {
		for _, c := range []byte(r.HeaderName) {
			if c < 33 || c > 126 || c == ':' {
				return fmt.Errorf("policy: rule: header name %q is not a header field name (printable ASCII without spaces or colon)", r.HeaderName)
			}
		}
	}
	for _, f := range []struct{ what, v string }{
		{"description", r.Description}, {"subject trigger", r.SubjectTrigger}, {"header value", r.HeaderValue},
	} {
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return fmt.Errorf("policy: rule: %s %q contains a line break or control character", f.what, f.v)
		}
	}
	return nil
}

// checkDomain checks a domain name: dot-separated non-empty labels of
// letters, digits and hyphens (or any non-ASCII letters), no @.
func checkDomain(d string) error {
	if strings.HasPrefix(d, "*.") {
		return fmt.Errorf("domain %q: write %q (a domain matches its subdomains too)", d, d[2:])
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return fmt.Errorf("domain %q has an empty label", d)
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("domain %q: a label may not begin or end with a hyphen", d)
		}
		for _, c := range label {
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c > 127 && unicode.IsLetter(c)) {
				return fmt.Errorf("domain %q contains %q (want letters, digits, hyphens and dots)", d, c)
			}
		}
	}
	return nil
}

// AddRule validates and stores a rule and returns its id. r.ID is ignored.
func (e *Engine) AddRule(ctx context.Context, r Rule, actor string) (int64, error) {
	spec, err := EncodeRule(r)
	if err != nil {
		return 0, err
	}
	id, err := e.Store.PutRule(ctx, store.PolicyRule{Priority: r.Priority, Spec: spec}, actor)
	if err != nil {
		return 0, fmt.Errorf("policy: add rule: %w", err)
	}
	return id, nil
}

// Rules returns the stored rules in evaluation order (priority, then id),
// with ID and Priority filled. A stored rule that cannot be read is an
// error naming its id (remove it with RemoveRule): deciding without it
// could send in clear what it would have encrypted.
func (e *Engine) Rules(ctx context.Context) ([]Rule, error) {
	prs, err := e.Store.ListRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: rules: %w", err)
	}
	out := make([]Rule, 0, len(prs))
	for _, pr := range prs {
		r, err := DecodeRule(pr.Spec)
		if err != nil {
			return nil, fmt.Errorf("policy: rule %d: %w", pr.ID, err)
		}
		r.ID, r.Priority = pr.ID, pr.Priority
		out = append(out, r)
	}
	return out, nil
}

// RemoveRule deletes a rule; an error wrapping store.ErrNotFound if there
// is none with that id.
func (e *Engine) RemoveRule(ctx context.Context, id int64, actor string) error {
	if err := e.Store.DeleteRule(ctx, id, actor); err != nil {
		return fmt.Errorf("policy: remove rule %d: %w", id, err)
	}
	return nil
}

// Conditions describes a rule's conditions in words ("every message" when
// it has none).
func (r Rule) Conditions() string {
	var cs []string
	add := func(format, v string) {
		if v != "" {
			cs = append(cs, fmt.Sprintf(format, v))
		}
	}
	add("sender %s", r.Sender)
	add("sender domain %s", r.SenderDomain)
	add("recipient %s", r.Recipient)
	add("recipient domain %s", r.RecipientDomain)
	add("direction %s", r.Direction)
	add("subject contains %q", r.SubjectTrigger)
	if r.HeaderValue != "" {
		cs = append(cs, fmt.Sprintf("header %s contains %q", r.HeaderName, r.HeaderValue))
	} else {
		add("header %s present", r.HeaderName)
	}
	if len(cs) == 0 {
		return "every message"
	}
	return strings.Join(cs, ", ")
}

// String names a rule in words: `rule 3 "description"` or, without a
// description, `rule 3 (conditions)`.
func (r Rule) String() string {
	if r.Description != "" {
		return fmt.Sprintf("rule %d %q", r.ID, r.Description)
	}
	return fmt.Sprintf("rule %d (%s)", r.ID, r.Conditions())
}
