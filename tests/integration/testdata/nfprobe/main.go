// nfprobe runs inside a tenant container and tries every way around the network policy
// tenantrun installed in the container's network namespace: listing and deleting its
// nftables table over netlink, raw, packet and netfilter-netlink sockets, and bpf(2). It
// prints one line per attempt, "<name> denied <error>" or "<name> ALLOWED", and exits 0.
package main

import (
	"fmt"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

func main() {
	try := func(name string, f func() error) {
		if err := f(); err != nil {
			fmt.Printf("%s denied %v\n", name, err)
		} else {
			fmt.Printf("%s ALLOWED\n", name)
		}
	}
	sock := func(domain, typ, proto int) func() error {
		return func() error {
			fd, err := unix.Socket(domain, typ, proto)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}
	}
	try("nft-list", func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		_, err = c.ListTables()
		return err
	})
	try("nft-delete", func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "tenantrun"})
		return c.Flush()
	})
	try("nft-flush-ruleset", func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.FlushRuleset()
		return c.Flush()
	})
	try("netlink-netfilter-socket", sock(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_NETFILTER))
	try("raw-socket", sock(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP))
	try("packet-socket", sock(unix.AF_PACKET, unix.SOCK_RAW, 0x0300))
	try("bpf", func() error {
		// A NULL attr reaches the kernel as EFAULT: that is the call being allowed.
		_, _, e := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		if e == 0 || e == unix.EFAULT || e == unix.EINVAL {
			return nil
		}
		return e
	})
}
