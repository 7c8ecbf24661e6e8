package transform

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/spool"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
)

// Values of policy.Smime.LocalToLocal.
const localProcess = "process"

// outbound applies the sender's policy to rcpts (external recipients on
// HopRelay, or local ones on HopDeliver for internal mail). refuseAll
// reports that the whole message is refused (encrypt-or-refuse): the
// rejections for every envelope recipient are in r.rej and no output may
// be written.
func (r *run) outbound(rcpts []string, hop, dir string) (refuseAll bool, err error) {
	p, h := r.p, r.m.h
	subject, _ := decodeSubject(h.get("Subject"))
	d, err := p.Policy.Decide(r.ctx, &policy.Message{
		Sender:     lower(r.env.Sender),
		Recipients: rcpts,
		Direction:  dir,
		Local:      p.local,
		Subject:    subject,
		Header:     h.values,
	})
	if err != nil {
		return false, fmt.Errorf("transform: policy: %w", err)
	}
	if d == nil || d.None {
		r.pass(rcpts, hop, dir, nil)
		if d != nil && len(d.RemoveFromSubject) > 0 {
			// A trigger of a "none" rule (say [plain]) goes too.
			oh := h.clone()
			r.removeTriggers(oh, d.RemoveFromSubject)
			r.out[len(r.out)-1].head = oh.bytes(nil)
		}
		r.notef("%s: policy says no S/MIME", dir)
		return false, nil
	}
	set := d.Settings
	if set == nil {
		if set, err = p.Policy.Resolve(r.ctx, lower(r.env.Sender)); err != nil {
			return false, fmt.Errorf("transform: policy: %w", err)
		}
	}
	if dir == policy.Internal && !strings.EqualFold(set.LocalToLocal, localProcess) {
		r.pass(rcpts, hop, dir, nil)
		r.notef("internal: LocalToLocal is %q: passed", set.LocalToLocal)
		return false, nil
	}
	oh := h.clone()
	if len(d.RemoveFromSubject) > 0 {
		r.removeTriggers(oh, d.RemoveFromSubject)
	}
	sign, encrypt := d.Sign, d.Encrypt || d.RequireEncryption
	if !sign && !encrypt {
		r.pass(rcpts, hop, dir, nil)
		if len(d.RemoveFromSubject) > 0 {
			r.out[len(r.out)-1].head = oh.bytes(nil)
		}
		return false, nil
	}
	mt, params := oh.contentType()
	st := strings.ToLower(params["smime-type"])
	switch {
	case (mt == "application/pkcs7-mime" || mt == "application/x-pkcs7-mime") && st != "signed-data" && st != "certs-only":
		r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: hop}, dir: dir, head: oh.bytes(nil), r: r.m.body()})
		r.action(actPassed)
		r.notef("%s: the message is encrypted already: sent as it is", dir)
		return false, nil
	case sign && (mt == "multipart/signed" || st == "signed-data"):
		sign = false
		r.notef("%s: the message is signed already: not signed again", dir)
	}
	if oh.malformed != "" {
		return false, r.cannotProcess(rcpts, hop, dir, oh, encrypt, oh.malformed)
	}

	// Sign once; every output shares the signed message.
	var signer *cms.Signer
	var chain []*x509.Certificate
	if sign {
		if signer, chain, err = r.signer(set); err != nil {
			return false, err
		}
	}
	plain := func() io.Reader { return r.m.with(oh, nil) }
	var signedSp *spool.Spool // nil: not signed
	if signer != nil {
		sp, err := r.spoolOf(func(w io.Writer) error {
			return smime.Sign(w, plain(), &smime.SignOptions{Opaque: !set.ClearSign, Chain: chain, TempDir: p.TempDir}, signer)
		})
		var fm *smime.FromMismatchError
		switch {
		case errors.As(err, &fm):
			r.notef("%s: not signed: %v", dir, err)
		case err != nil && isTemp(err):
			return false, err
		case err != nil:
			return false, r.cannotProcess(rcpts, hop, dir, oh, encrypt, "cannot sign: "+err.Error())
		default:
			signedSp = sp
			r.action(actSigned)
		}
	}
	// content opens what is to be encrypted or sent: the signed message,
	// or the plain one.
	content := func() (io.Reader, error) {
		if signedSp != nil {
			return signedSp.Reader()
		}
		return plain(), nil
	}
	if !encrypt {
		if signedSp != nil {
			rd, err := content()
			if err != nil {
				return false, temp(err)
			}
			r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: hop}, dir: dir, r: rd})
		} else {
			r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: hop}, dir: dir, head: oh.bytes(nil), r: r.m.body()})
			r.action(actPassed)
		}
		return false, nil
	}

	// Encryption: who has a usable certificate?
	type found struct {
		rcpt  string
		certs []*x509.Certificate
		reads func(cms.Cipher) bool
	}
	var have []found
	var missing []string
	var why []string
	for _, rc := range rcpts {
		certs, reads, reason, err := r.certsFor(rc)
		if err != nil {
			return false, err
		}
		if len(certs) == 0 {
			missing = append(missing, rc)
			why = append(why, rc+": "+reason)
			continue
		}
		have = append(have, found{rc, certs, reads})
	}
	if len(missing) > 0 {
		r.notef("%s: no usable certificate: %s", dir, strings.Join(why, "; "))
	}
	if len(missing) > 0 && d.RequireEncryption {
		text := fmt.Sprintf("no certificate for %s and policy requires encryption", strings.Join(missing, ", "))
		r.rej = nil
		r.reject(r.env.Recipients, 550, "5.7.1", text)
		return true, nil
	}
	var self []*x509.Certificate
	if set.EncryptToSelf && len(have) > 0 {
		c, err := p.Keys.EncryptionCert(r.ctx, lower(r.env.Sender))
		switch {
		case errors.Is(err, gateway.ErrNoKey):
			r.notef("%s: EncryptToSelf: no encryption certificate held for %s", dir, r.env.Sender)
		case err != nil:
			return false, fmt.Errorf("transform: encryption certificate of %s: %w", r.env.Sender, err)
		default:
			self = []*x509.Certificate{c}
		}
	}
	// Group the recipients with certificates into messages per
	// BCCEncryptedEmailForking.
	visible := oh.addressList("To", "Cc", "Resent-To", "Resent-Cc")
	var main []found
	var bcc [][]found
	for _, f := range have {
		if visible[lower(f.rcpt)] || set.BCCEncryptedEmailForking == 2 {
			main = append(main, f)
			continue
		}
		switch set.BCCEncryptedEmailForking {
		case 1:
			if len(bcc) == 0 {
				bcc = append(bcc, nil)
			}
			bcc[0] = append(bcc[0], f)
		default:
			bcc = append(bcc, []found{f})
		}
	}
	groups := bcc
	if len(main) > 0 {
		groups = append([][]found{main}, bcc...)
	}
	for _, g := range groups {
		var certs []*x509.Certificate
		var to []string
		var readers []func(cms.Cipher) bool
		for _, f := range g {
			to = append(to, f.rcpt)
			certs = append(certs, f.certs...)
			readers = append(readers, f.reads)
		}
		certs = append(certs, self...) // the sender is local: reads everything
		c, note := chooseCipher(set.EncryptionAlgorithms, readers)
		if note != "" {
			r.notef("%s: %s", dir, note)
		}
		var recips []cms.Recipient
		for _, cert := range certs {
			rcp, err := cms.NewRecipient(cert, &cms.RecipientOptions{SubjectKeyID: set.UseKeyIdentifier && len(cert.SubjectKeyId) > 0})
			if err != nil {
				return false, r.cannotProcess(rcpts, hop, dir, oh, true, "recipient certificate: "+err.Error())
			}
			recips = append(recips, rcp)
		}
		sp, err := r.spoolOf(func(w io.Writer) error {
			src, err := content()
			if err != nil {
				return temp(err)
			}
			if rc, ok := src.(io.Closer); ok {
				defer rc.Close()
			}
			return smime.Encrypt(w, src, &smime.EncryptOptions{Cipher: c, TempDir: p.TempDir}, recips...)
		})
		if err != nil {
			if isTemp(err) {
				return false, err
			}
			return false, r.cannotProcess(rcpts, hop, dir, oh, true, "cannot encrypt: "+err.Error())
		}
		if signedSp != nil && set.TripleWrap {
			inner := sp
			sp, err = r.spoolOf(func(w io.Writer) error {
				src, err := inner.Reader()
				if err != nil {
					return temp(err)
				}
				defer src.Close()
				return smime.Sign(w, src, &smime.SignOptions{Opaque: !set.ClearSign, Chain: chain, TempDir: p.TempDir}, signer)
			})
			if err != nil {
				if isTemp(err) {
					return false, err
				}
				return false, r.cannotProcess(rcpts, hop, dir, oh, true, "cannot sign the encrypted message: "+err.Error())
			}
			r.action(actTripleWrapped)
		}
		r.fromSpool(to, hop, dir, sp)
		r.action(actEncrypted)
		r.notef("%s: encrypted with %s for %s (%d recipient info(s))", dir, c, strings.Join(to, ", "), len(recips))
	}
	if len(missing) > 0 {
		switch set.NoCertificateAction {
		case policy.NoCertRefuse:
			r.reject(missing, 550, "5.7.1", "no usable certificate for the recipient and policy refuses to send unencrypted")
			r.action(actRefused)
		default:
			if signedSp != nil {
				rd, err := content()
				if err != nil {
					return false, temp(err)
				}
				r.emit(&pending{out: gateway.Output{Recipients: missing, Hop: hop}, dir: dir, r: rd})
				r.notef("%s: sent signed, not encrypted, to %s", dir, strings.Join(missing, ", "))
			} else {
				r.emit(&pending{out: gateway.Output{Recipients: missing, Hop: hop}, dir: dir, head: oh.bytes(nil), r: r.m.body()})
				r.action(actPassed)
				r.notef("%s: sent unencrypted to %s", dir, strings.Join(missing, ", "))
			}
		}
	}
	return false, nil
}

