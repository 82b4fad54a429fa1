/**
 * `--pe sip` through the real daemon and its AF_XDP engine, in the NAT lab: real SIP requests over
 * UDP. Call A's INVITE, ACK and BYE, sent from two different client ports, all reach one real
 * server; call B, from one of the same ports' neighbours, is scheduled on its own and (rr) reaches
 * the other. The template is listed with pe sip and the Call-ID.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { DirectorProcess, LineProcess, labPrefix } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

interface Answer {
  port: number;
  method: string;
  callId: string;
  answer: string | null;
}

test("pe sip lab: one call's requests from two client ports reach one real server; another call the other", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("pesip"));
  let director: DirectorProcess | undefined;
  const servers: LineProcess[] = [];
  try {
    const topo = buildNatLab(lab);
    for (const rs of topo.servers) {
      const s = LineProcess.script(lab, rs.host, "sip-server", [rs.name, "5060"]);
      servers.push(s);
      assert.equal(await s.nextLine(10000), "ready");
    }
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const vip = `${topo.vip}:5060`;
    assert.equal(director.adm(["-A", "-u", vip, "-s", "rr", "-p", "60", "--pe", "sip"]), "");
    for (const rs of topo.servers)
      assert.equal(director.adm(["-a", "-u", vip, "-r", `${rs.rip}:5060`, "-m"]), "");
    assert.match(director.adm(["-Ln"]), /UDP {2}198\.18\.0\.10:5060 rr persistent 60 pe sip\n/);

    const callA = "a84b4c76e66710@pc33.example.com";
    const callB = "b-3848276298220188511@client";
    const client = LineProcess.script(lab, topo.client, "sip-call", [
      topo.vip,
      "5060",
      `40001,INVITE,${callA}`,
      `40001,ACK,${callA}`,
      `40002,INVITE,${callB}`,
      `40003,BYE,${callA}`,
      `40002,BYE,${callB}`,
    ]);
    const lines = await client.finish(20000);
    const answers = lines.map((l) => JSON.parse(l) as Answer);
    assert.equal(answers.length, 5, lines.join("\n"));
    for (const a of answers) assert.ok(a.answer, `${a.method} of ${a.callId} from port ${a.port}: no answer`);
    const server = (a: Answer) => a.answer!.split(" ")[0]!;
    for (const a of answers)
      assert.equal(a.answer!.split(" ")[1], a.callId, "the server read the Call-ID sent");
    const [inviteA, ackA, inviteB, byeA, byeB] = answers as [Answer, Answer, Answer, Answer, Answer];
    assert.equal(server(ackA), server(inviteA));
    assert.equal(server(byeA), server(inviteA), "call A's BYE from another client port");
    assert.equal(server(byeB), server(inviteB));
    assert.notEqual(server(inviteB), server(inviteA), "call B is scheduled on its own (rr)");

    const conns = director.adm(["-Lnc", "--persistent-conn"]);
    for (const call of [callA, callB]) {
      const line = conns.split("\n").find((l) => l.endsWith(` sip                ${call}`));
      assert.ok(line, `no template listed for ${call}:\n${conns}`);
      assert.match(line, /^UDP .* 198\.18\.0\.100:0 +198\.18\.0\.10:5060 +198\.19\.10\.\d+:5060 /);
    }
    const svc = director.adm(["-Ln", "--persistent-conn"]);
    assert.match(svc, /UDP {2}198\.18\.0\.10:5060 rr persistent 60 pe sip\n/);
  } finally {
    for (const s of servers) s.kill();
    await director?.stop();
    await lab.destroy();
  }
});
