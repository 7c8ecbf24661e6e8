package policy

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestCLISettings checks that the settings the CLI's config command knew
// before this registry are here with the same defaults and values.
func TestCLISettings(t *testing.T) {
	for _, c := range []struct {
		name, def string
		values    []string
	}{
		{"KeyCustody", "client", []string{"client", "gateway"}},
		{"CRLConnectionTimeout", "15", nil},
		{"CRLRetrievalTimeout", "60", nil},
		{"DisableCRLCheck", "false", []string{"true", "false"}},
		{"CheckCRLOnSend", "false", []string{"true", "false"}},
		{"RevocationFailOpen", "true", []string{"true", "false"}},
		{"UseSecondaryProxiesWhenFindingCertificates", "true", []string{"true", "false"}},
		{"DLExpansionTimeout", "60000", nil},
		{"SMIMEALookup", "off", nil},
		{"UpstreamLDAP", "off", nil},
		{"UpstreamLDAPBindDN", "", nil},
		{"UpstreamLDAPPreset", "openldap", []string{"ad", "openldap"}},
	} {
		s, ok := Lookup(c.name)
		if !ok {
			t.Errorf("%s: missing", c.name)
			continue
		}
		if s.Default != c.def || !slices.Equal(s.Values, c.values) || s.Scoped {
			t.Errorf("%s: default %q values %q scoped %v; want %q %q false", c.name, s.Default, s.Values, s.Scoped, c.def, c.values)
		}
		if s.Values == nil && (s.Check == nil || s.Form == "") {
			t.Errorf("%s: no Values, and Check or Form missing", c.name)
		}
	}
}

