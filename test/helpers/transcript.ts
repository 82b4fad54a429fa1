/** Reads the golden transcripts: "$ cmd" lines, "stderr: " lines, "exit N", and stdout lines. */
export interface Step {
  command: string;
  args: string[];
  stdin: string | undefined;
  stdout: string;
  stderr: string;
  exit: number | undefined;
}

function unescapePrintf(s: string): string {
  return s.replace(/\\([nt\\])/g, (_m, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : "\\"));
}

export function parseTranscript(text: string): Step[] {
  const steps: Step[] = [];
  let cur: Step | undefined;
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith("$ ")) {
      const command = line.slice(2);
      const piped = /^printf '(.*)' \| ipvsadm (.*)$/.exec(command);
      const argText = piped ? piped[2]! : command.replace(/^ipvsadm ?/, "");
      cur = {
        command,
        args: argText.split(" ").filter((w) => w !== ""),
        stdin: piped ? unescapePrintf(piped[1]!) : undefined,
        stdout: "",
        stderr: "",
        exit: undefined,
      };
      steps.push(cur);
    } else if (!cur) {
    } else if (line.startsWith("stderr: ")) {
      const msg = line.slice(8);
      cur.stderr += `${msg === "(empty line)" ? "" : msg}\n`;
    } else if (/^exit \d+$/.test(line)) {
      cur.exit = Number(line.slice(5));
    } else cur.stdout += `${line}\n`;
  }
  return steps;
}
