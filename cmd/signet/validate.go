package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
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
// Revocation is checked when CRLs are at hand (files or carried in the
// message); fetching them over the network is not built yet.
func (in *trustInputs) validator() func(*x509.Certificate, []*x509.Certificate, [][]byte, time.Time) smime.ChainVerdict {
	return func(leaf *x509.Certificate, pool []*x509.Certificate, carried [][]byte, at time.Time) smime.ChainVerdict {
		crls := append([]*x509.RevocationList(nil), in.crls...)
		for _, der := range carried {
			if crl, err := x509.ParseRevocationList(der); err == nil {
				crls = append(crls, crl)
			}
		}
		res, err := trust.Validate(leaf, trust.ValidateOptions{At: at, Anchors: in.anchors,
			Intermediates: append(append([]*x509.Certificate(nil), in.intermediates...), pool...),
			CRLs:          crls, CheckRevocation: len(crls) > 0})
		if err != nil {
			return smime.ChainVerdict{Code: 17, Reason: err.Error()}
		}
		v := smime.ChainVerdict{OK: res.Valid(), Code: res.Code, Reason: res.Reason, Chain: res.Chain}
		if len(crls) > 0 {
			v.Revocation = fmt.Sprintf("checked against %d CRL(s)", len(crls))
		} else {
			v.Revocation = "not checked: no CRL given (--crl) or carried in the message"
		}
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
