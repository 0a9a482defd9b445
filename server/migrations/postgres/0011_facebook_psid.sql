-- Facebook gives a person one id in the page's feed and another, page-scoped one (PSID)
-- in Messenger. A consumer's PSID is known once they write in Messenger, or once a private
-- reply to their comment or post names it (the Send API's `recipient_id`); from then on
-- both kinds of line land in the one conversation, and Messenger replies go to the PSID.
-- (The same as the embedded database's migration of this number.)
ALTER TABLE consumers ADD COLUMN psid TEXT;

UPDATE consumers SET psid = network_id
 WHERE linked_account_id IN (SELECT id FROM linked_accounts WHERE channel = 'facebook')
   AND EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id
                WHERE c.consumer_id = consumers.id AND m.tag = 'Private'
                  AND m.direction = 'in');

CREATE UNIQUE INDEX consumers_psid ON consumers (linked_account_id, psid);
