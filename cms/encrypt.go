package cms

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"io"

	"github.com/signet-smime/signet/cms/internal/cbcstream"
	"github.com/signet-smime/signet/cms/internal/gcmstream"
	"github.com/signet-smime/signet/internal/ber"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// EncryptOptions control Encrypt.
type EncryptOptions struct {
	// Cipher defaults to AES256GCM, written as AuthEnvelopedData; the CBC
	// ciphers are written as EnvelopedData.
	Cipher Cipher
	// ContentType of the encrypted content; defaults to id-data.
	ContentType asn1.ObjectIdentifier
	// Rand is the source of randomness; crypto/rand when nil.
	Rand io.Reader
}

// Encrypt returns a writer: what is written to it is encrypted for every
// recipient, and the ContentInfo goes to dst as it is produced, with
// indefinite lengths. Memory does not grow with the content. Close must be
// called; it writes the authentication tag and the closing octets.
func Encrypt(dst io.Writer, opts *EncryptOptions, recipients ...Recipient) (io.WriteCloser, error) {
	if opts == nil {
		opts = &EncryptOptions{}
	}
	if len(recipients) == 0 {
		return nil, errors.New("cms: no recipient")
	}
	c := opts.Cipher
	if c == 0 {
		c = AES256GCM
	}
	ci, ok := c.info()
	if !ok || ci.legacy {
		return nil, unsupported("cipher %v for new messages", c)
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	ct := opts.ContentType
	if ct == nil {
		ct = OIDData
	}
	cek := make([]byte, ci.keyLen)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return nil, err
	}
	version := int64(0)
	var infos [][]byte
	for _, r := range recipients {
		ri, err := r.recipientInfo(cek, rnd)
		if err != nil {
			return nil, err
		}
		infos = append(infos, ri)
		if r.version() != 0 {
			version = 2
		}
	}
	var iv []byte
	var params []byte
	if ci.aead {
		iv = make([]byte, 12)
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return nil, err
		}
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(iv)
			b.AddASN1Int64(16)
		})
		params = b.BytesOrPanic()
	} else {
		iv = make([]byte, aes.BlockSize)
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return nil, err
		}
		params, _ = asn1.Marshal(iv)
	}
	outer := OIDEnvelopedData
	if ci.aead {
		outer = OIDAuthEnvelopedData
		version = 0 // RFC 5083: always 0
	}
	var head []byte
	head = append(head, 0x30, 0x80)
	head = append(head, mustMarshal(outer)...)
	head = append(head, 0xa0, 0x80, 0x30, 0x80)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1Int64(version)
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, ri := range infos {
			b.AddBytes(ri)
		}
	})
	mid, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	head = append(head, mid...)
	head = append(head, 0x30, 0x80)
	head = append(head, mustMarshal(ct)...)
	eb := cryptobyte.NewBuilder(nil)
	addAlgorithmIdentifier(eb, ci.oid, params)
	head = append(head, eb.BytesOrPanic()...)
	head = append(head, 0xa0, 0x80) // [0] IMPLICIT OCTET STRING, constructed
	if _, err := dst.Write(head); err != nil {
		return nil, err
	}
	w := &encryptWriter{dst: dst, chunks: ber.NewChunkWriter(dst)}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	if ci.aead {
		w.gcm, err = gcmstream.NewSealer(w.chunks, cek, iv, nil)
		w.enc = w.gcm
	} else {
		w.enc, err = cbcstream.NewBlockEncrypter(w.chunks, block, iv)
	}
	if err != nil {
		return nil, err
	}
	clear(cek)
	return w, nil
}

type encryptWriter struct {
	dst    io.Writer
	chunks *ber.ChunkWriter
	enc    io.WriteCloser
	gcm    *gcmstream.Sealer
	closed bool
}

func (w *encryptWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("cms: write after close")
	}
	return w.enc.Write(p)
}

func (w *encryptWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.enc.Close(); err != nil {
		return err
	}
	if err := w.chunks.Close(); err != nil {
		return err
	}
	// End [0] encryptedContent and EncryptedContentInfo.
	if err := ber.WriteEOC(w.dst, 2); err != nil {
		return err
	}
	if w.gcm != nil {
		mac, _ := asn1.Marshal(w.gcm.Tag())
		if _, err := w.dst.Write(mac); err != nil {
			return err
		}
	}
	// End the inner SEQUENCE, [0] and ContentInfo.
	return ber.WriteEOC(w.dst, 3)
}
