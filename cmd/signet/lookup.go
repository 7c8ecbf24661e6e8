package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/directory/upstream"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

// envUpstreamPassword holds the bind password of UpstreamLDAP; like the
// PKCS #11 PIN it comes from the environment, never from the store.
const envUpstreamPassword = "SIGNET_UPSTREAM_PASSWORD"

// setting reads an organisation setting, or its default.
func setting(ctx context.Context, st store.Store, name string) (string, error) {
	v, ok, err := st.GetSetting(ctx, name)
	if err != nil {
		return "", err
	}
	if !ok || checkSetting(name, v) != nil {
		return settingDefault(name), nil
	}
	return v, nil
}

// newLookup builds the lookup every endpoint uses from the organisation's
// settings: aliases, group expansion budget, the upstream directory, SMIMEA,
// and certificate validation with the trust collection and the revocation
// settings (offline: no fetching).
func newLookup(ctx context.Context, svc *pki.Service, offline bool) (*directory.Lookup, error) {
	get := func(name string) string {
		v, _ := setting(ctx, svc.Store, name)
		return v
	}
	l := &directory.Lookup{Store: svc.Store, UseAliases: get("UseSecondaryProxiesWhenFindingCertificates") == "true"}
	ms, _ := strconv.Atoi(get("DLExpansionTimeout"))
	l.DLExpansionTimeout = time.Duration(ms) * time.Millisecond
	if r := get("SMIMEALookup"); r != "off" {
		l.SMIMEA = &directory.SMIMEAResolver{Server: r}
	}
	if u := get("UpstreamLDAP"); u != "off" {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		m, err := upstream.Preset(get("UpstreamLDAPPreset"))
		if err != nil {
			return nil, err
		}
		cfg := upstream.Config{URL: parsed.Scheme + "://" + parsed.Host, BaseDN: strings.Trim(parsed.Path, "/"),
			BindDN: get("UpstreamLDAPBindDN"), Password: os.Getenv(envUpstreamPassword), Map: m, Timeout: 10 * time.Second}
		l.Upstream = func(ctx context.Context, addr string) ([]*x509.Certificate, error) {
			certs, err := upstream.Lookup(ctx, cfg, addr)
			if errors.Is(err, upstream.ErrNotFound) {
				return nil, nil
			}
			return certs, err
		}
	}
	tin, err := readTrust(nil, nil, storeTrust(ctx, svc.Store))
	if err != nil {
		return nil, err
	}
	if err := tin.setFetcher(ctx, offline); err != nil {
		return nil, err
	}
	// Verdicts are kept for a minute: the gateway looks the same
	// recipients up for message after message. (Revocation by Signet's
	// own CA shows at once anyway: the lookup reads the store's status.)
	var mu sync.Mutex
	type verdict struct {
		ok      bool
		reason  string
		at      time.Time
		checked time.Time
	}
	verdicts := map[string]verdict{}
	l.Validate = func(ctx context.Context, cert *x509.Certificate, at time.Time) (bool, string) {
		key := string(cert.Raw)
		mu.Lock()
		v, ok := verdicts[key]
		mu.Unlock()
		if ok && time.Since(v.checked) < time.Minute && at.Sub(v.at).Abs() < time.Minute {
			return v.ok, v.reason
		}
		v = verdict{ok: true, at: at, checked: time.Now()}
		if code, reason, _ := checkCertificate(cert, nil, tin, "", "encrypt", at); code != 1 {
			v.ok, v.reason = false, fmt.Sprintf("status %d %s: %s", code, statusNames[code], reason)
		}
		mu.Lock()
		if len(verdicts) > 10000 {
			clear(verdicts)
		}
		verdicts[key] = v
		mu.Unlock()
		return v.ok, v.reason
	}
	return l, nil
}

// lookupJSON is one address's lookup as "signet lookup --json" prints it.
type lookupJSON struct {
	Address   string          `json:"address"`
	At        time.Time       `json:"at"`
	Recipient string          `json:"recipient,omitempty"`
	Kind      string          `json:"kind,omitempty"`
	Source    string          `json:"source,omitempty"`
	Found     []candidateJSON `json:"found"`
	Rejected  []candidateJSON `json:"rejected"`
	Searched  []string        `json:"searched"`
}

type candidateJSON struct {
	Source    string    `json:"source"`
	Owner     string    `json:"owner"`
	SHA256    string    `json:"sha256"`
	Serial    string    `json:"serial,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Preferred bool      `json:"preferred,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	PEM       string    `json:"pem,omitempty"`
}

func lookupView(r *directory.Result) lookupJSON {
	v := lookupJSON{Address: r.Address, At: r.At.UTC(), Recipient: r.Recipient, Kind: r.Kind, Source: r.Source(),
		Found: []candidateJSON{}, Rejected: []candidateJSON{}, Searched: append([]string{}, r.Searched...)}
	conv := func(c directory.Candidate) candidateJSON {
		cj := candidateJSON{Source: c.Source, Owner: c.Owner, SHA256: c.Fingerprint, Preferred: c.Preferred, Reason: c.Reason}
		if c.Cert != nil {
			cj.Serial = fmt.Sprintf("%x", c.Cert.SerialNumber)
			cj.Subject, cj.Issuer, cj.NotAfter = c.Cert.Subject.String(), c.Cert.Issuer.String(), c.Cert.NotAfter.UTC()
		}
		return cj
	}
	for _, c := range r.Found {
		cj := conv(c)
		cj.PEM = string(certPEM(c.Cert))
		v.Found = append(v.Found, cj)
	}
	for _, c := range r.Rejected {
		v.Rejected = append(v.Rejected, conv(c))
	}
	return v
}

