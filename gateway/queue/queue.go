package queue

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/signet-smime/signet/gateway"
)

// Errors.
var (
	// ErrNoSpace: the file system is (nearly) full; the SMTP server answers
	// 452 4.3.1.
	ErrNoSpace = errors.New("queue: insufficient disk space")
	// ErrWrongKey: Options.Key does not open this queue folder (its key
	// check file); nothing was touched.
	ErrWrongKey = errors.New("queue: the key does not open this queue (wrong --queue key?)")
	// ErrQuarantined is wrapped by the error Open returns along with a
	// usable queue when some files could not be read and were moved to the
	// quarantine folder.
	ErrQuarantined = errors.New("queue: unreadable messages moved to quarantine")
	// ErrClosed: the queue was closed.
	ErrClosed = errors.New("queue: closed")
)

// Options configure a Queue.
type Options struct {
	// Dir is the queue folder (created 0700).
	Dir string
	// Key (32 bytes) seals messages and metadata at rest.
	Key []byte
	// MinFree: Stage refuses new messages (ErrNoSpace) when the file
	// system has less free space; 0 means 64 MiB, negative disables it.
	MinFree int64
	// MaxAge: messages still undelivered after it are bounced (default 5
	// days).
	MaxAge time.Duration
	// Backoff between attempts: the n-th retry waits Backoff[n-1], the
	// last value repeating (default 1m, 5m, 15m, 30m, 1h, 2h).
	Backoff []time.Duration
	// Workers: concurrent deliveries (default 8).
	Workers int
	// Hostname names this MTA in DSNs (From, Reporting-MTA, Message-ID).
	Hostname string
	// LocalSender tells whether a sender address is the organisation's
	// (its bounce goes to HopDeliver) or external (HopRelay). Nil: a
	// sender is local when the message was authenticated or goes to
	// HopRelay.
	LocalSender func(addr string) bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logf logs; default log.Printf.
	Logf func(string, ...any)
}

// metaVersion is the version of the metadata this code writes: 2, the
// message file layout (format 1 wrote 1; both are read).
const metaVersion = 2

// Recipient states in the metadata.
const (
	statePending   = "pending"
	stateDelivered = "delivered"
	stateFailed    = "failed"
)

// rcptState is one recipient's delivery state and the last reply.
type rcptState struct {
	Addr     string    `json:"addr"`
	State    string    `json:"state"`
	Code     int       `json:"code,omitempty"`
	Enhanced string    `json:"enhanced,omitempty"`
	Text     string    `json:"text,omitempty"`
	Updated  time.Time `json:"updated,omitzero"`
	// Bounced: a failed recipient whose DSN is queued (or dropped, for a
	// null sender).
	Bounced bool `json:"bounced,omitempty"`
}

// meta is a message's metadata file.
type meta struct {
	Version  int              `json:"v"`
	ID       string           `json:"id"`
	Env      gateway.Envelope `json:"env"`
	Size     int64            `json:"size"`
	Created  time.Time        `json:"created"`
	Attempts int              `json:"attempts"`
	Next     time.Time        `json:"next"`
	Rcpts    []rcptState      `json:"rcpts"`
}

func (m *meta) clone() *meta {
	c := *m
	c.Env.Recipients = append([]string(nil), m.Env.Recipients...)
	c.Rcpts = append([]rcptState(nil), m.Rcpts...)
	return &c
}

func (m *meta) pending() []string {
	var p []string
	for _, r := range m.Rcpts {
		if r.State == statePending {
			p = append(p, r.Addr)
		}
	}
	return p
}

type entry struct {
	m    *meta
	busy bool
}

// Stats is a snapshot for metrics and health checks.
type Stats struct {
	Queued    int           // messages in the queue
	Deferred  int           // of which have had at least one failed attempt
	Delivered uint64        // recipients delivered since Open
	Bounced   uint64        // recipients failed permanently (or expired) since Open
	Oldest    time.Duration // age of the oldest queued message
}

// Queue is a durable, encrypted mail queue. It implements gateway.Queue.
type Queue struct {
	o                          Options
	master                     cipher.AEAD
	tmpDir, msgDir, quarantine string

	mu        sync.Mutex
	entries   map[string]*entry
	closed    bool
	delivered uint64
	bounced   uint64
	wake      chan struct{}

	// msgSync shares the fsyncs of msg/ between concurrent commits and
	// metadata updates.
	msgSync *groupSync

	// Test hooks.
	rename func(oldpath, newpath string) error
}