// cannotProcess handles a message that cannot be signed or encrypted
// because of its content: sent unchanged with X-Signet-Error when only
// signing was asked for, refused when it was to be encrypted.
func (r *run) cannotProcess(rcpts []string, hop, dir string, oh *header, encrypt bool, reason string) error {
	r.action(actError)
	if encrypt {
		r.reject(rcpts, 550, "5.6.0", "the message cannot be encrypted as policy requires: "+reason)
		r.notef("%s: refused: %s", dir, reason)
		return nil
	}
	r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: hop}, dir: dir,
		head: oh.bytes([]string{"X-Signet-Error: " + quote(reason)}), r: r.m.body()})
	r.notef("%s: sent unsigned: %s", dir, reason)
	return nil
}

// removeTriggers takes the policy's subject triggers out of the Subject.
func (r *run) removeTriggers(h *header, triggers []string) {
	raw := h.get("Subject")
	dec, ok := decodeSubject(raw)
	if !ok {
		r.notef("the subject's encoded words cannot be decoded: triggers left in it")
		// Still try the raw form, for triggers outside encoded words.
		dec = raw
	}
	s, changed := removeTriggers(dec, triggers)
	if !changed {
		return
	}
	if ok {
		s = encodeSubject(s)
	}
	h.setSubject(s)
	r.notef("removed the subject trigger(s) %s", strings.Join(triggers, ", "))
}

