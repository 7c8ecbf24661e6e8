package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
	"github.com/signet-smime/signet/trust"
)

// statusNames are the Exchange ActiveSync ValidateCert codes Signet reports.
var statusNames = map[int]string{
	1: "success", 3: "bad signature", 4: "untrusted", 5: "bad chain", 6: "not for signing",
	7: "invalid", 8: "chain time invalid", 9: "misused", 11: "misuse in chain",
	12: "email address mismatch", 13: "revoked", 14: "revocation server unavailable",
	15: "chain certificate revoked", 16: "revocation unverifiable", 17: "server error",
}

// trustInputs are the anchors, intermediates and CRLs a validation uses.
type trustInputs struct {
	anchors, intermediates []*x509.Certificate
	crls                   []*x509.RevocationList
	source                 string
	// fetcher fetches CRLs and asks OCSP responders; nil (--offline or
	// DisableCRLCheck=true) checks only the CRLs at hand.
	fetcher  *trust.Fetcher
	failOpen bool // RevocationFailOpen: accept when no revocation server answers
	// failClosedOffline: --offline with RevocationFailOpen=false, so an
	// unchecked revocation fails (16).
	failClosedOffline bool
	ctx               context.Context
}

// fetchCache is the process's revocation cache, shared by every validation.
var fetchCache = trust.NewCRLCache()

// revocationSettings reads the revocation settings from the data folder
// when there is one; the defaults otherwise.
func revocationSettings(ctx context.Context) (map[string]string, error) {
	vals := map[string]string{}
	names := []string{"CRLConnectionTimeout", "CRLRetrievalTimeout", "DisableCRLCheck", "CheckCRLOnSend", "RevocationFailOpen"}
	for _, n := range names {
		vals[n] = settingDefault(n)
	}
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err != nil {
		return vals, nil
	}
	st, err := store.Open(ctx, filepath.Join(dataDir, dbName))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for _, n := range names {
		v, ok, err := st.GetSetting(ctx, n)
		if err != nil {
			return nil, err
		}
		if ok && checkSetting(n, v) == nil {
			vals[n] = v
		}
	}
	return vals, nil
}

// setFetcher enables fetching revocation data for in unless offline or the
// organisation set DisableCRLCheck=true.
func (in *trustInputs) setFetcher(ctx context.Context, offline bool) error {
	in.ctx = ctx
	set, err := revocationSettings(ctx)
	if err != nil {
		return err
	}
	in.failOpen = set["RevocationFailOpen"] == "true"
	// --offline is a choice for privacy: with RevocationFailOpen=false the
	// unchecked revocation then fails the validation (16). DisableCRLCheck
	// is the organisation's choice not to check at all.
	in.failClosedOffline = offline && !in.failOpen
	if offline || set["DisableCRLCheck"] == "true" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err == nil && fetchCache.Dir == "" {
		fetchCache.Dir = filepath.Join(dataDir, "crl-cache") // fetched CRLs outlive the process
	}
	conn, _ := strconv.Atoi(set["CRLConnectionTimeout"])
	all, _ := strconv.Atoi(set["CRLRetrievalTimeout"])
	in.fetcher = &trust.Fetcher{ConnectionTimeout: time.Duration(conn) * time.Second,
		RetrievalTimeout: time.Duration(all) * time.Second, Cache: fetchCache, MaxCRLSize: trust.DefaultMaxCRLSize}
	return nil
}

