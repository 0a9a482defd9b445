-- A Private Response answers a visitor post with `recipient.post_id` and a comment with
-- `recipient.comment_id`: the outbox keeps the tag of the line a reply answers, as it was
-- when the reply was written. Rows already queued take it from that line.
ALTER TABLE outbox ADD COLUMN in_reply_to_tag TEXT
    CHECK (in_reply_to_tag IN ('Public/Post', 'Public/Comment', 'Public/Thread'));
UPDATE outbox SET in_reply_to_tag = (
    SELECT m.tag FROM messages m JOIN messages r ON r.id = outbox.message_id
     WHERE m.linked_account_id = r.linked_account_id AND m.network_id = outbox.in_reply_to
       AND m.tag != 'Private')
 WHERE in_reply_to IS NOT NULL;

-- When Facebook last answered a send to this page with "Pages temporarily restricted from
-- sending" (Send API code 10, subcode 1893063), in milliseconds; NULL once a Messenger
-- reply goes through again. A column of its own rather than a `status` word: the
-- restriction says nothing of the token or the webhooks, and the embedded database's
-- CHECK on `status` cannot be widened without rebuilding the table.
ALTER TABLE linked_accounts ADD COLUMN sending_restricted_at INTEGER;
