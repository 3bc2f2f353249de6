// Validates rendered Kubernetes manifests offline, in two passes over every document:
//   1. the JSON schema of its kind (Kubernetes' OpenAPI schemas, and the Prometheus Operator's
//      CRDs, as bundled by kubernetes-models): required fields, types, formats;
//   2. the TypeScript type of its kind, compiled with excess-property checks, which catch the
//      fields the schemas let through: a misspelt `livenesProbe` or `periodSecond`.
// An apiVersion/kind outside those packages is an error, not a skip.
//
// Usage: node validate_manifests.mjs FILE.yaml...   (multi-document YAML, e.g. kustomize output)
// Prints one line per document; exits 1 when any document fails.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import ts from "typescript";
import YAML from "yaml";

const toolsDir = path.dirname(fileURLToPath(import.meta.url));

// "apps/v1" + "Deployment" -> the module that defines the kind.
function modulePath(apiVersion, kind) {
  const parts = apiVersion.split("/");
  if (parts.length === 1) return `kubernetes-models/${parts[0]}/${kind}`;
  const [group, version] = parts;
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return `kubernetes-models/${group}/${version}/${kind}`;
}

function describe(doc) {
  return `${doc.kind} ${doc.metadata?.name ?? "(no name)"}`;
}

async function validateSchema(doc) {
  let model;
  try {
    model = (await import(modulePath(doc.apiVersion, doc.kind)))[doc.kind];
  } catch {
    return [`unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`];
  }
  try {
    new model(doc).validate();
    return [];
  } catch (error) {
    const details = error.errors ?? [];
    if (details.length === 0) return [String(error.message ?? error)];
    return details.map((e) => `${e.instancePath || "/"} ${e.message}`);
  }
}

// Type-checks every document as an object literal of its kind's interface, in one program.
function validateTypes(entries) {
  const lines = [];
  const owners = [];  // owners[line] = index of the entry whose literal holds that line
  entries.forEach(({ doc }, index) => {
    const type = `I${doc.kind}`;
    const header = [
      `import type { ${type} as T${index} } from "${modulePath(doc.apiVersion, doc.kind)}";`,
      `export const m${index}: T${index} = `,
    ];
    const body = JSON.stringify(doc, null, 2).split("\n");
    for (const line of [...header, ...body]) {
      lines.push(line);
      owners.push(index);
    }
    lines[lines.length - 1] += ";";
  });
  const fileName = path.join(toolsDir, "rendered-manifests.ts");
  const text = lines.join("\n") + "\n";
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, text, language)
      : getSourceFile(name, language, ...rest);
  host.fileExists = (name) => name === fileName || fileExists(name);
  host.readFile = (name) => (name === fileName ? text : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  const problems = entries.map(() => []);
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    if (diagnostic.file?.fileName !== fileName) {
      throw new Error(`TypeScript: ${message}`);
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    problems[owners[line]].push(`${message} (at: ${lines[line].trim()})`);
  }
  return problems;
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node validate_manifests.mjs FILE.yaml...");
    process.exit(2);
  }
  const entries = [];
  for (const file of files) {
    for (const document of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
      if (document.errors.length > 0) {
        console.error(`${file}: YAML: ${document.errors[0].message}`);
        process.exit(1);
      }
      const doc = document.toJS();
      if (doc !== null) entries.push({ file, doc });
    }
  }

  const schemaProblems = await Promise.all(entries.map(({ doc }) => validateSchema(doc)));
  const known = entries.filter((_, i) => !schemaProblems[i].some((p) => p.startsWith("unknown")));
  const typeProblems = validateTypes(known);

  let failed = 0;
  entries.forEach((entry, i) => {
    const k = known.indexOf(entry);
    const problems = [...schemaProblems[i], ...(k >= 0 ? typeProblems[k] : [])];
    const name = path.basename(entry.file);
    if (problems.length === 0) {
      console.log(`  ok    ${name}: ${entry.doc.apiVersion} ${describe(entry.doc)}`);
      return;
    }
    failed++;
    console.log(`  FAIL  ${name}: ${entry.doc.apiVersion} ${describe(entry.doc)}`);
    for (const problem of problems) console.log(`          ${problem}`);
  });
  console.log(`manifests: ${entries.length - failed} valid, ${failed} invalid`);
  if (failed > 0) process.exit(1);
}

await main(process.argv.slice(2));
