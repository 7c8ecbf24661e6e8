package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-smime/signet/gateway"
)

const crashEnv = "SIGNET_QUEUE_CRASH_DIR"

// crashBody is message i of run r: a header naming it and a pseudo-random
// body of up to 200 KiB (crossing chunk boundaries).
func crashBody(r, i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(r), uint64(i)))
	n := 1 + rng.IntN(200<<10)
	b := []byte(fmt.Sprintf("X-Seq: %d-%d\r\nSubject: crash test\r\n\r\n", r, i))
	for range n {
		b = append(b, byte('!'+rng.IntN(90)))
	}
	return b
}

// crashCommitters is how many goroutines of the child commit at once, so
// that commits share directory fsyncs (group commit) when it is killed.
const crashCommitters = 6

// TestMain runs the crash child instead of the tests when the parent test
// started this binary for it.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
	}
	os.Exit(m.Run())
}

// crashChild is the child process of TestCrashSafety: several goroutines
// commit messages until it is killed, each printing an id once its Commit
// has returned.
func crashChild(dir string) {
	var run int
	fmt.Sscan(os.Getenv(crashEnv+"_RUN"), &run)
	q, err := Open(Options{Dir: dir, Key: testKey, MinFree: -1, Logf: func(string, ...any) {}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	var seq atomic.Int64
	var out sync.Mutex
	for range crashCommitters {
		go func() {
			for {
				i := int(seq.Add(1) - 1)
				env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{fmt.Sprintf("r%d@partner.test", i)}, Hop: gateway.HopRelay}
				s, err := q.Stage(env)
				if err != nil {
					fmt.Println("error", err)
					os.Exit(2)
				}
				body := crashBody(run, i)
				for p := body; len(p) > 0; {
					n := min(len(p), 10000)
					s.Write(p[:n])
					p = p[n:]
				}
				id, err := s.Commit()
				if err != nil {
					fmt.Println("error", err)
					os.Exit(2)
				}
				out.Lock()
				fmt.Printf("committed %s %d %d\n", id, run, i)
				out.Unlock()
			}
		}()
	}
	select {}
}

// TestCrashSafety kills a child committing from several goroutines with
// SIGKILL at random moments, then checks that every message whose Commit returned is in the
// queue, intact, and that nothing partial is.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	committed := map[string]string{} // id → "run-i"
	for run := 1; run <= 6; run++ {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_RUN=%d", crashEnv, run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan []string)
		go func() {
			var l []string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				l = append(l, sc.Text())
			}
			lines <- l
		}()
		// A random moment, after the child has begun committing.
		time.Sleep(time.Duration(100+rand.IntN(300)) * time.Millisecond)
		cmd.Process.Kill()
		got := <-lines
		cmd.Wait()
		n := 0
		for _, l := range got {
			var id string
			var r, i int
			if _, err := fmt.Sscanf(l, "committed %s %d %d", &id, &r, &i); err != nil {
				if strings.HasPrefix(l, "error") {
					t.Fatalf("child: %s", l)
				}
				continue // PASS lines etc.
			}
			committed[id] = fmt.Sprintf("%d-%d", r, i)
			n++
		}
		t.Logf("run %d: %d messages committed before SIGKILL", run, n)

		q, err := Open(Options{Dir: dir, Key: testKey, MinFree: -1, Logf: t.Logf})
		if err != nil {
			t.Fatalf("Open after crash: %v", err)
		}
		if tmp := dirNames(t, q.tmpDir); len(tmp) != 0 {
			t.Errorf("staging files after recovery: %v", tmp)
		}
		present := map[string]bool{}
		for _, id := range ids(q) {
			present[id] = true
			b, err := readMessage(q, id)
			if err != nil {
				t.Fatalf("%s unreadable: %v", id, err)
			}
			var r, i int
			if _, err := fmt.Sscanf(string(b), "X-Seq: %d-%d", &r, &i); err != nil {
				t.Fatalf("%s: no X-Seq", id)
			}
			if !bytes.Equal(b, crashBody(r, i)) {
				t.Fatalf("%s (%d-%d): content differs (%d bytes)", id, r, i, len(b))
			}
			if want, ok := committed[id]; ok && want != fmt.Sprintf("%d-%d", r, i) {
				t.Fatalf("%s holds %d-%d, committed as %s", id, r, i, want)
			}
		}
		for id, seq := range committed {
			if !present[id] {
				t.Fatalf("committed message %s (%s) lost", id, seq)
			}
		}
		q.Close()
	}
	if len(committed) == 0 {
		t.Fatal("the child committed nothing")
	}
}
