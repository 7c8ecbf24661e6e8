package policy

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Setting describes one setting: its name, factory default, allowed values
// and whether it may be set per domain and per user.
type Setting struct {
	Name    string
	Default string
	Help    string
	// Values are the allowed values, or nil when Check decides.
	Values []string
	// Form describes the accepted values for the help when Values is nil,
	// for example "seconds" or "list of aes256-gcm|aes128-gcm|…".
	Form string
	// Check validates a value; nil means the value must be one of Values.
	// Its message does not repeat the setting's name (Validate adds it).
	Check func(string) error
	// Scoped settings may also be set per domain and per user; the others
	// are organisation-wide only.
	Scoped bool
}

// The algorithm names of EncryptionAlgorithms and SigningAlgorithms.
var (
	encryptionAlgorithms = []string{"aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"}
	signingAlgorithms    = []string{"sha256", "sha384", "sha512"}
)

var boolValues = []string{"true", "false"}

// registry is every setting Signet knows. Settings returns it sorted.
var registry = []Setting{
	// Organisation settings the CLI's config command has known since before
	// the gateway (same names, values, defaults and help).
	{Name: "KeyCustody", Values: []string{"client", "gateway"}, Default: "client",
		Help: "client: signing keys leave Signet once, in the PKCS #12, and only encryption keys are kept; gateway: both are kept (sealed) so the gateway can sign and decrypt for users"},
	{Name: "CRLConnectionTimeout", Default: "15", Form: "seconds", Check: seconds,
		Help: "seconds one CRL or OCSP fetch may take (1-300)"},
	{Name: "CRLRetrievalTimeout", Default: "60", Form: "seconds", Check: seconds,
		Help: "seconds all revocation fetches of one validation may take together (1-300)"},
	{Name: "DisableCRLCheck", Values: boolValues, Default: "false",
		Help: "true: never fetch CRLs or ask OCSP responders (revocation is then checked only against CRL files and CRLs carried in messages)"},
	{Name: "CheckCRLOnSend", Values: boolValues, Default: "false",
		Help: "true: the gateway refuses to sign or encrypt when a certificate's revocation status cannot be determined (fail closed on send)"},
	{Name: "UseSecondaryProxiesWhenFindingCertificates", Values: boolValues, Default: "true",
		Help: "true: a certificate lookup by one of a mailbox's alias addresses finds the mailbox's certificates; false: only the primary address does"},
	{Name: "DLExpansionTimeout", Default: "60000", Form: "milliseconds", Check: millis,
		Help: "milliseconds a lookup may spend expanding a group (nested groups included) to find its members' certificates (1-600000); members not reached are reported"},
	{Name: "SMIMEALookup", Default: "off", Form: "off|HOST:PORT", Check: resolverAddr,
		Help: "off, or the address of a DNSSEC-validating resolver: lookups of external recipients then try SMIMEA records (RFC 8162), trusting only answers the resolver marked authenticated"},
	{Name: "UpstreamLDAP", Default: "off", Form: "off|URL", Check: ldapURL,
		Help: "off, or ldap://HOST[:PORT]/BASE or ldaps://…: lookups then ask this directory (after Signet's own) for certificates; bind with UpstreamLDAPBindDN and the password in SIGNET_UPSTREAM_PASSWORD (never stored)"},
	{Name: "UpstreamLDAPBindDN", Default: "", Form: "DN", Check: func(string) error { return nil },
		Help: "the DN lookups bind to UpstreamLDAP with (empty: anonymous)"},
	{Name: "UpstreamLDAPPreset", Values: []string{"ad", "openldap"}, Default: "openldap",
		Help: "the attribute mapping of UpstreamLDAP (and the default of directory sync --preset)"},
	{Name: "RevocationFailOpen", Values: boolValues, Default: "true",
		Help: "receive side (verify, cert check): false fails closed with status 14 when no revocation server answers; true accepts the signature and reports that revocation was not determined"},

	// Exchange's Set-SmimeConfig, with Signet's defaults.
	{Name: "AlwaysSign", Values: boolValues, Default: "false", Scoped: true,
		Help: "true: the gateway signs every message a local sender sends out (and internal mail when LocalToLocal is process)"},
	{Name: "AlwaysEncrypt", Values: boolValues, Default: "false", Scoped: true,
		Help: "true: the gateway encrypts every outgoing message for the recipients it has certificates for; the others get what NoCertificateAction says"},
	{Name: "ClearSign", Values: boolValues, Default: "true", Scoped: true,
		Help: "true: sign as multipart/signed, readable without S/MIME; false: opaque application/pkcs7-mime signed-data, readable only by S/MIME clients"},
	{Name: "TripleWrap", Values: boolValues, Default: "false", Scoped: true,
		Help: "true: sign, encrypt, then sign again (RFC 2634), so the outer signature covers the encrypted message"},
	{Name: "EncryptionAlgorithms", Default: "aes256-gcm,aes128-gcm,aes256-cbc,aes128-cbc", Scoped: true,
		Form: "list of " + strings.Join(encryptionAlgorithms, "|"), Check: checkEncryptionAlgorithms,
		Help: "content encryption algorithms in order of preference, comma-separated; GCM (AuthEnvelopedData) is used only for recipients known to read it; 3DES and RC2 are refused"},
	{Name: "SigningAlgorithms", Values: signingAlgorithms, Default: "sha256", Scoped: true, Check: checkSigningAlgorithm,
		Help: "the digest algorithm of signatures (Exchange's default is still SHA-1, which Signet refuses)"},
	{Name: "IncludeCertificateChain", Values: []string{"none", "chain", "chain-with-root"}, Default: "chain", Scoped: true,
		Help: "the CA certificates signed messages carry besides the signer's: none, chain (the issuing CAs without the root) or chain-with-root"},
	{Name: "SignedEmailCertificateInclusion", Values: boolValues, Default: "true", Scoped: true,
		Help: "true: signed messages carry the signer's certificate, so recipients can verify and encrypt replies; false: they carry only its identifier"},
	{Name: "IncludeSMIMECapabilities", Values: boolValues, Default: "true", Scoped: true,
		Help: "true: signatures list the algorithms the sender can decrypt (SMIMECapabilities), so correspondents choose AES or AES-GCM"},
	{Name: "UseKeyIdentifier", Values: boolValues, Default: "false", Scoped: true,
		Help: "true: encrypted messages identify each recipient's certificate by subject key identifier; false: by issuer and serial number"},
	{Name: "BCCEncryptedEmailForking", Values: []string{"0", "1", "2"}, Default: "0", Scoped: true,
		Help: "0: one encrypted message per Bcc recipient; 1: one message for all Bcc recipients; 2: no forking (Bcc recipients are in the one message, visible to anyone who looks at its recipient infos)"},
	{Name: "SenderCertificateAttributesToDisplay", Default: "email", Form: "list of certificate attributes", Check: checkFreeList,
		Help: "the sender certificate's attributes shown to readers of signed mail, comma-separated (for example email,cn,o)"},
	{Name: "AllowUserChoiceOfSigningCertificate", Values: boolValues, Default: "false",
		Help: "true: users may choose which of their signing certificates signs; false: Signet uses the preferred (else newest) one"},
	{Name: "OnlyUseSmartCard", Values: boolValues, Default: "false",
		Help: "true: private keys are only used from a PKCS#11 token, never from Signet's sealed key store"},

	// The gateway's own.
	{Name: "NoCertificateAction", Values: []string{NoCertSendSigned, NoCertRefuse}, Default: NoCertSendSigned, Scoped: true,
		Help: "when encryption was asked for and a recipient has no usable certificate: send-signed delivers to that recipient signed but not encrypted; refuse refuses the message for that recipient"},
	{Name: "EncryptToSelf", Values: boolValues, Default: "true", Scoped: true,
		Help: "true: encrypted messages are also encrypted for the sender, so the sent copy stays readable"},
	{Name: "LocalToLocal", Values: []string{"process", "pass"}, Default: "pass",
		Help: "process: the gateway applies S/MIME to internal mail (local sender, local recipients) too; pass: internal mail is left alone"},
	{Name: "InboundSubjectTag", Default: "", Form: "text", Check: checkSubjectTag, Scoped: true,
		Help: "text put before the subject of inbound mail whose signature failed or could not be checked (empty: none), for example [unverified]"},
}

