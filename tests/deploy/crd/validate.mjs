// Validates custom resources against the schemas of their CRDs (the @kubernetes-models
// packages, generated from KEDA's and the Prometheus operator's CRDs). Reads a JSON list of
// objects on stdin; prints a JSON list of problems (empty: all valid).
import { readFileSync } from "node:fs";

const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

const objects = JSON.parse(readFileSync(0, "utf8"));
const problems = [];
for (const object of objects) {
  const [group, version] = object.apiVersion.split("/");
  const pkg = PACKAGES[group];
  const where = `${object.kind}/${object.metadata?.name}`;
  if (!pkg) {
    problems.push({ object: where, error: `no schema for ${object.apiVersion}` });
    continue;
  }
  try {
    const module = await import(`${pkg}/${group}/${version}/${object.kind}`);
    new module[object.kind](object).validate();
  } catch (error) {
    problems.push({ object: where, error: String(error.message ?? error).slice(0, 2000) });
  }
}
process.stdout.write(JSON.stringify(problems));
