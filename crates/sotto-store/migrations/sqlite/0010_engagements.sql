-- What patients did with a message: the first click on each tracked link (through Sotto's own
-- redirect, never a third party's) and an unsubscribe through the message's own link. No
-- address, no body, no user agent: the message id, the link's name and when.
CREATE TABLE engagements (
    message_id TEXT NOT NULL REFERENCES outbox (id),
    kind TEXT NOT NULL CHECK (kind IN ('click', 'unsubscribe')),
    link TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, kind, link)
);
