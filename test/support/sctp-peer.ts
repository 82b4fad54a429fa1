/**
 * SCTP ends for the network tests, played with raw IP sockets (protocol 132) as an SCTP stack would:
 * the kernel here has no SCTP sockets, and an open raw socket keeps it from answering SCTP with
 * "protocol unreachable". Packets are built and decoded by scapy (Debian's python3-scapy), a decoder
 * tslvs did not write: every packet received is checked against its own CRC32c computed by scapy,
 * and its chunk layout reported.
 *
 * `server NAME PORT`: answers INIT with INIT ACK (a state cookie), COOKIE ECHO with COOKIE ACK, DATA
 * with a SACK and then a DATA chunk "NAME got TEXT", HEARTBEAT with HEARTBEAT ACK, SHUTDOWN with
 * SHUTDOWN ACK, each from the address the packet was sent to (a DR real server answers from the VIP);
 * prints "ready", then one JSON line per packet received on PORT.
 *
 * `client VIP PORT CPORT`: reads commands on stdin (init, cookie-echo, data TEXT, heartbeat,
 * shutdown, shutdown-complete, abort, bad-init: an INIT whose CRC32c is wrong), sends the chunk
 * with the association's verification tag, and prints one JSON line per command with the packets
 * that came back (waiting for the answer the command expects, at most 3 s).
 */
import type { ChildProcess } from "node:child_process";
import type { NetLab } from "../../src/cli/lab/netns.js";
import { LineProcess } from "./dp-harness.js";

