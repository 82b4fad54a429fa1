"""Decodes the GUE and GRE frames of a pcap file with scapy (an independent decoder) and prints one
JSON object per tunnel packet: the outer IPv4 header, the UDP header or the GRE header with whether
its checksum is right (scapy recomputes it), the GUE header's fields, and the inner packet.

usage: tunnel-decode.py FILE.pcap GUE_PORT

scapy has no GUE layer: it is declared here from draft-ietf-intarea-gue section 3.1 (variant 0:
version 2 bits, C 1 bit, Hlen 5 bits, Proto/ctype 8 bits, Flags 16 bits)."""

import json
import sys

from scapy.all import GRE, IP, TCP, UDP, BitField, ByteField, Packet, ShortField, bind_layers, rdpcap


class GUE(Packet):
    name = "GUE"
    fields_desc = [
        BitField("version", 0, 2),
        BitField("control", 0, 1),
        BitField("hlen", 0, 5),
        ByteField("proto_ctype", 0),
        ShortField("flags", 0),
    ]


def udp_checksum_ok(ip):
    again = ip.copy()
    del again[UDP].chksum
    return IP(bytes(again))[UDP].chksum == ip[UDP].chksum


def gre_checksum_ok(ip):
    again = ip.copy()
    del again[GRE].chksum
    return IP(bytes(again))[GRE].chksum == ip[GRE].chksum


def tcp_checksum_ok(ip):
    again = IP(bytes(ip))
    del again[TCP].chksum
    return IP(bytes(again))[TCP].chksum == ip[TCP].chksum


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    bind_layers(UDP, GUE, dport=port)
    bind_layers(GUE, IP, proto_ctype=4)
    for frame in rdpcap(path):
        if IP not in frame:
            continue
        ip = frame[IP]
        out = {
            "src": ip.src,
            "dst": ip.dst,
            "proto": ip.proto,
            "df": bool(ip.flags.DF),
            "ttl": ip.ttl,
            "len": ip.len,
        }
        if GUE in ip:
            udp, gue = ip[UDP], ip[GUE]
            out["udp"] = {
                "sport": udp.sport,
                "dport": udp.dport,
                "len": udp.len,
                "chksum": udp.chksum,
                "checksumOk": udp.chksum == 0 or udp_checksum_ok(ip),
            }
            out["gue"] = {
                "version": gue.version,
                "control": gue.control,
                "hlen": gue.hlen,
                "proto": gue.proto_ctype,
                "flags": gue.flags,
            }
        elif GRE in ip:
            gre = ip[GRE]
            out["gre"] = {
                "chksumPresent": gre.chksum_present,
                "routingPresent": gre.routing_present,
                "keyPresent": gre.key_present,
                "seqPresent": gre.seqnum_present,
                "version": gre.version,
                "proto": gre.proto,
                "chksum": gre.chksum,
                "checksumOk": (not gre.chksum_present) or gre_checksum_ok(ip),
            }
        else:
            continue
        inner = ip.payload
        while inner is not None and not isinstance(inner, IP):
            inner = inner.payload if inner.payload else None
        if isinstance(inner, IP):
            out["inner"] = {
                "src": inner.src,
                "dst": inner.dst,
                "ttl": inner.ttl,
                "tcpChecksumOk": TCP in inner and tcp_checksum_ok(inner),
            }
        print(json.dumps(out))


main()
