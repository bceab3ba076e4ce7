-- award schema (spec §2.2, §6): award records, the outbox, credit accounts and their ledger.
-- Per-user tables lead their keys with user_id (ARCHITECTURE.md §6) so a user's rows can later
-- be routed to one shard; every per-user transaction touches one user only.

-- One row per raffle order that won an award. award_state: 'create' until distributed, then
-- 'completed'; or 'parked' with parked_reason when distribution cannot succeed without an
-- operator (unknown award_key, malformed award_config, repeated failures).
CREATE TABLE user_award_record (
    user_id       VARCHAR(64)  NOT NULL,
    order_id      VARCHAR(64)  NOT NULL,
    activity_id   BIGINT       NOT NULL,
    strategy_id   BIGINT       NOT NULL,
    award_id      INTEGER      NOT NULL,
    award_key     VARCHAR(64)  NOT NULL,
    award_title   VARCHAR(128) NOT NULL,
    award_config  VARCHAR(128) NOT NULL DEFAULT '',
    award_time    TIMESTAMPTZ  NOT NULL,
    award_state   VARCHAR(16)  NOT NULL DEFAULT 'create'
                  CHECK (award_state IN ('create', 'completed', 'parked')),
    parked_reason TEXT,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id),
    -- The idempotency key of RecordAward (spec §16): one record per raffle order.
    CONSTRAINT uq_award_record_order_id UNIQUE (order_id)
);
CREATE INDEX idx_award_record_user_activity ON user_award_record (user_id, activity_id, award_time DESC);
CREATE INDEX idx_award_record_not_completed ON user_award_record (award_state) WHERE award_state <> 'completed';

-- The transactional outbox (spec §6.3, ARCHITECTURE.md §5). id is the message id, sent as
-- Nats-Msg-Id. payload is the exact envelope published (JSON keeps its text byte for byte).
-- state: 'pending' (not delivered yet), 'failed' (the relay's last attempt failed),
-- 'completed' (JetStream acknowledged it), 'parked' (set by an operator only: the relay
-- skips it; see docs/award.md). next_attempt_at: when the relay may (re)try it; a claim
-- moves it forward by a lease, so a relay that dies mid-publish releases its tasks.
CREATE TABLE outbox_task (
    id              VARCHAR(64)  PRIMARY KEY,
    user_id         VARCHAR(64)  NOT NULL,
    subject         VARCHAR(128) NOT NULL,
    payload         JSON         NOT NULL,
    state           VARCHAR(16)  NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'completed', 'failed', 'parked')),
    attempts        INTEGER      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ  NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX idx_outbox_task_due ON outbox_task (next_attempt_at) WHERE state IN ('pending', 'failed');
CREATE INDEX idx_outbox_task_user ON outbox_task (user_id);

-- Credit amounts keep 6 decimal places: a random credit has 3 significant digits (spec §6.2),
-- e.g. 0.0523 from the blacklist range 0.01,1; configs are limited to 6 decimal places.
CREATE TABLE user_credit_account (
    user_id          VARCHAR(64)    PRIMARY KEY,
    total_amount     NUMERIC(24, 6) NOT NULL DEFAULT 0 CHECK (total_amount >= 0),
    available_amount NUMERIC(24, 6) NOT NULL DEFAULT 0 CHECK (available_amount >= 0),
    account_status   VARCHAR(8)     NOT NULL DEFAULT 'open' CHECK (account_status IN ('open', 'close')),
    created_at       TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ    NOT NULL DEFAULT now()
);

-- The credit ledger: every change of a credit account leaves one row (the original wrote
-- none for award credits). trade_amount is signed ('reverse' rows are negative), so an
-- account's total of 'forward' rows is its total_amount and the sum of all rows its
-- available_amount. out_business_no is the idempotency key (`award:<raffle order id>` for
-- award credits): a redelivered send_award credits nothing twice.
CREATE TABLE user_credit_order (
    user_id         VARCHAR(64)    NOT NULL,
    order_id        VARCHAR(64)    NOT NULL,
    trade_name      VARCHAR(32)    NOT NULL,
    trade_type      VARCHAR(8)     NOT NULL CHECK (trade_type IN ('forward', 'reverse')),
    trade_amount    NUMERIC(24, 6) NOT NULL,
    out_business_no VARCHAR(128)   NOT NULL,
    created_at      TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id),
    CONSTRAINT uq_credit_order_order_id UNIQUE (order_id),
    CONSTRAINT uq_credit_order_out_business_no UNIQUE (user_id, out_business_no)
);

-- Messages the distributor could not handle, kept for operators (ARCHITECTURE.md §5).
-- user_id / order_id are set when the payload could be read.
CREATE TABLE parked_message (
    id         BIGSERIAL    PRIMARY KEY,
    subject    VARCHAR(128) NOT NULL,
    payload    TEXT         NOT NULL,
    error      TEXT         NOT NULL,
    deliveries INTEGER      NOT NULL,
    user_id    VARCHAR(64),
    order_id   VARCHAR(64),
    parked_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX idx_parked_message_order ON parked_message (user_id, order_id);
