package queue

import (
	"bytes"
	"testing"

	"github.com/signet-smime/signet/gateway"
)

// BenchmarkCommit10K stages, writes and commits (with every fsync) 10 KiB
// messages; it reports commits per second.
func BenchmarkCommit10K(b *testing.B) {
	q := openTest(b, b.TempDir(), nil, func(o *Options) { o.Logf = func(string, ...any) {} })
	msg := append(testMessage("bench", ""), bytes.Repeat([]byte("0123456789abcde\n"), 640)...)
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"bob@partner.test"}, Hop: gateway.HopRelay}
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
}
