package netpolicy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tenantrun/tenantrun/hardening"
	"github.com/tenantrun/tenantrun/internal/testutil"
)

// costLab is two namespaces of the test's own joined by a veth pair: "c" (the container,
// 10.241.0.2, default route via 10.241.0.1) and "s" (the gateway 10.241.0.1, and a
// server at 10.241.1.1 behind it).
func costLab(t *testing.T) (c, s string) {
	t.Helper()
	testutil.RequireRoot(t)
	id := strings.TrimPrefix(testutil.NewID(), "trt")[:6]
	c, s = "trtnp"+id+"c", "trtnp"+id+"s"
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", c).Run()
		_ = exec.Command("ip", "netns", "del", s).Run()
	})
	for _, cmd := range [][]string{
		{"netns", "add", c}, {"netns", "add", s},
		{"link", "add", "v" + id + "c", "netns", c, "type", "veth", "peer", "name", "v" + id + "s", "netns", s},
		{"-n", c, "addr", "add", "10.241.0.2/24", "dev", "v" + id + "c"}, {"-n", c, "link", "set", "v" + id + "c", "up"},
		{"-n", c, "link", "set", "lo", "up"}, {"-n", c, "route", "add", "default", "via", "10.241.0.1"},
		{"-n", s, "addr", "add", "10.241.0.1/24", "dev", "v" + id + "s"}, {"-n", s, "link", "set", "v" + id + "s", "up"},
		{"-n", s, "addr", "add", "10.241.1.1/24", "dev", "v" + id + "s"}, {"-n", s, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", cmd...).CombinedOutput(); err != nil {
			testutil.Require(t, false, fmt.Sprintf("ip %s: %v %s", strings.Join(cmd, " "), err, out))
		}
	}
	return c, s
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// TestNetPolicyCost measures what the network policy costs (the targets, enforced
// by make bench-timing): the per-start network step (the host facts, the compile, the
// table's transaction, the container's addresses and the isolation tables' update and
// release) at most 2 ms median, and TCP throughput through the rules over a veth pair at
// least 0.98 × the same transfer without them (alternating runs, medians).
func TestNetPolicyCost(t *testing.T) {
	c, s := costLab(t)
	f, err := OpenNetns("/run/netns/" + c)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	p := hardening.DefaultNetPolicy()
	p.Allow = append(p.Allow, hardening.NetRule{Net: netip.MustParsePrefix("10.241.1.0/24"), Proto: "tcp", Ports: []hardening.PortRange{{Lo: 5001, Hi: 5001}}})
	p.MaxConnections, p.NewConnectionsPerSecond, p.NewConnectionsBurst = 1024, 1000, 1000
	// Each start gets a namespace of its own, as a container does (made outside the
	// timing), with one address like an engine's.
	step := func(i int) time.Duration {
		name := fmt.Sprintf("%s%d", c, i)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		defer func() { _ = exec.Command("ip", "netns", "del", name).Run() }()
		_ = exec.Command("ip", "-n", name, "link", "add", "d0", "type", "dummy").Run()
		_ = exec.Command("ip", "-n", name, "addr", "add", fmt.Sprintf("10.242.%d.%d/16", i/200, 2+i%200), "dev", "d0").Run()
		nf, err := OpenNetns("/run/netns/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer nf.Close()
		nfd := int(nf.Fd())
		start := time.Now()
		facts, err := Facts(nfd)
		if err != nil {
			t.Fatal(err)
		}
		if err := Install(nfd, "costtenant", hardening.CompileNetPolicy(p, facts)); err != nil {
			t.Fatal(err)
		}
		addrs, err := ContainerAddrs(nfd)
		if err != nil {
			t.Fatal(err)
		}
		if err := Isolate("costtenant", addrs); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		if err := Release("costtenant", addrs); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A second tenant's container keeps the isolation tables in place, as on a host with
	// running tenants (the first container's start also makes the tables).
	keep := []netip.Addr{netip.MustParseAddr("10.243.0.1")}
	if err := Isolate("costother", keep); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Release("costother", keep) }()
	step(0) // warm: first netlink sockets, page faults
	var ds []time.Duration
	for i := range 21 {
		ds = append(ds, step(i+1))
	}
	m := median(ds)
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	t.Logf("per-start network policy step: median %v over %d (min %v, max %v)", m, len(ds), ds[0], ds[len(ds)-1])
	testutil.TimingTarget(t, m <= 2*time.Millisecond, "the per-start network policy step took %v (median), target <= 2 ms", m)

	// Throughput: a sink in s, a sender in c, 64 MiB per run, with and without the table.
	var ln net.Listener
	testutil.InNetns(t, "/run/netns/"+s, func() { ln, err = net.Listen("tcp", "10.241.1.1:5001") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
	buf := make([]byte, 256<<10)
	send := func() float64 {
		var rate float64
		testutil.InNetns(t, "/run/netns/"+c, func() {
			conn, err := net.Dial("tcp", "10.241.1.1:5001")
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			start := time.Now()
			for sent := 0; sent < 64<<20; sent += len(buf) {
				if _, err := conn.Write(buf); err != nil {
					t.Error(err)
					return
				}
			}
			rate = float64(64<<20) / time.Since(start).Seconds()
		})
		return rate
	}
	var with, without []float64
	for i := range 10 {
		for _, policed := range []bool{i%2 == 0, i%2 != 0} {
			if policed {
				facts, _ := Facts(fd)
				if err := Install(fd, "costtenant", hardening.CompileNetPolicy(p, facts)); err != nil {
					t.Fatal(err)
				}
				with = append(with, send())
			} else {
				if err := Remove(fd); err != nil {
					t.Fatal(err)
				}
				without = append(without, send())
			}
		}
	}
	_ = Remove(fd)
	sort.Float64s(with)
	sort.Float64s(without)
	ratio := with[len(with)/2] / without[len(without)/2]
	t.Logf("TCP throughput over veth: %.0f MiB/s with the rules, %.0f MiB/s without: %.3f ×", with[len(with)/2]/(1<<20), without[len(without)/2]/(1<<20), ratio)
	testutil.TimingTarget(t, ratio >= 0.98, "TCP throughput through the rules is %.3f × the throughput without them, target >= 0.98 ×", ratio)
	if _, err := os.Stat(LockPath); err == nil {
		t.Logf("isolation lock %s (kept, like the other lock files under /run/tenantrun)", LockPath)
	}
}
