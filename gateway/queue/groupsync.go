package queue

import (
	"sync"
	"sync/atomic"
)

// groupSync shares directory fsyncs between concurrent callers (group
// commit). A caller renames its file into the directory and then calls
// sync, which returns only after an fsync of the directory that began
// after the call (so after the rename) has finished, and returns that
// fsync's error.
//
// Callers join the batch that is waiting to start. When no fsync runs,
// the caller that opened the batch starts it at once (a lone Commit pays
// one fsync and no wait). While one runs, later callers gather in the
// next batch, which the finishing fsync's leader hands to a new goroutine
// before returning to its own caller, so no caller ever waits for more
// than the fsync under way and the next one.
type groupSync struct {
	fsync func() error // the directory fsync (a test hook)

	mu      sync.Mutex
	running bool
	next    *syncBatch // callers waiting for an fsync not yet started

	count atomic.Int64 // fsyncs started (tests, benchmarks)
}

// syncBatch is one fsync and the callers it covers.
type syncBatch struct {
	done chan struct{}
	err  error
}

func newGroupSync(dir string) *groupSync {
	return &groupSync{fsync: func() error { return syncDir(dir) }}
}

// sync returns once a directory fsync that started after the call has
// finished.
func (g *groupSync) sync() error {
	g.mu.Lock()
	b := g.next
	if b == nil {
		b = &syncBatch{done: make(chan struct{})}
		g.next = b
	}
	if !g.running {
		// Lead: start this batch now. It is taken out of g.next under
		// the lock, so nobody joins it once its fsync may have begun.
		g.running = true
		g.next = nil
		g.mu.Unlock()
		g.run(b)
	} else {
		g.mu.Unlock()
	}
	<-b.done
	return b.err
}

// run performs the fsync of batch b, then starts the batch gathered in
// the meantime (in another goroutine, so that b's callers go on at once)
// or marks the syncer idle.
func (g *groupSync) run(b *syncBatch) {
	g.count.Add(1)
	b.err = g.fsync()
	close(b.done)
	g.mu.Lock()
	next := g.next
	if next == nil {
		g.running = false
		g.mu.Unlock()
		return
	}
	g.next = nil
	g.mu.Unlock()
	go g.run(next)
}