// index maps a lower-case name to its position in registry.
var index = func() map[string]int {
	m := make(map[string]int, len(registry))
	for i, s := range registry {
		m[strings.ToLower(s.Name)] = i
	}
	return m
}()

// Settings returns every setting, sorted by name.
func Settings() []Setting {
	out := append([]Setting(nil), registry...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the names of every setting, sorted.
func Names() []string {
	var ns []string
	for _, s := range Settings() {
		ns = append(ns, s.Name)
	}
	return ns
}

// Lookup finds a setting by name, in any case.
func Lookup(name string) (Setting, bool) {
	i, ok := index[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Setting{}, false
	}
	return registry[i], true
}

// Validate checks a value of the named setting (any case). Its errors name
// the setting and say what it accepts.
func Validate(name, value string) error {
	s, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("unknown setting %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return s.Validate(value)
}

// Validate checks a value of this setting.
func (s Setting) Validate(value string) error {
	if s.Check != nil {
		if err := s.Check(value); err != nil {
			return fmt.Errorf("%s: %v", s.Name, err)
		}
		return nil
	}
	for _, v := range s.Values {
		if v == value {
			return nil
		}
	}
	return fmt.Errorf("%s must be one of %s, not %q", s.Name, strings.Join(s.Values, ", "), value)
}

// Accepts describes the values the setting accepts: its Values joined
// with "|", else its Form.
func (s Setting) Accepts() string {
	if s.Values != nil {
		return strings.Join(s.Values, "|")
	}
	return s.Form
}

// Help describes every setting, one per line, sorted by name:
//
//	Name (values; default D[; per domain and user]): help
func Help() string {
	var b strings.Builder
	for _, s := range Settings() {
		def := s.Default
		if def == "" {
			def = `""`
		}
		scope := ""
		if s.Scoped {
			scope = "; per domain and user"
		}
		fmt.Fprintf(&b, "  %s (%s; default %s%s): %s\n", s.Name, s.Accepts(), def, scope, s.Help)
	}
	return b.String()
}

// seconds checks a timeout setting: whole seconds from 1 to 300.
func seconds(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 300 {
		return fmt.Errorf("want whole seconds from 1 to 300, not %q", v)
	}
	return nil
}

// millis checks a millisecond setting: 1 to 600000.
func millis(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 600000 {
		return fmt.Errorf("want whole milliseconds from 1 to 600000, not %q", v)
	}
	return nil
}

// resolverAddr checks "off" or a HOST:PORT.
func resolverAddr(v string) error {
	if v == "off" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("want off or HOST:PORT of a validating resolver, not %q", v)
	}
	return nil
}

// ldapURL checks "off" or an ldap:// or ldaps:// URL with a base DN path.
func ldapURL(v string) error {
	if v == "off" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("want off or ldap://HOST[:PORT]/BASE-DN (or ldaps://), not %q", v)
	}
	return nil
}

// refusedCiphers are content encryption algorithms Signet will not use,
// with the reason it gives.
var refusedCiphers = map[string]string{
	"3des":         "3DES (des-ede3-cbc) is refused: its 64-bit block makes long sessions and large messages open to birthday attacks (Sweet32), and NIST disallowed it for encryption after 2023",
	"des3":         "",
	"des-ede3":     "",
	"des-ede3-cbc": "",
	"tripledes":    "",
	"triple-des":   "",
	"rc2":          "RC2 is refused: it is a weak 1987 cipher whose S/MIME variants include 40-bit export keys that can be brute-forced",
	"rc2-40":       "",
	"rc2-64":       "",
	"rc2-128":      "",
	"rc2-cbc":      "",
	"des":          "DES is refused: its 56-bit key has been brute-forced in hours since 1998",
	"des-cbc":      "",
}

// refusedCipher returns why an algorithm is refused, or "".
func refusedCipher(alg string) string {
	a := strings.ToLower(alg)
	why, ok := refusedCiphers[a]
	if !ok {
		return ""
	}
	if why != "" {
		return why
	}
	switch {
	case strings.HasPrefix(a, "rc2"):
		return refusedCiphers["rc2"]
	case a == "des-cbc":
		return refusedCiphers["des"]
	}
	return refusedCiphers["3des"]
}

// splitList splits a comma-separated list, trimming spaces around items.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// checkEncryptionAlgorithms checks a non-empty comma-separated list of
// known, distinct content encryption algorithms.
func checkEncryptionAlgorithms(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("want at least one of %s, comma-separated", strings.Join(encryptionAlgorithms, ", "))
	}
	seen := map[string]bool{}
	for _, a := range splitList(v) {
		if why := refusedCipher(a); why != "" {
			return fmt.Errorf("%q: %s; use %s", a, why, strings.Join(encryptionAlgorithms, ", "))
		}
		known := false
		for _, k := range encryptionAlgorithms {
			known = known || a == k
		}
		switch {
		case a == "":
			return fmt.Errorf("empty item in %q (want a comma-separated list of %s)", v, strings.Join(encryptionAlgorithms, ", "))
		case !known:
			return fmt.Errorf("unknown algorithm %q (want a comma-separated list of %s)", a, strings.Join(encryptionAlgorithms, ", "))
		case seen[a]:
			return fmt.Errorf("%q is listed twice", a)
		}
		seen[a] = true
	}
	return nil
}

