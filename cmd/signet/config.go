package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

// settingDefault is a setting's factory value.
func settingDefault(name string) string {
	s, _ := policy.Lookup(name)
	return s.Default
}

// checkSetting validates value for the named setting (a usage error).
func checkSetting(name, value string) error {
	if err := policy.Validate(name, value); err != nil {
		return usageError{err}
	}
	return nil
}

// scopeFlags are config's --domain and --user.
type scopeFlags struct{ domain, user string }

func (f *scopeFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.domain, "domain", "", "the setting for this `DOMAIN` (overrides the organisation's)")
	c.Flags().StringVar(&f.user, "user", "", "the setting for this user `ADDR` (overrides the domain's)")
}

// scope returns "", "domain:D" or "user:ADDR".
func (f *scopeFlags) scope() (string, error) {
	switch {
	case f.domain != "" && f.user != "":
		return "", usagef("give --domain or --user, not both")
	case f.domain != "":
		if strings.ContainsAny(f.domain, "@ ") {
			return "", usagef("--domain %q: want a domain like example.org", f.domain)
		}
		return "domain:" + strings.ToLower(f.domain), nil
	case f.user != "":
		if !strings.Contains(f.user, "@") {
			return "", usagef("--user %q: want an address", f.user)
		}
		return "user:" + strings.ToLower(f.user), nil
	}
	return "", nil
}

// resolved is a setting's effective value for a scope and where it comes
// from: factory ← organisation ← domain ← user.
func resolved(ctx context.Context, st store.Store, scope string) (map[string]string, map[string]string, error) {
	vals, from := map[string]string{}, map[string]string{}
	for _, s := range policy.Settings() {
		vals[s.Name], from[s.Name] = s.Default, policy.LevelFactory
	}
	org, err := st.ListSettings(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range org {
		if _, ok := vals[s.Name]; ok && policy.Validate(s.Name, s.Value) == nil {
			vals[s.Name], from[s.Name] = s.Value, policy.LevelOrganisation
		}
	}
	var scopes []string
	if d, ok := strings.CutPrefix(scope, "domain:"); ok {
		scopes = []string{"domain:" + d}
	}
	if u, ok := strings.CutPrefix(scope, "user:"); ok {
		_, d, _ := strings.Cut(u, "@")
		scopes = []string{"domain:" + d, scope}
	}
	for _, sc := range scopes {
		ss, err := st.ListScopedSettings(ctx, sc)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range ss {
			def, ok := policy.Lookup(s.Name)
			if ok && def.Scoped && policy.Validate(s.Name, s.Value) == nil {
				vals[s.Name], from[s.Name] = s.Value, strings.Replace(sc, ":", " ", 1)
			}
		}
	}
	return vals, from, nil
}

func newConfigCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Organisation-wide settings, per domain and per user (get, set, unset)",
		Long: `Config reads and changes the S/MIME settings (Exchange's Set-SmimeConfig,
with Signet's defaults). A value resolves factory ← organisation ← domain ←
user: the most specific level that sets it wins; settings marked [scoped]
may be set per domain (--domain) and per user (--user). Every change is
written to the audit log.

Settings:
` + policy.Help(),
	}
	var getScope, setScope, unsetScope scopeFlags
	get := &cobra.Command{
		Use: "get [NAME] [--domain D | --user ADDR]", Short: "Show one setting, or all, with where each value comes from", Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			scope, err := getScope.scope()
			if err != nil {
				return err
			}
			names := policy.Names()
			if len(args) == 1 {
				s, ok := policy.Lookup(args[0])
				if !ok {
					return usagef("unknown setting %q (known: %s)", args[0], strings.Join(policy.Names(), ", "))
				}
				names = []string{s.Name}
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			vals, from, err := resolved(c.Context(), svc.Store, scope)
			if err != nil {
				return err
			}
			for _, n := range names {
				src := from[n]
				if src == policy.LevelFactory {
					src = "default"
				}
				fmt.Fprintf(c.OutOrStdout(), "%s = %s (%s)\n", n, vals[n], src)
			}
			return nil
		},
	}
	getScope.add(get)
	set := &cobra.Command{
		Use: "set NAME VALUE [--domain D | --user ADDR]", Short: "Change a setting for the organisation, a domain or a user", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			scope, err := setScope.scope()
			if err != nil {
				return err
			}
			s, ok := policy.Lookup(args[0])
			if !ok {
				return usagef("unknown setting %q (known: %s)", args[0], strings.Join(policy.Names(), ", "))
			}
			if err := checkSetting(s.Name, args[1]); err != nil {
				return err
			}
			if scope != "" && !s.Scoped {
				return usagef("%s applies to the whole organisation only: drop --domain/--user", s.Name)
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			return (&policy.Engine{Store: svc.Store}).Set(c.Context(), scope, s.Name, args[1], svc.Actor)
		},
	}
	setScope.add(set)
	unset := &cobra.Command{
		Use: "unset NAME (--domain D | --user ADDR)", Short: "Remove a domain's or user's value, so the next level's applies", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			scope, err := unsetScope.scope()
			if err != nil {
				return err
			}
			if scope == "" {
				return usagef("give --domain or --user (organisation settings are changed with set)")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			err = (&policy.Engine{Store: svc.Store}).Unset(c.Context(), scope, args[0], svc.Actor)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s is not set for %s", args[0], strings.Replace(scope, ":", " ", 1))
			}
			return err
		},
	}
	unsetScope.add(unset)
	c.AddCommand(get, set, unset)
	return c
}
