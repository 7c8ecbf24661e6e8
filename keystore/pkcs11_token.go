//go:build cgo

package keystore

// The PKCS #11 Token, through crypto11 and miekg/pkcs11, which need cgo
// (they load the module with dlopen). Without cgo, pkcs11_nocgo.go
// provides a Token that says so.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Token is an open, logged-in session pool on one PKCS #11 token. It is
// safe for concurrent use; Close it when done (the signers it returned stop
// working then).
type Token struct {
	ctx    *crypto11.Context
	cfg    PKCS11Config
	key    string      // registry key: module and token label
	mu     sync.Mutex  // serialises GenerateSigner's check-then-create
	closed atomic.Bool // set by Close
	close  sync.Once
}

// The PKCS #11 login state belongs to the application (this process), not
// to a session: once one Token is logged in, the module answers a second
// C_Login with CKR_USER_ALREADY_LOGGED_IN without looking at the PIN, and
// crypto11 takes that as success. So OpenToken compares the PIN of a second
// Token on the same token with the first one's itself.
var (
	openMu     sync.Mutex
	openTokens = map[string]*openToken{}
)

type openToken struct {
	pin  string
	refs int
}

// OpenToken loads the module, finds the token by label and logs in with the
// PIN. Errors: ErrTokenNotFound, ErrWrongPIN, or a one-line description.
func OpenToken(cfg PKCS11Config) (*Token, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" {
		return nil, errors.New("keystore: PKCS #11 config needs a module path and a token label")
	}
	if cfg.PIN == "" {
		return nil, fmt.Errorf("keystore: no PIN for PKCS #11 token %q: set %s", cfg.TokenLabel, PKCS11PINEnv)
	}
	// One module instance per file: crypto11 shares it by path string, and
	// two paths to one library would initialise it twice.
	module, err := filepath.Abs(cfg.Module)
	if err == nil {
		module, err = filepath.EvalSymlinks(module)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: PKCS #11 module %s: %v", cfg.Module, unwrapPathError(err))
	}
	if fi, err := os.Stat(module); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: PKCS #11 module %s is not a file", cfg.Module)
	}
	key := module + "\x00" + cfg.TokenLabel

	openMu.Lock()
	defer openMu.Unlock()
	if o := openTokens[key]; o != nil {
		if subtle.ConstantTimeCompare([]byte(o.pin), []byte(cfg.PIN)) != 1 {
			return nil, fmt.Errorf("%w %q", ErrWrongPIN, cfg.TokenLabel)
		}
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: cfg.TokenLabel, Pin: cfg.PIN})
	if err != nil {
		return nil, openError(cfg, err)
	}
	if o := openTokens[key]; o != nil {
		o.refs++
	} else {
		openTokens[key] = &openToken{pin: cfg.PIN, refs: 1}
	}
	cfg.Module = module
	return &Token{ctx: ctx, cfg: cfg, key: key}, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openError turns crypto11's errors into one clear line.
