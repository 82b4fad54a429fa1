import assert from "node:assert/strict";
import { test } from "node:test";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../src/core/flow.js";
import {
  DIR_INPUT,
  DIR_INPUT_ONLY,
  DIR_OUTPUT,
  TCP_S_CLOSE,
  TCP_STATE_NAMES,
  TCP_STATES,
  TCP_STATES_SECURE,
  tcpNextState,
  tcpStateActive,
} from "../src/core/tcp-state.js";
import { DEFAULT_TCP_TIMEOUTS, Timeouts } from "../src/core/timeouts.js";

// The tables of the IPVS semantics spec (§3.2), as written there.
const INPUT = `
| SYN | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SR |
| FIN | CL | CW | SS | TW | TW | TW | CL | CW | LA | LI | TW |
| ACK | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| RST | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | SR |`;
const OUTPUT = `
| SYN | SS | ES | SS | SR | SS | SS | SS | SS | SS | LI | SR |
| FIN | TW | FW | SS | TW | FW | TW | CL | TW | LA | LI | TW |
| ACK | ES | ES | SS | ES | FW | TW | CL | CW | LA | ES | ES |
| RST | CL | CL | SS | CL | CL | TW | CL | CL | CL | CL | CL |`;
const INPUT_ONLY = `
| SYN | SR | ES | ES | SR | SR | SR | SR | SR | SR | SR | SR |
| FIN | CL | FW | SS | TW | FW | TW | CL | CW | LA | LI | TW |
| ACK | ES | ES | SS | ES | FW | TW | CL | CW | CL | LI | ES |
| RST | CL | CL | CL | SR | CL | CL | CL | CL | LA | LI | CL |`;

const ABBR = ["NO", "ES", "SS", "SR", "FW", "TW", "CL", "CW", "LA", "LI", "SA"];
const CLASS_FLAGS: Record<string, number> = { SYN: TCP_SYN, FIN: TCP_FIN, ACK: TCP_ACK, RST: TCP_RST };

function check(table: Uint8Array, dir: number, text: string): number {
  let cells = 0;
  for (const line of text.trim().split("\n")) {
    const [cls, ...next] = line
      .split("|")
      .map((s) => s.trim())
      .filter(Boolean);
    assert.equal(next.length, 11);
    next.forEach((abbr, state) => {
      const got = tcpNextState(table, dir, state, CLASS_FLAGS[cls!]!);
      assert.equal(ABBR[got], abbr, `${cls} in ${ABBR[state]} (dir ${dir})`);
      cells++;
    });
  }
  return cells;
}

test("INPUT, OUTPUT and INPUT_ONLY tables match the spec cell by cell", () => {
  assert.equal(check(TCP_STATES, DIR_INPUT, INPUT), 44);
  assert.equal(check(TCP_STATES, DIR_OUTPUT, OUTPUT), 44);
  assert.equal(check(TCP_STATES, DIR_INPUT_ONLY, INPUT_ONLY), 44);
});

test("packet class priority: RST > SYN > FIN > ACK; none of them -> CLOSE", () => {
  const ES = 1;
  assert.equal(tcpNextState(TCP_STATES, DIR_INPUT, ES, TCP_RST | TCP_SYN), TCP_S_CLOSE);
  assert.equal(ABBR[tcpNextState(TCP_STATES, DIR_INPUT, 0, TCP_SYN | TCP_FIN)], "SR");
  assert.equal(ABBR[tcpNextState(TCP_STATES, DIR_INPUT, ES, TCP_FIN | TCP_ACK)], "CW");
  assert.equal(tcpNextState(TCP_STATES, DIR_INPUT, ES, TCP_PSH), TCP_S_CLOSE);
  assert.equal(tcpNextState(TCP_STATES, DIR_INPUT, ES, 0), TCP_S_CLOSE);
});

test("secure_tcp tables differ from the normal ones exactly where the spec says", () => {
  const diffs: string[] = [];
  const dirs = ["INPUT", "OUTPUT", "INPUT_ONLY"];
  const classes = ["SYN", "FIN", "ACK", "RST"];
  for (let k = 0; k < TCP_STATES.length; k++) {
    if (TCP_STATES[k] !== TCP_STATES_SECURE[k]) {
      const dir = Math.floor(k / 44);
      const cls = Math.floor((k % 44) / 11);
      diffs.push(`${dirs[dir]} ${classes[cls]} ${ABBR[k % 11]} ${ABBR[TCP_STATES_SECURE[k]!]}`);
    }
  }
  assert.deepEqual(diffs.sort(), [
    "INPUT ACK SA SA",
    "INPUT ACK SR SR",
    "INPUT FIN SA SA",
    "INPUT RST SA CL",
    "INPUT SYN SA SA",
    "INPUT_ONLY SYN CL SA",
    "INPUT_ONLY SYN CW SA",
    "INPUT_ONLY SYN FW SA",
    "INPUT_ONLY SYN LA SA",
    "INPUT_ONLY SYN LI SA",
    "INPUT_ONLY SYN NO SA",
    "INPUT_ONLY SYN SA SA",
    "INPUT_ONLY SYN TW SA",
    "OUTPUT SYN SA SA",
    "OUTPUT SYN SR SA",
  ]);
});

test("active states are ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK", () => {
  const active = TCP_STATE_NAMES.filter((_, s) => tcpStateActive(s));
  assert.deepEqual(active, ["ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"]);
});

test("default timeouts and --set tcp tcpfin udp (0 leaves a value unchanged)", () => {
  const t = new Timeouts();
  assert.deepEqual(DEFAULT_TCP_TIMEOUTS, [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
  assert.deepEqual(t.get(), { tcp: 900, tcpfin: 120, udp: 300 });
  t.set({ tcp: 3600, tcpfin: 0, udp: 0 });
  assert.deepEqual(t.get(), { tcp: 3600, tcpfin: 120, udp: 300 });
  t.set({ tcp: 0, tcpfin: 30, udp: 60 });
  assert.deepEqual(t.get(), { tcp: 3600, tcpfin: 30, udp: 60 });
  // Only FIN_WAIT moves with tcpfin, not TIME_WAIT.
  assert.equal(t.tcp[5], 120);
  assert.throws(() => t.set({ tcp: -1, tcpfin: 0, udp: 0 }), { errno: "EINVAL" });
  assert.throws(() => t.set({ tcp: 1.5, tcpfin: 0, udp: 0 }), { errno: "EINVAL" });
  assert.throws(() => t.set({ tcp: 0, tcpfin: 0, udp: 2147484 }), { errno: "EINVAL" });
  assert.deepEqual(t.get(), { tcp: 3600, tcpfin: 30, udp: 60 });
});