var _ gateway.Queue = (*Queue)(nil)

// Folders under Options.Dir.
const (
	tmpName        = "tmp"
	msgName        = "msg"
	quarantineName = "quarantine"
	keyCheckName   = "key-check"
	keyCheckText   = "signet queue key check v1"
)

// Open opens (creating it if needed) the queue in o.Dir and recovers it:
// staging files left by a crash are removed, a data file without metadata
// (a Commit that did not finish) is removed, and every committed message
// not yet delivered is scheduled again at its next attempt time. A file
// that cannot be read is moved to the quarantine folder, never deleted;
// Open then returns the usable queue together with an error wrapping
// ErrQuarantined. A Key that does not open the queue's key check file
// gives ErrWrongKey and touches nothing.
func Open(o Options) (*Queue, error) {
	if len(o.Key) != 32 {
		return nil, errors.New("queue: Key must be 32 bytes")
	}
	if o.Dir == "" {
		return nil, errors.New("queue: Dir is required")
	}
	if o.MinFree == 0 {
		o.MinFree = 64 << 20
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if len(o.Backoff) == 0 {
		o.Backoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour}
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
		if o.Hostname == "" {
			o.Hostname = "localhost"
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	master, err := newGCM(o.Key)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		o:          o,
		master:     master,
		tmpDir:     filepath.Join(o.Dir, tmpName),
		msgDir:     filepath.Join(o.Dir, msgName),
		quarantine: filepath.Join(o.Dir, quarantineName),
		entries:    map[string]*entry{},
		wake:       make(chan struct{}, 1),
		rename:     os.Rename,
	}
	q.msgSync = newGroupSync(q.msgDir)
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	for _, d := range []string{q.tmpDir, q.msgDir, q.quarantine} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	if err := q.checkKey(); err != nil {
		return nil, err
	}
	quarantined, err := q.recover()
	if err != nil {
		return nil, err
	}
	if len(quarantined) > 0 {
		return q, fmt.Errorf("%w: %s (in %s)", ErrQuarantined, strings.Join(quarantined, "; "), q.quarantine)
	}
	return q, nil
}

// checkKey opens the key check file, creating it for a new queue.
func (q *Queue) checkKey() error {
	path := filepath.Join(q.o.Dir, keyCheckName)
	b, err := readSealedFile(path, q.master, kindKeyCheck, keyCheckName)
	switch {
	case err == nil && string(b) == keyCheckText:
		return nil
	case err == nil || errors.Is(err, ErrCorrupt):
		return fmt.Errorf("%w: %s: %v", ErrWrongKey, path, err)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("queue: %w", err)
	}
	tmp := filepath.Join(q.tmpDir, keyCheckName)
	if err := q.writeSealed(tmp, kindKeyCheck, keyCheckName, []byte(keyCheckText)); err != nil {
		return err
	}
	if err := q.rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("queue: %w", err)
	}
	return syncDir(q.o.Dir)
}

