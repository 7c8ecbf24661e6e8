// Package passhash hashes and checks passwords (LDAP bind accounts) with
// Argon2id, in the PHC string format
// "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH" (OWASP's minimum parameters,
// salt and hash in unpadded base64).
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes.
const (
	memoryKiB = 19 * 1024
	time      = 2
	threads   = 1
	saltLen   = 16
	keyLen    = 32
)

// ErrMalformed: a stored hash Signet cannot read.
var ErrMalformed = errors.New("passhash: malformed hash")

var b64 = base64.RawStdEncoding

// Hash returns the encoded Argon2id hash of password with a fresh salt.
func Hash(password []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey(password, salt, time, memoryKiB, threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, time, threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check reports whether password matches the encoded hash, in constant
// time for a given hash. Parameters are bounded so that a hash planted in
// the store cannot make a bind cost unbounded memory or time.
func Check(encoded string, password []byte) (bool, error) {
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, ErrMalformed
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil ||
		m < 8 || m > 256*1024 || t < 1 || t > 10 || p < 1 || p > 16 {
		return false, ErrMalformed
	}
	salt, err1 := b64.DecodeString(f[4])
	want, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, ErrMalformed
	}
	got := argon2.IDKey(password, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
