-- Behaviour rebates (spec §2 daily_behavior_rebate / user_behavior_rebate_order, §7.1) and
-- the activity service's transactional outbox (ARCHITECTURE.md §5; the same shape as the
-- award service's outbox_task, served by the shared bm_server::outbox relay).

-- The rebates each behaviour earns. A behaviour may have several open rebates; CreateRebate
-- writes one order per open row.
CREATE TABLE daily_behavior_rebate (
    id            BIGSERIAL    PRIMARY KEY,
    behavior_type VARCHAR(16)  NOT NULL CHECK (behavior_type IN ('sign', 'openai_pay')),
    rebate_desc   VARCHAR(128) NOT NULL,
    rebate_type   VARCHAR(16)  NOT NULL CHECK (rebate_type IN ('sku', 'integral')),
    rebate_config VARCHAR(32)  NOT NULL,
    state         VARCHAR(12)  NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'close')),
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX idx_behavior_type ON daily_behavior_rebate (behavior_type, state);

-- One row per rebate granted. biz_id = <user_id>_<rebate_type>_<out_business_no> is unique:
-- a repeat of (user, behaviour, out_business_no) conflicts and writes nothing (that is how
-- "already signed today" works). Keys lead with user_id (ARCHITECTURE.md §6).
CREATE TABLE user_behavior_rebate_order (
    user_id         VARCHAR(64)  NOT NULL,
    order_id        VARCHAR(64)  NOT NULL,
    behavior_type   VARCHAR(16)  NOT NULL,
    rebate_desc     VARCHAR(128) NOT NULL,
    rebate_type     VARCHAR(16)  NOT NULL,
    rebate_config   VARCHAR(32)  NOT NULL,
    out_business_no VARCHAR(64)  NOT NULL,
    biz_id          VARCHAR(160) NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id),
    CONSTRAINT uq_biz_id UNIQUE (biz_id)
);
CREATE INDEX idx_rebate_order_business_no ON user_behavior_rebate_order (user_id, out_business_no, behavior_type);

-- Events written with their business rows, published after commit, relayed until JetStream
-- acknowledges them (docs/operations.md, "Outbox backlog").
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