func TestRegistry(t *testing.T) {
	ss := Settings()
	if !sort.SliceIsSorted(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name }) {
		t.Error("Settings not sorted by name")
	}
	if len(ss) != len(registry) || len(index) != len(registry) {
		t.Errorf("%d settings, %d in the index, %d in the registry (duplicate names?)", len(ss), len(index), len(registry))
	}
	scoped := []string{"AlwaysEncrypt", "AlwaysSign", "BCCEncryptedEmailForking", "ClearSign", "EncryptToSelf",
		"EncryptionAlgorithms", "InboundSubjectTag", "IncludeCertificateChain", "IncludeSMIMECapabilities",
		"NoCertificateAction", "SignedEmailCertificateInclusion", "SigningAlgorithms", "TripleWrap", "UseKeyIdentifier"}
	var got []string
	for _, s := range ss {
		if s.Scoped {
			got = append(got, s.Name)
		}
		if err := s.Validate(s.Default); err != nil {
			t.Errorf("%s: default %q does not validate: %v", s.Name, s.Default, err)
		}
		if s.Help == "" || s.Accepts() == "" {
			t.Errorf("%s: no help or no description of its values", s.Name)
		}
	}
	if !slices.Equal(got, scoped) {
		t.Errorf("scoped settings %q, want %q", got, scoped)
	}
	for name, def := range map[string]string{
		"AlwaysSign": "false", "AlwaysEncrypt": "false", "ClearSign": "true", "TripleWrap": "false",
		"EncryptionAlgorithms": "aes256-gcm,aes128-gcm,aes256-cbc,aes128-cbc", "SigningAlgorithms": "sha256",
		"IncludeCertificateChain": "chain", "IncludeSMIMECapabilities": "true", "UseKeyIdentifier": "false",
		"BCCEncryptedEmailForking": "0", "SenderCertificateAttributesToDisplay": "email",
		"AllowUserChoiceOfSigningCertificate": "false", "OnlyUseSmartCard": "false",
		"NoCertificateAction": "send-signed", "EncryptToSelf": "true", "LocalToLocal": "pass",
		"InboundSubjectTag": "", "SignedEmailCertificateInclusion": "true",
	} {
		if s, ok := Lookup(name); !ok || s.Default != def {
			t.Errorf("%s: found %v, default %q; want %q", name, ok, s.Default, def)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, n := range []string{"alwayssign", "ALWAYSSIGN", " AlwaysSign "} {
		if s, ok := Lookup(n); !ok || s.Name != "AlwaysSign" {
			t.Errorf("Lookup(%q) = %q, %v", n, s.Name, ok)
		}
	}
	if _, ok := Lookup("SignOutbound"); ok {
		t.Error("Lookup of an unknown setting succeeded")
	}
	err := Validate("NoSuchSetting", "x")
	if err == nil || !strings.Contains(err.Error(), `unknown setting "NoSuchSetting"`) || !strings.Contains(err.Error(), "AlwaysSign") {
		t.Errorf("unknown setting: %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := map[string][]string{
		"KeyCustody":                           {"client", "gateway"},
		"CRLConnectionTimeout":                 {"1", "300"},
		"CRLRetrievalTimeout":                  {"60"},
		"DLExpansionTimeout":                   {"1", "600000"},
		"SMIMEALookup":                         {"off", "127.0.0.1:53", "[::1]:5353"},
		"UpstreamLDAP":                         {"off", "ldap://dc.example.org/dc=example,dc=org", "ldaps://dc:636/o=x"},
		"UpstreamLDAPBindDN":                   {"", "cn=admin,dc=example,dc=org"},
		"UpstreamLDAPPreset":                   {"ad", "openldap"},
		"alwayssign":                           {"true", "false"},
		"EncryptionAlgorithms":                 {"aes256-gcm", "aes128-cbc, aes256-gcm", "aes256-gcm,aes128-gcm,aes256-cbc,aes128-cbc"},
		"SigningAlgorithms":                    {"sha256", "sha384", "sha512"},
		"IncludeCertificateChain":              {"none", "chain", "chain-with-root"},
		"BCCEncryptedEmailForking":             {"0", "1", "2"},
		"SenderCertificateAttributesToDisplay": {"email", "email, cn, o", ""},
		"NoCertificateAction":                  {"send-signed", "refuse"},
		"LocalToLocal":                         {"process", "pass"},
		"InboundSubjectTag":                    {"", "[unverified]", "[nicht geprüft]"},
	}
	for name, vs := range good {
		for _, v := range vs {
			if err := Validate(name, v); err != nil {
				t.Errorf("Validate(%s, %q): %v", name, v, err)
			}
		}
	}
	bad := []struct{ name, value, want string }{
		{"KeyCustody", "server", `KeyCustody must be one of client, gateway, not "server"`},
		{"CRLConnectionTimeout", "0", "CRLConnectionTimeout: want whole seconds from 1 to 300"},
		{"CRLRetrievalTimeout", "301", "whole seconds"},
		{"CRLRetrievalTimeout", "1.5", "whole seconds"},
		{"DLExpansionTimeout", "600001", "DLExpansionTimeout: want whole milliseconds from 1 to 600000"},
		{"SMIMEALookup", "127.0.0.1", "SMIMEALookup: want off or HOST:PORT"},
		{"SMIMEALookup", "host:99999", "HOST:PORT"},
		{"UpstreamLDAP", "http://dc/o=x", "UpstreamLDAP: want off or ldap://"},
		{"UpstreamLDAP", "ldap://dc", "BASE-DN"},
		{"UpstreamLDAPPreset", "AD", "UpstreamLDAPPreset must be one of ad, openldap"},
		{"DisableCRLCheck", "yes", "DisableCRLCheck must be one of true, false"},
		{"AlwaysSign", "True", `AlwaysSign must be one of true, false, not "True"`},
		{"EncryptionAlgorithms", "3des", "EncryptionAlgorithms: \"3des\": 3DES (des-ede3-cbc) is refused: its 64-bit block"},
		{"EncryptionAlgorithms", "aes256-gcm,DES-EDE3-CBC", "Sweet32"},
		{"EncryptionAlgorithms", "rc2-40", "RC2 is refused"},
		{"EncryptionAlgorithms", "aes128-cbc,rc2", "40-bit export keys"},
		{"EncryptionAlgorithms", "des", "DES is refused: its 56-bit key"},
		{"EncryptionAlgorithms", "aes256-gcm,aes256-gcm", `"aes256-gcm" is listed twice`},
		{"EncryptionAlgorithms", "", "want at least one of aes256-gcm"},
		{"EncryptionAlgorithms", "aes256-gcm,,aes128-cbc", "empty item"},
		{"EncryptionAlgorithms", "chacha20-poly1305", `unknown algorithm "chacha20-poly1305" (want a comma-separated list of aes256-gcm, aes128-gcm, aes256-cbc, aes128-cbc)`},
		{"EncryptionAlgorithms", "AES256-GCM", "unknown algorithm"},
		{"SigningAlgorithms", "sha1", `SigningAlgorithms: "sha1" is refused: SHA-1 collisions`},
		{"SigningAlgorithms", "SHA-1", "SHAttered"},
		{"SigningAlgorithms", "md5", "MD5 collisions"},
		{"SigningAlgorithms", "sha224", `SigningAlgorithms: must be one of sha256, sha384, sha512, not "sha224"`},
		{"SigningAlgorithms", "sha256,sha384", "must be one of"},
		{"IncludeCertificateChain", "all", "IncludeCertificateChain must be one of none, chain, chain-with-root"},
		{"BCCEncryptedEmailForking", "3", "BCCEncryptedEmailForking must be one of 0, 1, 2"},
		{"SenderCertificateAttributesToDisplay", "email,,cn", "empty item"},
		{"SenderCertificateAttributesToDisplay", "email\ncn", "control character"},
		{"NoCertificateAction", "bounce", "NoCertificateAction must be one of send-signed, refuse"},
		{"EncryptToSelf", "1", "EncryptToSelf must be one of true, false"},
		{"LocalToLocal", "skip", "LocalToLocal must be one of process, pass"},
		{"InboundSubjectTag", "[x]\r\nBcc: evil@example.net", "InboundSubjectTag: \"[x]\\r\\nBcc: evil@example.net\" contains a line break"},
		{"InboundSubjectTag", strings.Repeat("x", 65), "at most 64 characters"},
	}
	for _, c := range bad {
		err := Validate(c.name, c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%s, %q) = %v; want an error containing %q", c.name, c.value, err, c.want)
		}
	}
}

func TestHelp(t *testing.T) {
	h := Help()
	lines := strings.Split(strings.TrimSuffix(h, "\n"), "\n")
	if len(lines) != len(registry) {
		t.Fatalf("%d help lines for %d settings", len(lines), len(registry))
	}
	for _, want := range []string{
		"  AlwaysSign (true|false; default false; per domain and user): ",
		"  KeyCustody (client|gateway; default client): client: signing keys",
		"  CRLConnectionTimeout (seconds; default 15): seconds one CRL",
		"  DLExpansionTimeout (milliseconds; default 60000): ",
		"  EncryptionAlgorithms (list of aes256-gcm|aes128-gcm|aes256-cbc|aes128-cbc; default aes256-gcm,aes128-gcm,aes256-cbc,aes128-cbc; per domain and user): ",
		`  UpstreamLDAPBindDN (DN; default ""): `,
		`  InboundSubjectTag (text; default ""; per domain and user): `,
	} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if !strings.HasPrefix(lines[0], "  AllowUserChoiceOfSigningCertificate ") {
		t.Errorf("help not sorted: first line %q", lines[0])
	}
}
