package gcmstream

import (
	"errors"
	"io"
	"testing"
)

func TestLimitsAndErrors(t *testing.T) {
	key, nonce := make([]byte, 16), make([]byte, NonceSize)
	if _, err := NewSealer(io.Discard, make([]byte, 15), nonce, nil); err == nil {
		t.Error("NewSealer accepted a 15-byte key")
	}
	if _, err := NewOpener(io.Discard, key, make([]byte, 16), nil); err != ErrNonceSize {
		t.Errorf("NewOpener with 16-byte nonce: %v, want ErrNonceSize", err)
	}

	s, err := NewSealer(io.Discard, key, nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.s.ctLen = maxMessage - 10 // pretend almost 2^32-2 blocks were written
	if _, err := s.Write(make([]byte, 11)); err != ErrTooLong {
		t.Errorf("write past the GCM limit: %v, want ErrTooLong", err)
	}
	if n, err := s.Write(make([]byte, 10)); err != nil || n != 10 {
		t.Errorf("write up to the GCM limit: %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{1}); err != ErrClosed {
		t.Errorf("write after Close: %v, want ErrClosed", err)
	}
	if len(s.Tag()) != TagSize {
		t.Errorf("tag length %d", len(s.Tag()))
	}

	o, err := NewOpener(io.Discard, key, nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.s.ctLen = maxMessage - 10
	if _, err := o.Write(make([]byte, 11)); err != ErrTooLong {
		t.Errorf("Opener write past the GCM limit: %v, want ErrTooLong", err)
	}
	if err := o.Verify(make([]byte, 16)); err != ErrAuth {
		t.Errorf("Verify of a zero tag: %v, want ErrAuth", err)
	}
	if _, err := o.Write([]byte{1}); err != ErrClosed {
		t.Errorf("write after Verify: %v, want ErrClosed", err)
	}
}

type failWriter struct{ after int }

var errSink = errors.New("sink failed")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after < len(p) {
		return 0, errSink
	}
	f.after -= len(p)
	return len(p), nil
}

func TestDestinationError(t *testing.T) {
	key, nonce := make([]byte, 16), make([]byte, NonceSize)
	s, _ := NewSealer(&failWriter{after: 100}, key, nonce, nil)
	if _, err := s.Write(make([]byte, 200)); err != errSink {
		t.Errorf("Sealer.Write: %v, want the sink's error", err)
	}
	if _, err := s.Write(make([]byte, 1)); err != errSink {
		t.Errorf("Sealer.Write after failure: %v, want the sink's error", err)
	}
	if err := s.Close(); err != errSink {
		t.Errorf("Sealer.Close: %v, want the sink's error", err)
	}
	if s.Tag() != nil {
		t.Error("Tag available after a failed write")
	}

	o, _ := NewOpener(&failWriter{after: 100}, key, nonce, nil)
	if _, err := o.Write(make([]byte, 200)); err != errSink {
		t.Errorf("Opener.Write: %v, want the sink's error", err)
	}
	if err := o.Verify(make([]byte, 16)); err != errSink {
		t.Errorf("Verify after failed write: %v, want the sink's error", err)
	}
}

// TestNoAllocationsPerWrite checks that memory does not grow with the
// message: once constructed, Sealer and Opener writes allocate nothing.
func TestNoAllocationsPerWrite(t *testing.T) {
	key, nonce := make([]byte, 32), make([]byte, NonceSize)
	buf := make([]byte, 40000) // not a divisor of the chunk size
	s, _ := NewSealer(io.Discard, key, nonce, []byte("aad"))
	if a := testing.AllocsPerRun(50, func() { s.Write(buf) }); a != 0 {
		t.Errorf("Sealer.Write: %v allocations per call", a)
	}
	o, _ := NewOpener(io.Discard, key, nonce, []byte("aad"))
	if a := testing.AllocsPerRun(50, func() { o.Write(buf) }); a != 0 {
		t.Errorf("Opener.Write: %v allocations per call", a)
	}
}
