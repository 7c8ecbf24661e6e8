package main

import (
	"errors"
	"fmt"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/smime"
	"github.com/spf13/cobra"
)

// errDecryptFailed is the one message for every decryption failure.
var errDecryptFailed = failure{"decryption failed: the message is not for this key, or it was altered"}

func newDecryptCommand() *cobra.Command {
	var (
		files ioFlags
		id    identityFlags
	)
	c := &cobra.Command{
		Use:   "decrypt --cert FILE --key FILE [--in FILE] [--out FILE]",
		Short: "Decrypt a message",
		Long: `Decrypt reads an S/MIME encrypted message (enveloped-data or
authEnveloped-data) and writes the decrypted message: the outer message
fields, then the decrypted content.

Nothing is written until the content key unwrapped and, for AES-GCM, the
authentication tag checked; until then the plaintext waits in a temporary
file encrypted with a throw-away key. Every failure to decrypt (a key the
message is not for, a wrong key, altered ciphertext, a bad tag) gives the
same message and exit code 1. AES-CBC content is reported as not
integrity-protected. If the decrypted content is itself signed, run
"signet verify" on the output.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cert, key, _, err := id.load()
			if err != nil {
				return err
			}
			in, err := files.open(c)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := files.create(c)
			if err != nil {
				return err
			}
			d, err := smime.Decrypt(out, in, nil, &cms.Identity{Certificate: cert, Key: key})
			if err != nil {
				out.Abort()
				switch {
				case errors.Is(err, smime.ErrNotEncrypted), errors.Is(err, cms.ErrUnsupported):
					return err
				}
				return errDecryptFailed
			}
			if err := out.Commit(); err != nil {
				return err
			}
			e := c.ErrOrStderr()
			if !d.Authenticated {
				fmt.Fprintf(e, "signet: note: the content was encrypted with %s, which does not protect integrity\n", d.Cipher)
			}
			for _, w := range d.Weak {
				fmt.Fprintf(e, "signet: warning: weak algorithm: %s\n", w)
			}
			if d.NotMIME {
				fmt.Fprintln(e, "signet: note: the decrypted content is not a MIME entity; it was written as the body, unchanged")
			}
			if d.Signed() {
				fmt.Fprintln(e, "signet: note: the decrypted content is signed; check it with \"signet verify\"")
			}
			return nil
		},
	}
	files.add(c, "write the decrypted message to `FILE` (default standard output)")
	id.add(c, "recipient's")
	return c
}