// readTrust builds trust inputs from files, or from the data folder when no
// file is given.
func readTrust(trustFiles, crlFiles []string, svcOpen func() (*store.CAInfo, []store.TrustCert, []*x509.Certificate, error)) (*trustInputs, error) {
	in := &trustInputs{}
	if len(trustFiles) > 0 {
		for _, f := range trustFiles {
			cs, err := keyfile.LoadCertificates(f)
			if err != nil {
				return nil, err
			}
			in.anchors = append(in.anchors, cs...)
		}
		in.source = "--trust"
	} else {
		info, coll, caCerts, err := svcOpen()
		if err != nil {
			return nil, err
		}
		for _, tc := range coll {
			cert, err := trust.ParseCertificate(tc.DER)
			if err != nil {
				return nil, fmt.Errorf("trust collection certificate %s: %w", tc.Fingerprint, err)
			}
			if tc.Kind == store.TrustAnchor {
				in.anchors = append(in.anchors, cert)
			} else {
				in.intermediates = append(in.intermediates, cert)
			}
		}
		if len(caCerts) == 2 {
			in.anchors = append(in.anchors, caCerts[0])
			in.intermediates = append(in.intermediates, caCerts[1])
		}
		in.source = "the trust collection"
		if info != nil {
			in.source += " and " + info.Org + "'s CA"
		}
		if len(in.anchors) == 0 {
			return nil, usagef("no trust anchors: give --trust FILE, or import some with \"signet trust import\"")
		}
	}
	for _, f := range crlFiles {
		crl, err := loadCRL(f)
		if err != nil {
			return nil, err
		}
		in.crls = append(in.crls, crl)
	}
	return in, nil
}

func loadCRL(path string) (*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a CRL: %w", path, err)
	}
	return crl, nil
}

// validator returns the smime.VerifyOptions.Validate function over in.
// Revocation is checked against the CRLs at hand (files or carried in the
// message); with a fetcher, certificates those leave undecided are checked
// against CRLs fetched from their HTTP distribution points, then OCSP. When
// no revocation server answers the result is 14 (fail closed) unless
// RevocationFailOpen=true.
func (in *trustInputs) validator() func(*x509.Certificate, []*x509.Certificate, [][]byte, time.Time) smime.ChainVerdict {
	return func(leaf *x509.Certificate, pool []*x509.Certificate, carried [][]byte, at time.Time) smime.ChainVerdict {
		crls := append([]*x509.RevocationList(nil), in.crls...)
		for _, der := range carried {
			if crl, err := x509.ParseRevocationList(der); err == nil {
				crls = append(crls, crl)
			}
		}
		opts := trust.ValidateOptions{At: at, Anchors: in.anchors,
			Intermediates: append(append([]*x509.Certificate(nil), in.intermediates...), pool...),
			CRLs:          crls, CheckRevocation: len(crls) > 0}
		var res *trust.Result
		var err error
		var revocation string
		if in.fetcher == nil || len(crls) > 0 {
			res, err = trust.Validate(leaf, opts)
			if err != nil {
				return smime.ChainVerdict{Code: 17, Reason: err.Error()}
			}
			if len(crls) > 0 {
				revocation = fmt.Sprintf("checked against %d CRL(s)", len(crls))
			} else if in.failClosedOffline && res.Valid() {
				res = &trust.Result{Chain: res.Chain, Code: trust.CodeRevocationUnverified,
					Reason: "revocation not checked (--offline) and RevocationFailOpen=false"}
				revocation = "not checked: offline, and RevocationFailOpen=false"
			} else if in.ctx != nil {
				revocation = "not checked: offline or DisableCRLCheck=true, and no CRL given (--crl) or carried in the message"
			} else {
				revocation = "not checked: no CRL given (--crl) or carried in the message"
			}
		}
		if in.fetcher != nil && (res == nil || res.Code == trust.CodeRevocationUnverified) {
			ctx := in.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			r, rep, err := trust.ValidateOnline(ctx, leaf, opts, in.fetcher)
			if err != nil {
				return smime.ChainVerdict{Code: 17, Reason: err.Error()}
			}
			res = r
			revocation = rep.String()
			if res.Code == trust.CodeRevocationUnavailable && in.failOpen {
				revocation += "; revocation NOT determined (" + res.Reason + "), accepted because RevocationFailOpen=true"
				res = &trust.Result{Chain: res.Chain, Code: trust.CodeSuccess, Reason: "ok"}
			}
		}
		v := smime.ChainVerdict{OK: res.Valid(), Code: res.Code, Reason: res.Reason, Chain: res.Chain, Revocation: revocation,
			Weak: weakInChain(res.Chain)}
		if !v.OK && v.Reason == "" {
			v.Reason = statusNames[v.Code]
		}
		return v
	}
}

