package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log"
	"math/big"
	"time"

	"github.com/signet-smime/signet/ca"
	"golang.org/x/crypto/ocsp"
)

// Setting up a CA and issuing a signing certificate.
func Example() {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	issuingKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	userKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	org := ca.Org{Name: "Example Ltd", Country: "GB", Domains: []string{"example.com"}, PublicURL: "http://pki.example.com"}
	root, err := ca.NewRoot(org, rootKey, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	issuing, err := ca.NewIssuing(org, root, rootKey, issuingKey, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	cert, err := ca.Issue(org, issuing, issuingKey, ca.Request{
		Email: "alice@example.com", PublicKey: &userKey.PublicKey, Usage: ca.Sign, Profile: ca.Strict,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cert.Subject, cert.EmailAddresses, cert.Policies, cert.SignatureAlgorithm)
	fmt.Println(cert.KeyUsage == x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment)
	fmt.Println(cert.CRLDistributionPoints[0] == ca.CRLURL(org, issuing), cert.OCSPServer)

	_, err = ca.Issue(org, issuing, issuingKey, ca.Request{Email: "bob@example.net", PublicKey: &userKey.PublicKey})
	fmt.Println(err)
	// Output:
	// CN=alice@example.com [alice@example.com] [2.23.140.1.5.1.3] ECDSA-SHA384
	// true
	// true [http://pki.example.com/ocsp]
	// ca: address outside the organisation's domains: example.net is not one of example.com
}

// Answering OCSP requests for an issuing CA.
func ExampleResponder() {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	issuingKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	org := ca.Org{Name: "Example Ltd", Domains: []string{"example.com"}, PublicURL: "http://pki.example.com"}
	root, _ := ca.NewRoot(org, rootKey, time.Now())
	issuing, _ := ca.NewIssuing(org, root, rootKey, issuingKey, time.Now())
	cert, _ := ca.Issue(org, issuing, issuingKey, ca.Request{Email: "alice@example.com", PublicKey: &issuingKey.PublicKey, Usage: ca.Sign})

	r := &ca.Responder{
		CAs: []ca.Authority{{Cert: issuing, Key: issuingKey}},
		Lookup: func(issuer *x509.Certificate, serial *big.Int) (ca.CertStatus, error) {
			if serial.Cmp(cert.SerialNumber) == 0 { // in real life: ask the store
				return ca.CertStatus{Status: ca.StatusRevoked, RevokedAt: time.Now(), Reason: ca.KeyCompromise}, nil
			}
			return ca.CertStatus{}, nil // unknown
		},
	}
	// r is an http.Handler: mount it at ca.OCSPURL(org). Here, directly:
	req, _ := ocsp.CreateRequest(cert, issuing, nil)
	der, err := r.Respond(req, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, issuing)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status == ocsp.Revoked, resp.RevocationReason == ocsp.KeyCompromise, resp.NextUpdate.Sub(resp.ThisUpdate))
	// Output:
	// true true 12h0m0s
}
