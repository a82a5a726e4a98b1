"""pcap tier: the control core's ARP. Requests for a VIP are answered from the port's
MAC on the ports that serve it; nothing else is answered; VIPs are announced."""
from scapy.all import ARP, Ether

import harness as h

CLIENT_IP = "198.18.0.1"


def request(target, port_mac=h.PORT_MAC, src=CLIENT_IP):
    return Ether(src=h.CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=h.CLIENT_MAC, psrc=src,
                                                                   hwdst="00:00:00:00:00:00", pdst=target)


def replies(res, port=0, to_ip=CLIENT_IP):
    return [p for p in res.arp(port) if p[ARP].op == 2 and p[ARP].pdst == to_ip]


def announcements(res, port=0):
    return [p for p in res.arp(port) if p[ARP].op == 1 and p[ARP].psrc == p[ARP].pdst]


def test_vip_answered_others_not():
    conf = ("port 0 address 198.18.0.2/24\nvip add 198.18.0.100 tcp 80\nvip add 198.18.0.100 udp 53\n"
            "vip add 198.18.0.101 tcp 443\n")
    sent = [request("198.18.0.100"), request("198.18.0.101"), request("198.18.0.77"), request("198.18.0.2"),
            request("198.18.0.100", src="0.0.0.0")]
    res = h.run(conf, [[sent]], name="arp")
    h.check(res.rc == 0, res.stderr)
    got = replies(res)
    h.check(sorted(p[ARP].psrc for p in got) == ["198.18.0.100", "198.18.0.101"],
            "answered for %s" % sorted(p[ARP].psrc for p in got))
    for p in got:
        h.check(p[Ether].src == h.PORT_MAC and p[ARP].hwsrc == h.PORT_MAC, "reply not from the port MAC")
        h.check(p[Ether].dst == h.CLIENT_MAC and p[ARP].hwdst == h.CLIENT_MAC, "reply not to the requester")
    # The DAD-style probe (sender 0.0.0.0) for a VIP is answered too: the VIP is in use.
    h.check(len([p for p in res.arp() if p[ARP].op == 2 and p[ARP].pdst == "0.0.0.0"]) == 1, "probe not defended")
    c = res.stats["control"]
    h.check(c["arp_vip_replies"] == 3, "arp_vip_replies %d" % c["arp_vip_replies"])
    # Not answered: the unknown address, and the DIP (that is the kernel's, and there is
    # no kernel interface in this run).
    h.check(c["to_kernel_dropped"] == 2, "to_kernel_dropped %d" % c["to_kernel_dropped"])


def test_vips_are_announced():
    conf = "port 0 address 198.18.0.2/24\nvip add 198.18.0.100 tcp 80\nvip add 198.18.0.101 tcp 80\n"
    res = h.run(conf, [[[request("198.18.0.200")]]], name="garp")
    h.check(res.rc == 0, res.stderr)
    ann = announcements(res)
    vips = sorted({p[ARP].psrc for p in ann})
    h.check(vips == ["198.18.0.100", "198.18.0.101"], "announced %s" % vips)
    for p in ann:
        h.check(p[Ether].dst == "ff:ff:ff:ff:ff:ff" and p[ARP].hwsrc == h.PORT_MAC, "bad announcement %s" % p.summary())


def test_vip_answered_only_on_the_port_whose_subnet_holds_it():
    conf = ("port 0 address 198.18.0.2/24\nport 1 address 198.18.8.2/24\n"
            "vip add 198.18.0.100 tcp 80\n")
    on0 = [request("198.18.0.100")]
    on1 = [Ether(src="02:00:00:00:08:01", dst="ff:ff:ff:ff:ff:ff") /
           ARP(op=1, hwsrc="02:00:00:00:08:01", psrc="198.18.8.1", pdst="198.18.0.100")]
    res = h.run(conf, [[on0], [on1]], ports=2, name="arp2")
    h.check(res.rc == 0, res.stderr)
    h.check(len(replies(res, 0)) == 1, "not answered on port 0")
    h.check(not [p for p in res.arp(1) if p[ARP].op == 2], "answered on port 1, whose subnet does not hold the VIP")
    h.check(not announcements(res, 1), "announced on port 1")
