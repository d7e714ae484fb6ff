// The scripted agent session, driven through the official MCP TypeScript SDK client.
// Usage: node session.mjs <spec.json>; spec = {command, args, env, steps} for a stdio server or
// {url, headers, steps} for MCP Streamable HTTP. Prints one JSON document: the server's identity
// and, per step, {id, isError, text} or {id, error}.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const TIMEOUT = { timeout: 300000 };

function contentHash(text) {
  return createHash("sha256").update(text.trim().toLowerCase(), "utf8").digest("hex");
}

function resolve(value) {
  if (typeof value === "string") {
    const m = /^\$hash\((.*)\)$/s.exec(value);
    return m ? contentHash(m[1]) : value;
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  }
  return value;
}

async function run(client, step) {
  switch (step.op) {
    case "tools/list": {
      const { tools } = await client.listTools(undefined, TIMEOUT);
      return { text: JSON.stringify(tools.map((t) => t.name).sort()) };
    }
    case "prompts/list": {
      const { prompts } = await client.listPrompts(undefined, TIMEOUT);
      const shown = prompts.map((p) => ({
        name: p.name,
        description: p.description,
        arguments: (p.arguments ?? []).map((a) => ({
          name: a.name, description: a.description, required: a.required ?? false,
        })),
      }));
      return { text: JSON.stringify(shown, null, 1) };
    }
    case "call": {
      const result = await client.callTool(
        { name: step.tool, arguments: resolve(step.args) }, undefined, TIMEOUT);
      const text = result.content.map((c) => (c.type === "text" ? c.text : `[${c.type}]`)).join("\n");
      return { isError: result.isError === true, text };
    }
    case "resources/list": {
      const { resources } = await client.listResources(undefined, TIMEOUT);
      return { text: JSON.stringify(resources.map((r) => [r.uri, r.name, r.mimeType ?? null])) };
    }
    case "resources/read": {
      const { contents } = await client.readResource({ uri: step.uri }, TIMEOUT);
      return { text: contents.map((c) => `${c.mimeType ?? ""}\n${c.text ?? ""}`).join("\n") };
    }
    case "prompts/get": {
      const got = await client.getPrompt({ name: step.name, arguments: step.args }, TIMEOUT);
      const body = got.messages.map((m) => `${m.role}: ${m.content.type === "text" ? m.content.text : ""}`);
      return { text: [got.description ?? "", ...body].join("\n") };
    }
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

// spec.url (+ spec.headers): MCP Streamable HTTP; otherwise a stdio server process.
const transport = spec.url
  ? new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers ?? {} } })
  : new StdioClientTransport({ command: spec.command, args: spec.args, env: spec.env, stderr: "ignore" });
const client = new Client({ name: "memhub-ts-session", version: "1.0.0" });
await client.connect(transport, TIMEOUT);
const info = client.getServerVersion();
const out = { server: { name: info?.name ?? null }, steps: [] };
for (const step of spec.steps) {
  try {
    out.steps.push({ id: step.id, ...(await run(client, step)) });
  } catch (err) {
    out.steps.push({ id: step.id, error: String(err?.message ?? err) });
  }
}
await client.close();
process.stdout.write(JSON.stringify(out) + "\n");