// signer returns the sender's cms.Signer per the settings and the chain to
// include; nil when the sender has no key.
func (r *run) signer(set *policy.Smime) (*cms.Signer, []*x509.Certificate, error) {
	sender := lower(r.env.Sender)
	key, cert, chain, err := r.p.Keys.Signer(r.ctx, sender)
	if errors.Is(err, gateway.ErrNoKey) {
		r.notef("not signed: no signing key held for %s", sender)
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("transform: signing key of %s: %w", sender, err)
	}
	s := &cms.Signer{Certificate: cert, Key: key, Digest: digest(set.SigningAlgorithm),
		SubjectKeyID: set.UseKeyIdentifier && len(cert.SubjectKeyId) > 0}
	var include []*x509.Certificate
	if set.IncludeSMIMECapabilities {
		s.ExtraAttributes = append(s.ExtraAttributes, cms.CapabilitiesAttribute(ciphers(set.EncryptionAlgorithms)...))
		// A separate encryption certificate: say so, and carry it, so
		// that correspondents can encrypt back.
		if ec, err := r.p.Keys.EncryptionCert(r.ctx, sender); err == nil && ec != nil && !ec.Equal(cert) {
			s.ExtraAttributes = append(s.ExtraAttributes, cms.EncryptionKeyPreferenceAttribute(ec))
			include = append(include, ec)
		}
	}
	switch set.IncludeCertificateChain {
	case "none":
	case "chain-with-root":
		include = append(include, chain...)
	default: // "chain"
		for _, c := range chain {
			if !selfSigned(c) {
				include = append(include, c)
			}
		}
	}
	return s, include, nil
}

// selfSigned tells a root by its names and key identifiers (no signature
// check: the chain comes from our own key source, and a check costs an
// ECDSA verification per message).
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
}

