// Drives an MCP task server with the official TypeScript SDK's task client (2025-11-25 wire).
//
//   node ts_task_client.mjs --url http://127.0.0.1:PORT/mcp
//   node ts_task_client.mjs --stdio COMMAND [ARG ...]
//
// Against `mcptasks serve --demo` it runs four scenarios and prints one JSON line per scenario on
// stdout ({"scenario": ..., ...}), then {"scenario": "done"}; any failure prints the error on
// stderr and exits 1. The Python test (test_typescript_client.py) checks the lines.
//
// - create_poll_result: tools/call with params.task (count_to), tasks/get until terminal,
//   tasks/result;
// - cancel: a long count_to, tasks/cancel, then tasks/get reads cancelled;
// - question: guess_number as a task; its elicitation/create questions arrive on the tasks/result
//   stream and are answered by the client's elicitation handler (a binary search on the hints);
// - list: tasks/list shows the tasks created above.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  ElicitRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const TTL_MS = 600_000;
const POLL_LIMIT_MS = 30_000;

function transportFromArgs(argv) {
  if (argv[0] === "--url" && argv.length === 2) {
    return new StreamableHTTPClientTransport(new URL(argv[1]));
  }
  if (argv[0] === "--stdio" && argv.length >= 2) {
    return new StdioClientTransport({ command: argv[1], args: argv.slice(2), stderr: "inherit" });
  }
  throw new Error("usage: ts_task_client.mjs --url URL | --stdio COMMAND [ARG ...]");
}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function text(result) {
  return result.content.filter((part) => part.type === "text").map((part) => part.text).join("");
}

async function createTask(client, name, args) {
  const created = await client.request(
    { method: "tools/call", params: { name, arguments: args, task: { ttl: TTL_MS } } },
    CreateTaskResultSchema,
  );
  return created.task;
}

async function pollUntilTerminal(client, taskId) {
  const deadline = Date.now() + POLL_LIMIT_MS;
  const seen = [];
  for (;;) {
    const task = await client.experimental.tasks.getTask(taskId);
    if (seen[seen.length - 1] !== task.status) seen.push(task.status);
    if (["completed", "failed", "cancelled"].includes(task.status)) return { task, seen };
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${task.status} after ${POLL_LIMIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(task.pollInterval ?? 100, 500)));
  }
}

// The guessing game's state: the range the number is known to be in, narrowed by each hint.
const game = { low: 1, high: 0, last: 0, questions: 0 };

function answerGuess(message) {
  game.questions += 1;
  const range = /from 1 to (\d+)/.exec(message);
  if (range) {
    game.low = 1;
    game.high = Number(range[1]);
  } else if (message.includes("higher")) {
    game.low = game.last + 1;
  } else if (message.includes("lower")) {
    game.high = game.last - 1;
  }
  game.last = Math.floor((game.low + game.high) / 2);
  return { action: "accept", content: { guess: game.last } };
}

async function main() {
  const client = new Client(
    { name: "mcptasks-interop", version: "1.0.0" },
    { capabilities: { elicitation: { form: {} } } },
  );
  client.setRequestHandler(ElicitRequestSchema, async (request) => answerGuess(request.params.message));
  await client.connect(transportFromArgs(process.argv.slice(2)));

  const counted = await createTask(client, "count_to", { n: 3, delay_ms: 20 });
  const polled = await pollUntilTerminal(client, counted.taskId);
  const result = await client.experimental.tasks.getTaskResult(counted.taskId, CallToolResultSchema);
  emit({
    scenario: "create_poll_result",
    created_status: counted.status,
    statuses: polled.seen,
    text: text(result),
  });

  const long = await createTask(client, "count_to", { n: 600, delay_ms: 100 });
  const cancelled = await client.experimental.tasks.cancelTask(long.taskId);
  const afterCancel = await client.experimental.tasks.getTask(long.taskId);
  emit({ scenario: "cancel", answer_status: cancelled.status, status: afterCancel.status });

  const game_task = await createTask(client, "guess_number", { maximum: 64 });
  const outcome = await client.experimental.tasks.getTaskResult(game_task.taskId, CallToolResultSchema);
  const final = await client.experimental.tasks.getTask(game_task.taskId);
  emit({
    scenario: "question",
    status: final.status,
    questions: game.questions,
    structured: outcome.structuredContent ?? null,
  });

  const listed = await client.experimental.tasks.listTasks();
  emit({
    scenario: "list",
    task_ids: listed.tasks.map((task) => task.taskId),
    created: [counted.taskId, long.taskId, game_task.taskId],
  });

  await client.close();
  emit({ scenario: "done" });
}

main().catch((error) => {
  process.stderr.write(`interop client failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
