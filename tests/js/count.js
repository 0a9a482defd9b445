// The reference for shared::count's differential test: twitter-text 3.1.0 (pinned in
// package-lock.json). Reads JSON Lines {"text": "..."} on stdin and writes, per line,
// {"weightedLength": N, "valid": bool} from parseTweet(text) with the default
// configuration (v3), the one SocialConnect counts Twitter/X public replies with.
'use strict';
const twitterText = require('twitter-text');
const readline = require('readline');

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
lines.on('line', (line) => {
  if (!line.trim()) return;
  const { text } = JSON.parse(line);
  const { weightedLength, valid } = twitterText.parseTweet(text);
  out.push(JSON.stringify({ weightedLength, valid }));
});
lines.on('close', () => {
  process.stdout.write(out.map((l) => l + '\n').join(''));
});