/** Debian's interpreter: python3-scapy installs for it (another python3 on PATH may lack scapy). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

export const SCTP_PEER_PY = String.raw`
import json, os, select, socket, struct, sys, time
from scapy.layers.inet import IP
from scapy.layers.sctp import (SCTP, crc32c, SCTPChunkInit, SCTPChunkInitAck, SCTPChunkParamStateCookie,
    SCTPChunkCookieEcho, SCTPChunkCookieAck, SCTPChunkData, SCTPChunkSACK, SCTPChunkHeartbeatReq,
    SCTPChunkHeartbeatAck, SCTPChunkParamHeartbeatInfo, SCTPChunkShutdown, SCTPChunkShutdownAck,
    SCTPChunkShutdownComplete, SCTPChunkAbort)
from scapy.packet import NoPayload

sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)

def decode(data):
    ihl = (data[0] & 15) * 4
    l4 = bytearray(data[ihl:])
    field = bytes(l4[8:12])
    l4[8:12] = b"\0\0\0\0"
    ok = struct.pack("!I", crc32c(bytes(l4))) == field
    p = IP(data)
    s = p[SCTP]
    chunks, text, c = [], None, s.payload
    while c is not None and not isinstance(c, NoPayload):
        chunks.append(c.type)
        if isinstance(c, SCTPChunkData):
            text = bytes(c.data).decode(errors="replace")
        c = c.payload
    return p, s, {"src": p.src, "dst": p.dst, "sport": s.sport, "dport": s.dport, "tag": s.tag,
                  "crcOk": ok, "chunks": chunks, "data": text, "len": len(l4)}

SENDERS = {}

def send(addr, sport, dport, tag, chunk, corrupt=False, src=None):
    b = bytearray(bytes(SCTP(sport=sport, dport=dport, tag=tag) / chunk))
    if corrupt:
        b[8] ^= 0xff
    s = sock
    if src is not None:
        # From the address the peer wrote to (a DR real server answers from the VIP on its lo).
        s = SENDERS.get(src)
        if s is None:
            s = SENDERS[src] = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
            s.bind((src, 0))
    s.sendto(bytes(b), (addr, 0))

def server(name, port):
    tsn = 1000
    print("ready", flush=True)
    while True:
        data, _ = sock.recvfrom(65535)
        try:
            p, s, info = decode(data)
        except Exception:
            continue
        if s.dport != port:
            continue
        info["server"] = name
        print(json.dumps(info), flush=True)
        if not info["crcOk"] or not info["chunks"]:
            continue
        first = s.payload
        peer = (p.src, s.sport)
        if first.type == 1:
            cookie = b"cookie-" + name.encode() + b"-" + str(s.sport).encode()
            send(p.src, port, s.sport, first.init_tag, src=p.dst, chunk=SCTPChunkInitAck(init_tag=0x5e4e4000 + s.sport,
                 a_rwnd=65536, n_out_streams=1, n_in_streams=1, init_tsn=tsn,
                 params=[SCTPChunkParamStateCookie(cookie=cookie)]))
        elif first.type == 10:
            send(p.src, port, s.sport, TAGS.get(peer, 0), SCTPChunkCookieAck(), src=p.dst)
        elif first.type == 0:
            send(p.src, port, s.sport, TAGS.get(peer, 0), SCTPChunkSACK(cumul_tsn_ack=first.tsn, a_rwnd=65536), src=p.dst)
            send(p.src, port, s.sport, TAGS.get(peer, 0), SCTPChunkData(tsn=tsn, stream_id=0, stream_seq=0, proto_id=0,
                 beginning=1, ending=1, data=(name + " got " + info["data"]).encode()), src=p.dst)
            tsn += 1
        elif first.type == 4:
            send(p.src, port, s.sport, TAGS.get(peer, 0), SCTPChunkHeartbeatAck(params=first.params), src=p.dst)
        elif first.type == 7:
            send(p.src, port, s.sport, TAGS.get(peer, 0), SCTPChunkShutdownAck(), src=p.dst)
        if first.type == 1:
            TAGS[peer] = first.init_tag

TAGS = {}

EXPECT = {"init": 2, "bad-init": None, "cookie-echo": 11, "data": 0, "heartbeat": 5, "shutdown": 8,
          "shutdown-complete": None, "abort": None}

def client(vip, port, cport):
    my_tag = 0x0c1e0000 + cport
    peer_tag, cookie, tsn = 0, b"", 1
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "init" or cmd == "bad-init":
            send(vip, cport, port, 0, SCTPChunkInit(init_tag=my_tag, a_rwnd=65536, n_out_streams=1,
                 n_in_streams=1, init_tsn=tsn), corrupt=(cmd == "bad-init"))
        elif cmd == "cookie-echo":
            send(vip, cport, port, peer_tag, SCTPChunkCookieEcho(cookie=cookie))
        elif cmd == "data":
            send(vip, cport, port, peer_tag, SCTPChunkData(tsn=tsn, stream_id=0, stream_seq=0, proto_id=0, beginning=1,
                 ending=1, data=arg.encode()))
            tsn += 1
        elif cmd == "heartbeat":
            send(vip, cport, port, peer_tag, SCTPChunkHeartbeatReq(params=[SCTPChunkParamHeartbeatInfo(data=b"hb")]))
        elif cmd == "shutdown":
            send(vip, cport, port, peer_tag, SCTPChunkShutdown(cumul_tsn_ack=0))
        elif cmd == "shutdown-complete":
            send(vip, cport, port, peer_tag, SCTPChunkShutdownComplete())
        elif cmd == "abort":
            send(vip, cport, port, peer_tag, SCTPChunkAbort())
        want = EXPECT.get(cmd)
        rx = []
        deadline = time.time() + (3 if want is not None else 0.5)
        while time.time() < deadline:
            r, _, _ = select.select([sock], [], [], max(0, deadline - time.time()))
            if not r:
                break
            data, _ = sock.recvfrom(65535)
            try:
                p, s, info = decode(data)
            except Exception:
                continue
            if s.dport != cport:
                continue
            rx.append(info)
            first = s.payload
            if info["chunks"] and first.type == 2:
                peer_tag = first.init_tag
                for prm in first.params:
                    if isinstance(prm, SCTPChunkParamStateCookie):
                        cookie = bytes(prm.cookie)
            if want is not None and want in info["chunks"]:
                break
        print(json.dumps({"cmd": cmd, "rx": rx}), flush=True)

if sys.argv[1] == "server":
    server(sys.argv[2], int(sys.argv[3]))
else:
    client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
`;

/** What a peer printed about one SCTP packet it received. */
export interface SctpSeen {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  tag: number;
  crcOk: boolean;
  chunks: number[];
  data: string | null;
  len: number;
  server?: string;
}

/** An SCTP end in a lab host (see the module comment); resolves once its socket is open. */
export async function startSctpPeer(lab: NetLab, host: string, args: string[]): Promise<LineProcess> {
  const child: ChildProcess = lab.spawn(host, [DEBIAN_PYTHON, "-c", SCTP_PEER_PY, ...args]);
  const p = new LineProcess(child, `sctp ${args[0]} in ${host}`);
  const first = await p.nextLine(15000);
  if (first !== "ready") throw new Error(`sctp ${args[0]} in ${host}: ${first}`);
  return p;
}

/** Client command -> the packets that came back. */
export async function sctpAsk(client: LineProcess, cmd: string): Promise<SctpSeen[]> {
  client.send(cmd);
  const r = await client.next<{ cmd: string; rx: SctpSeen[] }>(6000);
  return r.rx;
}
