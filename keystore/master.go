package keystore

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Errors callers can test for with errors.Is. Every error this package
// returns is one line starting "keystore:".
var (
	// ErrWrongPassphrase: the master key is not the one the record or
	// verifier was made with (wrong SIGNET_PASSPHRASE, wrong key file).
	ErrWrongPassphrase = errors.New("keystore: wrong passphrase or master key file")
	// ErrTampered: the sealed record was altered, is truncated, or is
	// opened under an id or algorithm other than the one it was sealed with.
	ErrTampered = errors.New("keystore: sealed key is damaged or does not belong to this id")
	// ErrWiped: the master key has been wiped (or is nil).
	ErrWiped = errors.New("keystore: master key has been wiped")
)

// PassphraseEnv is the environment variable the passphrase comes from. This
// package never reads it; the command line does, and passes the bytes to
// MasterFromPassphrase.
const PassphraseEnv = "SIGNET_PASSPHRASE"

// Default Argon2id cost: RFC 9106 §4 "second recommended option" memory
// and passes, with two lanes.
const (
	DefaultTime      = 3
	DefaultMemoryKiB = 64 * 1024
	DefaultThreads   = 2
	// SaltSize is the length of the salt NewKDFParams makes.
	SaltSize = 16
)

// Bounds enforced on KDFParams, both when deriving and when parsing, so a
// damaged or hostile parameter string cannot make a process allocate
// gigabytes or loop for hours.
const (
	MinSaltSize  = 8
	MaxSaltSize  = 64
	MaxTime      = 64
	MaxMemoryKiB = 1 << 20 // 1 GiB
)

const argonVersion = 19 // 0x13, the only version x/crypto/argon2 computes

// KDFParams are the Argon2id parameters and salt that turn a passphrase into
// a master key. They are not secret: the caller stores them (as the string
// from String) next to the sealed keys and needs them again to reopen.
type KDFParams struct {
	Salt      []byte
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8 // lanes
}

// NewKDFParams returns the default cost with a fresh random 16-byte salt.
func NewKDFParams() (*KDFParams, error) {
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return nil, fmt.Errorf("keystore: random salt: %w", err)
	}
	return &KDFParams{Salt: salt, Time: DefaultTime, MemoryKiB: DefaultMemoryKiB, Threads: DefaultThreads}, nil
}

