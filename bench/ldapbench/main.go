// Command ldapbench is the LDAP side of Signet's benchmarks (bench/ldap.sh):
//
//	ldapbench populate -data DIR -n N -ldif FILE
//	    adds N mailboxes user000000@example.org … to the Signet data folder
//	    DIR (made by "signet init"), each with one certificate, and writes
//	    the same entries as LDIF for slapadd (userCertificate;binary and
//	    userSMIMECertificate with the same bytes Signet serves).
//	ldapbench query -url URL -base DN -n N -conns C -duration D
//	    looks up random users by mail over C connections for D and prints
//	    the lookups per second; every answer must be exactly one entry with
//	    the user's certificate, or the run fails.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/directory/upstream"
	"github.com/signet-smime/signet/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ldapbench populate|query [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "populate":
		err = populate(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ldapbench:", err)
		os.Exit(1)
	}
}

func addr(i int) string { return fmt.Sprintf("user%06d@example.org", i) }

func populate(args []string) error {
	fs := flag.NewFlagSet("populate", flag.ExitOnError)
	data := fs.String("data", "", "Signet data folder")
	n := fs.Int("n", 100000, "entries")
	ldifPath := fs.String("ldif", "", "write LDIF here")
	fs.Parse(args)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(*data, "signet.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	// A bench CA (not Signet's: issuing 100,000 pairs through the PKI would
	// time key generation and sealing, not the directory) and one shared
	// leaf key.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f, err := os.Create(*ldifPath)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n")
	fmt.Fprintf(f, "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n")
	start := time.Now()
	for i := 0; i < *n; i++ {
		a := addr(i)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().AddDate(1, 0, 0), EmailAddresses: []string{a},
			KeyUsage: x509.KeyUsageKeyAgreement, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, leafKey.Public(), caKey)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("User %06d", i)
		if err := st.PutUser(ctx, store.User{Email: a, DisplayName: name, Kind: store.KindMailbox}, "bench"); err != nil {
			return err
		}
		if err := st.PutCertificate(ctx, store.Certificate{Serial: fmt.Sprintf("%x", i+2), Issuer: "CN=Bench CA",
			Email: a, Emails: []string{a}, Usage: store.UsageEncrypt, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
			DER: der, ThirdParty: true, Source: store.SourceContact}, "bench"); err != nil {
			return err
		}
		leaf, _ := x509.ParseCertificate(der)
		// The entry as Signet serves it: mail, cn, displayName, sn,
		// givenName, the certificate, and a certs-only PKCS #7 (a
		// third-party certificate: no chain).
		fmt.Fprintf(f, "dn: mail=%s,ou=people,dc=example,dc=org\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\n", a)
		fmt.Fprintf(f, "mail: %s\ncn: %s\ndisplayName: %s\nsn: %06d\ngivenName: User\n", a, name, name, i)
		fmt.Fprintf(f, "userCertificate;binary:: %s\nuserSMIMECertificate:: %s\n\n",
			base64.StdEncoding.EncodeToString(der), base64.StdEncoding.EncodeToString(upstream.CertsOnly([]*x509.Certificate{leaf})))
		if (i+1)%20000 == 0 {
			fmt.Fprintf(os.Stderr, "ldapbench: %d entries (%s)\n", i+1, time.Since(start).Round(time.Second))
		}
	}
	return nil
}

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	url := fs.String("url", "", "ldap://HOST:PORT")
	base := fs.String("base", "dc=example,dc=org", "base DN")
	n := fs.Int("n", 100000, "entries (user000000 … user(N-1))")
	conns := fs.Int("conns", 4, "concurrent connections")
	dur := fs.Duration("duration", 10*time.Second, "how long")
	fs.Parse(args)
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			conn, err := ldap.DialURL(*url)
			if err != nil {
				fail(err)
				return
			}
			defer conn.Close()
			for time.Now().Before(stop) {
				a := addr(mrand.IntN(*n))
				res, err := conn.Search(ldap.NewSearchRequest(*base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
					"(mail="+a+")", []string{"mail", "cn", "userCertificate;binary", "userSMIMECertificate"}, nil))
				if err != nil {
					fail(fmt.Errorf("%s: %w", a, err))
					return
				}
				if len(res.Entries) != 1 || len(res.Entries[0].GetRawAttributeValues("userCertificate;binary")) != 1 ||
					len(res.Entries[0].GetRawAttributeValues("userSMIMECertificate")) != 1 {
					fail(fmt.Errorf("%s: %d entries, or the certificates are missing", a, len(res.Entries)))
					return
				}
				cert, err := x509.ParseCertificate(res.Entries[0].GetRawAttributeValues("userCertificate;binary")[0])
				if err != nil || len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != a {
					fail(errors.New(a + ": the certificate returned is not the user's"))
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("%.0f\n", float64(done.Load())/dur.Seconds())
	return nil
}