func digest(name string) crypto.Hash {
	switch strings.ToLower(strings.ReplaceAll(name, "-", "")) {
	case "sha384":
		return crypto.SHA384
	case "sha512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

// defaultCiphers apply when the settings list none.
var defaultCiphers = []string{"aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"}

func ciphers(names []string) []cms.Cipher {
	if len(names) == 0 {
		names = defaultCiphers
	}
	var out []cms.Cipher
	for _, n := range names {
		if c, err := cms.ParseCipher(strings.ToLower(strings.TrimSpace(n))); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// chooseCipher picks the first cipher of the preference list that every
// recipient reads. When none fits, it falls back to AES-256-CBC and says
// so.
func chooseCipher(prefs []string, readers []func(cms.Cipher) bool) (cms.Cipher, string) {
next:
	for _, c := range ciphers(prefs) {
		for _, reads := range readers {
			if !reads(c) {
				continue next
			}
		}
		return c, ""
	}
	return cms.AES256CBC, "no configured cipher is readable by every recipient (GCM only for recipients known to read it): AES-256-CBC used"
}

// allOf reads what every one of rs reads.
func allOf(rs []func(cms.Cipher) bool) func(cms.Cipher) bool {
	return func(c cms.Cipher) bool {
		for _, r := range rs {
			if !r(c) {
				return false
			}
		}
		return true
	}
}

// certsFor returns the certificates to encrypt to for a recipient: the
// first usable one of an address, or of every member of a local group
// (nothing when any member lacks one); reads says which ciphers all of them
// are known to read. reason says why there are none.
func (r *run) certsFor(addr string) (certs []*x509.Certificate, reads func(cms.Cipher) bool, reason string, err error) {
	p := r.p
	if p.Lookup == nil {
		return nil, nil, "no directory configured", nil
	}
	res, err := p.Lookup.Find(r.ctx, addr)
	if errors.Is(err, directory.ErrMalformedAddress) {
		return nil, nil, "malformed address", nil
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("transform: certificate lookup: %w", err)
	}
	if !res.Group {
		if len(res.Found) == 0 {
			return nil, nil, lookupReason(res), nil
		}
		c := res.Found[0].Cert
		return []*x509.Certificate{c}, r.readable(addr, c), "", nil
	}
	exp, err := p.Lookup.Expand(r.ctx, addr)
	if err != nil {
		return nil, nil, "", fmt.Errorf("transform: expanding group %s: %w", addr, err)
	}
	switch {
	case exp.TimedOut:
		return nil, nil, "group expansion timed out", nil
	case len(exp.Missing) > 0:
		return nil, nil, "group members without a usable certificate: " + strings.Join(exp.Missing, ", "), nil
	case !exp.Usable():
		return nil, nil, "the group has no members", nil
	}
	var readers []func(cms.Cipher) bool
	for _, mres := range exp.Members {
		if len(mres.Found) == 0 {
			return nil, nil, "group member " + mres.Address + " has no usable certificate", nil
		}
		c := mres.Found[0].Cert
		certs = append(certs, c)
		readers = append(readers, r.readable(mres.Address, c))
	}
	return certs, allOf(readers), "", nil
}

func lookupReason(res *directory.Result) string {
	if len(res.Rejected) > 0 {
		return "certificate rejected: " + res.Rejected[0].Reason
	}
	return "no certificate found"
}

// readable says which ciphers a recipient reads: everything for local
// recipients (Signet's own clients and mail server) and certificates
// KnownGCM vouches for; for others, the ciphers they announced
// (SMIMECapabilities of their signed mail, through the Capabilities hook)
// when known, else AES-CBC only (RFC 8551 clients must read it; AES-GCM is
// used only for recipients known to read it).
func (r *run) readable(addr string, c *x509.Certificate) func(cms.Cipher) bool {
	if r.p.local(addr) || (r.p.KnownGCM != nil && r.p.KnownGCM(c)) {
		return func(cms.Cipher) bool { return true }
	}
	if r.p.Capabilities != nil {
		var known []cms.Cipher
		for _, n := range r.p.Capabilities(r.ctx, lower(addr)) {
			if ci, err := cms.ParseCipher(n); err == nil {
				known = append(known, ci)
			}
		}
		if len(known) > 0 {
			return func(ci cms.Cipher) bool { return slices.Contains(known, ci) }
		}
	}
	return func(ci cms.Cipher) bool { return !ci.Authenticated() }
}