// recover cleans the staging folder and loads the committed messages,
// in either layout (see the package documentation): ID.msg with an
// optional newer ID.meta (format 2), or ID.data and ID.meta (format 1).
func (q *Queue) recover() (quarantined []string, err error) {
	tmp, err := os.ReadDir(q.tmpDir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	for _, e := range tmp {
		if err := os.Remove(filepath.Join(q.tmpDir, e.Name())); err != nil {
			return nil, fmt.Errorf("queue: removing staging file: %w", err)
		}
		q.o.Logf("queue: removed staging file %s left by an interrupted message", e.Name())
	}
	files, err := os.ReadDir(q.msgDir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	type present struct{ msg, data, meta bool }
	found := map[string]*present{}
	for _, e := range files {
		name := e.Name()
		id, ext, _ := strings.Cut(name, ".")
		if !validID(id) {
			q.o.Logf("queue: ignoring unexpected file %s", filepath.Join(q.msgDir, name))
			continue
		}
		p := found[id]
		if p == nil {
			p = &present{}
		}
		switch ext {
		case "msg":
			p.msg = true
		case "data":
			p.data = true
		case "meta":
			p.meta = true
		default:
			q.o.Logf("queue: ignoring unexpected file %s", filepath.Join(q.msgDir, name))
			continue
		}
		found[id] = p
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	changed := false
	remove := func(path, why string) error {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		q.o.Logf("queue: removed %s: %s", filepath.Base(path), why)
		changed = true
		return nil
	}
	for _, id := range ids {
		p := found[id]
		var m *meta
		var err error
		switch {
		case p.msg:
			if p.data {
				q.o.Logf("queue: ignoring %s beside %s", filepath.Base(q.dataPath(id)), filepath.Base(q.msgPath(id)))
			}
			m, err = q.loadMessage(id, p.meta)
		case p.data && !p.meta:
			// Format 1 renamed the metadata last: this message was never
			// committed.
			if err := remove(q.dataPath(id), "data without metadata (interrupted commit)"); err != nil {
				return nil, err
			}
			continue
		case p.data:
			m, err = q.loadMessageV1(id)
		default: // metadata alone
			var leftover bool
			leftover, err = q.orphanMeta(id)
			if err == nil && leftover {
				if err := remove(q.metaPath(id), "metadata of a removed message (removal interrupted)"); err != nil {
					return nil, err
				}
				continue
			}
			if err == nil {
				err = errors.New("metadata without data file")
			}
		}
		if err != nil {
			q.o.Logf("queue: quarantining %s: %v", id, err)
			if qerr := q.quarantineFiles(id); qerr != nil {
				return nil, qerr
			}
			quarantined = append(quarantined, id+": "+err.Error())
			continue
		}
		q.entries[id] = &entry{m: m}
	}
	if changed {
		if err := syncDir(q.msgDir); err != nil {
			return nil, err
		}
	}
	return quarantined, nil
}

// decodeMeta reads sealed metadata.
func decodeMeta(r io.ReaderAt, size int64, master cipher.AEAD, id string) (*meta, error) {
	sr, err := openSealed(r, size, master, kindMeta, id)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	b, err := io.ReadAll(sr)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("metadata: %w: %v", ErrCorrupt, err)
	}
	if m.ID != id || len(m.Rcpts) == 0 {
		return nil, fmt.Errorf("metadata: %w: inconsistent", ErrCorrupt)
	}
	return &m, nil
}

// readMetaFile reads a metadata file (ID.meta).
func (q *Queue) readMetaFile(id string) (*meta, error) {
	f, err := os.Open(q.metaPath(id))
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return decodeMeta(f, fi.Size(), q.master, id)
}

// openMessageFile opens a format 2 message file: its data (checked to
// open, and to have the length its metadata records) and the metadata it
// was committed with.
func (q *Queue) openMessageFile(id string) (*os.File, *sealReader, *meta, error) {
	f, err := os.Open(q.msgPath(id))
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*os.File, *sealReader, *meta, error) {
		f.Close()
		return nil, nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	ds, ms, err := readFooter(f, fi.Size())
	if err != nil {
		return fail(err)
	}
	m, err := decodeMeta(ms, ms.Size(), q.master, id)
	if err != nil {
		return fail(err)
	}
	if ds.Size() != sealedLen(m.Size) {
		return fail(fmt.Errorf("data: %w: %d sealed bytes for %d bytes of message", ErrCorrupt, ds.Size(), m.Size))
	}
	r, err := openSealed(ds, ds.Size(), q.master, kindData, id)
	if err != nil {
		return fail(fmt.Errorf("data: %w", err))
	}
	return f, r, m, nil
}

// loadMessage loads a format 2 message: the metadata of ID.meta when it
// exists (written by an attempt after the commit), else the metadata in
// ID.msg.
func (q *Queue) loadMessage(id string, hasMeta bool) (*meta, error) {
	f, _, m, err := q.openMessageFile(id)
	if err != nil {
		return nil, err
	}
	f.Close()
	if !hasMeta {
		return m, nil
	}
	newer, err := q.readMetaFile(id)
	if err != nil {
		return nil, err
	}
	if newer.Size != m.Size {
		return nil, fmt.Errorf("metadata: %w: size %d, the message file says %d", ErrCorrupt, newer.Size, m.Size)
	}
	return newer, nil
}

// loadMessageV1 loads a format 1 message (ID.data and ID.meta).
func (q *Queue) loadMessageV1(id string) (*meta, error) {
	m, err := q.readMetaFile(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(q.dataPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if _, err := openSealed(f, fi.Size(), q.master, kindData, id); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return m, nil
}

// orphanMeta looks at a metadata file without message: true when it is
// what an interrupted removal left (format 2 metadata, written only for
// messages whose data was durably committed, so that its message has been
// finished), false for format 1 metadata (whose data's rename may have
// been lost: quarantined, as before) or when the message file is in
// quarantine (the metadata joins it there).
func (q *Queue) orphanMeta(id string) (bool, error) {
	m, err := q.readMetaFile(id)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(q.quarantine, id+".msg")); err == nil {
		return false, nil
	}
	return m.Version >= 2, nil
}

// quarantineFiles moves a message's files out of the active folder.
func (q *Queue) quarantineFiles(id string) error {
	for _, p := range []string{q.metaPath(id), q.msgPath(id), q.dataPath(id)} {
		err := os.Rename(p, filepath.Join(q.quarantine, filepath.Base(p)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("queue: quarantine: %w", err)
		}
	}
	if err := syncDir(q.quarantine); err != nil {
		return err
	}
	return syncDir(q.msgDir)
}

// A message's files in msg/: ID.msg (format 2: data and metadata as
// committed), ID.meta (metadata written since; format 1: the metadata),
// ID.data (format 1: the data).
func (q *Queue) msgPath(id string) string  { return filepath.Join(q.msgDir, id+".msg") }
func (q *Queue) dataPath(id string) string { return filepath.Join(q.msgDir, id+".data") }
func (q *Queue) metaPath(id string) string { return filepath.Join(q.msgDir, id+".meta") }

// newID returns a message id: the time in nanoseconds and 48 random bits,
// in hex, so that ids sort by arrival.
func (q *Queue) newID() string {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%016x%s", uint64(q.o.Now().UnixNano()), hex.EncodeToString(r[:]))
}

func validID(id string) bool {
	if len(id) != 28 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// ioErr wraps a file system error, as ErrNoSpace when the disk or quota
// is full.
func ioErr(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w (%s: %w)", ErrNoSpace, op, err)
	}
	return fmt.Errorf("queue: %s: %w", op, err)
}

// syncDir fsyncs a directory, making the renames and removals in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioErr("sync folder", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ioErr("sync folder", err)
	}
	return nil
}

// writeSealed writes a small sealed file and fsyncs it (not its folder).
func (q *Queue) writeSealed(path string, kind byte, id string, plain []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return ioErr("create", err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(path)
		return ioErr("write", err)
	}
	w, err := newSealWriter(f, q.master, kind, id)
	if err != nil {
		return fail(err)
	}
	if _, err := w.Write(plain); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return ioErr("write", err)
	}
	return nil
}

// writeMeta records a message's metadata durably: a temporary file,
// fsynced, renamed to msg/ID.meta (over the older one, if any), and an
// fsync of msg/ shared with concurrent commits. It is only called for a
// message whose files are durably committed.
func (q *Queue) writeMeta(m *meta) error {
	m.Version = metaVersion
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var r [4]byte
	rand.Read(r[:])
	tmp := filepath.Join(q.tmpDir, m.ID+".meta."+hex.EncodeToString(r[:]))
	if err := q.writeSealed(tmp, kindMeta, m.ID, b); err != nil {
		return err
	}
	if err := q.rename(tmp, q.metaPath(m.ID)); err != nil {
		os.Remove(tmp)
		return ioErr("rename metadata", err)
	}
	return q.msgSync.sync()
}

// removeMessage deletes a finished message, without an fsync: if a crash
// loses the removal, the message is delivered again after the restart
// (the recipients marked delivered in the last metadata written are not).
// The message file goes first: a metadata file left alone is recognised
// as such at recovery and removed.
func (q *Queue) removeMessage(id string) error {
	for _, p := range []string{q.msgPath(id), q.metaPath(id), q.dataPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return ioErr("remove", err)
		}
	}
	return nil
}

