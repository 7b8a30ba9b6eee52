package daemon_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// FuzzRequest sends arbitrary lines to a live daemon and checks that the
// connection still answers afterwards: no input may crash the daemon,
// hang the connection, or get an answer that is not JSON-RPC.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"wad.status"}`,
		`{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"sales"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"session.login","params":{"client":"sales","phone":"+4915112345678"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"message.send","params":{"client":"sales","to":"+4915112345678","text":"hi"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"kinds":["qr"]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"events.unsubscribe","params":{"subscription":"sub-1"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"session.list"},{"jsonrpc":"2.0","method":"session.stop","params":{"client":"x"}}]`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"wad.version"}`,
		`{"jsonrpc":"2.0","id":null,"method":"wad.version"}`,
		`[{"jsonrpc":"2.0","id":null,"method":"events.subscribe"},{"jsonrpc":"2.0","id":null,"method":"events.unsubscribe","params":{"subscription":"sub-1"}}]`,
		`{"jsonrpc":"2.0","id":"\u0000null-1","method":"wad.version"}`,
		`{"jsonrpc":"2.0","id":1,"method":"session.status","params":{"client":"\u0000"}}`,
		`garbage`, `[]`, `{}`, `null`, `"x"`, `{"jsonrpc":"2.0","id":1,"method":"rpc.cancel","params":[1]}`,
	} {
		f.Add(s)
	}
	b := &sessiontest.Backend{Connect: true}
	// F.Log may not be called once fuzzing runs: keep the daemon quiet.
	d := daemontest.Start(f, daemontest.Options{Backends: []sessions.Backend{b}, MaxSessions: 50, Log: slog.New(slog.DiscardHandler)})
	c, err := net.Dial("unix", d.Socket)
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	rd := bufio.NewReaderSize(c, 1<<16)
	f.Fuzz(func(t *testing.T, line string) {
		line = string(bytes.ReplaceAll([]byte(line), []byte("\n"), []byte(" ")))
		id := "probe-" + time.Now().Format("150405.000000000")
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte(line + "\n" + `{"jsonrpc":"2.0","id":"` + id + `","method":"wad.version"}` + "\n")); err != nil {
			t.Fatalf("write: %v", err)
		}
		for {
			out, err := rd.ReadBytes('\n')
			if err != nil {
				t.Fatalf("connection died after %q: %v", line, err)
			}
			var any json.RawMessage
			if json.Unmarshal(out, &any) != nil {
				t.Fatalf("non-JSON output after %q: %q", line, out)
			}
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Error  *struct{ Code int }
			}
			json.Unmarshal(out, &m)
			if m.Error != nil && (m.Error.Code == ctl.CodeInternal || m.Error.Code < -32768 && m.Error.Code > -32000) {
				t.Fatalf("input %q got an internal error: %s", line, out)
			}
			if string(m.ID) == `"`+id+`"` {
				return
			}
		}
	})
}

// BenchmarkStatusRoundTrip measures wad.status over the real socket and
// reports p50 and p99 latencies.
func BenchmarkStatusRoundTrip(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}, Log: slog.New(slog.DiscardHandler)})
	c := d.Client
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := c.Status(bg); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
