-- activity-quota schema (spec §2.1, §2.2). Per-user tables lead their keys with user_id so
-- a user's rows can later be routed to one shard (ARCHITECTURE.md §6); every per-user
-- transaction touches one user only.

CREATE TABLE raffle_activity (
    activity_id     BIGINT       PRIMARY KEY,
    activity_name   VARCHAR(64)  NOT NULL,
    activity_desc   VARCHAR(128) NOT NULL DEFAULT '',
    begin_date_time TIMESTAMPTZ  NOT NULL,
    end_date_time   TIMESTAMPTZ  NOT NULL,
    strategy_id     BIGINT       NOT NULL,
    state           VARCHAR(8)   NOT NULL DEFAULT 'create' CHECK (state IN ('create', 'open', 'close')),
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT uq_strategy_id UNIQUE (strategy_id),
    CHECK (begin_date_time <= end_date_time)
);

CREATE TABLE raffle_activity_count (
    activity_count_id BIGINT      PRIMARY KEY,
    total_count       INTEGER     NOT NULL CHECK (total_count >= 0),
    day_count         INTEGER     NOT NULL CHECK (day_count >= 0),
    month_count       INTEGER     NOT NULL CHECK (month_count >= 0),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- stock_count_surplus: the database view of stock left, following Redis in batches;
-- stock_opening: the units available when this system took the sku over. Redis counter =
-- stock_opening - recharge orders of the sku (how a lost counter is rebuilt).
CREATE TABLE raffle_activity_sku (
    sku                 BIGINT         PRIMARY KEY,
    activity_id         BIGINT         NOT NULL REFERENCES raffle_activity (activity_id),
    activity_count_id   BIGINT         NOT NULL REFERENCES raffle_activity_count (activity_count_id),
    stock_count         INTEGER        NOT NULL CHECK (stock_count >= 0),
    stock_count_surplus INTEGER        NOT NULL CHECK (stock_count_surplus >= 0),
    stock_opening       INTEGER        NOT NULL CHECK (stock_opening >= 0),
    product_amount      NUMERIC(10, 2) NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX idx_sku_activity ON raffle_activity_sku (activity_id, activity_count_id);

-- Sku recharge orders (抽奖活动单). Idempotent by (user_id, out_business_no).
CREATE TABLE raffle_activity_order (
    user_id         VARCHAR(64)    NOT NULL,
    order_id        VARCHAR(64)    NOT NULL,
    sku             BIGINT         NOT NULL,
    activity_id     BIGINT         NOT NULL,
    activity_name   VARCHAR(64)    NOT NULL,
    strategy_id     BIGINT         NOT NULL,
    order_time      TIMESTAMPTZ    NOT NULL,
    total_count     INTEGER        NOT NULL,
    day_count       INTEGER        NOT NULL,
    month_count     INTEGER        NOT NULL,
    pay_amount      NUMERIC(10, 2) NOT NULL DEFAULT 0,
    state           VARCHAR(16)    NOT NULL CHECK (state IN ('wait_pay', 'completed')),
    out_business_no VARCHAR(64)    NOT NULL,
    created_at      TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id),
    CONSTRAINT uq_out_business_no UNIQUE (user_id, out_business_no)
);
CREATE INDEX idx_recharge_sku ON raffle_activity_order (sku);

CREATE TABLE raffle_activity_account (
    user_id             VARCHAR(64) NOT NULL,
    activity_id         BIGINT      NOT NULL,
    total_count         INTEGER     NOT NULL,
    total_count_surplus INTEGER     NOT NULL CHECK (total_count_surplus >= 0),
    day_count           INTEGER     NOT NULL,
    day_count_surplus   INTEGER     NOT NULL CHECK (day_count_surplus >= 0),
    month_count         INTEGER     NOT NULL,
    month_count_surplus INTEGER     NOT NULL CHECK (month_count_surplus >= 0),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, activity_id)
);

CREATE TABLE raffle_activity_account_month (
    user_id             VARCHAR(64) NOT NULL,
    activity_id         BIGINT      NOT NULL,
    month               VARCHAR(7)  NOT NULL,
    month_count         INTEGER     NOT NULL,
    month_count_surplus INTEGER     NOT NULL CHECK (month_count_surplus >= 0),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, activity_id, month)
);

CREATE TABLE raffle_activity_account_day (
    user_id           VARCHAR(64) NOT NULL,
    activity_id       BIGINT      NOT NULL,
    day               VARCHAR(10) NOT NULL,
    day_count         INTEGER     NOT NULL,
    day_count_surplus INTEGER     NOT NULL CHECK (day_count_surplus >= 0),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, activity_id, day)
);

-- Raffle orders (用户抽奖订单): create -> used. request_id makes a Draw retry find its order.
CREATE TABLE user_raffle_order (
    user_id       VARCHAR(64) NOT NULL,
    order_id      VARCHAR(64) NOT NULL,
    activity_id   BIGINT      NOT NULL,
    activity_name VARCHAR(64) NOT NULL,
    strategy_id   BIGINT      NOT NULL,
    order_time    TIMESTAMPTZ NOT NULL,
    order_state   VARCHAR(16) NOT NULL DEFAULT 'create' CHECK (order_state IN ('create', 'used', 'cancel')),
    end_date_time TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id)
);
-- Draw retries: every request id a caller used, and the raffle order it got (several
-- request ids may share one reused order).
CREATE TABLE raffle_request (
    user_id     VARCHAR(64) NOT NULL,
    activity_id BIGINT      NOT NULL,
    request_id  VARCHAR(64) NOT NULL,
    order_id    VARCHAR(64) NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, activity_id, request_id)
);

CREATE INDEX idx_raffle_order_unused ON user_raffle_order (user_id, activity_id, created_at) WHERE order_state = 'create';

CREATE TABLE parked_message (
    id         BIGSERIAL    PRIMARY KEY,
    subject    VARCHAR(128) NOT NULL,
    payload    TEXT         NOT NULL,
    error      TEXT         NOT NULL,
    deliveries INTEGER      NOT NULL,
    parked_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
