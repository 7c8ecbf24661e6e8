package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

func newPolicyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Rules that decide when the gateway signs, encrypts, refuses or leaves mail alone (list, add, remove)",
		Long: `Policy rules add to the settings (AlwaysSign, AlwaysEncrypt): when every
condition of a rule holds for a message, its action applies.

Actions:
  sign               sign with the sender's key
  encrypt            encrypt for the recipients with certificates; the others
                     get NoCertificateAction (send-signed or refuse)
  encrypt-or-refuse  encrypt for every recipient, or refuse the whole message
  none               no S/MIME at all (wins over every other rule and setting)

Conditions (all optional; a rule without any applies to every message):
sender, sender domain, recipient, recipient domain (any recipient; a domain
matches its subdomains), direction (outbound, inbound, internal, external),
a subject trigger such as [encrypt] (matched without regard to case and
removed from the subject before sending), a header field (present, or
containing a value). Rules are evaluated by priority, lowest first.`,
	}
	var jsonOut bool
	list := &cobra.Command{
		Use: "list [--json]", Short: "List the rules in evaluation order", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			rules, err := (&policy.Engine{Store: svc.Store}).Rules(c.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				if rules == nil {
					rules = []policy.Rule{}
				}
				return json.NewEncoder(c.OutOrStdout()).Encode(rules)
			}
			if len(rules) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "no rules (the settings alone decide; see signet config get)")
				return nil
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPRIORITY\tACTION\tCONDITIONS\tDESCRIPTION")
			for _, r := range rules {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", r.ID, r.Priority, r.Action, r.Conditions(), dash(r.Description))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	var r policy.Rule
	var header string
	add := &cobra.Command{
		Use:   "add --action sign|encrypt|encrypt-or-refuse|none [conditions] [--priority N] [--description TEXT]",
		Short: "Add a rule",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if header != "" {
				r.HeaderName, r.HeaderValue, _ = strings.Cut(header, "=")
			}
			if err := policy.ValidateRule(r); err != nil {
				return usageError{err}
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			id, err := (&policy.Engine{Store: svc.Store}).AddRule(c.Context(), r, svc.Actor)
			if err != nil {
				return err
			}
			r.ID = id
			fmt.Fprintf(c.OutOrStdout(), "added rule %d: %s → %s\n", id, r.Conditions(), r.Action)
			return nil
		},
	}
	add.Flags().StringVar(&r.Action, "action", "", "sign, encrypt, encrypt-or-refuse or none")
	add.Flags().IntVar(&r.Priority, "priority", 100, "evaluation order, lowest `N` first")
	add.Flags().StringVar(&r.Description, "description", "", "what the rule is for")
	add.Flags().StringVar(&r.Sender, "sender", "", "the sender `ADDR`")
	add.Flags().StringVar(&r.SenderDomain, "sender-domain", "", "the sender's `DOMAIN` (or a subdomain)")
	add.Flags().StringVar(&r.Recipient, "recipient", "", "a recipient `ADDR`")
	add.Flags().StringVar(&r.RecipientDomain, "recipient-domain", "", "a recipient's `DOMAIN` (or a subdomain)")
	add.Flags().StringVar(&r.Direction, "direction", "", "outbound, inbound, internal or external (= outbound)")
	add.Flags().StringVar(&r.SubjectTrigger, "subject-trigger", "", "the subject contains `TEXT` (removed before sending), e.g. [encrypt]")
	add.Flags().StringVar(&header, "header", "", "a header field `NAME` is present, or NAME=VALUE: it contains VALUE")
	remove := &cobra.Command{
		Use: "remove ID", Short: "Remove a rule", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("%q is not a rule number (see signet policy list)", args[0])
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			err = (&policy.Engine{Store: svc.Store}).RemoveRule(c.Context(), id, svc.Actor)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no rule %d (see signet policy list)", id)
			}
			return err
		},
	}
	c.AddCommand(list, add, remove)
	return c
}
