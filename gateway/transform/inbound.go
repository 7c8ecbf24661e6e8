package transform

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/spool"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
)

// maxLayers bounds the S/MIME layers unwrapped inbound (signed, encrypted,
// signed: a triple wrap is three).
const maxLayers = 4

// Header fields the gateway writes on inbound mail.
const (
	fieldSignature  = "X-Signet-Signature"
	fieldEncryption = "X-Signet-Encryption"
	fieldError      = "X-Signet-Error"
)

// layer kinds
const (
	kindNone      = ""
	kindEncrypted = "encrypted"
	kindSigned    = "signed"
)

func isPKCS7Mime(mt string, params map[string]string) bool {
	switch mt {
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return true
	case "application/octet-stream":
		return strings.HasSuffix(strings.ToLower(params["name"]), ".p7m")
	}
	return false
}

// kind classifies a message by its Content-Type. A pkcs7-mime body
// without smime-type is taken for encrypted first.
func kind(h *header) string {
	mt, params := h.contentType()
	st := strings.ToLower(params["smime-type"])
	switch {
	case mt == "multipart/signed":
		return kindSigned
	case isPKCS7Mime(mt, params) && st == "signed-data":
		return kindSigned
	case isPKCS7Mime(mt, params) && (st == "" || st == "enveloped-data" || st == "authenveloped-data"):
		return kindEncrypted
	}
	return kindNone
}

// version is one form of the message inbound: the original (sp nil) or a
// decrypted or unwrapped one in a spool.
type version struct {
	sp *spool.Spool
	h  *header
	// body reads the body; for a spool it is the rest of the reader the
	// header was read from, so it can be opened once only: open gives a
	// fresh whole-message reader.
	body io.Reader
}

func (r *run) original() *version {
	return &version{h: r.m.h, body: r.m.body()}
}

// open returns a reader of the whole message of v.
func (r *run) open(v *version) (io.Reader, error) {
	if v.sp == nil {
		return r.m.with(r.m.h, nil), nil
	}
	return v.sp.Reader()
}

// fromSpoolVersion parses the header of a spooled message.
func fromSpoolVersion(sp *spool.Spool) (*version, error) {
	rd, err := sp.Reader()
	if err != nil {
		return nil, temp(err)
	}
	br := bufio.NewReaderSize(rd, 32<<10)
	h, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	h.stripSignet() // fields inside a protected layer are no more the gateway's
	return &version{sp: sp, h: h, body: br}, nil
}

// inbound decrypts and verifies mail from outside for local rcpts.
func (r *run) inbound(rcpts []string) error {
	p, h := r.p, r.m.h
	const dir = policy.Inbound
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
		return fmt.Errorf("transform: policy: %w", err)
	}
	if d != nil && d.None {
		r.pass(rcpts, gateway.HopDeliver, dir, nil)
		r.notef("inbound: policy says no S/MIME")
		return nil
	}
	var set *policy.Smime
	if d != nil {
		set = d.Settings
	}
	if set == nil {
		if set, err = p.Policy.Resolve(r.ctx, ""); err != nil {
			return fmt.Errorf("transform: policy: %w", err)
		}
	}

	cur := r.original()
	var add []string
	tagIt := false
	var ids []*cms.Identity
	idsLoaded := false
	forceSigned := false
	if h.malformed != "" {
		add = append(add, fieldError+": "+quote(h.malformed))
		r.action(actError)
	}
layers:
	for i := 0; i < maxLayers && h.malformed == ""; i++ {
		k := kind(cur.h)
		if forceSigned {
			k, forceSigned = kindSigned, false
		}
		switch k {
		case kindEncrypted:
			if !idsLoaded {
				if ids, err = r.identities(rcpts); err != nil {
					return err
				}
				idsLoaded = true
			}
			if len(ids) == 0 {
				add = append(add, fieldEncryption+": not decrypted; reason="+quote("no decryption key held for "+strings.Join(rcpts, ", ")))
				r.action(actNotDecrypted)
				r.notef("inbound: not decrypted: no key held for %s", strings.Join(rcpts, ", "))
				break layers
			}
			sp, err := r.newSpool()
			if err != nil {
				return err
			}
			src, err := r.open(cur)
			if err != nil {
				return err
			}
			dec, err := smime.Decrypt(sp, src, &smime.DecryptOptions{TempDir: p.TempDir}, ids...)
			closeIf(src)
			if errors.Is(err, smime.ErrNotEncrypted) {
				mt, params := cur.h.contentType()
				if isPKCS7Mime(mt, params) && params["smime-type"] == "" {
					forceSigned = true
					continue
				}
			}
			if err != nil {
				reason := err.Error()
				if errors.Is(err, cms.ErrDecrypt) {
					reason = "no key held for the recipients decrypts it"
				} else {
					add = append(add, fieldError+": "+quote("broken S/MIME: "+reason))
					r.action(actError)
				}
				add = append(add, fieldEncryption+": not decrypted; reason="+quote(reason))
				r.action(actNotDecrypted)
				r.notef("inbound: not decrypted: %s", reason)
				break layers
			}
			nv, err := fromSpoolVersion(sp)
			if err != nil {
				return err
			}
			cur = nv
			add = append(add, fieldEncryption+": decrypted; cipher="+cipherName(dec.Cipher))
			r.action(actDecrypted)
		case kindSigned:
			sp, err := r.newSpool()
			if err != nil {
				return err
			}
			src, err := r.open(cur)
			if err != nil {
				return err
			}
			v, err := smime.Verify(sp, src, &smime.VerifyOptions{Validate: p.Validate, At: p.now(), TempDir: p.TempDir})
			closeIf(src)
			if errors.Is(err, smime.ErrNotSigned) {
				break layers
			}
			if err != nil {
				reason := err.Error()
				add = append(add, fieldSignature+": invalid; reason="+quote(reason), fieldError+": "+quote("broken S/MIME: "+reason))
				r.action(actInvalid)
				r.action(actError)
				tagIt = true
				r.notef("inbound: signature not checked: %s", reason)
				break layers
			}
			if !v.Signed {
				break layers
			}
			add = append(add, r.signatureFields(v)...)
			if !v.OK() {
				tagIt = true
				r.action(actInvalid)
				r.notef("inbound: signature invalid: %s", v.Reason())
				break layers
			}
			r.action(actVerified)
			r.harvest(v)
			if strings.HasPrefix(v.InnerType, "application/") && strings.Contains(v.InnerType, "pkcs7-mime") {
				// Signed around encrypted (a triple wrap): go on inside.
				nv, err := fromSpoolVersion(sp)
				if err != nil {
					return err
				}
				cur = nv
				continue
			}
			break layers
		default:
			break layers
		}
	}
	out := cur.h.clone()
	if tagIt && set.InboundSubjectTag != "" {
		out.tagSubject(set.InboundSubjectTag)
	}
	r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: gateway.HopDeliver}, dir: dir, head: out.bytes(add), r: cur.body})
	if len(add) == 0 {
		r.action(actPassed)
	}
	return nil
}

