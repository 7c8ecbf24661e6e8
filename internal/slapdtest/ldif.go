package slapdtest

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ParseLDIF reads content records (no changetype) from an LDIF text:
// records separated by blank lines, "#" comments, folded lines (a line
// starting with one space continues the previous one) and base64 values
// ("attr:: …"). Values keep their order; an attribute named twice in a
// record collects every value.
func ParseLDIF(text string) ([]*ldap.Entry, error) {
	var out []*ldap.Entry
	var lines []string
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		e := &ldap.Entry{}
		index := map[string]*ldap.EntryAttribute{}
		for i, l := range lines {
			name, val, err := ldifValue(l)
			if err != nil {
				return err
			}
			if i == 0 {
				if !strings.EqualFold(name, "dn") {
					return errNoDN
				}
				e.DN = val
				continue
			}
			if strings.EqualFold(name, "changetype") {
				return fmt.Errorf("%s: change records are not supported", e.DN)
			}
			key := strings.ToLower(name)
			a := index[key]
			if a == nil {
				a = &ldap.EntryAttribute{Name: name}
				index[key] = a
				e.Attributes = append(e.Attributes, a)
			}
			a.Values = append(a.Values, val)
			a.ByteValues = append(a.ByteValues, []byte(val))
		}
		out = append(out, e)
		lines = lines[:0]
		return nil
	}
	for _, raw := range strings.Split(text, "\n") {
		raw = strings.TrimRight(raw, "\r")
		switch {
		case raw == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(raw, "#"):
		case strings.HasPrefix(raw, " "):
			if len(lines) == 0 {
				return nil, fmt.Errorf("continuation line without a record: %q", raw)
			}
			lines[len(lines)-1] += raw[1:]
		case len(lines) == 0 && strings.HasPrefix(strings.ToLower(raw), "version:"):
		default:
			lines = append(lines, raw)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func ldifValue(line string) (name, val string, err error) {
	name, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", fmt.Errorf("LDIF line without a colon: %q", line)
	}
	if strings.HasPrefix(rest, ":") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest[1:]))
		if err != nil {
			return "", "", fmt.Errorf("attribute %s: bad base64: %w", name, err)
		}
		return name, string(b), nil
	}
	if strings.HasPrefix(rest, "<") {
		return "", "", fmt.Errorf("attribute %s: URL values are not supported", name)
	}
	return name, strings.TrimLeft(rest, " "), nil
}
