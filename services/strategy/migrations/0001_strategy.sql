-- strategy-draw schema (spec §2.1), plus the durable draw record per order that makes a
-- draw exactly-once and lets Redis stock counters be rebuilt (ARCHITECTURE.md §8.7).

CREATE TABLE award (
    award_id     INTEGER      PRIMARY KEY,
    award_key    VARCHAR(32)  NOT NULL,
    award_config VARCHAR(32)  NOT NULL DEFAULT '',
    award_desc   VARCHAR(128) NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE strategy (
    strategy_id   BIGINT       PRIMARY KEY,
    strategy_desc VARCHAR(128) NOT NULL DEFAULT '',
    rule_models   VARCHAR(256),
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE rule_tree (
    tree_id            VARCHAR(32)  PRIMARY KEY,
    tree_name          VARCHAR(64)  NOT NULL,
    tree_desc          VARCHAR(128),
    tree_node_rule_key VARCHAR(32)  NOT NULL,
    created_at         TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE rule_tree_node (
    id         BIGSERIAL    PRIMARY KEY,
    tree_id    VARCHAR(32)  NOT NULL REFERENCES rule_tree (tree_id),
    rule_key   VARCHAR(32)  NOT NULL,
    rule_desc  VARCHAR(64)  NOT NULL DEFAULT '',
    rule_value VARCHAR(128),
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT uq_rule_tree_node UNIQUE (tree_id, rule_key)
);

CREATE TABLE rule_tree_node_line (
    id               BIGSERIAL   PRIMARY KEY,
    tree_id          VARCHAR(32) NOT NULL REFERENCES rule_tree (tree_id),
    rule_node_from   VARCHAR(32) NOT NULL,
    rule_node_to     VARCHAR(32) NOT NULL,
    rule_limit_type  VARCHAR(8)  NOT NULL,
    rule_limit_value VARCHAR(32) NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT uq_rule_tree_node_line UNIQUE (tree_id, rule_node_from, rule_node_to, rule_limit_value)
);

-- award_count: configured stock; award_count_surplus: the database view of what is left,
-- following Redis in batches; stock_opening: the units available when this system took the
-- strategy over (the demo's surplus). Redis counter = stock_opening - units consumed by
-- recorded draws, which is how a lost counter is rebuilt.
CREATE TABLE strategy_award (
    strategy_id         BIGINT        NOT NULL REFERENCES strategy (strategy_id),
    award_id            INTEGER       NOT NULL REFERENCES award (award_id),
    award_title         VARCHAR(128)  NOT NULL,
    award_subtitle      VARCHAR(128),
    award_count         INTEGER       NOT NULL DEFAULT 0 CHECK (award_count >= 0),
    award_count_surplus INTEGER       NOT NULL DEFAULT 0 CHECK (award_count_surplus >= 0),
    stock_opening       INTEGER       NOT NULL DEFAULT 0 CHECK (stock_opening >= 0),
    award_rate          NUMERIC(6, 4) NOT NULL CHECK (award_rate >= 0),
    rule_models         VARCHAR(256)  REFERENCES rule_tree (tree_id),
    sort                INTEGER       NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (strategy_id, award_id)
);

CREATE TABLE strategy_rule (
    id          BIGSERIAL    PRIMARY KEY,
    strategy_id BIGINT       NOT NULL REFERENCES strategy (strategy_id),
    award_id    INTEGER,
    rule_type   SMALLINT     NOT NULL DEFAULT 1,
    rule_model  VARCHAR(16)  NOT NULL,
    rule_value  VARCHAR(256) NOT NULL,
    rule_desc   VARCHAR(128) NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT uq_strategy_id_rule_model UNIQUE (strategy_id, rule_model)
);

-- One row per raffle order drawn: the same order always gets this award, and
-- stock_award_id records the award whose stock unit the draw consumed (NULL: none).
CREATE TABLE strategy_draw_result (
    strategy_id    BIGINT       NOT NULL,
    order_id       VARCHAR(64)  NOT NULL,
    user_id        VARCHAR(64)  NOT NULL,
    award_id       INTEGER      NOT NULL,
    award_config   VARCHAR(64)  NOT NULL DEFAULT '',
    rule_model     VARCHAR(16)  NOT NULL,
    stock_award_id INTEGER,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (strategy_id, order_id)
);
CREATE INDEX idx_draw_result_stock ON strategy_draw_result (strategy_id, stock_award_id) WHERE stock_award_id IS NOT NULL;
CREATE INDEX idx_draw_result_user ON strategy_draw_result (user_id, created_at);

-- Events that failed every delivery attempt, kept for operators (ARCHITECTURE.md §5).
CREATE TABLE parked_message (
    id         BIGSERIAL   PRIMARY KEY,
    subject    VARCHAR(128) NOT NULL,
    payload    TEXT         NOT NULL,
    error      TEXT         NOT NULL,
    deliveries INTEGER      NOT NULL,
    parked_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