// Stage starts a message. It refuses (ErrNoSpace) when the file system
// has less than MinFree available. The content is queued as written (the
// SMTP server writes the Received field).
func (q *Queue) Stage(env gateway.Envelope) (gateway.Staged, error) {
	return q.stage(env)
}

func (q *Queue) stage(env gateway.Envelope) (*staged, error) {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if env.Hop != gateway.HopRelay && env.Hop != gateway.HopDeliver {
		return nil, fmt.Errorf("queue: unknown hop %q", env.Hop)
	}
	if len(env.Recipients) == 0 {
		return nil, errors.New("queue: no recipients")
	}
	if q.o.MinFree > 0 {
		if free, ok := freeSpace(q.o.Dir); ok && free < q.o.MinFree {
			return nil, fmt.Errorf("%w: %d bytes free in %s, %d required", ErrNoSpace, free, q.o.Dir, q.o.MinFree)
		}
	}
	id := q.newID()
	path := filepath.Join(q.tmpDir, id+".msg")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, ioErr("stage", err)
	}
	s := &staged{q: q, id: id, env: env, f: f, cw: &countingWriter{w: f}, path: path, created: q.o.Now()}
	s.w, err = newSealWriter(s.cw, q.master, kindData, id)
	if err != nil {
		s.fail(ioErr("stage", err))
		return nil, s.err
	}
	return s, nil
}

