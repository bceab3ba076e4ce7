-- Verifiable draws (issue #16, docs/fairness.md).
--
-- One secret seed per (strategy, epoch). The seed is stored sealed (ChaCha20-Poly1305 under
-- service.seed_key, nonce ‖ ciphertext ‖ tag, associated data strategy_id ‖ epoch), so a dump
-- or a read replica of this database does not reveal it. commitment = SHA-256(seed) and the
-- published strategy sheet (with its SHA-256) are public from the epoch's start; the seed is
-- revealed once the epoch is retired. At most one epoch per strategy is active.
CREATE TABLE strategy_seed (
    strategy_id   BIGINT      NOT NULL,
    epoch         INTEGER     NOT NULL CHECK (epoch > 0),
    sealed_seed   BYTEA       NOT NULL,
    commitment    CHAR(64)    NOT NULL,
    sheet         TEXT        NOT NULL,
    sheet_sha256  CHAR(64)    NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at    TIMESTAMPTZ,
    PRIMARY KEY (strategy_id, epoch)
);
CREATE UNIQUE INDEX uq_strategy_seed_active ON strategy_seed (strategy_id) WHERE retired_at IS NULL;

-- The recorded inputs of each draw (its receipt). NULL on draws recorded before this
-- migration: those have no receipt.
ALTER TABLE strategy_draw_result
    ADD COLUMN epoch               INTEGER,
    ADD COLUMN total_partake_count BIGINT,
    ADD COLUMN day_partake_count   BIGINT,
    ADD COLUMN chain_model         VARCHAR(16),
    ADD COLUMN chain_award_id      INTEGER,
    ADD COLUMN stock_outcome       VARCHAR(8);
