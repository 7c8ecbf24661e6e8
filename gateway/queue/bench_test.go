package queue

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/signet-smime/signet/gateway"
)

// benchMessage is a 10 KiB message and its envelope.
func benchMessage() ([]byte, gateway.Envelope) {
	msg := append(testMessage("bench", ""), bytes.Repeat([]byte("0123456789abcde\n"), 640)...)
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"bob@partner.test"}, Hop: gateway.HopRelay}
	return msg, env
}

// BenchmarkCommit10K stages, writes and commits (with every fsync) 10 KiB
// messages; it reports commits per second.
func BenchmarkCommit10K(b *testing.B) {
	q := openTest(b, b.TempDir(), nil, func(o *Options) { o.Logf = func(string, ...any) {} })
	msg, env := benchMessage()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		s, err := q.Stage(env)
		if err != nil {
			b.Fatal(err)
		}
		s.Write(msg)
		if _, err := s.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64(q.msgSync.count.Load())/float64(b.N), "dirsyncs/op")
}

// BenchmarkCommit10KParallel is BenchmarkCommit10K from 8 goroutines at
// once (at least; like 8 SMTP sessions): the case group commit is for.
func BenchmarkCommit10KParallel(b *testing.B) {
	q := openTest(b, b.TempDir(), nil, func(o *Options) { o.Logf = func(string, ...any) {} })
	msg, env := benchMessage()
	b.SetBytes(int64(len(msg)))
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((8 + procs - 1) / procs)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := q.Stage(env)
			if err != nil {
				b.Error(err)
				return
			}
			s.Write(msg)
			if _, err := s.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64(q.msgSync.count.Load())/float64(b.N), "dirsyncs/op")
}