func closeIf(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

// identities collects the decryption identities of the local recipients.
func (r *run) identities(rcpts []string) ([]*cms.Identity, error) {
	var ids []*cms.Identity
	seen := map[string]bool{}
	for _, rc := range rcpts {
		list, err := r.p.Keys.Identities(r.ctx, lower(rc))
		if errors.Is(err, gateway.ErrNoKey) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("transform: decryption keys of %s: %w", rc, err)
		}
		for _, id := range list {
			if id == nil || id.Certificate == nil {
				continue
			}
			if k := string(id.Certificate.Raw); !seen[k] {
				seen[k] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// signatureFields writes one X-Signet-Signature per signer. Only when
// every signer passes does any field say valid.
func (r *run) signatureFields(v *smime.Verified) []string {
	all := v.OK()
	var out []string
	for _, s := range v.Signers {
		who := ""
		if s.Certificate != nil {
			addr := ""
			if v.From != "" && smime.CertificateHasEmail(s.Certificate, v.From) {
				addr = v.From
			} else if len(s.Emails) > 0 {
				addr = s.Emails[0]
			}
			if addr != "" {
				who = "; signer=" + addr
			}
			sum := sha256.Sum256(s.Certificate.Raw)
			who += "; cert-sha256=" + hex.EncodeToString(sum[:])
		}
		switch {
		case all:
			out = append(out, fieldSignature+": valid"+who)
		case s.OK():
			out = append(out, fieldSignature+": invalid; reason="+quote("another signature on the message failed")+who)
		default:
			out = append(out, fieldSignature+": invalid; reason="+quote(signerReason(s, v.From))+who)
		}
	}
	if len(out) == 0 {
		out = append(out, fieldSignature+": invalid; reason="+quote(v.Reason()))
	}
	return out
}

func signerReason(s *smime.Signer, from string) string {
	switch {
	case !s.SignatureOK:
		return "bad signature: " + s.SignatureErr
	case !s.ChainOK:
		return "untrusted certificate: " + s.ChainErr
	case !s.FromMatches:
		return fmt.Sprintf("From %s is not in the certificate", from)
	}
	return "verification failed"
}

// harvest gives each signer's certificate to the Harvest hook: only for a
// message whose every signature and chain verified, and only when the
// certificate names the From address, which must be external (the
// organisation's own certificates do not come from mail).
func (r *run) harvest(v *smime.Verified) {
	if (r.p.Harvest == nil && r.p.Announce == nil) || !v.OK() || v.From == "" || r.p.local(v.From) {
		return
	}
	for _, s := range v.Signers {
		if s.Certificate == nil || !smime.CertificateHasEmail(s.Certificate, v.From) {
			continue
		}
		if r.p.Announce != nil && len(s.Capabilities) > 0 {
			if err := r.p.Announce(r.ctx, v.From, s.Capabilities); err != nil {
				r.notef("inbound: recording the ciphers %s announced: %v", v.From, err)
			}
		}
		if r.p.Harvest == nil {
			continue
		}
		if err := r.p.Harvest(r.ctx, s.Certificate, v.From); err != nil {
			r.notef("inbound: harvesting the certificate of %s: %v", v.From, err)
			continue
		}
		r.action(actHarvested)
	}
}

// cipherName writes a cipher as "aes-256-gcm".
func cipherName(c cms.Cipher) string {
	s := c.String()
	if strings.HasPrefix(s, "aes") && len(s) > 3 && s[3] != '-' {
		return "aes-" + s[3:]
	}
	return s
}