// checkSigningAlgorithm checks one of signingAlgorithms, saying why SHA-1
// and MD5 are refused.
func checkSigningAlgorithm(v string) error {
	for _, a := range signingAlgorithms {
		if v == a {
			return nil
		}
	}
	want := strings.Join(signingAlgorithms, ", ")
	switch strings.ToLower(strings.ReplaceAll(v, "-", "")) {
	case "sha1", "sha":
		return fmt.Errorf("%q is refused: SHA-1 collisions, even chosen-prefix ones, are practical (SHAttered 2017, Shambles 2020), so a SHA-1 signature can be transplanted onto another message, and the CA/Browser Forum S/MIME requirements forbid it; use %s", v, want)
	case "md5":
		return fmt.Errorf("%q is refused: MD5 collisions take seconds; use %s", v, want)
	}
	return fmt.Errorf("must be one of %s, not %q", want, v)
}

// checkFreeList accepts any comma-separated list without empty items or
// control characters, or "" for none.
func checkFreeList(v string) error {
	if v == "" {
		return nil
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("%q contains a control character", v)
	}
	for _, p := range splitList(v) {
		if p == "" {
			return fmt.Errorf("empty item in %q (want a comma-separated list, for example email,cn)", v)
		}
	}
	return nil
}

// checkSubjectTag accepts short text without line breaks or other control
// characters (it goes into a header field).
func checkSubjectTag(v string) error {
	if strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("%q contains a line break or control character (the tag goes into the Subject header)", v)
	}
	if n := len([]rune(v)); n > 64 {
		return fmt.Errorf("at most 64 characters, not %d", n)
	}
	return nil
}
