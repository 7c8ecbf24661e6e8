package main

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// orgSettings are the organisation settings the config command knows, with
// their allowed values and defaults. (The full Set-SmimeConfig set, with
// domain and user levels, comes with the gateway.)
var orgSettings = map[string]struct {
	values []string // allowed values; nil: check decides
	form   string   // what check accepts, for the help (default "seconds")
	def    string
	help   string
	check  func(string) error
}{
	"KeyCustody": {values: []string{"client", "gateway"}, def: "client",
		help: "client: signing keys leave Signet once, in the PKCS #12, and only encryption keys are kept; gateway: both are kept (sealed) so the gateway can sign and decrypt for users"},
	"CRLConnectionTimeout": {def: "15", check: seconds,
		help: "seconds one CRL or OCSP fetch may take (1-300)"},
	"CRLRetrievalTimeout": {def: "60", check: seconds,
		help: "seconds all revocation fetches of one validation may take together (1-300)"},
	"DisableCRLCheck": {values: []string{"true", "false"}, def: "false",
		help: "true: never fetch CRLs or ask OCSP responders (revocation is then checked only against CRL files and CRLs carried in messages)"},
	"CheckCRLOnSend": {values: []string{"true", "false"}, def: "false",
		help: "true: the gateway refuses to sign or encrypt when a certificate's revocation status cannot be determined (fail closed on send)"},
	// The default is true for now: false (fail closed) is the intended
	// default once the interop tests that verify while the organisation's
	// server is down run "signet serve" or pass --offline.
	"UseSecondaryProxiesWhenFindingCertificates": {values: []string{"true", "false"}, def: "true",
		help: "true: a certificate lookup by one of a mailbox's alias addresses finds the mailbox's certificates; false: only the primary address does"},
	"DLExpansionTimeout": {def: "60000", form: "milliseconds", check: millis,
		help: "milliseconds a lookup may spend expanding a group (nested groups included) to find its members' certificates (1-600000); members not reached are reported"},
	"SMIMEALookup": {def: "off", form: "off|HOST:PORT", check: resolverAddr,
		help: "off, or the address of a DNSSEC-validating resolver: lookups of external recipients then try SMIMEA records (RFC 8162), trusting only answers the resolver marked authenticated"},
	"UpstreamLDAP": {def: "off", form: "off|URL", check: ldapURL,
		help: "off, or ldap://HOST[:PORT]/BASE or ldaps://…: lookups then ask this directory (after Signet's own) for certificates; bind with UpstreamLDAPBindDN and the password in SIGNET_UPSTREAM_PASSWORD (never stored)"},
	"UpstreamLDAPBindDN": {def: "", form: "DN", check: func(string) error { return nil },
		help: "the DN lookups bind to UpstreamLDAP with (empty: anonymous)"},
	"UpstreamLDAPPreset": {values: []string{"ad", "openldap"}, def: "openldap",
		help: "the attribute mapping of UpstreamLDAP (and the default of directory sync --preset)"},
	"RevocationFailOpen": {values: []string{"true", "false"}, def: "true",
		help: "receive side (verify, cert check): false fails closed with status 14 when no revocation server answers; true accepts the signature and reports that revocation was not determined"},
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

// checkSetting validates value for the named setting.
func checkSetting(name, value string) error {
	s := orgSettings[name]
	if s.check != nil {
		if err := s.check(value); err != nil {
			return usagef("%s: %v", name, err)
		}
		return nil
	}
	for _, v := range s.values {
		if v == value {
			return nil
		}
	}
	return usagef("%s must be one of %s, not %q", name, strings.Join(s.values, ", "), value)
}

func newConfigCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Organisation-wide settings (get, set)",
		Long:  "Config reads and changes the organisation's settings; every change is written to the audit log.\n\nSettings:\n" + settingsHelp(),
	}
	c.AddCommand(&cobra.Command{
		Use: "get [NAME]", Short: "Show one setting, or all", Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			names := sortedSettings()
			if len(args) == 1 {
				name, err := settingName(args[0])
				if err != nil {
					return err
				}
				names = []string{name}
			}
			for _, n := range names {
				v, ok, err := svc.Store.GetSetting(c.Context(), n)
				if err != nil {
					return err
				}
				if !ok {
					v = orgSettings[n].def + " (default)"
				}
				fmt.Fprintf(c.OutOrStdout(), "%s = %s\n", n, v)
			}
			return nil
		},
	}, &cobra.Command{
		Use: "set NAME VALUE", Short: "Change a setting", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			name, err := settingName(args[0])
			if err != nil {
				return err
			}
			if err := checkSetting(name, args[1]); err != nil {
				return err
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			return svc.Store.SetSetting(c.Context(), name, args[1], svc.Actor)
		},
	})
	return c
}

func settingName(arg string) (string, error) {
	for n := range orgSettings {
		if strings.EqualFold(n, arg) {
			return n, nil
		}
	}
	return "", usagef("unknown setting %q (known: %s)", arg, strings.Join(sortedSettings(), ", "))
}

func sortedSettings() []string {
	var ns []string
	for n := range orgSettings {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func settingsHelp() string {
	var b strings.Builder
	for _, n := range sortedSettings() {
		s := orgSettings[n]
		vals := strings.Join(s.values, "|")
		if s.values == nil {
			vals = s.form
			if vals == "" {
				vals = "seconds"
			}
		}
		fmt.Fprintf(&b, "  %s (%s; default %s): %s\n", n, vals, s.def, s.help)
	}
	return b.String()
}
