package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// orgSettings are the organisation settings the config command knows, with
// their allowed values and defaults. (The full Set-SmimeConfig set, with
// domain and user levels, comes with the gateway.)
var orgSettings = map[string]struct {
	values []string
	def    string
	help   string
}{
	"KeyCustody": {[]string{"client", "gateway"}, "client",
		"client: signing keys leave Signet once, in the PKCS #12, and only encryption keys are kept; gateway: both are kept (sealed) so the gateway can sign and decrypt for users"},
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
			defer svc.Store.Close()
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
			s := orgSettings[name]
			ok := false
			for _, v := range s.values {
				ok = ok || v == args[1]
			}
			if !ok {
				return usagef("%s must be one of %s, not %q", name, strings.Join(s.values, ", "), args[1])
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Store.Close()
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
		fmt.Fprintf(&b, "  %s (%s; default %s): %s\n", n, strings.Join(s.values, "|"), s.def, s.help)
	}
	return b.String()
}
