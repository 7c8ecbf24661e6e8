package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/signet-smime/signet/store"
)

func TestRuleRoundTrip(t *testing.T) {
	full := Rule{ID: 7, Priority: 3, Description: "confidential to partners",
		Sender: "alice@example.org", SenderDomain: "example.org", Recipient: "bob@partner.test",
		RecipientDomain: "partner.test", Direction: "external", SubjectTrigger: "[encrypt]",
		HeaderName: "X-Classification", HeaderValue: "confidential", Action: ActionEncryptOrRefuse}
	spec, err := EncodeRule(full)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(spec, "7") || strings.Contains(strings.ToLower(spec), "priority") || strings.Contains(strings.ToLower(spec), `"id"`) {
		t.Errorf("spec carries the id or priority: %s", spec)
	}
	got, err := DecodeRule(spec)
	if err != nil {
		t.Fatal(err)
	}
	wantRule := full
	wantRule.ID, wantRule.Priority = 0, 0
	if got != wantRule {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, wantRule)
	}

	minimal, err := EncodeRule(Rule{Action: ActionNone})
	if err != nil || minimal != `{"action":"none"}` {
		t.Errorf("minimal rule: %s, %v", minimal, err)
	}
	if r, err := DecodeRule(minimal); err != nil || r != (Rule{Action: ActionNone}) {
		t.Errorf("decode minimal: %+v, %v", r, err)
	}
	if _, err := EncodeRule(Rule{Action: "drop"}); err == nil {
		t.Error("EncodeRule of an invalid rule succeeded")
	}
}

func TestDecodeRuleRefuses(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{`{"action":"none","senderDomainSuffix":"x.org"}`, "unknown field"},
		{`{"action":"none"} {"action":"sign"}`, "data after the rule"},
		{`{"action":`, "decode rule"},
		{`{"action":"drop"}`, `unknown action "drop"`},
		{`{"action":"sign","subjectTrigger":"x"}`, "too short"},
	} {
		if _, err := DecodeRule(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeRule(%s) = %v; want %q", c.spec, err, c.want)
		}
	}
}

func TestValidateRule(t *testing.T) {
	good := []Rule{
		{Action: ActionSign},
		{Action: ActionEncrypt, Direction: Outbound},
		{Action: ActionEncrypt, Direction: "external", RecipientDomain: "Partner.Test"},
		{Action: ActionEncryptOrRefuse, Direction: Internal, SubjectTrigger: "!!"},
		{Action: ActionNone, Direction: Inbound, HeaderName: "X-Spam-Flag"},
		{Action: ActionNone, HeaderName: "List-Id", HeaderValue: "announce", Sender: "News@Example.org", Recipient: "a@b"},
		{Action: ActionSign, SenderDomain: "bücher.example"},
	}
	for _, r := range good {
		if err := ValidateRule(r); err != nil {
			t.Errorf("ValidateRule(%+v): %v", r, err)
		}
	}
	bad := []struct {
		r    Rule
		want string
	}{
		{Rule{}, "no action"},
		{Rule{Action: "Sign"}, `unknown action "Sign"`},
		{Rule{Action: ActionSign, Direction: "outgoing"}, `unknown direction "outgoing" (want outbound, inbound, internal or external)`},
		{Rule{Action: ActionSign, SubjectTrigger: "!"}, "too short"},
		{Rule{Action: ActionSign, SubjectTrigger: " x "}, "too short"},
		{Rule{Action: ActionSign, HeaderValue: "secret"}, "a header value needs a header name"},
		{Rule{Action: ActionSign, HeaderName: "X Class"}, "not a header field name"},
		{Rule{Action: ActionSign, HeaderName: "X-Class:"}, "not a header field name"},
		{Rule{Action: ActionSign, Sender: "alice"}, "sender: address \"alice\" must contain exactly one @"},
		{Rule{Action: ActionSign, Sender: "a@b@c"}, "exactly one @"},
		{Rule{Action: ActionSign, Recipient: "@example.org"}, "recipient: address \"@example.org\" needs a name"},
		{Rule{Action: ActionSign, Recipient: "bob smith@example.org"}, "space"},
		{Rule{Action: ActionSign, SenderDomain: "example..org"}, "sender domain: domain \"example..org\" has an empty label"},
		{Rule{Action: ActionSign, SenderDomain: "alice@example.org"}, "contains '@'"},
		{Rule{Action: ActionSign, RecipientDomain: "*.partner.test"}, `write "partner.test"`},
		{Rule{Action: ActionSign, RecipientDomain: "-x.test"}, "hyphen"},
		{Rule{Action: ActionSign, RecipientDomain: ".partner.test"}, "empty label"},
		{Rule{Action: ActionSign, SubjectTrigger: "[x]\r\n"}, "control character"},
		{Rule{Action: ActionSign, Description: "a\nb"}, "description"},
	}
	for _, c := range bad {
		err := ValidateRule(c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateRule(%+v) = %v; want %q", c.r, err, c.want)
		}
	}
}