// staged is a message being written.
type staged struct {
	q       *Queue
	id      string
	env     gateway.Envelope
	f       *os.File
	cw      *countingWriter // f, counted
	w       *sealWriter
	path    string
	created time.Time
	err     error // sticky
	done    bool
}

// fail removes the staging file and records err.
func (s *staged) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	os.Remove(s.path)
	s.done = true
}

func (s *staged) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, errors.New("queue: write after commit or abort")
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.fail(ioErr("write", err))
		return n, s.err
	}
	return n, nil
}

// Commit makes the message durable and schedules it: the data's final
// chunk, the metadata and the footer are written, the file is fsynced and
// renamed into the active folder, and the folder is fsynced (an fsync
// that began after the rename, shared with concurrent commits). On error
// nothing is left behind and the message does not exist.
func (s *staged) Commit() (string, error) {
	if s.err != nil {
		return "", s.err
	}
	if s.done {
		return "", errors.New("queue: commit after commit or abort")
	}
	q := s.q
	if err := s.w.Close(); err != nil {
		s.fail(ioErr("write", err))
		return "", s.err
	}
	dataLen := s.cw.n
	rc := make([]rcptState, len(s.env.Recipients))
	for i, r := range s.env.Recipients {
		rc[i] = rcptState{Addr: r, State: statePending}
	}
	m := &meta{Version: metaVersion, ID: s.id, Env: s.env, Size: s.w.size, Created: s.created, Next: s.created, Rcpts: rc}
	m.Env.Recipients = append([]string(nil), s.env.Recipients...)
	b, err := json.Marshal(m)
	if err != nil {
		s.fail(err)
		return "", err
	}
	mw, err := newSealWriter(s.cw, q.master, kindMeta, s.id)
	if err == nil {
		if _, err = mw.Write(b); err == nil {
			err = mw.Close()
		}
	}
	if err == nil {
		_, err = s.cw.Write(appendFooter(nil, dataLen, s.cw.n-dataLen))
	}
	if err != nil {
		s.fail(ioErr("write", err))
		return "", s.err
	}
	if err := s.f.Sync(); err != nil {
		s.fail(ioErr("sync", err))
		return "", s.err
	}
	err = s.f.Close()
	s.f = nil
	if err != nil {
		s.fail(ioErr("write", err))
		return "", s.err
	}
	msgPath := q.msgPath(s.id)
	if err := q.rename(s.path, msgPath); err != nil {
		s.fail(ioErr("rename", err))
		return "", s.err
	}
	s.path = msgPath // fail now removes the active file
	if err := q.msgSync.sync(); err != nil {
		// The message may or may not survive a crash now; it must not be
		// acknowledged, so it is withdrawn.
		s.fail(err)
		return "", s.err
	}
	s.done = true
	q.mu.Lock()
	q.entries[s.id] = &entry{m: m}
	q.mu.Unlock()
	q.poke()
	return s.id, nil
}

// Abort discards the message.
func (s *staged) Abort() error {
	if s.done && s.err == nil {
		return errors.New("queue: abort after commit")
	}
	s.fail(errors.New("queue: aborted"))
	return nil
}

// poke wakes Run.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	now := q.o.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	st := Stats{Queued: len(q.entries), Delivered: q.delivered, Bounced: q.bounced}
	for _, e := range q.entries {
		if e.m.Attempts > 0 {
			st.Deferred++
		}
		if age := now.Sub(e.m.Created); age > st.Oldest {
			st.Oldest = age
		}
	}
	return st
}

// Close closes the queue: Stage fails afterwards. Stop Run (its context)
// first.
func (q *Queue) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	return nil
}
