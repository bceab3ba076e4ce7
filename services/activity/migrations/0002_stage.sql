-- The activity stage (活动展台, spec §5 raffle_activity_stage): which activity a channel and
-- source show. Fixes of the original (spec §14): the state is never NULL (its
-- appendStageActivity inserted NULL into a NOT NULL column), and at most one stage per
-- (channel, source) is active (it had no unique key, and its lookup took any one active row).
-- Putting another activity on a stage expires the active row and inserts a new one, in one
-- transaction, so the rows are also the stage's history.
CREATE TABLE raffle_activity_stage (
    id          BIGSERIAL   PRIMARY KEY,
    channel     VARCHAR(8)  NOT NULL CHECK (channel ~ '^[A-Za-z0-9_-]{1,8}$'),
    source      VARCHAR(8)  NOT NULL CHECK (source ~ '^[A-Za-z0-9_-]{1,8}$'),
    activity_id BIGINT      NOT NULL REFERENCES raffle_activity (activity_id),
    state       VARCHAR(8)  NOT NULL DEFAULT 'create' CHECK (state IN ('create', 'active', 'expire')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one active stage per (channel, source); also the index of GetStageActivity.
CREATE UNIQUE INDEX uq_stage_active ON raffle_activity_stage (channel, source) WHERE state = 'active';
CREATE INDEX idx_stage_state ON raffle_activity_stage (state, id);
