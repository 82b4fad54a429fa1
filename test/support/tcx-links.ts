import type { NetLab } from "../../src/cli/lab/netns.js";
import { closeFd, LinkType, linkGetFdById, linkInfo, linkNextId } from "../../src/platform/bpf.js";

/**
 * True when some tcx link is attached to interface `ifname` of `host`. Link ids are global and
 * interface indexes are per namespace, so this can only be told apart from another namespace's
 * link by the index: good enough in tests, which run one at a time.
 */
export function tcxLinkOn(lab: NetLab, host: string, ifname: string): boolean {
  const ifindex = Number(lab.exec(host, ["cat", `/sys/class/net/${ifname}/ifindex`]).trim());
  for (let id = linkNextId(0); id !== null; id = linkNextId(id)) {
    const fd = linkGetFdById(id);
    if (fd === null) continue;
    try {
      const info = linkInfo(fd);
      if (info.type === LinkType.TCX && info.ifindex === ifindex) return true;
    } finally {
      closeFd(fd);
    }
  }
  return false;
}
