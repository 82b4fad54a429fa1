import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * A self-signed ECDSA P-256 certificate and its key, made by openssl in `dir` (cert.pem, key.pem),
 * valid for a day: what the TLS servers of the tests and benchmarks present.
 */
export function makeEcdsaCert(
  dir: string,
  commonName: string,
  altName?: string,
): { cert: string; key: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${commonName}`],
      ...(altName ? ["-addext", `subjectAltName=${altName}`] : []),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { cert, key };
}
