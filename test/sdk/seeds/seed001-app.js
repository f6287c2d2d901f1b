// Seed 001's RelayClient (Node and Python), on @relay/sdk: discover, send, stream, print the reply.
const { createAppClient } = require('@relay/sdk');
const app = createAppClient({ url: process.env.RELAY_URL, token: process.env.RELAY_TOKEN });
(async () => {
  await app.opened();
  console.log('Connected to Relay');
  const agents = await app.discover();
  console.log(`Discovered ${agents.length} agents\nAvailable agents: ${agents.map((a) => a.name).join(', ')}`);
  const payload = { event: 'comment.mention', message: '@athena summarize this task', task_id: 'task-123', task_title: 'Q2 Roadmap Review' };
  const handle = await app.send('athena', 'task-123', payload);
  console.log(`Sent event to athena\nEvent ${handle.eventId} sent`);
  for await (const token of handle.tokens) process.stdout.write(token.text);
  const { reply, metadata } = await handle.reply;
  console.log(`\nReply complete!\nFull text: ${reply}\nTokens: ${metadata.tokens_used}\nLatency: ${metadata.latency_ms}ms`);
  await app.close();
})().catch((err) => {
  console.error(`Error: ${err.message} (${err.code})`);
  process.exit(1);
});
