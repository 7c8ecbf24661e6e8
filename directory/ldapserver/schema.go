package ldapserver

import (
	"bytes"
	"strings"
)

// attrID numbers the attribute types the directory knows.
type attrID uint8

const (
	atObjectClass attrID = iota
	atMail
	atCN
	atSN
	atGivenName
	atDisplayName
	atUID
	atUserCertificate
	atUserSMIMECertificate
	atMember
	atDC
	atO
	atOU
	// Root DSE (operational).
	atNamingContexts
	atSupportedLDAPVersion
	atSupportedControl
	atSupportedExtension
	atSupportedFeatures
	atVendorName
	atVendorVersion
	numAttrs
	atUnknown attrID = 0xff
)

// attrNames are the names returned in attribute descriptions.
var attrNames = [numAttrs]string{
	atObjectClass:          "objectClass",
	atMail:                 "mail",
	atCN:                   "cn",
	atSN:                   "sn",
	atGivenName:            "givenName",
	atDisplayName:          "displayName",
	atUID:                  "uid",
	atUserCertificate:      "userCertificate;binary",
	atUserSMIMECertificate: "userSMIMECertificate",
	atMember:               "member",
	atDC:                   "dc",
	atO:                    "o",
	atOU:                   "ou",
	atNamingContexts:       "namingContexts",
	atSupportedLDAPVersion: "supportedLDAPVersion",
	atSupportedControl:     "supportedControl",
	atSupportedExtension:   "supportedExtension",
	atSupportedFeatures:    "supportedFeatures",
	atVendorName:           "vendorName",
	atVendorVersion:        "vendorVersion",
}

// operational attributes are returned only when named or with "+".
func (a attrID) operational() bool { return a >= atNamingContexts && a < numAttrs }

// binary attributes hold DER values: no string matching applies.
func (a attrID) binary() bool { return a == atUserCertificate || a == atUserSMIMECertificate }

// attrByName maps lower-case names, short names and OIDs to attribute ids.
var attrByName = map[string]attrID{
	"objectclass": atObjectClass, "2.5.4.0": atObjectClass,
	"mail": atMail, "rfc822mailbox": atMail, "0.9.2342.19200300.100.1.3": atMail,
	"cn": atCN, "commonname": atCN, "2.5.4.3": atCN,
	"sn": atSN, "surname": atSN, "2.5.4.4": atSN,
	"givenname": atGivenName, "gn": atGivenName, "2.5.4.42": atGivenName,
	"displayname": atDisplayName, "2.16.840.1.113730.3.1.241": atDisplayName,
	"uid": atUID, "userid": atUID, "0.9.2342.19200300.100.1.1": atUID,
	"usercertificate": atUserCertificate, "2.5.4.36": atUserCertificate,
	"usersmimecertificate": atUserSMIMECertificate, "2.16.840.1.113730.3.1.40": atUserSMIMECertificate,
	"member": atMember, "2.5.4.31": atMember,
	"dc": atDC, "domaincomponent": atDC, "0.9.2342.19200300.100.1.25": atDC,
	"o": atO, "organizationname": atO, "2.5.4.10": atO,
	"ou": atOU, "organizationalunitname": atOU, "2.5.4.11": atOU,
	"namingcontexts": atNamingContexts, "1.3.6.1.4.1.1466.101.120.5": atNamingContexts,
	"supportedldapversion": atSupportedLDAPVersion, "1.3.6.1.4.1.1466.101.120.15": atSupportedLDAPVersion,
	"supportedcontrol": atSupportedControl, "1.3.6.1.4.1.1466.101.120.13": atSupportedControl,
	"supportedextension": atSupportedExtension, "1.3.6.1.4.1.1466.101.120.7": atSupportedExtension,
	"supportedfeatures": atSupportedFeatures, "1.3.6.1.4.1.4203.1.3.5": atSupportedFeatures,
	"vendorname": atVendorName, "1.3.6.1.1.4": atVendorName,
	"vendorversion": atVendorVersion, "1.3.6.1.1.5": atVendorVersion,
}

// lookupAttr resolves an attribute description (type and options, any case)
// without allocating. binary reports a ";binary" option.
func lookupAttr(desc []byte) (id attrID, binary bool) {
	var buf [64]byte
	typ := desc
	var opts []byte
	for i, c := range desc {
		if c == ';' {
			typ, opts = desc[:i], desc[i:]
			break
		}
	}
	if len(typ) > len(buf) {
		return atUnknown, false
	}
	n := copy(buf[:], typ)
	lowerASCII(buf[:n])
	id, ok := attrByName[string(buf[:n])]
	if !ok {
		return atUnknown, false
	}
	for len(opts) > 0 {
		opts = opts[1:] // the ';'
		o := opts
		if i := bytes.IndexByte(opts, ';'); i >= 0 {
			o, opts = opts[:i], opts[i:]
		} else {
			opts = nil
		}
		if bytes.EqualFold(o, []byte("binary")) {
			binary = true
		}
	}
	return id, binary
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// foldValue returns the caseIgnore form of a string value: lower case with
// leading and trailing spaces removed and inner runs of spaces collapsed
// (RFC 4518 insignificant space handling, simplified). scratch is reused
// when the value is ASCII.
func foldValue(scratch []byte, v []byte) []byte {
	ascii := true
	for _, c := range v {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		s := strings.ToLower(string(v))
		return append(scratch[:0], strings.Join(strings.Fields(s), " ")...)
	}
	out := scratch[:0]
	space := false
	for _, c := range v {
		if c == ' ' {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return out
}

func foldString(s string) string {
	return string(foldValue(nil, []byte(s)))
}
