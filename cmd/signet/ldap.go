package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/signet-smime/signet/directory/ldapserver"
	"github.com/signet-smime/signet/internal/passhash"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
)

// directoryEntries builds what the LDAP server serves from the store: every
// active mailbox, contact and group, with each recipient's valid
// certificates (not revoked, within validity at now), preferred ones first,
// then encryption before signing, then newest first. Certificates Signet
// issued carry the issuing and root CA certificates in userSMIMECertificate.
func directoryEntries(ctx context.Context, st store.Store, now time.Time) ([]ldapserver.Entry, error) {
	users, err := st.ListUsers(ctx, store.UserFilter{Status: store.UserActive})
	if err != nil {
		return nil, err
	}
	certs, err := st.ListCertificates(ctx, store.CertFilter{})
	if err != nil {
		return nil, err
	}
	var chain [][]byte
	if info, err := st.GetCA(ctx); err == nil {
		for _, fp := range []string{info.IssuingFingerprint, info.RootFingerprint} {
			c, err := st.GetCertificate(ctx, fp)
			if err != nil {
				return nil, err
			}
			chain = append(chain, c.DER)
		}
	} else if !errors.Is(err, store.ErrNotInitialized) {
		return nil, err
	}
	byEmail := map[string][]store.Certificate{}
	for _, c := range certs {
		if c.Usage == store.UsageCARoot || c.Usage == store.UsageCAIssuing || now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		byEmail[c.Email] = append(byEmail[c.Email], c)
	}
	entries := make([]ldapserver.Entry, 0, len(users))
	for _, u := range users {
		e := ldapserver.Entry{Mail: u.Email, Aliases: u.Aliases, DisplayName: u.DisplayName, CN: u.DisplayName}
		if u.Kind == store.KindGroup {
			e.Group = true
			if e.Members, err = st.GroupMembers(ctx, u.Email); err != nil {
				return nil, err
			}
			entries = append(entries, e)
			continue
		}
		if u.DisplayName != "" {
			if given, sn, ok := strings.Cut(u.DisplayName, " "); ok {
				e.GivenName, e.SN = given, sn
			}
		}
		cs := byEmail[u.Email]
		rank := func(c store.Certificate) int {
			switch {
			case c.Fingerprint == u.PreferredEncrypt:
				return 0
			case c.Fingerprint == u.PreferredSign:
				return 1
			case c.Usage == store.UsageEncrypt || c.Usage == store.UsageBoth:
				return 2
			}
			return 3
		}
		sort.SliceStable(cs, func(i, j int) bool {
			if ri, rj := rank(cs[i]), rank(cs[j]); ri != rj {
				return ri < rj
			}
			return cs[i].NotBefore.After(cs[j].NotBefore)
		})
		ours := false
		for _, c := range cs {
			e.Certs = append(e.Certs, c.DER)
			ours = ours || c.Source == store.SourceIssued || (!c.ThirdParty && c.IssuerFingerprint != "")
		}
		if ours {
			e.Chain = chain
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// ldapAuthenticator checks simple binds against the directory accounts
// ("signet directory account add").
func ldapAuthenticator(st store.Store) func(ctx context.Context, dn, password string) (bool, error) {
	return func(ctx context.Context, dn, password string) (bool, error) {
		h, err := st.DirectoryAccount(ctx, normBindDN(dn))
		if errors.Is(err, store.ErrNotFound) {
			// Spend the same time as a real check, so that timing does not
			// tell which accounts exist.
			_, _ = passhash.Check(dummyHash, []byte(password))
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return passhash.Check(h, []byte(password))
	}
}

var dummyHash = func() string {
	h, err := passhash.Hash([]byte("no such account"))
	if err != nil {
		panic(err)
	}
	return h
}()

// baseDNFor makes dc=example,dc=org from example.org.
func baseDNFor(domain string) string {
	var parts []string
	for _, l := range strings.Split(strings.Trim(domain, "."), ".") {
		parts = append(parts, "dc="+l)
	}
	return strings.Join(parts, ",")
}

// serverTLS loads a server's TLS certificate, or makes a self-signed one
// for the listening host (a trial set-up), reporting its SHA-256. service
// names the server's flags: "ldap" (--ldap-cert, --ldap-key) or "smtp".
func serverTLS(service, certFile, keyFile, addr string, warn io.Writer) (*tls.Config, error) {
	name := strings.ToUpper(service)
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, usagef("give both --%s-cert and --%s-key", service, service)
		}
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s TLS certificate: %w", name, err)
		}
		return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		host = "localhost"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	fmt.Fprintf(warn, "signet: %s TLS uses a self-signed certificate for %s (SHA-256 %s), made for this run only: give --%s-cert and --%s-key for a real one\n",
		name, host, pki.Fingerprint(cert), service, service)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion: tls.VersionTLS12}, nil
}

// ldapRefresher keeps the server's snapshot in step with the store: it
// polls the store's change mark and rebuilds the entries when it moved.
func ldapRefresher(ctx context.Context, st store.Store, srv *ldapserver.Server, every time.Duration, logf func(string, ...any)) (func() error, error) {
	mark, err := st.ChangeMark(ctx)
	if err != nil {
		return nil, err
	}
	var lastBuild time.Duration
	var builtAt time.Time
	load := func() error {
		start := time.Now()
		es, err := directoryEntries(ctx, st, start)
		if err != nil {
			return err
		}
		srv.SetEntries(es)
		lastBuild, builtAt = time.Since(start), time.Now()
		return nil
	}
	if err := load(); err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		day := time.Now().YearDay()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m, err := st.ChangeMark(ctx)
			if err != nil {
				logf("directory: reading the store: %v", err)
				continue
			}
			// Rebuild on a change, and once a day for certificates expiring;
			// a large directory (a rebuild of 100,000 entries takes seconds)
			// is rebuilt at most once per ten rebuild times, so that a
			// stream of changes (a sync, harvested certificates) does not
			// keep a core busy.
			if m == mark && time.Now().YearDay() == day {
				continue
			}
			if time.Since(builtAt) < 10*lastBuild {
				continue
			}
			if err := load(); err != nil {
				logf("directory: rebuilding the LDAP entries: %v", err)
				continue
			}
			mark, day = m, time.Now().YearDay()
		}
	}()
	return load, nil
}
