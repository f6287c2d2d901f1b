// Seed 000's Python app, on @relay/sdk: one event, its tokens as they stream, the final reply.
const { createAppClient } = require('@relay/sdk');
const app = createAppClient({ url: process.env.RELAY_URL, token: process.env.RELAY_TOKEN });
(async () => {
  await app.opened();
  console.log('Connected to Relay\n');
  const handle = await app.send('athena', `portal:task-123:comment-${Math.random().toString(16).slice(2, 10)}`, {
    event: 'comment.mention', message: '@athena summarize this discussion', task_id: 'task-123', task_title: 'Q2 Roadmap Review',
    comments: [{ author: 'John', text: 'Mobile first...' }, { author: 'Sarah', text: '@athena summarize this discussion' }],
  });
  console.log(`✓ Event accepted\n Event ID: ${handle.eventId}\n Session: ${handle.accepted.session_key}\n`);
  let text = '';
  for await (const token of handle.tokens) process.stdout.write(`← ${(text += token.text)}`);
  const reply = await handle.reply;
  console.log(`\n\n✓ Reply complete\n Content: ${reply.content.slice(0, 100)}...\n Finish reason: ${reply.finish_reason}\n`);
  await app.close();
})();