func openError(cfg PKCS11Config, err error) error {
	var p11 pkcs11.Error
	if errors.As(err, &p11) {
		switch p11 {
		case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
			return fmt.Errorf("%w %q", ErrWrongPIN, cfg.TokenLabel)
		case pkcs11.CKR_PIN_LOCKED:
			return fmt.Errorf("%w %q: the PIN is locked (too many wrong PINs)", ErrWrongPIN, cfg.TokenLabel)
		case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
			return fmt.Errorf("keystore: PKCS #11 token %q has no user PIN (initialise it first)", cfg.TokenLabel)
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not find PKCS#11 token"):
		return fmt.Errorf("%w: no token labelled %q in %s", ErrTokenNotFound, cfg.TokenLabel, cfg.Module)
	case strings.Contains(msg, "failed to open module"):
		return fmt.Errorf("keystore: %s cannot be loaded as a PKCS #11 module", cfg.Module)
	}
	return fmt.Errorf("keystore: opening PKCS #11 token %q: %s", cfg.TokenLabel, oneLine(msg))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Config returns the token's configuration (the module path resolved).
func (t *Token) Config() PKCS11Config { return t.cfg }

// Close logs out and releases the sessions; signers from this Token stop
// working. Closing twice is harmless.
func (t *Token) Close() error {
	if t == nil {
		return nil
	}
	var err error
	t.close.Do(func() {
		t.closed.Store(true)
		openMu.Lock()
		defer openMu.Unlock()
		if e := t.ctx.Close(); e != nil {
			err = fmt.Errorf("keystore: closing PKCS #11 token %q: %s", t.cfg.TokenLabel, oneLine(e.Error()))
		}
		if o := openTokens[t.key]; o != nil {
			if o.refs--; o.refs <= 0 {
				delete(openTokens, t.key)
			}
		}
	})
	return err
}

func (t *Token) context() (*crypto11.Context, error) {
	if t == nil || t.ctx == nil || t.closed.Load() {
		return nil, ErrTokenClosed
	}
	return t.ctx, nil
}

// GenerateSigner generates a key pair of the given kind inside the token,
// labelled label (both halves, with one random CKA_ID), and returns its
// signer. The private key is a token object that is private (needs the
// PIN), sensitive and non-extractable, and may only sign (RSA keys get no
// decrypt permission): it never leaves the token. It refuses a label that
// a private key in the token already has (ErrKeyExists).
func (t *Token) GenerateSigner(label, kind string) (crypto.Signer, error) {
	ctx, err := t.context()
	if err != nil {
		return nil, err
	}
	if label == "" {
		return nil, errors.New("keystore: empty PKCS #11 key label")
	}
	var curve elliptic.Curve
	bits := 0
	switch kind {
	case "ecdsa-p256":
		curve = elliptic.P256()
	case "ecdsa-p384":
		curve = elliptic.P384()
	case "ecdsa-p521":
		curve = elliptic.P521()
	case "rsa-2048":
		bits = 2048
	case "rsa-3072":
		bits = 3072
	case "rsa-4096":
		bits = 4096
	default:
		return nil, fmt.Errorf("keystore: cannot make a %q key in a PKCS #11 token (want one of %s)", kind, strings.Join(TokenKinds, ", "))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	existing, err := ctx.FindPrivateKeys(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("keystore: looking for key %q in token %q: %s", label, t.cfg.TokenLabel, oneLine(err.Error()))
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("%w: %q in token %q", ErrKeyExists, label, t.cfg.TokenLabel)
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, id); err != nil {
		return nil, fmt.Errorf("keystore: random key id: %w", err)
	}
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return nil, err
	}
	priv := pub.Copy()
	for attr, v := range map[crypto11.AttributeType]bool{
		crypto11.CkaToken:       true,
		crypto11.CkaPrivate:     true,
		crypto11.CkaSensitive:   true,
		crypto11.CkaExtractable: false,
		crypto11.CkaSign:        true,
		crypto11.CkaDecrypt:     false,
		crypto11.CkaUnwrap:      false,
		crypto11.CkaDerive:      false,
	} {
		if err := priv.Set(attr, v); err != nil {
			return nil, err
		}
	}
	if bits > 0 {
		if err := pub.Set(crypto11.CkaEncrypt, false); err != nil {
			return nil, err
		}
	}
	var s crypto11.Signer
	if curve != nil {
		s, err = ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, curve)
	} else {
		s, err = ctx.GenerateRSAKeyPairWithAttributes(pub, priv, bits)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: generating a %s key in token %q: %s", kind, t.cfg.TokenLabel, oneLine(err.Error()))
	}
	ts, err := t.wrap(ctx, label, s)
	if err != nil {
		_ = s.Delete()
		return nil, err
	}
	if ts.kind != kind {
		_ = s.Delete()
		return nil, fmt.Errorf("keystore: token %q made a %s key when asked for %s", t.cfg.TokenLabel, ts.kind, kind)
	}
	return ts, nil
}

// Signer finds the key pair labelled label (ErrKeyNotFound if there is
// none; an error if several private keys share the label) and returns its
// signer. It refuses a key the token would let out (extractable or not
// sensitive).
func (t *Token) Signer(label string) (crypto.Signer, error) {
	ctx, err := t.context()
	if err != nil {
		return nil, err
	}
	if label == "" {
		return nil, errors.New("keystore: empty PKCS #11 key label")
	}
	privs, err := ctx.FindPrivateKeys(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("keystore: looking for key %q in token %q: %s", label, t.cfg.TokenLabel, oneLine(err.Error()))
	}
	switch {
	case len(privs) == 0:
		return nil, fmt.Errorf("%w: no private key labelled %q in token %q", ErrKeyNotFound, label, t.cfg.TokenLabel)
	case len(privs) > 1:
		return nil, fmt.Errorf("keystore: %d private keys are labelled %q in token %q; labels must be unique", len(privs), label, t.cfg.TokenLabel)
	}
	s, err := ctx.FindKeyPair(nil, []byte(label))
	if err != nil || s == nil {
		return nil, fmt.Errorf("%w: the private key labelled %q in token %q has no public key object with the same CKA_ID", ErrKeyNotFound, label, t.cfg.TokenLabel)
	}
	return t.wrap(ctx, label, s)
}

// DeleteKey destroys the key pair labelled label (ErrKeyNotFound if there
// is none). There is no undo: it is meant for rolling back a key that
// GenerateSigner has just made, when what was to use it failed.
func (t *Token) DeleteKey(label string) error {
	ctx, err := t.context()
	if err != nil {
		return err
	}
	if label == "" {
		return errors.New("keystore: empty PKCS #11 key label")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	pairs, err := ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("keystore: looking for key %q in token %q: %s", label, t.cfg.TokenLabel, oneLine(err.Error()))
	}
	if len(pairs) == 0 {
		return fmt.Errorf("%w: no key pair labelled %q in token %q", ErrKeyNotFound, label, t.cfg.TokenLabel)
	}
	for _, p := range pairs {
		if err := p.Delete(); err != nil {
			return fmt.Errorf("keystore: deleting key %q in token %q: %s", label, t.cfg.TokenLabel, oneLine(err.Error()))
		}
	}
	return nil
}

// wrap checks the key's protection and kind and wraps it in tokenSigner.
func (t *Token) wrap(ctx *crypto11.Context, label string, s crypto11.Signer) (*tokenSigner, error) {
	attrs, err := ctx.GetAttributes(s, []crypto11.AttributeType{crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaSign})
	if err != nil {
		return nil, fmt.Errorf("keystore: reading the attributes of key %q in token %q: %s", label, t.cfg.TokenLabel, oneLine(err.Error()))
	}
	isTrue := func(a crypto11.AttributeType) bool {
		v := attrs[a]
		return v != nil && len(v.Value) == 1 && v.Value[0] != 0
	}
	switch {
	case !isTrue(crypto11.CkaSensitive) || isTrue(crypto11.CkaExtractable):
		return nil, fmt.Errorf("keystore: key %q in token %q can be exported (CKA_SENSITIVE false or CKA_EXTRACTABLE true); Signet uses only keys that stay in the token", label, t.cfg.TokenLabel)
	case !isTrue(crypto11.CkaSign):
		return nil, fmt.Errorf("keystore: key %q in token %q may not sign (CKA_SIGN false)", label, t.cfg.TokenLabel)
	}
	kind := KeyKind(s.Public())
	if kind == "" {
		return nil, fmt.Errorf("keystore: key %q in token %q is a %T, not an RSA or NIST-curve ECDSA key", label, t.cfg.TokenLabel, s.Public())
	}
	return &tokenSigner{s: s, label: label, kind: kind, token: t}, nil
}

// tokenSigner is a key pair in a token. It checks what it is asked to sign
// before the token sees it, so a mistake gives an error instead of a
// signature over the wrong thing.
type tokenSigner struct {
	s     crypto11.Signer
	label string
	kind  string
	token *Token
}

func (k *tokenSigner) Public() crypto.PublicKey { return k.s.Public() }

// String names the key, never its material (there is none here anyway).
func (k *tokenSigner) String() string {
	return fmt.Sprintf("pkcs11 %s key %q in token %q", k.kind, k.label, k.token.cfg.TokenLabel)
}

// Sign signs a digest the caller made with opts.HashFunc(). rand is ignored:
// the token makes its own randomness.
func (k *tokenSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, err := k.token.context(); err != nil {
		return nil, err
	}
	if opts == nil {
		return nil, errors.New("keystore: PKCS #11 Sign needs opts naming the hash")
	}
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("keystore: a %v digest is %d bytes, not %d", h, h.Size(), len(digest))
	}
	var sig []byte
	var err error
	switch pub := k.s.Public().(type) {
	case *ecdsa.PublicKey:
		if len(digest) == 0 {
			return nil, errors.New("keystore: empty digest")
		}
		// As crypto/ecdsa does (SEC 1 4.1.3 step 5): keep the leftmost
		// bits of a digest longer than the group order, rather than
		// leave it to the token.
		if n := pub.Curve.Params().N.BitLen(); len(digest)*8 > n {
			if n%8 != 0 {
				return nil, fmt.Errorf("keystore: a %d-byte digest is too long for %s", len(digest), pub.Curve.Params().Name)
			}
			digest = digest[:n/8]
		}
		sig, err = k.s.Sign(nil, digest, opts)
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if h == 0 {
				return nil, errors.New("keystore: RSA-PSS needs a hash")
			}
			o := *pss
			if o.SaltLength == rsa.PSSSaltLengthAuto {
				o.SaltLength = rsa.PSSSaltLengthEqualsHash
			}
			sig, err = k.s.Sign(nil, digest, &o)
			break
		}
		switch h {
		case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		case 0:
			return nil, errors.New("keystore: a PKCS #11 RSA key signs only hashes (SHA-256, SHA-384, SHA-512), not raw data")
		default:
			return nil, fmt.Errorf("keystore: a PKCS #11 RSA key signs SHA-256, SHA-384 or SHA-512 digests, not %v", h)
		}
		sig, err = k.s.Sign(nil, digest, opts)
	default:
		return nil, fmt.Errorf("keystore: cannot sign with a %T", pub)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: signing with key %q in token %q: %s", k.label, k.token.cfg.TokenLabel, oneLine(err.Error()))
	}
	return sig, nil
}