func TestRuleStorage(t *testing.T) {
	e, ctx := newEngine(t)
	var ids []int64
	for _, r := range []Rule{
		{Priority: 20, Description: "late", Action: ActionSign},
		{Priority: 10, Description: "first", Action: ActionEncrypt, RecipientDomain: "partner.test"},
		{Priority: 10, Description: "second", Action: ActionNone, SubjectTrigger: "[plain]"},
		{Priority: -5, Description: "earliest", Action: ActionEncryptOrRefuse, Direction: "external"},
	} {
		id, err := e.AddRule(ctx, r, actor)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := e.AddRule(ctx, Rule{Action: "bogus"}, actor); err == nil {
		t.Error("AddRule of an invalid rule succeeded")
	}
	rules, err := e.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, fmt.Sprintf("%d:%d:%s", r.ID, r.Priority, r.Description))
	}
	want := []string{
		fmt.Sprintf("%d:-5:earliest", ids[3]), fmt.Sprintf("%d:10:first", ids[1]),
		fmt.Sprintf("%d:10:second", ids[2]), fmt.Sprintf("%d:20:late", ids[0]),
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Rules = %q; want %q", got, want)
	}
	if rules[1].RecipientDomain != "partner.test" || rules[2].SubjectTrigger != "[plain]" || rules[0].Direction != "external" {
		t.Errorf("conditions lost: %+v", rules)
	}

	if err := e.RemoveRule(ctx, ids[1], actor); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveRule(ctx, ids[1], actor); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RemoveRule: %v", err)
	}
	if rules, _ := e.Rules(ctx); len(rules) != 3 {
		t.Errorf("%d rules after removing one of 4", len(rules))
	}

	// A rule this version cannot read stops Rules (and Decide) with its id.
	bad, err := e.Store.PutRule(ctx, store.PolicyRule{Priority: 1, Spec: `{"action":"encrypt","recipientGroup":"x"}`}, actor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Rules(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("rule %d:", bad)) {
		t.Errorf("Rules with an unreadable rule: %v", err)
	}
	if _, err := e.Decide(ctx, &Message{Direction: Outbound, Sender: "a@example.org"}); err == nil {
		t.Error("Decide with an unreadable rule succeeded")
	}
}

func TestRuleString(t *testing.T) {
	r := Rule{ID: 4, RecipientDomain: "partner.test", HeaderName: "X-Class", HeaderValue: "secret", Action: ActionEncrypt}
	if got := r.String(); got != `rule 4 (recipient domain partner.test, header X-Class contains "secret")` {
		t.Errorf("String = %s", got)
	}
	r.Description = "partners"
	if got := r.String(); got != `rule 4 "partners"` {
		t.Errorf("String = %s", got)
	}
	if got := (Rule{ID: 1, HeaderName: "X-A"}).Conditions(); got != "header X-A present" {
		t.Errorf("Conditions = %s", got)
	}
	if got := (Rule{}).Conditions(); got != "every message" {
		t.Errorf("Conditions = %s", got)
	}
}
