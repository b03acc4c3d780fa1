-- Slack: which Slack user is which Chamberlain user. A link is made only from an email Slack
-- reports as confirmed that equals the Chamberlain user's primary email, and is checked again
-- on every use (`email` is the address it was made from).
CREATE TABLE slack_user_links (
    team_id TEXT NOT NULL,
    slack_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, slack_user_id)
);
CREATE INDEX slack_user_links_user ON slack_user_links (user_id);

-- The DMs that carry a task's approve / deny / reassign buttons, so they can be updated when
-- the task closes (rows are deleted once updated).
CREATE TABLE slack_task_messages (
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    task_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE INDEX slack_task_messages_task ON slack_task_messages (task_id);

-- Signatures of the signed requests Slack sent in the last minutes, so a captured request
-- replayed within the timestamp window is refused. Rows older than the window are deleted.
CREATE TABLE slack_request_digests (
    digest TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX slack_request_digests_seen ON slack_request_digests (seen_at);
