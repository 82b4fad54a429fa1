/**
 * Sends SIP requests over UDP and reports who answered: `node sip-call.js HOST PORT STEP...`, each
 * STEP `LOCALPORT,METHOD,CALLID`, sent in order from that local port (up to 3 tries of 1 s); prints
 * one JSON line per step ({port, method, callId, answer}) and exits 0, or 1 when one is unanswered.
 */
import { createSocket, type Socket } from "node:dgram";
import { scriptArgs } from "./script-args.js";

const [host, port, ...steps] = scriptArgs("sip-call.js HOST PORT LOCALPORT,METHOD,CALLID...");
const sockets = new Map<number, Socket>();

function message(method: string, callId: string, local: number): string {
  return [
    `${method} sip:bob@${host} SIP/2.0`,
    `Via: SIP/2.0/UDP 198.18.0.100:${local};branch=z9hG4bK${local}`,
    "From: <sip:alice@198.18.0.100>;tag=1",
    `To: <sip:bob@${host}>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

async function socketOn(local: number): Promise<Socket> {
  let s = sockets.get(local);
  if (s) return s;
  s = createSocket("udp4");
  sockets.set(local, s);
  await new Promise<void>((resolve) => s!.bind(local, resolve));
  return s;
}

async function ask(local: number, method: string, callId: string): Promise<string | null> {
  const s = await socketOn(local);
  return new Promise((resolve) => {
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    const onMessage = (msg: Buffer) => {
      clearTimeout(timer);
      s.off("message", onMessage);
      resolve(msg.toString());
    };
    s.on("message", onMessage);
    const send = () => {
      if (tries++ === 3) {
        s.off("message", onMessage);
        resolve(null);
        return;
      }
      s.send(message(method, callId, local), Number(port), host);
      timer = setTimeout(send, 1000);
    };
    send();
  });
}

let failed = false;
for (const step of steps) {
  const [local, method, callId] = step.split(",");
  const answer = await ask(Number(local), method!, callId!);
  if (answer === null) failed = true;
  process.stdout.write(`${JSON.stringify({ port: Number(local), method, callId, answer })}\n`);
}
for (const s of sockets.values()) s.close();
process.exit(failed ? 1 : 0);