// Validate reports parameters outside the bounds above.
func (p *KDFParams) Validate() error {
	switch {
	case p == nil:
		return errors.New("keystore: no KDF parameters (use NewKDFParams)")
	case len(p.Salt) < MinSaltSize || len(p.Salt) > MaxSaltSize:
		return fmt.Errorf("keystore: KDF salt is %d bytes, want %d to %d", len(p.Salt), MinSaltSize, MaxSaltSize)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("keystore: KDF time %d, want 1 to %d", p.Time, MaxTime)
	case p.Threads < 1:
		return errors.New("keystore: KDF threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("keystore: KDF memory %d KiB, want %d to %d", p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	}
	return nil
}

// String encodes the parameters in the PHC string format without the hash,
// as the reference argon2 tool prints them:
//
//	$argon2id$v=19$m=65536,t=3,p=2$<salt, base64 without padding>
func (p KDFParams) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s", argonVersion,
		p.MemoryKiB, p.Time, p.Threads, base64.RawStdEncoding.EncodeToString(p.Salt))
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (p KDFParams) MarshalText() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (see ParseKDFParams).
func (p *KDFParams) UnmarshalText(text []byte) error {
	q, err := ParseKDFParams(string(text))
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// ParseKDFParams reads the String form back. It is strict: exactly the
// fields, order and encodings String writes, within the bounds above.
func ParseKDFParams(s string) (*KDFParams, error) {
	bad := func(why string) error {
		return fmt.Errorf("keystore: malformed KDF parameters %q: %s", s, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" {
		return nil, bad(`want "$argon2id$v=19$m=…,t=…,p=…$salt"`)
	}
	if parts[1] != "argon2id" {
		return nil, bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argonVersion) {
		return nil, bad("version is not v=19")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return nil, bad("want m=…,t=…,p=…")
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		num, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return nil, bad("want m=…,t=…,p=… in that order")
		}
		v, err := parseDecimal(num)
		if err != nil {
			return nil, bad(name + " is not a decimal number")
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return nil, bad("p is above 255")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || base64.RawStdEncoding.EncodeToString(salt) != parts[4] { // the decoder skips newlines
		return nil, bad("salt is not base64 without padding")
	}
	p := &KDFParams{Salt: salt, MemoryKiB: vals[0], Time: vals[1], Threads: uint8(vals[2])}
	if err := p.Validate(); err != nil {
		return nil, bad(strings.TrimPrefix(err.Error(), "keystore: "))
	}
	return p, nil
}

// parseDecimal accepts only canonical decimal: digits, no sign, no leading
// zero, at most 10 digits.
func parseDecimal(s string) (uint32, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not canonical decimal")
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err
}

// MasterKey is the key-encryption key. It holds only keys derived from the
// passphrase or key file (never the passphrase); this package writes key
// material nowhere except the file NewKeyFile creates. Printing a MasterKey
// with fmt or log/slog shows "keystore.MasterKey(redacted)".
//
// A MasterKey may be used by several goroutines at once; Wipe must not run
// concurrently with other use.
type MasterKey struct {
	k *masterMaterial
}

type masterMaterial struct {
	wrap   [32]byte // AES-256-GCM key that wraps data keys
	verify [32]byte // HMAC-SHA-256 key for the verifier and fingerprint
	live   bool
}

const (
	infoWrap        = "signet-keystore v1 wrap key"
	infoVerify      = "signet-keystore v1 verify key"
	labelVerifier   = "signet-keystore v1 verifier"
	labelFinger     = "signet-keystore v1 fingerprint"
	verifierVersion = 1
	fingerprintSize = 8
)

// newMaster derives the working keys from 32 bytes of root key material
// (the Argon2id output or the key file) with HKDF-SHA-256 and zeroes raw.
func newMaster(raw []byte) (*MasterKey, error) {
	defer clear(raw)
	mm := &masterMaterial{live: true}
	for _, d := range []struct {
		info string
		dst  *[32]byte
	}{{infoWrap, &mm.wrap}, {infoVerify, &mm.verify}} {
		k, err := hkdf.Key(sha256.New, raw, nil, d.info, 32)
		if err != nil {
			return nil, fmt.Errorf("keystore: derive: %w", err)
		}
		copy(d.dst[:], k)
		clear(k)
	}
	return &MasterKey{k: mm}, nil
}

// argonKey is the raw Argon2id output for pass under p (32 bytes).
func argonKey(pass []byte, p *KDFParams) []byte {
	return argon2.IDKey(pass, p.Salt, p.Time, p.MemoryKiB, p.Threads, 32)
}

// MasterFromPassphrase derives the master key from a passphrase with
// Argon2id under params (from NewKDFParams the first time, from
// ParseKDFParams of the stored string afterwards). It takes as much memory
// and time as params say: at the defaults, 64 MiB and about 0.1 s on two
// current server cores. The passphrase is used byte for byte; the caller
// clears it afterwards.
func MasterFromPassphrase(pass []byte, params *KDFParams) (*MasterKey, error) {
	if len(pass) == 0 {
		return nil, errors.New("keystore: empty passphrase")
	}
	if err := params.Validate(); err != nil {
		return nil, err
	}
	return newMaster(argonKey(pass, params))
}

func (m *MasterKey) material() (*masterMaterial, error) {
	if m == nil || m.k == nil || !m.k.live {
		return nil, ErrWiped
	}
	return m.k, nil
}

func (mm *masterMaterial) mac(label string) []byte {
	h := hmac.New(sha256.New, mm.verify[:])
	h.Write([]byte(label))
	return h.Sum(nil)
}

func (mm *masterMaterial) fingerprint() []byte {
	return mm.mac(labelFinger)[:fingerprintSize]
}

// Verifier returns 33 bytes (a version byte and an HMAC-SHA-256 under a key
// derived from the master) that the caller stores once, at init, so that a
// later wrong passphrase is caught by Verify before anything is opened. It
// reveals nothing about the master key beyond allowing a guess to be
// checked, which the Argon2id cost makes slow. Nil after Wipe.
func (m *MasterKey) Verifier() []byte {
	mm, err := m.material()
	if err != nil {
		return nil
	}
	return append([]byte{verifierVersion}, mm.mac(labelVerifier)...)
}

// Verify checks a stored Verifier in constant time: nil if it was made by
// this master key, ErrWrongPassphrase if by another, ErrTampered if it is
// not a verifier at all, ErrWiped after Wipe.
func (m *MasterKey) Verify(v []byte) error {
	mm, err := m.material()
	if err != nil {
		return err
	}
	if len(v) != 1+sha256.Size || v[0] != verifierVersion {
		return fmt.Errorf("%w (the stored verifier is malformed)", ErrTampered)
	}
	if !hmac.Equal(v[1:], mm.mac(labelVerifier)) {
		return ErrWrongPassphrase
	}
	return nil
}

// Wipe zeroes the key material and makes every later use fail with
// ErrWiped; copies of the MasterKey value are wiped too. Go may have left
// copies in freed memory (GC moves, AES key schedules); Wipe is best
// effort against later memory disclosure, not a guarantee.
func (m *MasterKey) Wipe() {
	if m == nil || m.k == nil {
		return
	}
	clear(m.k.wrap[:])
	clear(m.k.verify[:])
	m.k.live = false
}

const redacted = "keystore.MasterKey(redacted)"

// String returns a fixed placeholder, never key material.
func (m MasterKey) String() string { return redacted }

// GoString returns a fixed placeholder, never key material.
func (m MasterKey) GoString() string { return redacted }

// Format prints the placeholder for every verb, so %x or %d cannot leak.
func (m MasterKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the key out of log/slog output.
func (m MasterKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// DeriveKey returns a 32-byte key for another use of the master key (for
// example the gateway's queue sealing key), bound to label: HMAC-SHA-256
// under the master's derivation key, so it reveals neither the master key
// nor the keys for other labels.
func (m *MasterKey) DeriveKey(label string) ([]byte, error) {
	mm, err := m.material()
	if err != nil {
		return nil, err
	}
	return mm.mac("signet derived key: " + label), nil
}