// dataFolderTrust reads the data folder's trust collection and CA, for
// readTrust; without a data folder it asks for --trust.
func dataFolderTrust(ctx context.Context) func() (*store.CAInfo, []store.TrustCert, []*x509.Certificate, error) {
	return func() (*store.CAInfo, []store.TrustCert, []*x509.Certificate, error) {
		if _, err := os.Stat(filepath.Join(dataDir, dbName)); err != nil {
			return nil, nil, nil, usagef("--trust FILE is required (no Signet data folder at %s to take the trust collection from)", dataDir)
		}
		st, err := store.Open(ctx, filepath.Join(dataDir, dbName))
		if err != nil {
			return nil, nil, nil, err
		}
		defer st.Close()
		return storeTrust(ctx, st)()
	}
}

// storeTrust is dataFolderTrust over a store already open (a server's).
func storeTrust(ctx context.Context, st store.Store) func() (*store.CAInfo, []store.TrustCert, []*x509.Certificate, error) {
	return func() (*store.CAInfo, []store.TrustCert, []*x509.Certificate, error) {
		coll, err := st.ListTrustCerts(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		info, err := st.GetCA(ctx)
		if err != nil {
			return nil, coll, nil, nil // a folder with a collection but no CA
		}
		var cas []*x509.Certificate
		for _, fp := range []string{info.RootFingerprint, info.IssuingFingerprint} {
			c, err := st.GetCertificate(ctx, fp)
			if err != nil {
				return nil, nil, nil, err
			}
			cert, err := x509.ParseCertificate(c.DER)
			if err != nil {
				return nil, nil, nil, err
			}
			cas = append(cas, cert)
		}
		return info, coll, cas, nil
	}
}

// weakInChain names weak signature algorithms and small RSA keys among the
// certificates of a chain (the anchor's self-signature does not count).
func weakInChain(chain []*x509.Certificate) []string {
	var out []string
	for i, c := range chain {
		if i < len(chain)-1 {
			switch c.SignatureAlgorithm {
			case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
				out = append(out, fmt.Sprintf("certificate %q signed with %v", c.Subject.CommonName, c.SignatureAlgorithm))
			}
		}
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
			out = append(out, fmt.Sprintf("certificate %q has an RSA key of %d bits", c.Subject.CommonName, k.N.BitLen()))
		}
	}
	return out
}

// checkOnSend returns, when the organisation's CheckCRLOnSend setting is
// on, a check that refuses a recipient certificate unless it validates with
// its revocation status determined (fail closed, whatever
// RevocationFailOpen says); nil when the setting is off.
func checkOnSend(ctx context.Context) (func(cert *x509.Certificate, extra []*x509.Certificate) error, error) {
	set, err := revocationSettings(ctx)
	if err != nil || set["CheckCRLOnSend"] != "true" {
		return nil, err
	}
	tin, err := readTrust(nil, nil, dataFolderTrust(ctx))
	if err != nil {
		return nil, err
	}
	if err := tin.setFetcher(ctx, false); err != nil {
		return nil, err
	}
	tin.failOpen = false
	return func(cert *x509.Certificate, extra []*x509.Certificate) error {
		code, reason, _ := checkCertificate(cert, extra, tin, "", "encrypt", time.Now())
		if code != trust.CodeSuccess {
			return fmt.Errorf("recipient certificate refused (CheckCRLOnSend): status %d %s: %s", code, statusNames[code], reason)
		}
		return nil
	}, nil
}