func printLookup(w io.Writer, v lookupJSON, indent string) {
	switch {
	case len(v.Found) > 0:
		fmt.Fprintf(w, "%s%s: %d usable encryption certificate(s), found in %s\n", indent, v.Address, len(v.Found), v.Source)
	default:
		fmt.Fprintf(w, "%s%s: no usable encryption certificate\n", indent, v.Address)
	}
	for _, c := range v.Found {
		pref := ""
		if c.Preferred {
			pref = " (preferred)"
		}
		fmt.Fprintf(w, "%s  use    serial %s until %s%s\n%s         sha256 %s\n%s         issuer %s\n", indent, c.Serial,
			c.NotAfter.Format("2006-01-02"), pref, indent, c.SHA256, indent, c.Issuer)
	}
	for _, c := range v.Rejected {
		fmt.Fprintf(w, "%s  reject serial %s (%s): %s\n", indent, dash(c.Serial), c.Source, c.Reason)
	}
	for _, s := range v.Searched {
		fmt.Fprintf(w, "%s  searched %s\n", indent, s)
	}
}

func newLookupCommand() *cobra.Command {
	var jsonOut, offline bool
	var atFlag string
	c := &cobra.Command{
		Use:   "lookup ADDR [--json]",
		Short: "Find the encryption certificates every endpoint would use for an address, and where",
		Long: `Lookup finds an address's usable encryption certificates the way the gateway
and every other endpoint does, searching in order and stopping at the first
source with a usable certificate:

  1. the organisation's mailboxes (an alias counts when
     UseSecondaryProxiesWhenFindingCertificates=true; a disabled mailbox
     yields nothing), the preferred certificate first, then the newest;
  2. contacts ("signet contact add", or synced);
  3. certificates harvested from validly signed mail;
  4. the upstream directory (UpstreamLDAP), if set;
  5. SMIMEA records in DNS (SMIMEALookup), if set, trusting only answers the
     validating resolver authenticated.

Each certificate must name the address, allow emailProtection and
encryption, be within its validity, and validate against the trust
collection and the organisation's CA with revocation checked per the
settings (--offline: no fetching), at --at (default now). Rejected
candidates are listed with the reason.

A group is expanded (nested groups too, within DLExpansionTimeout) and each
member looked up; members without a usable certificate are listed.

Exit status: 0 when a usable certificate was found (for a group: for every
member), 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			l, err := newLookup(ctx, svc, offline)
			if err != nil {
				return err
			}
			if atFlag != "" {
				at, err := time.Parse(time.RFC3339, atFlag)
				if err != nil {
					return usagef("--at: want a time like 2026-01-02T15:04:05Z, not %q", atFlag)
				}
				l.Now = func() time.Time { return at }
			}
			exp, err := l.Expand(ctx, args[0])
			if err != nil {
				return usageError{err}
			}
			out := c.OutOrStdout()
			if exp.Group == "" {
				if len(exp.Members) != 1 {
					return fmt.Errorf("lookup of %s gave %d results", args[0], len(exp.Members))
				}
				v := lookupView(exp.Members[0])
				if jsonOut {
					if err := json.NewEncoder(out).Encode(v); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(out, "at %s\n", v.At.Format(time.RFC3339))
					printLookup(out, v, "")
				}
				if len(v.Found) == 0 {
					return failure{fmt.Sprintf("no usable encryption certificate for %s", v.Address)}
				}
				return nil
			}
			type groupJSON struct {
				Group      string       `json:"group"`
				Members    []lookupJSON `json:"members"`
				Missing    []string     `json:"missing"`
				Loops      []string     `json:"loops,omitempty"`
				TimedOut   bool         `json:"timed_out"`
				Unexpanded []string     `json:"unexpanded,omitempty"`
			}
			g := groupJSON{Group: exp.Group, Members: []lookupJSON{}, Missing: append([]string{}, exp.Missing...),
				Loops: exp.Loops, TimedOut: exp.TimedOut, Unexpanded: exp.Unexpanded}
			for _, m := range exp.Members {
				g.Members = append(g.Members, lookupView(m))
			}
			if jsonOut {
				if err := json.NewEncoder(out).Encode(g); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "group %s: %d member(s), %d without a usable certificate\n", g.Group, len(g.Members), len(g.Missing))
				for _, m := range g.Members {
					printLookup(out, m, "  ")
				}
				for _, lp := range g.Loops {
					fmt.Fprintf(out, "  loop: %s\n", lp)
				}
				if g.TimedOut {
					fmt.Fprintf(out, "  DLExpansionTimeout ran out; not looked up: %s\n", strings.Join(g.Unexpanded, ", "))
				}
			}
			if !exp.Usable() {
				return failure{fmt.Sprintf("%d member(s) of %s without a usable encryption certificate%s", len(g.Missing), g.Group,
					map[bool]string{true: " (expansion timed out)", false: ""}[g.TimedOut])}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON (with each usable certificate in PEM)")
	c.Flags().BoolVar(&offline, "offline", false, "do not fetch CRLs or ask OCSP responders")
	c.Flags().StringVar(&atFlag, "at", "", "check the certificates at this `TIME` (RFC 3339; default now)")
	return c
}

// certPEM encodes a certificate as PEM.
func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
